"""Comparisons for `isthmus export` loaded into strongSwan (stdlib only; formerly scripts/lib/interop_export.py),
for test_export_strongswan.py.

verify_established(ss, status, conn, ike=, esp=, lts=[...], rts=[...], isthmus_role=) -> [(name, ok, reason)];
ss/status as data or JSON file paths (see ikev2_checks). Unlike ikev2_checks' verify_established, the traffic
selectors are lists (the export carries every prefix of both sites), and both sides name the connection CONN.
"""
from types import SimpleNamespace

from . import ikev2_checks as base


def verify_established(ss, status, conn, *, ike, esp, lts, rts, isthmus_role):
    return _verify(SimpleNamespace(ssjson=ss, status=status, conn=conn, ike=ike, esp=esp, lts=",".join(lts),
                                   rts=",".join(rts), isthmus_role=isthmus_role))


def _verify(a):
    results = []

    def check(name, ok, reason=""):
        results.append((name, ok, reason))
        return ok

    lts, rts = a.lts.split(","), a.rts.split(",")
    est = [sa for sa in base.ss_sas(a.ssjson, a.conn) if sa["state"] == "ESTABLISHED"]
    check("ss-ike-established", len(est) == 1, f"strongSwan has {len(est)} ESTABLISHED IKE SAs for '{a.conn}'")
    sa = est[0] if len(est) == 1 else None
    child = None
    if sa:
        check("ss-ike-version", sa["version"] == "2", f"IKE version {sa['version']}")
        check("ss-ike-algorithms", sa["ike_alg"] == a.ike, f"strongSwan negotiated {sa['ike_alg']}, expected {a.ike}")
        inst = [c for c in sa["children"] if c["state"] == "INSTALLED"]
        check("ss-child-installed", len(inst) == 1, f"strongSwan has {len(inst)} INSTALLED CHILD SAs")
        child = inst[0] if len(inst) == 1 else None
        if child:
            check("ss-child-name", child["name"] == a.conn, f"CHILD SA named {child['name']}, expected {a.conn}")
            check("ss-child-tunnel-esp", child["mode"] == "TUNNEL" and child["protocol"] == "ESP",
                  f"mode {child['mode']} protocol {child['protocol']}")
            check("ss-esp-algorithms", child["esp_alg"] == a.esp,
                  f"strongSwan negotiated {child['esp_alg']}, expected {a.esp}")
            check("ss-traffic-selectors", sorted(child["local_ts"]) == sorted(lts)
                  and sorted(child["remote_ts"]) == sorted(rts),
                  f"strongSwan {child['local_ts']} <=> {child['remote_ts']}, expected {lts} <=> {rts}")
    ist = [s for s in base.ist_sas(a.status, a.conn) if s.get("state") == "established"]
    check("isthmus-established", len(ist) == 1, f"Isthmus has {len(ist)} established IKE SAs for '{a.conn}'")
    isa = ist[0] if len(ist) == 1 else None
    if isa:
        kids = isa.get("childSAs") or []
        check("isthmus-child-sa", len(kids) == 1, f"Isthmus IKE SA has {len(kids)} CHILD SAs")
        check("isthmus-role", isa.get("role") == a.isthmus_role,
              f"Isthmus is {isa.get('role')}, expected {a.isthmus_role}")
        if sa:
            mine = (base.spi_norm(isa.get("localSPI")), base.spi_norm(isa.get("remoteSPI")))
            want = (sa["ispi"], sa["rspi"]) if isa.get("role") == "initiator" else (sa["rspi"], sa["ispi"])
            check("ike-spis-match", mine == want, f"Isthmus {mine}, strongSwan {want}")
        if kids and child:
            kin, kout = base.spi_norm(kids[0].get("inboundSPI")), base.spi_norm(kids[0].get("outboundSPI"))
            check("child-spis-match", kin == child["spi_out"] and kout == child["spi_in"],
                  f"Isthmus in/out {kin}/{kout}, strongSwan in/out {child['spi_in']}/{child['spi_out']}")
    return results
