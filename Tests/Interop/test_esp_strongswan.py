"""Isthmus's userspace ESP data plane against Debian's strongSwan 5.9.8 (formerly scripts/interop/esp-strongswan).

The office gateway runs `isthmus run --tun` (configuration in the format of examples/office-dynamic.yaml,
`nat_traversal: auto`) on a TUN (MTU 1400, 10.0.1.0/24 routed into it); the cloud gateway runs charon with
kernel-libipsec (ESP in userspace over its TUN ipsec0, always ESP in UDP 4500: it fakes a NAT; 192.168.1.0/24
routed to ipsec0 in table 220). Topology: harness.sites (office host 192.168.1.10 - office gateway
198.51.100.10 - cloud gateway 203.0.113.20 - VM 10.0.1.4), IPv6 off in every namespace; no route joins the
sites but a tunnel (`no-clear-path`).

The cases are data (CASES), as strongSwan's testing/tests/*/evaltest.dat: each names its suites, who
initiates, the ESP lifetime, and its checks as a list of Steps that one runner (test_esp_strongswan) works
through after bringing the tunnel up (`CASE.tunnel-up`). Step kinds (RUNNERS):

  ping         `ping -c COUNT -i 0.1` from a namespace: no loss but possibly the first echo
  iperf        iperf3 TCP office host -> VM (reverse: VM -> office host), > 0 bit/s and no error; Mbit/s,
               retransmits and the kernel's drop counters along the path reported
  esp-counted  Isthmus's espPacketsOut/In grew by more than PINGS since the tunnel came up
  alive        Isthmus and charon still running
  rekey        a CHILD SA rekey during an iperf3 run (by strongSwan: `swanctl --rekey` REKEY_AT s into the run;
               by Isthmus: its own lifetime timer, the run timed to start REKEY_AT s before it): NAME.settled,
               NAME.rekeyed, NAME.started-by-isthmus (Isthmus only), NAME.traffic, then TCP NAME.tcp-survived
               or UDP NAME.udp-loss and NAME.udp-flows-after-rekey (the loss in the rekey window less what
               full socket buffers dropped, sampled every 0.1 s, <= UDP_MAX_LOST or <= UDP_MAX_LOSS_PCT %)
  udp-baseline the same UDP stream for 4 s with no rekey (what the rate alone loses on this machine)
  volume       VOLUME_PINGS pings of 1000 bytes through a CHILD SA with a 1024 KB volume lifetime:
               rekeyed-by-isthmus, no-blackhole, dataplane-matches-ike

Check names are the bash script's: `no-clear-path`, then `CASE.NAME`. Knobs (environment, as the script had
them): WAIT, PINGS=20, DUR=5, REKEY_DUR=15, REKEY_AT=5, UDP_DUR=10, UDP_RATE=50M, UDP_MAX_LOST=10,
UDP_MAX_LOSS_PCT=0.5, ISTHMUS_ESP_LIFETIME=2m, ISTHMUS_UDP_REKEY=0, VOLUME_PINGS=1500, ISTHMUS_LOG_LEVEL=debug,
CHARON_NET_LEVEL=1. Per case folder: isthmus.log, charon.log, the configurations, every snapshot (*.sas.txt,
*.sas.json, *.status.json), every iperf3 report (*.json) and kernel counter samples (*.kern.log), summary.txt.

The names, status helpers, kernel counter sampler and `Run` (one case's live parts) are in harness/esp_run.py,
the step runners (RUNNERS, with the knobs REKEY_AT and UDP_*) in harness/esp_steps.py.
"""
import os
import re
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from harness import netns, prereq
from harness.config import ISTHMUS_LOG_LEVEL, WAIT, env_int
from harness.esp_run import CONN, SS_CHILD, SS_CONN, Run, dp_counters, established_children, installed
from harness.esp_steps import RUNNERS
from harness.ikev2_checks import verify_established
from harness.isthmus import dataplane
from harness.proc import wait_for
from harness.sites import CLOUD_PREFIX, CLOUD_PUBLIC, OFFICE_HOST, OFFICE_PUBLIC, VM, two_sites

PINGS = env_int("PINGS", 20)
DUR = env_int("DUR", 5)
REKEY_DUR = env_int("REKEY_DUR", 15)
UDP_DUR = env_int("UDP_DUR", 10)
ISTHMUS_ESP_LIFETIME = os.environ.get("ISTHMUS_ESP_LIFETIME") or "2m"
ISTHMUS_UDP_REKEY = os.environ.get("ISTHMUS_UDP_REKEY", "0") == "1"
VOLUME_PINGS = env_int("VOLUME_PINGS", 1500)
CHARON_NET_LEVEL = env_int("CHARON_NET_LEVEL", 1)

PSK = "isthmus-esp-interop-psk-5c2e81f0a9d4b637"
CRASH = re.compile(r"fatal error|assertion failed|crash", re.I)


# ----------------------------------------------------------------------------- the cases, as data
class Step:
    """One check (or a group of checks) of a case: KIND selects the runner (RUNNERS), NAME is the check name
    after `CASE.`, OPTS its parameters."""

    def __init__(self, kind, name, **opts):
        self.kind, self.name, self.opts = kind, name, opts

    def __repr__(self):
        return f"{self.kind}:{self.name}"


@dataclass
class Case:
    name: str
    initiator: str                  # isthmus | strongswan (Isthmus then runs --passive)
    esp: str                        # the ESP proposal on both sides
    ss_esp: str                     # strongSwan's name of what must be negotiated
    steps: tuple = ()
    ike: str = "aes128-sha256-ecp256"
    ss_ike: str = "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256"
    esp_lifetime: str = "1h"
    esp_size: str = None            # Isthmus's lifetime.esp_size
    marks: tuple = field(default=())


TRAFFIC = (
    Step("ping", "ping-office-to-vm", src="oh", dst=VM, count=PINGS),
    Step("ping", "ping-vm-to-office", src="vm", dst=OFFICE_HOST, count=5),
    Step("iperf", "iperf-tcp-office-to-vm", seconds=DUR),
    Step("iperf", "iperf-tcp-vm-to-office", seconds=DUR, reverse=True),
    Step("esp-counted", "isthmus-esp-counted", more_than=PINGS),
    Step("alive", "daemons-alive"),
)
GCM = dict(esp="aes128gcm16", ss_esp="AES_GCM_16-128")
CBC = dict(esp="aes256-sha256", ss_esp="AES_CBC-256/HMAC_SHA2_256_128")

CASES = [
    Case("isthmus-init-aes128gcm", "isthmus", steps=TRAFFIC, **GCM),
    Case("strongswan-init-aes128gcm", "strongswan", steps=TRAFFIC, **GCM),
    Case("isthmus-init-aes256-sha256", "isthmus", steps=TRAFFIC, **CBC),
    Case("strongswan-init-aes256-sha256", "strongswan", steps=TRAFFIC, **CBC),
    Case("rekey-under-load", "isthmus", esp_lifetime=ISTHMUS_ESP_LIFETIME, marks=(pytest.mark.slow,), steps=(
        Step("ping", "ping-office-to-vm", src="oh", dst=VM, count=5),
        Step("rekey", "strongswan-rekey-tcp", by="strongswan", proto="tcp", seconds=REKEY_DUR),
        Step("udp-baseline", "udp-baseline", seconds=4),
        Step("rekey", "strongswan-rekey-udp", by="strongswan", proto="udp", seconds=UDP_DUR),
        Step("rekey", "isthmus-rekey-tcp", by="isthmus", proto="tcp", seconds=REKEY_DUR),
        *([Step("rekey", "isthmus-rekey-udp", by="isthmus", proto="udp", seconds=UDP_DUR)] if ISTHMUS_UDP_REKEY
          else []),
        Step("ping", "ping-after-rekeys", src="oh", dst=VM, count=5),
    ), **GCM),
    Case("volume-rekey", "isthmus", esp_lifetime="1h", esp_size="1024KB", steps=(
        Step("volume", "", pings=VOLUME_PINGS, size=1000, limit_kb=1024),
        Step("ping", "ping-after", src="oh", dst=VM, count=5),
    ), **GCM),
]


# ----------------------------------------------------------------------------- configurations
def swanctl_conf(case):
    return f"""connections {{
    {SS_CONN} {{
        version = 2
        local_addrs = {CLOUD_PUBLIC}
        remote_addrs = {OFFICE_PUBLIC}
        proposals = {case.ike}
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
                local_ts = 10.0.1.0/24
                remote_ts = 192.168.1.0/24
                esp_proposals = {case.esp}
                mode = tunnel
                start_action = none
                rekey_time = 3240s
                life_time = 3600s
            }}
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


def isthmus_yaml(case):
    size = f", esp_size: {case.esp_size}" if case.esp_size else ""
    return f"""# Isthmus office gateway for the ESP interop test (written by Tests/Interop/test_esp_strongswan.py);
# the format of examples/office-dynamic.yaml.
gateway:
  name: esp-interop-office
  kind: dynamic
  public_address: {OFFICE_PUBLIC}

site:
  prefixes: [192.168.1.0/24]

local_networks:
  - name: cloud
    gateway_address: {CLOUD_PUBLIC}
    prefixes: [10.0.1.0/24]

connections:
  - name: {CONN}
    local_network: cloud
    ike_version: 2
    shared_key: {PSK}
    ike: [{case.ike}]
    esp: [{case.esp}]
    lifetime: {{ike: 8h, esp: {case.esp_lifetime}{size}}}
    dpd: {{interval: 30s, timeout: 150s, action: clear}}
    nat_traversal: auto
"""


# ----------------------------------------------------------------------------- bringing the tunnel up
def tunnel_up(run, isthmus_bin):
    """Starts charon and Isthmus, brings the tunnel up (strongSwan or Isthmus initiating) and checks that both
    sides agree (CASE.tunnel-up). A failure before both sides are established ends the case."""
    case, scene, checks, sites = run.case, run.scene, run.checks, run.sites
    cfg = scene.write("isthmus-ofc.yaml", isthmus_yaml(case))
    r = scene.run([isthmus_bin, "check", cfg], timeout=30)
    scene.write("check.txt", r.stdout + r.stderr, mode=0o644)
    error = next((line for line in (r.stdout + r.stderr).splitlines() if "error" in line), "")
    checks.require(run.name("isthmus-check"), r.returncode == 0,
                   f"isthmus check refused the generated config: {error}")

    run.ss = scene.strongswan(sites.cld, start=False,
                              log_levels={"esp": CHARON_NET_LEVEL, "net": CHARON_NET_LEVEL})
    try:
        run.ss.start()
    except RuntimeError as e:
        checks.abort(run.name("strongswan-start"), f"charon did not come up: {e}")
    r = run.ss.load(swanctl_conf(case))
    scene.write("load.txt", r.stdout + r.stderr, mode=0o644)
    checks.require(run.name("strongswan-start"), r.returncode == 0,
                   f"swanctl --load-all failed: {(r.stdout + r.stderr).strip().splitlines()[-1:]}")

    passive = case.initiator == "strongswan"
    role = "responder" if passive else "initiator"
    t0 = time.monotonic()
    run.gw = scene.isthmus(sites.ofc, cfg, name="isthmus", start=False, tun=run.tun, passive=passive,
                           log_format="text", log_level=ISTHMUS_LOG_LEVEL or "debug")
    try:
        run.gw.start()
    except RuntimeError as e:
        run.tails()
        checks.abort(run.name("isthmus-start"), f"isthmus run did not answer on its control socket within {WAIT}s ({e})")
    checks.ok(run.name("isthmus-start"))

    if passive:
        r = run.ss.initiate(SS_CHILD, ike=SS_CONN, timeout=WAIT + 5)
        scene.write("initiate.txt", r.stdout + r.stderr, mode=0o644)
        if r.returncode != 0 or "initiate completed successfully" not in r.stdout + r.stderr:
            run.tails()
            tail = " ".join([line for line in (r.stdout + r.stderr).splitlines() if not line.startswith("[")][-2:])
            checks.abort(run.name("tunnel-up"), f"swanctl --initiate --child {SS_CHILD} failed: {tail}")
    if not wait_for(lambda: run.ss.ready(SS_CONN), WAIT, abort=lambda: not run.daemons_alive()):
        run.tails()
        checks.abort(run.name("tunnel-up"),
                     f"strongSwan shows no ESTABLISHED IKE SA with an INSTALLED CHILD SA after {WAIT}s")

    def isthmus_ready():
        status = run.ist_snapshot("poll")
        return established_children(status) and dataplane(status, "installedSAs") >= 1
    if not wait_for(isthmus_ready, WAIT, abort=lambda: not run.daemons_alive()):
        run.tails()
        checks.abort(run.name("tunnel-up"), "Isthmus's status shows no established IKE SA with a CHILD SA in its "
                                            f"data plane after {WAIT}s")
    time.sleep(0.3)
    sas, status = run.ss_snapshot("up"), run.ist_snapshot("up")
    results = verify_established(sas, status, ss_conn=SS_CONN, ist_conn=CONN, ike=case.ss_ike, esp=case.ss_esp,
                                 lts="10.0.1.0/24", rts="192.168.1.0/24", isthmus_role=role)
    # kernel-libipsec always encapsulates in UDP (it fakes a NAT): both sides must agree on ESP-in-UDP 4500
    ss_encap = next((c["encap"] for sa in sas if sa["conn"] == SS_CONN for c in sa["children"]
                     if c["state"] == "INSTALLED"), None)
    ist_encap = next((c.get("udpEncapsulated") for c in installed(status)), None)
    results.append(("esp-in-udp", ss_encap is True and ist_encap is True,
                    f"strongSwan encap={ss_encap}, Isthmus udpEncapsulated={ist_encap} (expected both true)"))
    scene.write("verify.txt", "".join(f"ok {n}\n" if ok else f"bad {n} {why}\n" for n, ok, why in results), mode=0o644)
    bad = ";".join(f"{n} {why}" for n, ok, why in results if not ok)
    spis = next((f"in {c.get('inboundSPI')} out {c.get('outboundSPI')}" for c in installed(status)), "?")
    if not checks.check(run.name("tunnel-up"), not bad, f"both sides established but disagree: {bad}",
                        detail=f"{case.initiator} initiated, {case.ss_esp} in UDP 4500, Isthmus SPIs {spis}"):
        run.tails()
    else:
        run.note(f"both sides established, checked {time.monotonic() - t0:.1f} s after isthmus started")


# ----------------------------------------------------------------------------- the runner
def prerequisites(checks, isthmus_bin):
    problems = []
    if os.access(isthmus_bin, os.X_OK):
        try:
            r = subprocess.run([isthmus_bin, "run", "--help"], capture_output=True, text=True, timeout=30)
            help_text = r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired) as e:
            help_text = str(e)
        if "--tun" not in help_text:
            problems.append("isthmus run has no --tun option (no userspace ESP data plane)")
        if "--passive" not in help_text:
            problems.append("isthmus run has no --passive option")
    if problems:
        checks.abort("prerequisites", "; ".join(problems))
    prereq.require(checks, tools=["ip", "swanctl", "python3", "iperf3", "ping", "ss"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_esp_strongswan(case, scene, checks, isthmus_bin):
    t0 = time.monotonic()
    prerequisites(checks, isthmus_bin)
    tun = f"{scene.short}t"
    try:
        sites = two_sites(scene, tuns=False)
        for ns in (sites.oh, sites.ofc, sites.cld, sites.vm):
            ns.sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                      "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        sites.ofc.tun(tun, 1400, routes=[CLOUD_PREFIX])
        if sites.ofc.ping(CLOUD_PUBLIC, count=1, wait=2).returncode != 0:
            raise netns.NetnsError("office gateway cannot reach the cloud gateway")
    except netns.NetnsError as e:
        checks.abort("topology", str(e))
    checks.ok("topology")
    # no clear path between the LANs: without a tunnel the VM is unreachable from the office host
    r = sites.oh.ping(VM, count=1, wait=1)
    checks.check("no-clear-path", r.returncode != 0, "the office host reaches the VM without any tunnel")

    run = Run(case, scene, checks, sites, tun)
    try:
        tunnel_up(run, isthmus_bin)
        run.ist_snapshot("before-traffic")
        for step in case.steps:
            RUNNERS[step.kind](run, step, **step.opts)
    finally:
        # Isthmus's data-plane counters; both daemons stopped (Isthmus first, so its DELETE reaches charon);
        # a crash message in Isthmus's log is a FAIL
        if run.gw is not None:
            if run.gw.alive:
                run.note(f"Isthmus data plane at the end: {dp_counters(run.ist_snapshot('final'))}")
            run.gw.stop()
            text = run.gw.log_text()
            crash = next((line for line in text.splitlines() if CRASH.search(line)), "")
            checks.check(run.name("isthmus-no-crash"), not crash, crash[:200])
        if run.ss is not None:
            run.ss.stop()
        run.note(f"case took {time.monotonic() - t0:.1f} s")
        scene.write("summary.txt", "\n".join(run.summary) + "\n", mode=0o644)
