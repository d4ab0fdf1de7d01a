"""IKEv2 comparisons of strongSwan's and Isthmus's view of the SAs (stdlib only; formerly
scripts/lib/interop_ikev2.py).

Library (for the pytest scenarios; SS is ss_normalise()d `swanctl --list-sas` (StrongSwan.list_sas()), STATUS is
Isthmus's `status --json` (Isthmus.status()), either as data or as the path of a JSON file; the check functions
return [(name, ok, reason)] for Checks.extend):
  verify_established(ss, status, ss_conn=, ist_conn=, ike=, esp=, lts=, rts=, isthmus_role=)
  rekeyed_checks(kind, ss0, ist0, ss1, ist1, ss_conn=, ist_conn=)
  same_sas(ss1, ist1, ss2, ist2, ss_conn, ist_conn) -> (ok, messages)
  child_rekey_seconds(status, conn) -> int or None
  ist_summary(status, conn) -> [line]   (for logs)
  ss_sas, ist_sas, ist_installed, spi_norm

ALG strings use strongSwan's names as `swanctl --list-sas` prints them, e.g.
AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256 (IKE) and AES_CBC-256/HMAC_SHA2_256_128 (ESP).
"""
import json
from types import SimpleNamespace

from .strongswan import alg_text, parse_pretty, ss_normalise  # noqa: F401 (re-exported)


def load_json(path, default):
    """PATH's JSON, or PATH itself when it is already data (a list or dict)."""
    if isinstance(path, (list, dict)):
        return path
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def ss_sas(path, conn):
    return [sa for sa in load_json(path, []) if sa["conn"] == conn]


# ----------------------------------------------------------------------------- isthmus status --json
def ist_sas(path, conn):
    status = load_json(path, {})
    for c in status.get("connections") or []:
        if c.get("name") == conn:
            return c.get("ikeSAs") or []
    return []


def ist_installed(path, conn):
    status = load_json(path, {})
    return [c for c in status.get("childSAs") or [] if c.get("connection") == conn]


def spi_norm(text):
    text = (text or "").lower()
    return text[2:] if text.startswith("0x") else text


# ----------------------------------------------------------------------------- verify
def _verify(a):
    results = []

    def check(name, ok, reason=""):
        results.append((name, ok, reason))
        return ok

    ss = ss_sas(a.ssjson, a.ss_conn)
    est = [sa for sa in ss if sa["state"] == "ESTABLISHED"]
    others = [f"{sa['state']} #{sa['uniqueid']}" for sa in ss if sa["state"] != "ESTABLISHED"]
    if not check("ss-ike-established", len(est) == 1,
                 f"strongSwan has {len(est)} ESTABLISHED IKE SAs for '{a.ss_conn}' (expected 1)"
                 + (f"; others: {', '.join(others)}" if others else "")):
        sa = est[0] if est else None
    else:
        sa = est[0]
    if sa:
        check("ss-ike-version", sa["version"] == "2", f"IKE version {sa['version']}")
        check("ss-ike-algorithms", sa["ike_alg"] == a.ike, f"strongSwan negotiated {sa['ike_alg']}, expected {a.ike}")
        inst = [c for c in sa["children"] if c["state"] == "INSTALLED"]
        ok = check("ss-child-installed", len(inst) == 1,
                   f"strongSwan has {len(inst)} INSTALLED CHILD SAs (expected 1): "
                   + ", ".join(f"{c['name']} {c['state']}" for c in sa["children"]))
        child = inst[0] if inst else None
        if child:
            check("ss-child-mode", child["mode"] == "TUNNEL" and child["protocol"] == "ESP",
                  f"mode {child['mode']} protocol {child['protocol']}")
            check("ss-esp-algorithms", child["esp_alg"] == a.esp,
                  f"strongSwan negotiated {child['esp_alg']}, expected {a.esp}")
            check("ss-traffic-selectors", child["local_ts"] == [a.lts] and child["remote_ts"] == [a.rts],
                  f"strongSwan local {child['local_ts']} remote {child['remote_ts']}, expected [{a.lts}] <=> [{a.rts}]")
    else:
        child = None

    ist = ist_sas(a.status, a.ist_conn)
    iest = [s for s in ist if s.get("state") == "established"]
    iothers = [f"{s.get('state')} {s.get('role')} {s.get('localSPI')}" for s in ist if s.get("state") != "established"]
    check("isthmus-established", len(iest) == 1,
          f"Isthmus has {len(iest)} established IKE SAs for '{a.ist_conn}' (expected 1)"
          + (f"; others: {', '.join(iothers)}" if iothers else ""))
    isa = iest[0] if len(iest) >= 1 else None
    if isa:
        kids = isa.get("childSAs") or []
        check("isthmus-child-sa", len(kids) == 1,
              f"Isthmus IKE SA has {len(kids)} CHILD SAs: {[(k.get('inboundSPI'), k.get('state')) for k in kids]}")
        check("isthmus-role", isa.get("role") == a.isthmus_role,
              f"Isthmus role {isa.get('role')}, expected {a.isthmus_role}")
        if sa:
            ss_role = "initiator" if sa["initiator"] else "responder"
            check("roles-consistent", ss_role != isa.get("role"),
                  f"both sides claim to be {ss_role}")
            mine = (spi_norm(isa.get("localSPI")), spi_norm(isa.get("remoteSPI")))
            want = (sa["ispi"], sa["rspi"]) if isa.get("role") == "initiator" else (sa["rspi"], sa["ispi"])
            check("ike-spis-match", mine == want,
                  f"Isthmus local/remote IKE SPI {mine[0]}/{mine[1]}, strongSwan says {want[0]}/{want[1]} "
                  f"(strongSwan initiator SPI {sa['ispi']}, responder SPI {sa['rspi']})")
        if kids and child:
            k = kids[0]
            kin, kout = spi_norm(k.get("inboundSPI")), spi_norm(k.get("outboundSPI"))
            check("child-spis-match", kin == child["spi_out"] and kout == child["spi_in"],
                  f"Isthmus in/out {kin}/{kout}, strongSwan in/out {child['spi_in']}/{child['spi_out']} "
                  f"(Isthmus in must equal strongSwan out and vice versa)")
            inst_tab = ist_installed(a.status, a.ist_conn)
            hit = [c for c in inst_tab if spi_norm(c.get("inboundSPI")) == kin and spi_norm(c.get("outboundSPI")) == kout]
            check("isthmus-keys-installed", len(hit) == 1,
                  f"Isthmus's installed CHILD SA table has {len(inst_tab)} entries for '{a.ist_conn}', "
                  f"{len(hit)} with SPIs in {kin} / out {kout}")
    return results


# ----------------------------------------------------------------------------- rekeyed
def _ss_view(path, conn):
    """strongSwan: (established IKE SAs, every other IKE SA) of CONN."""
    sas = ss_sas(path, conn)
    return [sa for sa in sas if sa["state"] == "ESTABLISHED"], [sa for sa in sas if sa["state"] != "ESTABLISHED"]


def _ist_ike_pair(isa):
    return spi_norm(isa.get("localSPI")), spi_norm(isa.get("remoteSPI"))


def _ss_ike_pair_for(sa, ist_role):
    """strongSwan's IKE SPIs as Isthmus must list them (local, remote) when Isthmus has ROLE on that SA."""
    return (sa["ispi"], sa["rspi"]) if ist_role == "initiator" else (sa["rspi"], sa["ispi"])


def _rekeyed(a):
    """KIND child: strongSwan has exactly one CHILD SA (INSTALLED, both SPIs new) and none with the old SPIs
    left; Isthmus's established IKE SA has exactly one CHILD SA, SPIs crossed with strongSwan's new ones, and
    its installed table holds exactly that one; the IKE SA is the same as before on both sides.
    KIND ike: strongSwan has exactly one IKE SA (ESTABLISHED, both SPIs new), Isthmus exactly one IKE SA
    (established) with the same SPIs; roles consistent; still exactly one CHILD SA on both sides, unchanged
    (the CHILD SA moves to the new IKE SA), SPIs crossed, and in Isthmus's installed table."""
    results = []

    def check(name, ok, reason=""):
        results.append((name, ok, reason))
        return ok

    ss0, _ = _ss_view(a.ss0, a.ss_conn)
    ss1, ss1_other = _ss_view(a.ss1, a.ss_conn)
    ist0 = [s for s in ist_sas(a.ist0, a.ist_conn) if s.get("state") == "established"]
    ist1_all = ist_sas(a.ist1, a.ist_conn)
    ist1 = [s for s in ist1_all if s.get("state") == "established"]
    old_sa = ss0[0] if len(ss0) == 1 else None
    old_child = None
    if old_sa:
        inst = [c for c in old_sa["children"] if c["state"] == "INSTALLED"]
        old_child = inst[0] if len(inst) == 1 else None
    old_isa = ist0[0] if len(ist0) == 1 else None
    if not check("before", old_sa is not None and old_child is not None and old_isa is not None,
                 f"the snapshot before the rekey does not show one IKE SA with one CHILD SA on both sides "
                 f"(strongSwan {len(ss0)} established, Isthmus {len(ist0)} established)"):
        return results

    # strongSwan: one IKE SA, nothing else for this connection
    others = ", ".join(f"{sa['state']} #{sa['uniqueid']} {sa['ispi']}_i/{sa['rspi']}_r" for sa in ss1_other)
    check("ss-one-ike-sa", len(ss1) == 1 and not ss1_other,
          f"strongSwan lists {len(ss1)} ESTABLISHED IKE SAs" + (f" and also {others}" if others else "") + " (expected 1)")
    sa = ss1[0] if len(ss1) == 1 else None
    old_pair = (old_sa["ispi"], old_sa["rspi"])
    if sa:
        new_pair = (sa["ispi"], sa["rspi"])
        if a.kind == "ike":
            check("ss-ike-spis-new", sa["ispi"] not in old_pair and sa["rspi"] not in old_pair,
                  f"strongSwan's IKE SA still has SPIs {new_pair[0]}_i/{new_pair[1]}_r (before: {old_pair[0]}_i/{old_pair[1]}_r)")
            check("ss-ike-algorithms-kept", sa["ike_alg"] == old_sa["ike_alg"],
                  f"rekeyed IKE SA uses {sa['ike_alg']}, before {old_sa['ike_alg']}")
        else:
            check("ss-ike-sa-unchanged", new_pair == old_pair,
                  f"strongSwan's IKE SA changed from {old_pair} to {new_pair} during a CHILD SA rekey")
    # strongSwan: exactly one CHILD SA, INSTALLED
    child = None
    if sa:
        kids = sa["children"]
        check("ss-one-child-installed", len(kids) == 1 and kids[0]["state"] == "INSTALLED",
              "strongSwan's CHILD SAs: " + (", ".join(f"{c['id']} {c['state']} in {c['spi_in']} out {c['spi_out']}" for c in kids) or "none")
              + " (expected exactly one, INSTALLED)")
        inst = [c for c in kids if c["state"] == "INSTALLED"]
        child = inst[0] if len(inst) == 1 else None
        if a.kind == "child":
            stale = [c for c in kids if c["spi_in"] in (old_child["spi_in"], old_child["spi_out"])
                     or c["spi_out"] in (old_child["spi_in"], old_child["spi_out"])]
            check("ss-old-child-gone", not stale,
                  f"strongSwan still lists the old CHILD SA (in {old_child['spi_in']} out {old_child['spi_out']}): "
                  + ", ".join(f"{c['id']} {c['state']}" for c in stale))
        if child and a.kind == "child":
            check("ss-child-spis-new", child["spi_in"] != old_child["spi_in"] and child["spi_out"] != old_child["spi_out"],
                  f"strongSwan's INSTALLED CHILD SA has in {child['spi_in']} out {child['spi_out']}, "
                  f"before in {old_child['spi_in']} out {old_child['spi_out']}")
            check("ss-child-esp-kept", child["esp_alg"] == old_child["esp_alg"]
                  and child["local_ts"] == old_child["local_ts"] and child["remote_ts"] == old_child["remote_ts"],
                  f"new CHILD SA {child['esp_alg']} {child['local_ts']}<=>{child['remote_ts']}, before "
                  f"{old_child['esp_alg']} {old_child['local_ts']}<=>{old_child['remote_ts']}")
        elif child:
            check("ss-child-carried-over", (child["spi_in"], child["spi_out"]) == (old_child["spi_in"], old_child["spi_out"]),
                  f"strongSwan's CHILD SA in {child['spi_in']} out {child['spi_out']} after the IKE rekey, before "
                  f"in {old_child['spi_in']} out {old_child['spi_out']} (an IKE rekey must keep the CHILD SA)")

    # Isthmus: exactly one IKE SA (established), no leftovers
    iothers = [f"{s.get('state')} {s.get('role')} {s.get('localSPI')}/{s.get('remoteSPI')}" for s in ist1_all
               if s.get("state") != "established"]
    check("isthmus-one-ike-sa", len(ist1) == 1 and not iothers,
          f"Isthmus lists {len(ist1)} established IKE SAs" + (f" and also {', '.join(iothers)}" if iothers else "")
          + f" for '{a.ist_conn}' (expected 1)")
    isa = ist1[0] if len(ist1) == 1 else None
    if isa and sa:
        ss_role = "initiator" if sa["initiator"] else "responder"
        check("roles-consistent", ss_role != isa.get("role"),
              f"both sides claim to be {ss_role} of the IKE SA")
        mine, want = _ist_ike_pair(isa), _ss_ike_pair_for(sa, isa.get("role"))
        check("ike-spis-match", mine == want,
              f"Isthmus local/remote IKE SPI {mine[0]}/{mine[1]} ({isa.get('role')}), strongSwan says {want[0]}/{want[1]} "
              f"(strongSwan initiator SPI {sa['ispi']}, responder SPI {sa['rspi']})")
    if isa:
        if a.kind == "ike":
            o = _ist_ike_pair(old_isa)
            check("isthmus-ike-spis-new", not set(_ist_ike_pair(isa)) & set(o),
                  f"Isthmus's IKE SA has SPIs {_ist_ike_pair(isa)}, before {o}")
        kids = isa.get("childSAs") or []
        check("isthmus-one-child", len(kids) == 1,
              f"Isthmus's IKE SA has {len(kids)} CHILD SAs: "
              f"{[(k.get('inboundSPI'), k.get('outboundSPI'), k.get('state')) for k in kids]} (expected 1)")
        if len(kids) == 1 and child:
            k = kids[0]
            kin, kout = spi_norm(k.get("inboundSPI")), spi_norm(k.get("outboundSPI"))
            check("child-spis-match", kin == child["spi_out"] and kout == child["spi_in"],
                  f"Isthmus in/out {kin}/{kout}, strongSwan in/out {child['spi_in']}/{child['spi_out']} "
                  f"(Isthmus in must equal strongSwan out and vice versa)")
            check("isthmus-child-state", k.get("state") == "installed", f"Isthmus's CHILD SA is {k.get('state')}")
            tab = ist_installed(a.ist1, a.ist_conn)
            check("isthmus-installed-table", len(tab) == 1 and spi_norm(tab[0].get("inboundSPI")) == kin
                  and spi_norm(tab[0].get("outboundSPI")) == kout,
                  f"Isthmus's installed CHILD SA table for '{a.ist_conn}': "
                  f"{[(c.get('inboundSPI'), c.get('outboundSPI')) for c in tab]} (expected only in {kin} out {kout})")
    return results


def verify_established(ss, status, *, ss_conn, ist_conn, ike, esp, lts, rts, isthmus_role):
    """An established tunnel: one IKE SA and one CHILD SA on both sides, algorithms, selectors, roles, SPIs."""
    return _verify(SimpleNamespace(ssjson=ss, status=status, ss_conn=ss_conn, ist_conn=ist_conn, ike=ike, esp=esp,
                                   lts=lts, rts=rts, isthmus_role=isthmus_role))


def rekeyed_checks(kind, ss0, ist0, ss1, ist1, *, ss_conn, ist_conn):
    """After a rekey of KIND (child|ike) between snapshot 0 (before) and 1: see _rekeyed."""
    return _rekeyed(SimpleNamespace(kind=kind, ss0=ss0, ist0=ist0, ss1=ss1, ist1=ist1, ss_conn=ss_conn,
                                    ist_conn=ist_conn))


def child_rekey_seconds(status, conn):
    """Seconds until Isthmus rekeys CONN's CHILD SA (its status's rekeyInSeconds), or None."""
    for s in ist_sas(status, conn):
        if s.get("state") == "established":
            for k in s.get("childSAs") or []:
                if k.get("rekeyInSeconds") is not None:
                    return k["rekeyInSeconds"]
    return None


def ist_summary(status, conn):
    """One human line per IKE SA / CHILD SA / installed CHILD SA of CONN in Isthmus's status (for logs)."""
    lines = []
    sas = ist_sas(status, conn)
    if not sas:
        lines.append(f"isthmus: no IKE SA for {conn}")
    for s in sas:
        lines.append(f"isthmus: IKE SA {s.get('state')} {s.get('role')} {s.get('local')} <-> {s.get('remote')} "
                     f"SPIs {s.get('localSPI')}/{s.get('remoteSPI')} {s.get('algorithms')} "
                     f"nat local={s.get('natLocal')} remote={s.get('natRemote')}")
        for k in s.get("childSAs") or []:
            lines.append(f"isthmus:   CHILD SA {k.get('state')} in {k.get('inboundSPI')} out {k.get('outboundSPI')} "
                         f"{k.get('algorithms')} {k.get('localSelectors')} === {k.get('remoteSelectors')}")
    for c in ist_installed(status, conn):
        lines.append(f"isthmus: installed in {c.get('inboundSPI')} out {c.get('outboundSPI')} {c.get('algorithms')} "
                     f"{c.get('local')} <-> {c.get('remote')} udp-encap={c.get('udpEncapsulated')}")
    return lines


def snapshot_key(ss_path, ist_path, ss_conn, ist_conn):
    """What must not change while the tunnel is up: every IKE/CHILD SA and its state, on both sides."""
    ss = sorted((sa["state"], sa["ispi"], sa["rspi"], tuple(sorted((c["state"], c["spi_in"], c["spi_out"])
                for c in sa["children"]))) for sa in ss_sas(ss_path, ss_conn))
    ist = sorted((s.get("state"), s.get("localSPI"), s.get("remoteSPI"),
                  tuple(sorted((k.get("state"), k.get("inboundSPI"), k.get("outboundSPI")) for k in s.get("childSAs") or [])))
                 for s in ist_sas(ist_path, ist_conn))
    return ss, ist


def same_sas(ss1, ist1, ss2, ist2, ss_conn, ist_conn):
    """Both sides' established SAs unchanged between two snapshot pairs: (ok, [messages])."""
    ss1, ist1 = snapshot_key(ss1, ist1, ss_conn, ist_conn)
    ss2, ist2 = snapshot_key(ss2, ist2, ss_conn, ist_conn)
    ok, messages = True, []
    if ss1 != ss2:
        messages.append(f"strongSwan's SAs changed: {ss1} -> {ss2}")
        ok = False
    # Isthmus may drop a half-open SA of its own in the meantime; the established ones must stay
    e1 = [s for s in ist1 if s[0] == "established"]
    e2 = [s for s in ist2 if s[0] == "established"]
    if e1 != e2:
        messages.append(f"Isthmus's established SAs changed: {e1} -> {e2}")
        ok = False
    others = [s for s in ist2 if s[0] != "established"]
    if others:
        messages.append(f"note: Isthmus also has {others}")
    return ok, messages
