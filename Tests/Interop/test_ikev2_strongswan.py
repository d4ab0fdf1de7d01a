"""IKEv2 on the wire against Debian's strongSwan (formerly scripts/interop/ikev2-strongswan, cases a..m).

Isthmus (`isthmus run`, no data plane) and strongSwan 5.9.8 (charon with kernel-libipsec, harness.strongswan)
face each other across the two-site topology (harness.sites); the office gateway's public interface is
captured. Both sides must negotiate the IKE SA and the CHILD SA, agree on algorithms, traffic selectors, roles
and SPIs, keep them, rekey (forced by strongSwan, or on Isthmus's own timer) and tear down cleanly; with
different shared keys nothing may be established and Isthmus must say why.

The cases are data (CASES, in the spirit of strongSWAN's testing/tests/*/evaltest.dat): which gateway Isthmus
plays, who initiates, the suites, the teardown, the rekeys; one runner (test_ikev2_strongswan) makes the checks.
Every check keeps the bash script's name, `CASE.check` (e.g. `isthmus-init-gcm.ss-ike-established`,
`isthmus-init-aes128gcm.child-rekey.ss-one-child-installed`).

`Run` (one case's daemons, snapshots and log tails) and the rekey stages are in harness/ikev2_stages.py.
"""
import os
import re
import signal
import time
from dataclasses import dataclass

import pytest

from harness import capture, netns, prereq, proc
from harness.checks import Aborted, log
from harness.config import ISTHMUS_LOG_LEVEL, WAIT, env_int
from harness.ikev2_checks import same_sas, verify_established
from harness.ikev2_stages import SS_CHILD, SS_CONN, Run, forced_rekeys, timer_rekey
from harness.isthmus import ike_sas
from harness.sites import CLOUD_PREFIX, CLOUD_PUBLIC, OFFICE_PREFIX, OFFICE_PUBLIC

HOLD = env_int("HOLD", 2)                  # seconds the established SAs must stay unchanged (`stable`; 0: skip)
UNBLOCK_WAIT = env_int("UNBLOCK_WAIT", 20)  # crossed initiation: how long Isthmus's own initiation is watched
CLOUD_ADDRESS_SPACES = os.environ.get("CLOUD_ADDRESS_SPACES", "10.0.1.0/24, 10.0.2.0/24")
PSK = "isthmus-interop-psk-7d41c09e2b8a5f36"
PSK_WRONG = "isthmus-interop-WRONG-psk-0b93e6a4"

# strongSwan's log: ike/chd at level 4 print every derived key, so wire.pcap can be decrypted afterwards.
SS_LOG_LEVELS = {"default": 1, "ike": 4, "chd": 4, "cfg": 2, "net": 2, "enc": 1, "knl": 1}
# a rekeyed CHILD SA's inbound half is kept 1 s (default 5 s), so the rekey checks see it gone sooner
SS_OPTIONS = "delete_rekeyed_delay = 1"


@dataclass(frozen=True)
class Suite:
    """Proposals as both configurations write them, and what `swanctl --list-sas` prints once negotiated."""
    ike: str
    esp: str
    ss_ike: str
    ss_esp: str


GCM256 = Suite("aes256gcm16-prfsha256-ecp256", "aes256gcm16", "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256", "AES_GCM_16-256")
CBC = Suite("aes256-sha256-modp2048", "aes256-sha256", "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
            "AES_CBC-256/HMAC_SHA2_256_128")
GCM128 = Suite("aes128gcm16-prfsha256-ecp256", "aes256gcm16", "AES_GCM_16-128/PRF_HMAC_SHA2_256/ECP_256", "AES_GCM_16-256")
MODP2048 = Suite("aes256-sha256-modp2048", "aes256gcm16", "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
                 "AES_GCM_16-256")
ECP384 = Suite("aes256gcm16-prfsha384-ecp384", "aes256gcm16", "AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384", "AES_GCM_16-256")


@dataclass(frozen=True)
class Case:
    letter: str            # the bash script's case letter
    name: str              # test id and check-name prefix
    isthmus: str           # the gateway Isthmus plays: "office" or "cloud" (strongSwan plays the other)
    initiator: str         # "isthmus" or "strongswan" (swanctl --initiate; Isthmus then runs --passive)
    suite: Suite
    teardown: str = "down"  # "down" (isthmus down CONN) or "sigterm"
    rekeys: str = None     # None, "forced" (strongSwan rekeys the CHILD SA, then the IKE SA) or "timer"
    crossed: bool = False  # Isthmus initiates too, held back by nftables until strongSwan's IKE SA is up
    psk_mismatch: bool = False  # Isthmus has another shared key: nothing may be established

    @property
    def lifetime(self):    # the timer case runs at the minimums; its CHILD SA rekeys after ~105 s
        return "{ike: 5m, esp: 2m}" if self.rekeys == "timer" else "{ike: 8h, esp: 1h}"

    @property
    def conn(self):
        return "ofc-cld" if self.isthmus == "office" else "cld-ofc"


CASES = [
    Case("a", "isthmus-init-gcm",              "office", "isthmus",    GCM256),
    Case("b", "strongswan-init-gcm",           "cloud",  "strongswan", GCM256),
    Case("c", "isthmus-init-cbc",              "office", "isthmus",    CBC,      teardown="sigterm"),
    Case("d", "psk-mismatch",                  "office", "isthmus",    GCM256,   psk_mismatch=True),
    Case("e", "strongswan-init-gcm-to-office", "office", "strongswan", GCM256),
    Case("f", "crossed-initiation",            "office", "strongswan", GCM256,   crossed=True),
    Case("g", "isthmus-init-aes128gcm",        "office", "isthmus",    GCM128,   rekeys="forced"),
    Case("h", "strongswan-init-aes128gcm",     "cloud",  "strongswan", GCM128,   rekeys="forced"),
    Case("i", "isthmus-init-cbc-modp2048",     "office", "isthmus",    MODP2048, teardown="sigterm", rekeys="forced"),
    Case("j", "strongswan-init-cbc-modp2048",  "cloud",  "strongswan", MODP2048, rekeys="forced"),
    Case("k", "isthmus-init-ecp384",           "office", "isthmus",    ECP384,   rekeys="forced"),
    Case("l", "strongswan-init-ecp384",        "cloud",  "strongswan", ECP384,   rekeys="forced"),
    Case("m", "isthmus-timer-rekey",           "office", "isthmus",    GCM128,   rekeys="timer"),
]

SIDES = {   # gateway -> (public address, the peer's, local prefix, remote prefix)
    "office": (OFFICE_PUBLIC, CLOUD_PUBLIC, OFFICE_PREFIX, CLOUD_PREFIX),
    "cloud": (CLOUD_PUBLIC, OFFICE_PUBLIC, CLOUD_PREFIX, OFFICE_PREFIX),
}


# ----------------------------------------------------------------------------- configurations
def swanctl_conf(side, suite, psk=PSK):
    me, peer, lts, rts = SIDES[side]
    return f"""connections {{
    {SS_CONN} {{
        version = 2
        local_addrs = {me}
        remote_addrs = {peer}
        proposals = {suite.ike}
        rekey_time = 28800s
        local {{
            auth = psk
            id = {me}
        }}
        remote {{
            auth = psk
            id = {peer}
        }}
        children {{
            {SS_CHILD} {{
                local_ts = {lts}
                remote_ts = {rts}
                esp_proposals = {suite.esp}
                mode = tunnel
                start_action = none
                rekey_time = 3240s
                life_time = 3600s
            }}
        }}
    }}
}}
secrets {{
    ike-s2s {{
        id-a = {OFFICE_PUBLIC}
        id-b = {CLOUD_PUBLIC}
        secret = "{psk}"
    }}
}}
"""


def isthmus_yaml(case, psk):
    connection = f"""connections:
  - name: {case.conn}
    local_network: {"cloud" if case.isthmus == "office" else "office"}
    ike_version: 2
    shared_key: {psk}
    ike: {case.suite.ike}
    esp: {case.suite.esp}
    lifetime: {case.lifetime}
    dpd: {{interval: 30s, timeout: 150s, action: clear}}
    nat_traversal: auto
"""
    if case.isthmus == "office":
        return f"""# Isthmus office gateway (written by Tests/Interop/test_ikev2_strongswan.py)
gateway:
  name: interop-office
  kind: dynamic
  public_address: {OFFICE_PUBLIC}
site:
  prefixes: [{OFFICE_PREFIX}]
local_networks:
  - name: cloud
    gateway_address: {CLOUD_PUBLIC}
    prefixes: [{CLOUD_PREFIX}]
""" + connection
    return f"""# Isthmus cloud gateway (written by Tests/Interop/test_ikev2_strongswan.py)
gateway:
  name: interop-cloud
  kind: dynamic
  public_address: {CLOUD_PUBLIC}
virtual_network:
  name: interop-vnet
  address_spaces: [{CLOUD_ADDRESS_SPACES}]
  subnets:
    - {{name: vms, prefix: {CLOUD_PREFIX}}}
    - {{name: GatewaySubnet, prefix: 10.0.2.0/24}}
  gateway_subnet: GatewaySubnet
local_networks:
  - name: office
    gateway_address: {OFFICE_PUBLIC}
    prefixes: [{OFFICE_PREFIX}]
""" + connection


# nftables in strongSwan's namespace: drop Isthmus's IKE_SA_INIT requests (exchange 34, Initiator flag set,
# Response flag clear; on UDP 500 the IKE header follows the UDP header), so the IKE SA that forms is strongSwan's.
NFT_BLOCK = """table inet istinterop {{
    chain input {{
        type filter hook input priority 0; policy accept;
        ip saddr {addr} udp dport 500 @th,208,8 34 @th,216,8 & 0x28 == 0x08 counter drop
    }}
}}
"""


# ----------------------------------------------------------------------------- the runner
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ikev2_strongswan(case, scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "swanctl", "tcpdump", "nft", "python3"], isthmus=isthmus_bin,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    t_case = time.monotonic()
    sites = scene.two_sites(tuns=False)
    try:
        for ns in (sites.oh, sites.ofc, sites.cld, sites.vm):
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    except netns.NetnsError as e:
        checks.abort("underlay-ping", f"set-up: {e}")
    for ns in (sites.ofc, sites.cld):     # no partial checksums in the pcap
        ns.run(["ethtool", "-K", "wan0", "tx", "off"], timeout=10)
    r = sites.ofc.ping(CLOUD_PUBLIC, count=1, wait=2)
    checks.require("underlay-ping", r.returncode == 0, "the office gateway cannot reach the cloud gateway")

    ist_ns, ss_ns = (sites.ofc, sites.cld) if case.isthmus == "office" else (sites.cld, sites.ofc)
    ss_side = "cloud" if case.isthmus == "office" else "office"
    run = Run(case, scene, checks)

    def wire_txt():   # after the capture stopped (teardown runs last-in first-out)
        lines = capture.ike_summary(scene.path("wire.pcap"))
        scene.write("wire.txt", "\n".join(lines) + "\n", mode=0o644)
        for line in lines:
            if line.startswith("# IKE SA"):
                log(f"{case.name}: {line[2:]}")
    scene.on_teardown(wire_txt)
    scene.capture(sites.ofc, "wan0")
    try:
        if case.psk_mismatch:
            mismatch(run, ist_ns, ss_ns, ss_side)
        else:
            positive(run, ist_ns, ss_ns, ss_side)
    finally:
        log(f"case {case.name} took {run.since(t_case)}")


def start_daemons(run, ist_ns, ss_ns, ss_side, psk, passive):
    """isthmus-check, strongswan-start (charon, swanctl --load-all) and isthmus-start: each ends the case."""
    case, scene, checks = run.case, run.scene, run.checks
    N = case.name
    yaml = scene.write(f"isthmus-{case.isthmus}.yaml", isthmus_yaml(case, psk))
    r = scene.run([scene.isthmus_bin, "check", yaml], timeout=30)
    first_error = next((x for x in (r.stdout + r.stderr).splitlines() if "error" in x), (r.stdout + r.stderr)[-200:])
    checks.require(f"{N}.isthmus-check", r.returncode == 0, f"isthmus check refused the generated config: {first_error}")

    run.ss = scene.strongswan(ss_ns, start=False, log_levels=SS_LOG_LEVELS, charon_options=SS_OPTIONS)
    try:
        run.ss.start()
    except RuntimeError as e:
        run.tails()
        checks.abort(f"{N}.strongswan-start", f"charon did not come up: {e}")
    r = run.ss.load(swanctl_conf(ss_side, case.suite))
    scene.write("load.txt", r.stdout + r.stderr, mode=0o644)
    if r.returncode != 0:
        run.tails()
        checks.abort(f"{N}.strongswan-start", f"swanctl --load-all failed: {(r.stdout + r.stderr).strip()[-200:]}")
    checks.ok(f"{N}.strongswan-start")

    t0 = time.monotonic()
    run.gw = scene.isthmus(ist_ns, yaml, name="isthmus", start=False, passive=passive, log_format="text",
                           log_level=ISTHMUS_LOG_LEVEL or "debug")
    try:
        run.gw.start()
    except RuntimeError as e:
        run.tails()
        checks.abort(f"{N}.isthmus-start", f"isthmus run did not answer on its control socket within {WAIT}s: {e}")
    checks.ok(f"{N}.isthmus-start")
    return t0


def positive(run, ist_ns, ss_ns, ss_side):
    case, scene, checks = run.case, run.scene, run.checks
    N, conn = case.name, case.conn
    _, _, lts, rts = SIDES[ss_side]            # strongSwan's own view of the selectors
    isthmus_addr = SIDES[case.isthmus][0]
    role = "initiator" if case.initiator == "isthmus" else "responder"

    # ---------------------------------------------------------------- crossed initiation: hold Isthmus back
    blocked = False
    if case.crossed:
        r = ss_ns.run(["nft", "-f", "-"], input=NFT_BLOCK.format(addr=isthmus_addr), timeout=20)
        checks.require(f"{N}.block-isthmus-initiation", r.returncode == 0,
                       f"nft failed: {' '.join((r.stderr or r.stdout).splitlines()[:2])}")
        blocked = True
        log(f"{N}: Isthmus auto-initiates; its IKE_SA_INIT requests are dropped before strongSwan (nftables)")

    t0 = start_daemons(run, ist_ns, ss_ns, ss_side, PSK,
                       passive=case.initiator == "strongswan" and not case.crossed)
    ss, gw = run.ss, run.gw

    # ---------------------------------------------------------------- establishment
    if case.initiator == "strongswan":
        ti = time.monotonic()
        r = ss.initiate(SS_CHILD, ike=SS_CONN, timeout=WAIT + 5)
        scene.write("initiate.txt", r.stdout + r.stderr, mode=0o644)
        out = r.stdout + r.stderr
        if not checks.check(f"{N}.strongswan-initiate",
                            r.returncode == 0 and "initiate completed successfully" in out,
                            "swanctl --initiate --child net failed: "
                            + " ".join([x for x in out.splitlines() if not x.startswith("[")][-2:]),
                            detail=f"completed in {run.since(ti)}"):
            log("\n".join(out.splitlines()[-15:]))
            # as the bash script: strongSwan may still come up, but the case ends here
            if not proc.wait_for(run.ss_ready, WAIT, abort=lambda: not run.alive()):
                run.tails()
                checks.abort(f"{N}.established",
                             f"strongSwan shows no ESTABLISHED IKE SA with an INSTALLED CHILD SA after {WAIT}s")
            raise Aborted(f"{N}.strongswan-initiate failed")
    if not proc.wait_for(run.ss_ready, WAIT, abort=lambda: not run.alive()):
        run.tails()
        checks.abort(f"{N}.established",
                     f"strongSwan shows no ESTABLISHED IKE SA with an INSTALLED CHILD SA after {WAIT}s"
                     + ("" if run.alive() else " (a daemon exited)"))
    if not proc.wait_for(run.ist_ready, WAIT, abort=lambda: not run.alive()):
        run.summary(gw.status())
        run.tails()
        checks.abort(f"{N}.established",
                     f"Isthmus's status shows no established IKE SA with a CHILD SA after {WAIT}s"
                     + ("" if run.alive() else " (a daemon exited)"))
    checks.ok(f"{N}.established", f"{run.since(t0)} after isthmus started")
    time.sleep(0.5)    # let both settle (e.g. a losing duplicate SA being deleted)
    established = run.snapshot("established")
    scene.write("established.sas.human.txt", ss.swanctl("--list-sas").stdout, mode=0o644)
    run.summary(established[1])
    if not checks.extend(N, verify_established(*established, ss_conn=SS_CONN, ist_conn=conn, ike=case.suite.ss_ike,
                                               esp=case.suite.ss_esp, lts=lts, rts=rts, isthmus_role=role)):
        run.tails()

    # ---------------------------------------------------------------- the same SAs HOLD seconds later
    if HOLD:
        time.sleep(HOLD)
        held = run.snapshot("held")
        ok, messages = same_sas(*established, *held, SS_CONN, conn)
        if not checks.check(f"{N}.stable", ok, f"after {HOLD}s: " + " ".join(messages[:3])):
            run.summary(held[1])
            run.tails()

    # ---------------------------------------------------------------- crossed initiation: let Isthmus through
    # now that strongSwan's IKE SA is up. A second IKE SA must not replace the working one, and Isthmus must not
    # send INITIAL_CONTACT while it already has an IKE SA with this peer (strongSwan then destroys it silently).
    if blocked:
        counter = re.search(r"packets \d+", ss_ns.run(["nft", "list", "table", "inet", "istinterop"]).stdout)
        log(f"{N}: Isthmus IKE_SA_INIT requests dropped: {counter.group(0) if counter else '?'}")
        ss_ns.run(["nft", "delete", "table", "inet", "istinterop"], timeout=20)
        log(f"{N}: Isthmus's IKE_SA_INIT requests let through; watching for {UNBLOCK_WAIT}s")
        time.sleep(UNBLOCK_WAIT)
        unblocked = run.snapshot("unblocked")
        run.summary(unblocked[1])
        ok, messages = same_sas(*established, *unblocked, SS_CONN, conn)
        checks.check(f"{N}.stable-after-crossed-initiation", ok, " ".join(messages[:3]))
        m = re.search(r"destroying duplicate IKE_SA.*INITIAL_CONTACT", ss.log_text())
        checks.check(f"{N}.no-initial-contact-while-established", m is None, f"strongSwan: '{m.group(0) if m else ''}'")
        deleting = [s for s in ike_sas(unblocked[1], conn) if s.get("state") == "deleting"]
        checks.check(f"{N}.no-stuck-delete", not deleting,
                     f"Isthmus still has an IKE SA in state 'deleting' {UNBLOCK_WAIT}s later")

    if case.rekeys == "forced":
        forced_rekeys(run)
    elif case.rekeys == "timer":
        timer_rekey(run)

    # ---------------------------------------------------------------- teardown from the Isthmus side
    # strongSwan must see the DELETE and drop the IKE SA
    td = time.monotonic()
    deletes = run.charon_count(r"received DELETE for IKE_SA")
    if case.teardown == "down":
        r = gw.down(conn)
        scene.write("down.txt", r.stdout + r.stderr, mode=0o644)
        checks.check(f"{N}.isthmus-down", r.returncode == 0,
                     f"isthmus down {conn} failed: {(r.stdout + r.stderr).strip()[-200:]}")
    else:
        gw.send_signal(signal.SIGTERM)
        code = gw.wait_exit(WAIT)
        checks.check(f"{N}.isthmus-sigterm", code == 0,
                     f"isthmus still running {WAIT}s after SIGTERM" if code is None else f"isthmus exited {code} after SIGTERM")
    if proc.wait_for(lambda: not ss.list_sas(SS_CONN), WAIT):
        if not checks.check(f"{N}.strongswan-deleted", run.charon_count(r"received DELETE for IKE_SA") > deletes,
                            "IKE SA gone from --list-sas but charon never logged 'received DELETE for IKE_SA'",
                            detail=f"{run.since(td)} after the teardown"):
            run.tails()
    else:
        checks.fail(f"{N}.strongswan-deleted", f"strongSwan still lists the IKE SA {WAIT}s after the teardown")
        run.tails()
    if gw.alive:
        cleared = proc.wait_for(lambda: (lambda s: s if s and not run.ist_established(s) else None)(gw.status()), WAIT)
        checks.check(f"{N}.isthmus-cleared", cleared,
                     f"Isthmus still shows an established IKE SA {WAIT}s after 'down'")
        run.snapshot("after-down")


# ----------------------------------------------------------------------------- the negative case
def mismatch(run, ist_ns, ss_ns, ss_side):
    """Different shared keys: nothing is established, Isthmus says why, strongSwan rejected the AUTH."""
    case, checks = run.case, run.checks
    N = case.name
    t0 = start_daemons(run, ist_ns, ss_ns, ss_side, PSK_WRONG, passive=False)
    gw, ss = run.gw, run.ss
    wanted = re.compile(r"authentication-failed.*shared keys differ")
    line = proc.wait_for(lambda: wanted.search(gw.log_text()), WAIT)
    if line:
        checks.ok(f"{N}.isthmus-reports-authentication-failed", f"{run.since(t0)} after isthmus started")
        log(f"{N}: reported: {line.group(0)[:300]}")
    else:
        other = re.search(r".*authentication-failed.*", gw.log_text())
        checks.fail(f"{N}.isthmus-reports-authentication-failed",
                    f"authentication-failed logged without 'shared keys differ': {other.group(0)[:300]}" if other
                    else f"no 'authentication-failed' line in Isthmus's log within {WAIT}s")
        run.tails()
    # strongSwan (the responder) must have rejected the AUTH and kept no SA
    checks.check(f"{N}.strongswan-rejected-auth",
                 re.search(r"MAC mismatched|AUTHENTICATION_FAILED|authentication of .* failed", ss.log_text()),
                 "charon's log shows no AUTH verification failure")
    sas, status = run.snapshot("final")
    if any(sa["state"] == "ESTABLISHED" for sa in sas if sa["conn"] == SS_CONN):
        checks.fail(f"{N}.no-sa", "strongSwan shows an ESTABLISHED IKE SA despite the different keys")
    elif run.ist_established(status):
        checks.fail(f"{N}.no-sa", "Isthmus shows an established IKE SA despite the different keys")
    else:
        checks.ok(f"{N}.no-sa")
