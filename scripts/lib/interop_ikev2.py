#!/usr/bin/env python3
"""Helpers for scripts/interop/ikev2-strongswan (stdlib only).

Subcommands (every FILE is a snapshot the bash script took):
  ss-json PRETTY                 `swanctl --list-sas --pretty` output -> normalised JSON on stdout
  ss-ready SSJSON CONN           exit 0 when CONN has an ESTABLISHED IKE SA with an INSTALLED CHILD SA
  ss-gone SSJSON CONN            exit 0 when CONN has no IKE SA at all
  ss-established SSJSON CONN     exit 0 when CONN has an ESTABLISHED IKE SA (any CHILD SA state)
  ist-ready STATUS CONN          exit 0 when Isthmus's `status --json` shows CONN established with a CHILD SA
  ist-established STATUS CONN    exit 0 when it shows any IKE SA of CONN in state `established`
  child-rekey-in STATUS CONN     print the seconds until Isthmus rekeys CONN's CHILD SA (its status)
  ist-summary STATUS CONN        one human line per IKE SA / CHILD SA of CONN (for the log)
  same SS1 IST1 SS2 IST2 SSCONN ISTCONN   exit 0 when both sides' established SAs are unchanged between snapshots
  verify SSJSON STATUS --ss-conn C --ist-conn C --ike ALG --esp ALG --lts P --rts P --isthmus-role R
                                 one line per check: `ok NAME` or `bad NAME reason`; exit 0 if all ok
  rekeyed KIND SS0 IST0 SS1 IST1 --ss-conn C --ist-conn C
                                 after a rekey of KIND (child|ike) between snapshot 0 and 1, one `ok`/`bad` line
                                 per check (see rekeyed() below); exit 0 if all ok

ALG strings use strongSwan's names as `swanctl --list-sas` prints them, e.g.
AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256 (IKE) and AES_CBC-256/HMAC_SHA2_256_128 (ESP).
"""
import argparse
import json
import sys


# ----------------------------------------------------------------------------- swanctl --pretty
def parse_pretty(text):
    """Parses `swanctl --list-sas --pretty` (vici messages printed one key per line) into a list of
    (message name, dict) pairs. Sections become dicts, lists become lists of strings."""
    messages = []
    stack = []          # open sections (dicts); stack[0] is the message body
    cur_list = None     # the list being filled, if any
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if cur_list is not None:
            if line == "]":
                cur_list = None
            else:
                cur_list.append(line)
            continue
        if line.endswith("{") and "=" not in line:
            name = line[:-1].strip()
            section = {}
            if not stack:
                messages.append((name, section))
            else:
                stack[-1][name] = section
            stack.append(section)
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        if "=" in line and stack:
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if value == "[":
                cur_list = []
                stack[-1][key] = cur_list
            else:
                stack[-1][key] = value
    return messages


def alg_text(sa, esp=False):
    """The algorithm line swanctl prints: ENCR-KEYSIZE/INTEG/PRF/DH (ESP: ENCR-KEYSIZE/INTEG[/DH])."""
    parts = []
    encr = sa.get("encr-alg")
    if encr:
        parts.append(encr + ("-" + sa["encr-keysize"] if sa.get("encr-keysize") else ""))
    if sa.get("integ-alg"):
        parts.append(sa["integ-alg"] + ("-" + sa["integ-keysize"] if sa.get("integ-keysize") else ""))
    if not esp and sa.get("prf-alg"):
        parts.append(sa["prf-alg"])
    if sa.get("dh-group"):
        parts.append(sa["dh-group"])
    if esp and sa.get("esn") == "1":
        parts.append("ESN")
    return "/".join(parts)


def ss_normalise(text):
    out = []
    for msg, body in parse_pretty(text):
        if msg != "list-sa event":
            continue
        for conn, sa in body.items():
            if not isinstance(sa, dict):
                continue
            children = []
            for cname, child in (sa.get("child-sas") or {}).items():
                if not isinstance(child, dict):
                    continue
                children.append({
                    "id": cname, "name": child.get("name"), "state": child.get("state"), "mode": child.get("mode"),
                    "protocol": child.get("protocol"), "encap": child.get("encap") == "yes",
                    "spi_in": (child.get("spi-in") or "").lower(), "spi_out": (child.get("spi-out") or "").lower(),
                    "esp_alg": alg_text(child, esp=True),
                    "local_ts": child.get("local-ts") or [], "remote_ts": child.get("remote-ts") or [],
                })
            out.append({
                "conn": conn, "uniqueid": sa.get("uniqueid"), "version": sa.get("version"), "state": sa.get("state"),
                "initiator": sa.get("initiator") == "yes",
                "local": f"{sa.get('local-host')}[{sa.get('local-port')}]",
                "remote": f"{sa.get('remote-host')}[{sa.get('remote-port')}]",
                "ispi": (sa.get("initiator-spi") or "").lower(), "rspi": (sa.get("responder-spi") or "").lower(),
                "ike_alg": alg_text(sa), "nat_fake": sa.get("nat-fake") == "yes",
                "children": children,
            })
    return out


def load_json(path, default):
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
def verify(a):
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
    for name, ok, reason in results:
        print(f"ok {name}" if ok else f"bad {name} {reason}")
    return 0 if all(ok for _, ok, _ in results) else 1


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


def rekeyed(a):
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
        return _emit(results)

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
    return _emit(results)


def _emit(results):
    for name, ok, reason in results:
        print(f"ok {name}" if ok else f"bad {name} {reason}")
    return 0 if all(ok for _, ok, _ in results) else 1


def child_rekey_in(a):
    """Seconds until Isthmus rekeys the one CHILD SA of CONN (its status's rekeyInSeconds), or nothing."""
    for s in ist_sas(a.file, a.conn):
        if s.get("state") == "established":
            for k in s.get("childSAs") or []:
                if k.get("rekeyInSeconds") is not None:
                    print(k["rekeyInSeconds"])
                    return 0
    return 1


def snapshot_key(ss_path, ist_path, ss_conn, ist_conn):
    """What must not change while the tunnel is up: every IKE/CHILD SA and its state, on both sides."""
    ss = sorted((sa["state"], sa["ispi"], sa["rspi"], tuple(sorted((c["state"], c["spi_in"], c["spi_out"])
                for c in sa["children"]))) for sa in ss_sas(ss_path, ss_conn))
    ist = sorted((s.get("state"), s.get("localSPI"), s.get("remoteSPI"),
                  tuple(sorted((k.get("state"), k.get("inboundSPI"), k.get("outboundSPI")) for k in s.get("childSAs") or [])))
                 for s in ist_sas(ist_path, ist_conn))
    return ss, ist


def same(a):
    ss1, ist1 = snapshot_key(a.ss1, a.ist1, a.ss_conn, a.ist_conn)
    ss2, ist2 = snapshot_key(a.ss2, a.ist2, a.ss_conn, a.ist_conn)
    ok = True
    if ss1 != ss2:
        print(f"strongSwan's SAs changed: {ss1} -> {ss2}")
        ok = False
    # Isthmus may drop a half-open SA of its own in the meantime; the established ones must stay
    e1 = [s for s in ist1 if s[0] == "established"]
    e2 = [s for s in ist2 if s[0] == "established"]
    if e1 != e2:
        print(f"Isthmus's established SAs changed: {e1} -> {e2}")
        ok = False
    others = [s for s in ist2 if s[0] != "established"]
    if others:
        print(f"note: Isthmus also has {others}")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ss-json"); s.add_argument("pretty")
    for name in ("ss-ready", "ss-gone", "ss-established", "ist-ready", "ist-established", "ist-summary"):
        s = sub.add_parser(name); s.add_argument("file"); s.add_argument("conn")
    s = sub.add_parser("same")
    for name in ("ss1", "ist1", "ss2", "ist2", "ss_conn", "ist_conn"):
        s.add_argument(name)
    s = sub.add_parser("verify")
    s.add_argument("ssjson"); s.add_argument("status")
    for opt in ("--ss-conn", "--ist-conn", "--ike", "--esp", "--lts", "--rts", "--isthmus-role"):
        s.add_argument(opt, required=True)
    s = sub.add_parser("rekeyed")
    s.add_argument("kind", choices=("child", "ike"))
    for name in ("ss0", "ist0", "ss1", "ist1"):
        s.add_argument(name)
    s.add_argument("--ss-conn", required=True); s.add_argument("--ist-conn", required=True)
    s = sub.add_parser("child-rekey-in"); s.add_argument("file"); s.add_argument("conn")
    a = p.parse_args()

    if a.cmd == "ss-json":
        with open(a.pretty, errors="replace") as f:
            json.dump(ss_normalise(f.read()), sys.stdout, indent=1)
        print()
        return 0
    if a.cmd == "ss-ready":
        return 0 if any(sa["state"] == "ESTABLISHED" and any(c["state"] == "INSTALLED" for c in sa["children"])
                        for sa in ss_sas(a.file, a.conn)) else 1
    if a.cmd == "ss-established":
        return 0 if any(sa["state"] == "ESTABLISHED" for sa in ss_sas(a.file, a.conn)) else 1
    if a.cmd == "ss-gone":
        return 0 if not ss_sas(a.file, a.conn) else 1
    if a.cmd == "ist-ready":
        return 0 if any(s.get("state") == "established" and s.get("childSAs") for s in ist_sas(a.file, a.conn)) else 1
    if a.cmd == "ist-established":
        return 0 if any(s.get("state") == "established" for s in ist_sas(a.file, a.conn)) else 1
    if a.cmd == "ist-summary":
        sas = ist_sas(a.file, a.conn)
        if not sas:
            print(f"isthmus: no IKE SA for {a.conn}")
        for s in sas:
            print(f"isthmus: IKE SA {s.get('state')} {s.get('role')} {s.get('local')} <-> {s.get('remote')} "
                  f"SPIs {s.get('localSPI')}/{s.get('remoteSPI')} {s.get('algorithms')} "
                  f"nat local={s.get('natLocal')} remote={s.get('natRemote')}")
            for k in s.get("childSAs") or []:
                print(f"isthmus:   CHILD SA {k.get('state')} in {k.get('inboundSPI')} out {k.get('outboundSPI')} "
                      f"{k.get('algorithms')} {k.get('localSelectors')} === {k.get('remoteSelectors')}")
        for c in ist_installed(a.file, a.conn):
            print(f"isthmus: installed in {c.get('inboundSPI')} out {c.get('outboundSPI')} {c.get('algorithms')} "
                  f"{c.get('local')} <-> {c.get('remote')} udp-encap={c.get('udpEncapsulated')}")
        return 0
    if a.cmd == "same":
        return same(a)
    if a.cmd == "verify":
        return verify(a)
    if a.cmd == "rekeyed":
        return rekeyed(a)
    if a.cmd == "child-rekey-in":
        return child_rekey_in(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
