"""IKEv1 against Debian's strongSwan, traffic across (formerly scripts/interop/ikev1-strongswan).

strongSwan 5.9.8 (`version = 1`, kernel-libipsec, a private /run, swanctl over its own vici socket) and
`isthmus run --tun` (the ESP data plane) face each other in the two-site topology of harness.sites, at the
addresses of examples/office.yaml and examples/cloud.yaml. kernel-libipsec only does ESP in UDP, so it fakes
NAT-D: both sides float to UDP 4500 in Main Mode message 5 and ESP crosses in UDP 4500.

The cases are data (CASES), in the manner of strongSwan's testing/tests/*/evaltest.dat: who plays which gateway
with which configuration, what strongSwan proposes, what both sides must then show, which lifetime decisions
Isthmus must log, which lines charon must log, and which extra stages run (hostile input, `up` after `down`, the
short lifetimes under a continuous ping). One runner, test_ikev1, makes the checks; their names are the bash
script's, prefixed by the case (`a-resp.strongswan-deleted-esp-then-isakmp`).

The stages (both sides established and agreeing, traffic across, hostile input, the teardown, `up` after
`down`, the shared-key mismatch, the short lifetimes) and `Run`, one case's live parts, are in
harness/ikev1_stages.py.
"""
import re
import time
from dataclasses import dataclass

import pytest

from harness import prereq, proc
from harness.checks import log
from harness.config import EXAMPLES, ISTHMUS_LOG_LEVEL, WAIT
from harness.ikev1_stages import (Run, established_stage, expect_lifetime, hostile_stage, iperf_across, ping_across,
                                  psk_stage, short_stage, teardown_stage, up_after_down_stage)
from harness.netns import NetnsError
from harness.sites import CLOUD_PREFIX, CLOUD_PUBLIC, OFFICE_PREFIX, OFFICE_PUBLIC, two_sites

# The examples' demo key (examples/office.yaml, examples/cloud.yaml), so they run unchanged.
PSK = "isthmus-demo-key-change-me-0123456789"
PSK_WRONG = "isthmus-interop-WRONG-psk-5c21e09a"

# Profile (b)'s cloud gateway (Isthmus), facing an old office router. It protects two address spaces with VMs
# (not the gateway subnet's); the router has a policy for the first only.
PROFILE_B = f"""# Isthmus as the cloud's static gateway facing an old office router (written by test_ikev1_strongswan.py)
gateway:
  name: interop-cloud
  kind: static
  public_address: 203.0.113.20
virtual_network:
  name: interop-vnet
  address_spaces: [10.0.1.0/24, 10.0.3.0/24, 10.0.2.0/24]
  subnets:
    - {{name: vms, prefix: 10.0.1.0/24}}
    - {{name: more-vms, prefix: 10.0.3.0/24}}
    - {{name: GatewaySubnet, prefix: 10.0.2.0/24}}
  gateway_subnet: GatewaySubnet
local_networks:
  - name: office
    gateway_address: 198.51.100.10
    prefixes: [192.168.1.0/24]
connections:
  - name: cloud-office
    local_network: office
    ike_version: 1
    shared_key: {PSK}
    ike: [aes256-sha256-modp2048, 3des-sha1-modp1024]
    esp: [aes128-sha1, 3des-sha1]
    lifetime: {{ike: 8h, esp: 1h}}
    dpd: {{action: none}}
"""


@dataclass(frozen=True)
class Peer:
    """What strongSwan is configured with: proposals, lifetimes (s) and life_bytes (its IKEv1 kilobyte is 1000
    bytes: 102400000 KB on the wire is life_bytes 102400000000), and the shared key."""
    ike: str = "aes256-sha1-modp1024"
    esp: str = "aes256-sha1"
    ike_life: int = 28800
    esp_life: int = 3600
    life_bytes: int = None
    psk: str = PSK


@dataclass(frozen=True)
class Expect:
    """The established tunnel: strongSwan's algorithm names, Isthmus's keywords, Isthmus's chosen lifetimes."""
    ss_ike: str = "AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024"
    ss_esp: str = "AES_CBC-256/HMAC_SHA1_96"
    ist_ike: str = "aes256-sha1-modp1024"
    ist_esp: str = "aes256-sha1"
    ike_life: int = 28800
    esp_life: int = 3600


@dataclass
class Case:
    name: str
    kind: str = "tunnel"              # tunnel | psk (different keys: no SA) | short (lifetimes under a ping)
    isthmus_gw: str = "office"        # the gateway Isthmus plays; strongSwan plays the other
    role: str = "initiator"           # Isthmus's role (responder: `run --passive`, strongSwan initiates)
    config: str = "office.yaml"       # examples/ file, or PROFILE_B
    edits: tuple = ()                 # (regex, replacement) on the config, each must change it
    peer: Peer = Peer()
    expect: Expect = Expect()
    lifetime_events: tuple = ()       # (check, regex over Isthmus's `lifetime-chosen: MESSAGE` event lines)
    charon_logged: tuple = ()         # (check, text charon's log must hold)
    refused_pair: bool = False        # 10.0.3.0/24 refused alone by both sides
    hostile: bool = False             # hostile ISAKMP while the tunnel runs
    teardown: str = "down"            # down | sigterm
    up_after_down: bool = False       # `isthmus up` after the teardown: Isthmus initiates


def lifetimes_chosen(ike, esp):
    return (("lifetime-chosen-phase1", rf"^lifetime-chosen: phase 1 .* using {ike}s because of "),
            ("lifetime-chosen-phase2", rf"^lifetime-chosen: phase 2 .* using {esp}s.* because of "))


PROFILE_B_PEER = Peer(ike="3des-sha1-modp1024", esp="3des-sha1,aes128-sha1", ike_life=10800, esp_life=28800)
CASES = [
    # (a) the cloud's static gateway defaults (phase 1 aes256-sha1-modp1024, 28800 s; phase 2 aes256-sha1, 3600 s
    # and 102400000 KB, no PFS, no DPD) played by strongSwan; Isthmus runs the examples unchanged.
    Case("a-init", peer=Peer(life_bytes=102400000000), lifetime_events=lifetimes_chosen(28800, 3600)),
    Case("a-resp", isthmus_gw="cloud", role="responder", config="cloud.yaml", peer=Peer(life_bytes=102400000000),
         lifetime_events=lifetimes_chosen(28800, 3600), hostile=True, teardown="sigterm"),
    # (b) an old office router (strongSwan: 3DES first, lifetimes 3 h / 8 h) facing Isthmus as the cloud (8 h / 1 h).
    # Isthmus initiating: strongSwan (responder) prefers its own first ESP proposal and takes our shorter lifetime;
    # the cloud's second address space, which the router has no policy for, is refused alone.
    Case("b-init", isthmus_gw="cloud", config=PROFILE_B, peer=PROFILE_B_PEER,
         expect=Expect(ss_ike="3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024", ss_esp="3DES_CBC/HMAC_SHA1_96",
                       ist_ike="3des-sha1-modp1024", ist_esp="3des-sha1", ike_life=28800, esp_life=3600),
         lifetime_events=lifetimes_chosen(28800, 3600),
         charon_logged=(("strongswan-took-our-lifetime", "received 3600s lifetime, configured 28800s"),),
         refused_pair=True),
    # The router initiates: Isthmus (responder) prefers its own first ESP proposal; phase 1 the initiator's 3 h,
    # phase 2 our 1 h with RESPONDER-LIFETIME. Then `isthmus up` after `down`: the passive responder initiates.
    Case("b-resp", isthmus_gw="cloud", role="responder", config=PROFILE_B, peer=PROFILE_B_PEER,
         expect=Expect(ss_ike="3DES_CBC/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024", ss_esp="AES_CBC-128/HMAC_SHA1_96",
                       ist_ike="3des-sha1-modp1024", ist_esp="aes128-sha1", ike_life=10800, esp_life=3600),
         lifetime_events=lifetimes_chosen(10800, 3600) + (
             ("lifetime-phase1-initiators-proposal",
              r"phase 1 \(ISAKMP SA\) lifetime: ours 28800s, using 10800s because of the initiator's proposal"),
             ("lifetime-phase2-responder-lifetime-sent",
              r"phase 2 .* lifetime: ours 3600s/102400000KB, peer's 28800s, using 3600s/102400000KB because of our "
              r"policy \(RESPONDER-LIFETIME sent\)")),
         up_after_down=True),
    # Different shared keys, in both roles: no SA, and Isthmus names the likely cause.
    Case("psk-init", kind="psk", edits=((f"shared_key: {PSK}", f"shared_key: {PSK_WRONG}"),)),
    Case("psk-resp", kind="psk", isthmus_gw="cloud", role="responder", config="cloud.yaml",
         edits=((f"shared_key: {PSK}", f"shared_key: {PSK_WRONG}"),)),
    # Isthmus's own phase 1 and phase 2 rekeys (lifetime {ike: 120s, esp: 60s}; strongSwan has 270 s / 100 s and
    # takes ours) under a continuous ping for SHORT_RUN seconds.
    Case("short-lifetimes", kind="short",
         edits=((r"(?m)^      ike: 8h .*$", "      ike: 120s"), (r"(?m)^      esp: 1h .*$", "      esp: 60s")),
         peer=Peer(ike_life=270, esp_life=100, life_bytes=102400000000), expect=Expect(ike_life=120, esp_life=60),
         lifetime_events=(("lifetime-chosen-phase2",
                           r"phase 2 .* lifetime: ours 60s/102400000KB, using 60s/102400000KB because of our "
                           r"proposal"),),
         charon_logged=(("strongswan-took-our-lifetime", "received 60s lifetime, configured 100s"),)),
]


def swanctl_conf(gw, p):
    """strongSwan's configuration on gateway GW (office|cloud). It proposes (and, as IKEv1 responder, uses)
    phase 1 lifetime = reauth_time + over_time; phase 2 life_time."""
    me, peer, lts, rts = ((OFFICE_PUBLIC, CLOUD_PUBLIC, OFFICE_PREFIX, CLOUD_PREFIX) if gw == "office" else
                          (CLOUD_PUBLIC, OFFICE_PUBLIC, CLOUD_PREFIX, OFFICE_PREFIX))
    life_bytes = f"life_bytes = {p.life_bytes}" if p.life_bytes else ""
    return f"""connections {{
    s2s {{
        version = 1
        local_addrs = {me}
        remote_addrs = {peer}
        proposals = {p.ike}
        reauth_time = {p.ike_life * 9 // 10}s
        over_time = {p.ike_life - p.ike_life * 9 // 10}s
        dpd_delay = 0s
        local {{
            auth = psk
            id = {me}
        }}
        remote {{
            auth = psk
            id = {peer}
        }}
        children {{
            net {{
                local_ts = {lts}
                remote_ts = {rts}
                esp_proposals = {p.esp}
                mode = tunnel
                start_action = none
                rekey_time = {p.esp_life * 9 // 10}s
                life_time = {p.esp_life}s
                {life_bytes}
            }}
        }}
    }}
}}
secrets {{
    ike-s2s {{
        id-a = {OFFICE_PUBLIC}
        id-b = {CLOUD_PUBLIC}
        secret = "{p.psk}"
    }}
}}
"""


def config_text(case):
    text = PROFILE_B if case.config == PROFILE_B else (EXAMPLES / case.config).read_text()
    for pattern, replacement in case.edits:
        new = re.sub(pattern, replacement, text)
        if new == text:
            return None
        text = new
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ikev1(case, scene, checks, isthmus_bin):
    N = case.name
    def run_options():
        r = scene.run([isthmus_bin, "run", "--help"])
        return [f"isthmus run has no {o}" for o in ("--tun", "--passive") if o not in r.stdout + r.stderr]
    prereq.require(checks, tools=["ip", "ping", "tcpdump", "swanctl", "iperf3", "python3", "openssl"],
                   isthmus=isthmus_bin, tun=True, more=run_options,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    try:
        sites = two_sites(scene, tuns=False)
        for ns in (sites.oh, sites.ofc, sites.cld, sites.vm):
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    except NetnsError as e:
        checks.abort("topology", str(e))
    for ns in (sites.ofc, sites.cld):
        ns.run(["ethtool", "-K", "wan0", "tx", "off"])      # as the bash script did; best effort
    checks.require("topology", sites.ofc.ping(CLOUD_PUBLIC).returncode == 0, "office cannot reach cloud")

    ist_ns, ss_ns = (sites.ofc, sites.cld) if case.isthmus_gw == "office" else (sites.cld, sites.ofc)
    ss_gw = "cloud" if case.isthmus_gw == "office" else "office"
    conn = "office-cloud" if case.isthmus_gw == "office" else "cloud-office"
    remote = CLOUD_PREFIX if case.isthmus_gw == "office" else OFFICE_PREFIX
    # The office's public interface, UDP 500 and IKE on 4500 (not ESP).
    wire = scene.capture(sites.ofc, "wan0", bpf="udp port 500 or (udp port 4500 and udp[8:4] = 0)")
    run = Run(case, scene, checks, sites, wire=wire, conn=conn)

    # ---------------------------------------------------------------- configurations and daemons
    text = config_text(case)
    cfg = scene.write("isthmus.yaml", text) if text is not None else None
    r = scene.run([isthmus_bin, "check", cfg]) if cfg else None
    checks.require(f"{N}.isthmus-check", r is not None and r.returncode == 0,
                   "cannot adapt the configuration" if r is None else
                   f"isthmus check: {next((x for x in (r.stdout + r.stderr).splitlines() if 'error' in x), '')}")
    # ike 4: every ISAKMP SA's encryption key is in charon's log, so the capture's Informationals can be read
    # (strongswan-deleted-esp-then-isakmp); cfg 1 and chd 2 as the bash script had them.
    try:
        run.ss = scene.strongswan(ss_ns, log_levels={"ike": 4, "chd": 2, "cfg": 1})
        loaded = run.ss.load(swanctl_conf(ss_gw, case.peer))
    except RuntimeError as e:
        loaded = None
        checks.abort(f"{N}.strongswan-start", f"charon did not come up: {e}")
    checks.require(f"{N}.strongswan-start", loaded.returncode == 0,
                   f"charon refused its config: {(loaded.stdout + loaded.stderr).strip().splitlines()[-1:]}")
    tun = f"{scene.short}t"
    ist_ns.tun(tun, 1400, routes=[remote])
    t0 = time.monotonic()
    try:
        run.gw = scene.isthmus(ist_ns, cfg, name="isthmus", tun=tun, passive=case.role == "responder",
                               log_format="text", log_level=ISTHMUS_LOG_LEVEL or "debug")
    except RuntimeError as e:
        checks.abort(f"{N}.isthmus-start", f"isthmus run did not answer on its control socket within {WAIT}s: {e}")
    checks.ok(f"{N}.isthmus-start")

    if case.kind == "psk":
        return psk_stage(run)
    if case.role == "responder":
        r = run.ss.initiate("net", ike="s2s", timeout=WAIT + 5)
        checks.check(f"{N}.strongswan-initiate",
                     r.returncode == 0 and "initiate completed successfully" in r.stdout,
                     "swanctl --initiate: " + " ".join([x for x in (r.stdout + r.stderr).splitlines()
                                                        if not x.startswith("[")][-2:]))
    established_stage(run)
    log(f"{N}: established {time.monotonic() - t0:.2f} s after isthmus started")
    for check, pattern in case.lifetime_events:
        expect_lifetime(run, check, pattern)
    if case.kind == "short":
        return short_stage(run)
    for check, text in case.charon_logged:
        checks.check(f"{N}.{check}", text in run.ss.log_text(), f"charon never logged '{text}'")
    if case.refused_pair:
        # The cloud also protects 10.0.3.0/24, which the router has no policy for: that Quick Mode alone is
        # refused (INVALID-ID-INFORMATION), the VM subnet's SA stands on both sides (checked above).
        ok = proc.wait_for(lambda: re.search(r"traffic-selector-mismatch.*10\.0\.3\.0/24", run.gw.log_text()), WAIT)
        checks.check(f"{N}.unmatched-pair-refused-alone",
                     ok and "no matching CHILD_SA config found for 10.0.3.0/24" in run.ss.log_text(),
                     "no refusal of 10.0.3.0/24 <=> 192.168.1.0/24 logged on both sides")
    ping_across(run)
    iperf_across(run)
    if case.hostile:
        hostile_stage(run)
    teardown_stage(run, case.teardown)
    if case.up_after_down and run.gw.alive:
        up_after_down_stage(run)
