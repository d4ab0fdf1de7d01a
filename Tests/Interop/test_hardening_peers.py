"""Issue 15, peers: a peer that restarts (kill -9, started again) and a hostile authenticated peer, on the wire.

Topology: harness.sites (office host 192.168.1.10 - office gateway 198.51.100.10 - cloud gateway 203.0.113.20 -
VM 10.0.1.4). The office gateway runs `isthmus run --tun` (a TUN with 10.0.1.0/24 routed into it); the cloud
gateway runs strongSwan 5.9.8 (charon, kernel-libipsec: ESP in UDP 4500 over its TUN ipsec0), or, in
`isthmus-peer`, a second Isthmus. Traffic is ping office host -> VM through the tunnel.

Restart cases (RESTARTS): the tunnel comes up (Isthmus initiating, or strongSwan initiating against a --passive
Isthmus) and is left 10 s (two IKE SAs established within 10 s of each other count as a simultaneous
initiation, and INITIAL_CONTACT does not make Isthmus forget one that young), the peer is killed with SIGKILL (its PID only) and started again, and it initiates at once (as a
restarted strongSwan with start_action=start would; here `swanctl --initiate`, so the moment is known). The
peer's new IKE_AUTH / Main Mode carries INITIAL_CONTACT. Checks: CASE.recovered (a ping answered within
RECOVERY=10 s of the peer's new IKE SA; the PASS line gives the measured times), CASE.one-ike-sa-isthmus and
CASE.one-ike-sa-peer (exactly one IKE SA on each side, Isthmus's a new one), CASE.old-esp-removed (Isthmus's
data plane holds one SA pair), CASE.events (peer-restarted, ike-sa-replaced with reason peer-restarted),
CASE.no-crash. `ikev2-no-initial-contact`: strongSwan with `unique = never` sends no INITIAL_CONTACT; the newer
IKE SA (both initiated by strongSwan) replaces the old one (ike-sa-replaced, reason newer-ike-sa).

Hostile cases (HOSTILE, IKEv2): `many-selectors`: a CHILD SA `hostile` whose TSi are 64 port-distinct
selectors, against an Isthmus connection whose local network has 4 prefixes; Isthmus answers a narrowed set
(at most 32) or TS_UNACCEPTABLE and stays up, the CHILD SA `net` keeps passing ping. `child-flood`:
`swanctl --initiate --child fN` for FLOOD_CHILDREN (40) CHILD SAs on the one IKE SA (each on its own UDP port:
strongSwan makes no CHILD SA that duplicates another's selectors): refused past Isthmus's cap of 32
CHILD SAs (NO_ADDITIONAL_SAS), the daemon stays up and ping still crosses (10,000 requests are driven through
the pure core by IKEv2HardeningTests instead).

Knobs: WAIT, RECOVERY=10, FLOOD_CHILDREN=40, ISTHMUS_LOG_LEVEL (debug).
"""
import os
import re
import signal
import time
from dataclasses import dataclass

import pytest

from harness import netns, prereq
from harness.config import EXAMPLES, ISTHMUS_LOG_LEVEL, WAIT, env_int
from harness.isthmus import child_sas, dataplane, ike_sas
from harness.proc import wait_for
from harness.sites import CLOUD_PREFIX, CLOUD_PUBLIC, OFFICE_PUBLIC, VM, two_sites

RECOVERY = env_int("RECOVERY", 10)
FLOOD_CHILDREN = env_int("FLOOD_CHILDREN", 40)
PSK = "isthmus-hardening-interop-psk-7d1e40c2b9"
CONN, SS_CONN, SS_CHILD = "office-cloud", "s2s", "net"
SUITES = {1: ("aes256-sha256-modp2048", "aes128-sha1"), 2: ("aes128-sha256-ecp256", "aes128gcm16")}


@dataclass(frozen=True)
class Case:
    name: str
    version: int = 2               # IKE version
    isthmus_role: str = "responder"  # of the first IKE SA: responder (strongSwan initiates) or initiator
    dpd: str = "default"           # Isthmus's dpd: default (30s/150s/restart) or none
    peer: str = "strongswan"       # or isthmus
    hostile: str = None            # many-selectors | child-flood
    initial_contact: bool = True   # False: strongSwan `unique = never` (it then sends no INITIAL_CONTACT)


RESTARTS = [Case(f"ikev{v}-{role}-dpd-{dpd}", v, role, dpd)
            for v in (2, 1) for role in ("responder", "initiator") for dpd in ("default", "none")]
RESTARTS.append(Case("ikev2-no-initial-contact", 2, "responder", "none", initial_contact=False))
RESTARTS.append(Case("isthmus-peer", 2, "responder", "none", peer="isthmus"))
HOSTILE = [Case("many-selectors", hostile="many-selectors"), Case("child-flood", hostile="child-flood")]


# ----------------------------------------------------------------------------- configurations
def isthmus_yaml(case):
    ike, esp = SUITES[case.version]
    dpd = "\n    dpd: {action: none}" if case.dpd == "none" else ""
    prefixes = ("[10.0.1.0/26, 10.0.1.64/26, 10.0.1.128/26, 10.0.1.192/26]" if case.hostile == "many-selectors"
                else f"[{CLOUD_PREFIX}]")
    return f"""# written by Tests/Interop/test_hardening_peers.py
gateway:
  name: hardening-office
  kind: {"static" if case.version == 1 else "dynamic"}
  public_address: {OFFICE_PUBLIC}
site:
  prefixes: [192.168.1.0/24]
local_networks:
  - name: cloud
    gateway_address: {CLOUD_PUBLIC}
    prefixes: {prefixes}
connections:
  - name: {CONN}
    local_network: cloud
    ike_version: {case.version}
    shared_key: {PSK}
    ike: [{ike}]
    esp: [{esp}]
    lifetime: {{ike: 8h, esp: 1h}}
    nat_traversal: auto{dpd}
"""


def swanctl_conf(case):
    ike, esp = SUITES[case.version]
    many = ", ".join(f"10.0.1.0/24[tcp/{2000 + i}]" for i in range(64))
    hostile = f"""
            hostile {{
                local_ts = {many}
                remote_ts = 192.168.1.0/24
                esp_proposals = {esp}
                start_action = none
            }}""" if case.hostile == "many-selectors" else ""
    # strongSwan will not make a CHILD SA that duplicates one (same selectors): one child per UDP port
    hostile += "".join(f"""
            f{i} {{
                local_ts = {CLOUD_PREFIX}[udp/{3000 + i}]
                remote_ts = 192.168.1.0/24
                esp_proposals = {esp}
                start_action = none
            }}""" for i in range(FLOOD_CHILDREN)) if case.hostile == "child-flood" else ""
    unique = "" if case.initial_contact else "\n        unique = never"
    return f"""connections {{
    {SS_CONN} {{
        version = {case.version}
        local_addrs = {CLOUD_PUBLIC}
        remote_addrs = {OFFICE_PUBLIC}
        proposals = {ike}
        dpd_delay = 0s{unique}
        local {{
            auth = psk
            id = {CLOUD_PUBLIC}
        }}
        remote {{
            auth = psk
            id = {OFFICE_PUBLIC}
        }}
        children {{
            {SS_CHILD} {{
                local_ts = {CLOUD_PREFIX}
                remote_ts = 192.168.1.0/24
                esp_proposals = {esp}
                mode = tunnel
                start_action = none
            }}{hostile}
        }}
    }}
}}
secrets {{
    ike-{SS_CONN} {{
        id-a = {OFFICE_PUBLIC}
        id-b = {CLOUD_PUBLIC}
        secret = "{PSK}"
    }}
}}
"""


# ----------------------------------------------------------------------------- helpers
def topology(scene, checks, tuns):
    try:
        sites = two_sites(scene, tuns=tuns)
        for ns in (sites.oh, sites.ofc, sites.cld, sites.vm):
            ns.sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                      "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        if not tuns:
            sites.tun_office = f"{scene.short}t"
            sites.ofc.tun(sites.tun_office, 1400, routes=[CLOUD_PREFIX])
        if sites.ofc.ping(CLOUD_PUBLIC, count=1, wait=2).returncode != 0:
            raise netns.NetnsError("office gateway cannot reach the cloud gateway")
    except netns.NetnsError as e:
        checks.abort("topology", str(e))
    checks.ok("topology")
    return sites


def established(gw):
    return established_in(gw.status())


def ping_ok(sites, count=1):
    return sites.oh.ping(VM, count=count, wait=1, interval=0.2 if count > 1 else None).returncode == 0


def ping_until(sites, deadline):
    """Pings once a second until one is answered or DEADLINE (monotonic) passes: the time it was answered."""
    while time.monotonic() < deadline:
        if ping_ok(sites):
            return time.monotonic()
    return None


def start_charon(scene, sites, case, checks, label):
    ss = scene.strongswan(sites.cld, start=False, log_levels={"ike": 2, "chd": 2})
    return restart_charon(ss, case, checks, label)


def restart_charon(ss, case, checks, label):
    pidfile = ss.run_dir / "charon.pid"
    if pidfile.exists():
        pidfile.unlink()                      # left by the SIGKILLed charon
    try:
        ss.start()
    except RuntimeError as e:
        checks.abort(f"{case.name}.{label}", f"charon did not come up: {e}")
    r = ss.load(swanctl_conf(case))
    checks.require(f"{case.name}.{label}", r.returncode == 0, f"swanctl --load-all failed: {r.stdout[-300:]}")
    return ss


def initiate(ss, child=SS_CHILD):
    r = ss.initiate(child, ike=SS_CONN, timeout=WAIT + 5)
    return r.returncode == 0 and "initiate completed successfully" in r.stdout + r.stderr, r.stdout + r.stderr


def start_isthmus(scene, sites, case, checks, passive, name="isthmus", config=None, tun=None, ns=None):
    cfg = config or scene.write("isthmus-ofc.yaml", isthmus_yaml(case))
    r = scene.run([scene.isthmus_bin, "check", cfg], timeout=30)
    checks.require(f"{case.name}.isthmus-check", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    gw = scene.isthmus(ns or sites.ofc, cfg, name=name, start=False, tun=tun or sites.tun_office, passive=passive,
                       log_format="text", log_level=ISTHMUS_LOG_LEVEL or "debug")
    try:
        gw.start()
    except RuntimeError as e:
        checks.abort(f"{case.name}.{name}-start", str(e))
    return gw


def tunnel_up(case, checks, sites, gw, ss=None):
    ok = gw.wait_for(lambda s: any(sa.get("state") == "established" and sa.get("childSAs")
                                   for sa in ike_sas(s, CONN)) and dataplane(s, "installedSAs") >= 1)
    if ss is not None:
        ok = ok and ss.wait_ready(SS_CONN)
    checks.require(f"{case.name}.tunnel-up", bool(ok) and ping_ok(sites, count=3),
                   f"no established tunnel passing ping within {WAIT}s: {gw.log_tail(3)}")


def age_past_window(gw):
    """Waits until the established IKE SA is older than the 10 s in which two SAs count as a simultaneous
    initiation (only an older one is forgotten on INITIAL_CONTACT, see docs/ARCHITECTURE.md); its SPI."""
    status = gw.wait_for(lambda s: any((sa.get("establishedSecondsAgo") or 0) > 10 for sa in established_in(s)),
                         timeout=15)
    return established_in(status or gw.status())[0].get("localSPI")


def established_in(status):
    return [sa for sa in ike_sas(status, CONN) if sa.get("state") == "established"]


def events_of(gw, kind):
    return [e for e in (gw.events().get("events") or []) if e.get("kind") == kind]


def no_crash(case, checks, gw):
    checks.check(f"{case.name}.no-crash", gw.alive and not gw.crashed(),
                 f"alive={gw.alive}; {' | '.join(gw.crashed()[:2])}")


# ----------------------------------------------------------------------------- peer restart
def after_restart(case, checks, sites, gw, old_spi, started, peer_ike_sas):
    """The checks after the peer's new IKE SA (STARTED: when it was asked for, monotonic)."""
    answered = ping_until(sites, started + RECOVERY)
    spent = None if answered is None else answered - started
    checks.check(f"{case.name}.recovered", answered is not None,
                 f"no ping answered within {RECOVERY}s of the peer's new IKE SA",
                 detail=f"ping answered {spent:.2f} s after the peer initiated" if spent is not None else "")
    # without INITIAL_CONTACT the old SA is deleted with a DELETE, sent 3 times (1 s, 2 s apart) to a peer
    # that does not know it: it may be listed as deleting for those 3 s
    status = gw.wait_for(lambda s: len(ike_sas(s, CONN)) == 1, timeout=8) or gw.status()
    sas = ike_sas(status, CONN)
    checks.check(f"{case.name}.one-ike-sa-isthmus",
                 len(sas) == 1 and sas[0].get("state") == "established" and sas[0].get("localSPI") != old_spi,
                 f"Isthmus lists {[(sa.get('localSPI'), sa.get('state')) for sa in sas]} (old {old_spi})",
                 detail=f"1 IKE SA, {sas[0].get('localSPI') if sas else '?'} replaced {old_spi}")
    peer = peer_ike_sas()
    checks.check(f"{case.name}.one-ike-sa-peer", peer == 1, f"the peer lists {peer} IKE SAs", detail="1 IKE SA")
    pairs = dataplane(status, "installedSAs")
    checks.check(f"{case.name}.old-esp-removed", pairs == 1 and len(child_sas(status)) == 1,
                 f"data plane installedSAs={pairs}, installed CHILD SAs {len(child_sas(status))}",
                 detail="one SA pair in the data plane")
    restarted, replaced = events_of(gw, "peer-restarted"), events_of(gw, "ike-sa-replaced")
    reasons = [(e.get("details") or {}).get("reason") for e in replaced]
    want = "peer-restarted" if case.initial_contact else "newer-ike-sa"
    checks.check(f"{case.name}.events", reasons == [want] and (len(restarted) >= 1) == case.initial_contact,
                 f"peer-restarted x{len(restarted)}, ike-sa-replaced reasons {reasons}",
                 detail=f"peer-restarted x{len(restarted)}, ike-sa-replaced {reasons}")
    return spent


def restart_strongswan(case, scene, checks, sites):
    ss = start_charon(scene, sites, case, checks, "strongswan-start")
    passive = case.isthmus_role == "responder"
    gw = start_isthmus(scene, sites, case, checks, passive)
    if passive:
        ok, out = initiate(ss)
        checks.require(f"{case.name}.strongswan-initiate", ok, out[-300:])
    tunnel_up(case, checks, sites, gw, ss)
    old_spi = age_past_window(gw)

    ss.stop(signal.SIGKILL, timeout=5)     # by its PID (harness.proc), as a crash or power loss
    checks.check(f"{case.name}.peer-killed", not ss.alive, "charon still runs")
    lost = not ping_ok(sites)
    restart_charon(ss, case, checks, "strongswan-restart")
    started = time.monotonic()
    ok, out = initiate(ss)
    ike_time = time.monotonic() - started
    checks.require(f"{case.name}.peer-initiated", ok, out[-300:],
                   detail=f"new IKE SA in {ike_time:.2f} s; traffic {'lost' if lost else 'still passing'} "
                          "while the peer was down")
    after_restart(case, checks, sites, gw, old_spi, started, lambda: len(ss.list_sas(SS_CONN)))
    no_crash(case, checks, gw)


def restart_isthmus_peer(case, scene, checks, sites):
    texts = {side: (EXAMPLES / f"{side}-dynamic.yaml").read_text() for side in ("office", "cloud")}
    for side in texts:
        texts[side] = re.sub(r"^    dpd: .*$", "    dpd: {action: none}", texts[side], flags=re.M)
    cloud_cfg = scene.write("cloud.yaml", texts["cloud"])
    office_cfg = scene.write("office.yaml", texts["office"])
    office = start_isthmus(scene, sites, case, checks, True, name="office", config=office_cfg)
    cloud = start_isthmus(scene, sites, case, checks, False, name="cloud", config=cloud_cfg, tun=sites.tun_cloud,
                          ns=sites.cld)
    tunnel_up(case, checks, sites, office)     # examples/office-dynamic.yaml's connection is office-cloud too
    old_spi = age_past_window(office)
    cloud.stop(signal.SIGKILL, timeout=5)
    checks.check(f"{case.name}.peer-killed", not cloud.alive, "the cloud gateway still runs")
    started = time.monotonic()
    again = start_isthmus(scene, sites, case, checks, False, name="cloud-restarted", config=cloud_cfg,
                          tun=sites.tun_cloud, ns=sites.cld)
    ok = again.wait_for(lambda s: any(sa.get("state") == "established" for sa in ike_sas(s)))
    checks.require(f"{case.name}.peer-initiated", bool(ok), "the restarted gateway established nothing",
                   detail=f"restarted gateway's IKE SA up {time.monotonic() - started:.2f} s after its start")
    after_restart(case, checks, sites, office, old_spi, started, lambda: len(ike_sas(again.status())))
    no_crash(case, checks, office)


@pytest.mark.parametrize("case", RESTARTS, ids=[c.name for c in RESTARTS])
def test_peer_restart(case, scene, checks, isthmus_bin):
    t0 = time.monotonic()
    prereq.require(checks, tools=["ip", "swanctl", "ping"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    sites = topology(scene, checks, tuns=case.peer == "isthmus")
    if case.peer == "isthmus":
        restart_isthmus_peer(case, scene, checks, sites)
    else:
        restart_strongswan(case, scene, checks, sites)
    checks.ok(f"{case.name}.duration", detail=f"{time.monotonic() - t0:.1f} s")


# ----------------------------------------------------------------------------- hostile peer
def many_selectors(case, checks, sites, gw, ss):
    r = ss.initiate("hostile", ike=SS_CONN, timeout=WAIT + 5)
    out = r.stdout + r.stderr
    got = next((c for sa in ss.list_sas(SS_CONN) for c in sa["children"] if c["name"] == "hostile"), None)
    theirs = len(got["local_ts"]) if got else 0
    refused = "TS_UNACCEPTABLE" in out
    mine = max((len(k.get("remoteSelectors") or []) for k in child_sas(gw.status())), default=0)
    checks.check(f"{case.name}.answered", (got is not None and 1 <= theirs <= 32 and mine <= 32) or refused,
                 f"strongSwan got {theirs} TSi, Isthmus installed at most {mine}: {out[-300:]}",
                 detail=("TS_UNACCEPTABLE" if refused and got is None else
                         f"64 TSi offered, narrowed to {theirs} (strongSwan) / {mine} (Isthmus)"))


def child_flood(case, checks, sites, gw, ss):
    made, refused, answers = 1, 0, set()
    for i in range(FLOOD_CHILDREN - 1):
        ok, out = initiate(ss, f"f{i}")
        if ok:
            made += 1
        else:
            refused += 1
            answers.update(re.findall(r"NO_ADDITIONAL_SAS|NO_PROPOSAL_CHOSEN|TS_UNACCEPTABLE", out))
        if not gw.alive:
            break
    status = gw.status()
    children = sum(len(sa.get("childSAs") or []) for sa in ike_sas(status, CONN))
    refusals = len(events_of(gw, "child-sa-refused"))
    checks.check(f"{case.name}.refused-past-the-cap",
                 made == 32 and refused == FLOOD_CHILDREN - 32 and "NO_ADDITIONAL_SAS" in answers and children == 32,
                 f"{made} CHILD SAs made, {refused} refused ({sorted(answers)}), Isthmus lists {children}",
                 detail=f"{FLOOD_CHILDREN} requests: {made} made, {refused} refused with {sorted(answers)}, "
                        f"{refusals} child-sa-refused events")


@pytest.mark.parametrize("case", HOSTILE, ids=[c.name for c in HOSTILE])
def test_hostile_peer(case, scene, checks, isthmus_bin):
    t0 = time.monotonic()
    prereq.require(checks, tools=["ip", "swanctl", "ping"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    sites = topology(scene, checks, tuns=False)
    ss = start_charon(scene, sites, case, checks, "strongswan-start")
    gw = start_isthmus(scene, sites, case, checks, True)
    ok, out = initiate(ss)
    checks.require(f"{case.name}.strongswan-initiate", ok, out[-300:])
    tunnel_up(case, checks, sites, gw, ss)
    {"many-selectors": many_selectors, "child-flood": child_flood}[case.hostile](case, checks, sites, gw, ss)
    established_now = established(gw)
    checks.check(f"{case.name}.ike-sa-up", len(established_now) == 1, f"{len(established_now)} established IKE SAs")
    checks.check(f"{case.name}.other-tunnel-pings", ping_ok(sites, count=3), "ping office host -> VM failed")
    no_crash(case, checks, gw)
    checks.ok(f"{case.name}.duration", detail=f"{time.monotonic() - t0:.1f} s")
