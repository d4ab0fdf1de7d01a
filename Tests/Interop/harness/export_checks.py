#!/usr/bin/env python3
"""Comparisons for `isthmus export` loaded into strongSwan (stdlib only; formerly scripts/lib/interop_export.py).

Library: verify_established(ss, status, conn, ike=, esp=, lts=[...], rts=[...], isthmus_role=) -> [(name, ok,
reason)]; ss/status as data or JSON file paths (see ikev2_checks).

Command line (python3 Tests/Interop/harness/export_checks.py ..., for the bash script not yet ported):

Subcommands:
  ss-json PRETTY            `swanctl --list-sas --pretty` output -> normalised JSON on stdout
  ss-ready SSJSON CONN      exit 0 when CONN has an ESTABLISHED IKE SA with an INSTALLED CHILD SA
  ss-gone SSJSON CONN       exit 0 when CONN has no IKE SA at all
  ist-ready STATUS CONN     exit 0 when Isthmus's `status --json` shows CONN established with a CHILD SA
  ist-none STATUS CONN      exit 0 when Isthmus's status shows no established IKE SA of CONN
  verify SSJSON STATUS CONN --ike ALG --esp ALG --lts P,P --rts P,P --isthmus-role R
                            one `ok NAME` / `bad NAME reason` line per check; exit 0 if all ok.
                            Unlike interop_ikev2.py's verify, traffic selectors are lists (the export
                            carries every prefix of both sites), and both sides name the connection CONN.
"""
import argparse
import json
import os
import sys

from types import SimpleNamespace

if __package__ in (None, ""):   # run as a script: make `harness` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness.ikev2_checks as base  # noqa: E402


def verify(a):
    results = _verify(a)
    for name, ok, reason in results:
        print(f"ok {name}" if ok else f"bad {name} {reason}")
    return 0 if all(ok for _, ok, _ in results) else 1


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


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ss-json"); p.add_argument("pretty")
    for name in ("ss-ready", "ss-gone"):
        p = sub.add_parser(name); p.add_argument("ssjson"); p.add_argument("conn")
    for name in ("ist-ready", "ist-none"):
        p = sub.add_parser(name); p.add_argument("status"); p.add_argument("conn")
    p = sub.add_parser("verify")
    p.add_argument("ssjson"); p.add_argument("status"); p.add_argument("conn")
    for opt in ("--ike", "--esp", "--lts", "--rts", "--isthmus-role"):
        p.add_argument(opt, required=True)
    a = parser.parse_args()
    if a.cmd == "ss-json":
        with open(a.pretty) as f:
            json.dump(base.ss_normalise(f.read()), sys.stdout)
        return 0
    if a.cmd == "ss-ready":
        sas = base.ss_sas(a.ssjson, a.conn)
        return 0 if any(sa["state"] == "ESTABLISHED" and any(c["state"] == "INSTALLED" for c in sa["children"])
                        for sa in sas) else 1
    if a.cmd == "ss-gone":
        return 0 if not base.ss_sas(a.ssjson, a.conn) else 1
    if a.cmd == "ist-ready":
        return 0 if any(s.get("state") == "established" and s.get("childSAs")
                        for s in base.ist_sas(a.status, a.conn)) else 1
    if a.cmd == "ist-none":
        return 0 if not any(s.get("state") == "established" for s in base.ist_sas(a.status, a.conn)) else 1
    return verify(a)


if __name__ == "__main__":
    sys.exit(main())
