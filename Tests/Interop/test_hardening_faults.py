"""Data-plane and network faults (issue 15): the gateway notices and recovers by itself.

`interface-deleted`: two Isthmus gateways in the two-site topology (harness.sites, no --tun: each plumbs its own
interface) carry a ping (20 a second) and an iperf3 stream from the office host to the VM; `ip link del
ist-cloud` in the office gateway's namespace, FAULT_CYCLES times (default 10). Each time the office gateway
records `data-path-failed` (an error event, `status` shows the data path in error) within 1 s of the deletion,
creates the interface again with its MTU and route (the CHILD SAs are kept: the SPD of the interface number is
re-attached) and the ping gets answers again; the figures are the detection time (event time minus deletion
time), the recovery time (first answer after the event minus deletion time), the RSS (VmRSS of
/proc/PID/status) after each cycle and the open descriptors, which must not grow.

`stalled-dataplane-thread`: the office gateway's data-plane thread stopped with ptrace: `dataplane-failed` and exit
status 70 within the watchdog's 10 s, for the service manager to restart it; restarted, its tunnel and ping are back.

`wan-impaired-and-blackout`: an IKEv2 and an IKEv1 pair of gateways behind a router namespace whose WAN path runs
through the userspace impairment relay harness/impair.py (this kernel has neither sch_netem nor NFQUEUE):
LOSS_PERCENT (10) lost, REORDER_PERCENT (5) reordered, DUP_PERCENT (5) duplicated, DELAY_MS (20) +- JITTER_MS (10)
each way: both establish and rekey (IKE 2m, CHILD 1m) with a ping through each tunnel, then a BLACKOUT_SECONDS (30)
blackout: DPD (5s/20s) notices it and the tunnels come back by themselves.

`restricted-daemon`: a gateway under what dist/isthmus@.service asks of systemd (RESTRICT below) works, and every
system call it makes is one the unit's SystemCallFilter allows.
"""
import json
import os
import re
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness import prereq, proc
from harness.config import EXAMPLES, REPO
from harness.gateway import data_path, links, our_routes, self_plumbed_pair
from harness.isthmus import child_sas
from harness.sites import VM
from harness.traffic import ping_problem

CYCLES = int(os.environ.get("FAULT_CYCLES", "10"))


def _wall(text):
    """An event's ISO 8601 time (2026-11-29T14:03:07.123Z) as seconds since the epoch."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def _proc_status(pid, field):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _ping_replies(path):
    """(timestamp, icmp_seq) of every answer in a `ping -D` log."""
    out = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)", text, re.M):
        out.append((float(m.group(1)), int(m.group(2))))
    return out


def _events(gw, kind, after=0):
    return [e for e in (gw.events().get("events") or []) if e.get("kind") == kind and e.get("sequence", 0) > after]


@pytest.mark.stress
def test_interface_deleted_under_traffic(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping", "iperf3"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    office, cloud, configs = self_plumbed_pair(scene, sites, checks)
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.require("ping-before", r.returncode == 0, ping_problem(r))
    spis_before = sorted(c["inboundSPI"] for c in child_sas(office.status()))

    ping = scene.start(["ping", "-D", "-i", "0.05", VM], "ping", ns=sites.oh)
    ping_log = scene.path("ping.log")
    iperf_seconds = str(CYCLES * 4 + 10)
    scene.start(["iperf3", "-s", "-1", "-p", "5201"], "iperf3-server", ns=sites.vm)
    time.sleep(0.5)
    iperf = scene.start(["iperf3", "-c", VM, "-p", "5201", "-t", iperf_seconds, "-b", "50M", "-i", "1"],
                        "iperf3-client", ns=sites.oh)
    time.sleep(2)

    pid = office.pid
    detections, recoveries, rss, fds = [], [], [_proc_status(pid, "VmRSS")], [_fds(pid)]
    last = max([e.get("sequence", 0) for e in (office.events().get("events") or [])] or [0])
    for cycle in range(1, CYCLES + 1):
        deleted_at = time.time()
        sites.ofc.ip("link", "del", "ist-cloud")
        failed = None
        deadline = time.time() + 5
        while time.time() < deadline and not failed:
            failed = _events(office, "data-path-failed", after=last)
            if not failed:
                time.sleep(0.05)
        if not failed:
            office.dump_log()
            checks.abort(f"cycle-{cycle}-detected", "no data-path-failed event within 5 s")
        event_at = _wall(failed[0]["time"])
        detections.append(event_at - deleted_at)
        if cycle == 1:
            checks.check("failure-event-is-an-error", failed[0].get("severity") == "error"
                         and "ist-cloud" in failed[0].get("message", ""), f"event {failed[0]}")
        ready = None
        deadline = time.time() + 10
        while time.time() < deadline and not ready:
            ready = _events(office, "data-path-ready", after=failed[0]["sequence"])
            if not ready:
                time.sleep(0.05)
        answered = None
        deadline = time.time() + 10
        while time.time() < deadline and answered is None:
            answered = next((t for t, _ in _ping_replies(ping_log) if t > event_at), None)
            if answered is None:
                time.sleep(0.05)
        if not ready or answered is None:
            office.dump_log()
            checks.abort(f"cycle-{cycle}-recovered", f"data-path-ready {bool(ready)}, ping answered {answered}")
        recoveries.append(answered - deleted_at)
        last = ready[-1]["sequence"]
        time.sleep(1.5)
        rss.append(_proc_status(pid, "VmRSS"))
        fds.append(_fds(pid))

    link = links(sites.ofc).get("ist-cloud")
    checks.check("interface-recreated-with-its-mtu", link is not None and link.get("mtu") == 1415
                 and "UP" in (link.get("flags") or []), f"link {link}")
    checks.check("route-recreated", ("10.0.1.0/24", "ist-cloud") in our_routes(sites.ofc),
                 f"routes {our_routes(sites.ofc)}")
    dp = data_path(office.status(), "office-cloud")
    checks.check("status-data-path-up-again", dp.get("state") == "up", f"dataPath {dp}")
    spis_after = sorted(c["inboundSPI"] for c in child_sas(office.status()))
    checks.check("child-sas-kept", spis_after == spis_before, f"{spis_before} -> {spis_after}")
    checks.check("detected-within-1s", max(detections) < 1.0,
                 f"detection {max(detections):.3f} s", detail=f"detection max {max(detections)*1000:.0f} ms, "
                 f"mean {sum(detections)/len(detections)*1000:.0f} ms over {CYCLES} deletions")
    checks.check("traffic-resumes-within-1s", max(recoveries) < 1.0, f"recovery {max(recoveries):.3f} s",
                 detail=f"recovery max {max(recoveries)*1000:.0f} ms, mean "
                 f"{sum(recoveries)/len(recoveries)*1000:.0f} ms")
    # Flat: no descriptor left behind by a cycle, and the resident set after the last cycle within 2 MiB of
    # the one after the first (allocator noise; a leaked 64 KiB slot per cycle would show).
    checks.check("descriptors-flat", len(set(fds)) == 1, f"open descriptors before and per cycle {fds}",
                 detail=f"fds {fds[0]}")
    checks.check("rss-flat", rss[-1] - rss[1] <= 2048, f"VmRSS kB before and per cycle {rss}",
                 detail=f"VmRSS kB before and per cycle {rss}")
    iperf.wait(int(iperf_seconds) + 15)
    out = iperf.output()
    checks.check("iperf3-ran-across-the-deletions", "receiver" in out, out.strip()[-300:])
    ping.stop()
    checks.check("office-alive", office.alive, "the office gateway exited")


def test_given_tun_deleted(scene, checks, isthmus_bin):
    """With `--tun NAME` the device is the user's: deleted, it is an error event and the data path's error in
    `status` (the gateway does not create it again without its address and routes), and the gateway runs on."""
    prereq.require(checks, tools=["ip"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=True)
    office = scene.isthmus(sites.ofc, (EXAMPLES / "office-dynamic.yaml").read_text(), name="office",
                           tun=sites.tun_office, passive=True)
    sites.ofc.ip("link", "del", sites.tun_office)
    failed = proc.wait_for(lambda: _events(office, "data-path-failed"), 5)
    checks.check("tun-deleted-event", bool(failed) and failed[0].get("severity") == "error"
                 and sites.tun_office in failed[0].get("message", ""), f"events {failed}")
    dp = data_path(office.status(), "office-cloud")
    checks.check("tun-deleted-status-error", dp.get("state") == "error" and "--tun" in (dp.get("error") or ""),
                 f"dataPath {dp}")
    checks.check("gateway-runs-on", office.alive, "the gateway exited")


# ------------------------------------------------------------------------------------------- a stalled data plane
# Stops one thread (ptrace: PTRACE_SEIZE, then PTRACE_INTERRUPT; the other threads run on) and stays its tracer
# until it is gone (waitpid with __WALL), so that the process it belongs to can be reaped.
STALL = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
tid = int(sys.argv[1])
for request in (0x4206, 0x4207):
    if libc.ptrace(ctypes.c_long(request), ctypes.c_int(tid), ctypes.c_void_p(0), ctypes.c_void_p(0)) != 0:
        sys.exit(f"ptrace {request:#x}: errno {ctypes.get_errno()}")
print("stopped", tid, flush=True)
while True:
    _, status = os.waitpid(tid, 0x40000000)
    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
        break
"""


def _thread(pid, name):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() == name:
                return int(tid)
        except OSError:
            pass
    return None


def test_stalled_dataplane_thread_exits_for_a_restart(scene, checks, isthmus_bin):
    """The office gateway's data-plane thread is stopped (ptrace) while the rest of the process runs: within the
    watchdog's 10 s the gateway records `dataplane-failed` and exits with status 70 (what systemd's
    Restart=on-failure restarts); the kernel removes its interface and routes; started again (as systemd would),
    it plumbs its interface, establishes an IKE SA and a CHILD SA, and ping crosses the tunnel again."""
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    office, cloud, configs = self_plumbed_pair(scene, sites, checks)
    tid = _thread(office.pid, "ist-dataplane")
    checks.require("dataplane-thread-named", tid is not None, f"no ist-dataplane thread in {office.pid}")
    stalled_at = time.time()
    scene.start(["python3", "-c", STALL, str(tid)], "stall")
    status = office.wait_exit(30)
    exited = time.time() - stalled_at
    checks.check("exit-status-70", status == 70, f"exit status {status}; {office.log_tail(5)}",
                 detail=f"exit {status} {exited:.1f} s after the thread stopped")
    checks.check("exit-within-the-watchdog-limit", status is not None and exited < 13, f"{exited:.1f} s")
    log = office.log_text()
    checks.check("dataplane-failed-event-logged", "dataplane-failed" in log and "ran no turn" in log,
                 office.log_tail(5))
    checks.check("interface-gone-with-the-process", "ist-cloud" not in links(sites.ofc),
                 f"links {sorted(links(sites.ofc))}")
    # Started again (as systemd would), it plumbs its interface, establishes an IKE SA and a CHILD SA, and the
    # office host's ping crosses the tunnel again: the cloud replaces its SA with the dead process (the
    # peer-restart rules, INITIAL_CONTACT) instead of keeping it.
    restarted_at = time.time()
    again = scene.isthmus(sites.ofc, configs["office"], name="office-restarted", wait=True)
    back = proc.wait_for(lambda: "ike-sa-established" in again.log_text(), 20)
    checks.check("restarted-ike-sa-established", bool(back), again.log_tail(5),
                 detail=f"{time.time() - restarted_at:.1f} s after the restart")
    dp = data_path(again.status(), "office-cloud")
    checks.check("restarted-data-path-up", dp.get("state") == "up", f"dataPath {dp}")
    child = again.wait_child_sa(timeout=20) and cloud.wait_child_sa(timeout=10)
    checks.check("restarted-child-sa-up", bool(child), f"office {child_sas(again.status())}, cloud "
                 f"{child_sas(cloud.status())}", detail=f"{time.time() - restarted_at:.1f} s after the restart")
    answered = proc.wait_for(lambda: sites.oh.ping(VM, count=1, wait=1).returncode == 0, 20, interval=0.2)
    after = time.time() - restarted_at
    r = sites.oh.ping(VM, count=5, interval=0.2)
    checks.check("restarted-ping-through-the-tunnel", bool(answered) and r.returncode == 0, ping_problem(r),
                 detail=f"first answer {after:.1f} s after the restart; then {ping_problem(r) or '5/5 answered'}")
    checks.check("cloud-alive", cloud.alive, "the cloud gateway exited")


# ---------------------------------------------------------------------------------------------------------- the unit
UNIT = REPO / "dist" / "isthmus@.service"
# Run inside the gateway's namespace: what dist/isthmus@.service asks of systemd, as far as it can be had without
# systemd as PID 1 (this container has none): a private mount namespace with /proc as ProtectProc=invisible and
# ProcSubset=pid mount it, /usr /etc /opt /work read-only (ProtectSystem=strict; the scenario's scratch directory
# stays writable as the runtime directory is), no core dumps (LimitCORE=0), MemoryDenyWriteExecute (the kernel's
# PR_SET_MDWE, which systemd uses too), and root with only the unit's CapabilityBoundingSet and NoNewPrivileges
# (setpriv). strace -f -c counts every system call, compared with the unit's SystemCallFilter afterwards.
# Not emulated: DevicePolicy/DeviceAllow (cgroup device rules), RestrictAddressFamilies and the seccomp filter
# itself (strace's list is checked against it instead).
RESTRICT = r"""
mount -t proc -o hidepid=invisible,subset=pid proc /proc || exit 90
for d in /usr /etc /opt /work; do [ -d "$d" ] && { mount --bind -o ro "$d" "$d" || exit 91; }; done
ulimit -c 0
summary="$1"; caps="$2"; shift 2
exec /usr/bin/python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0: sys.exit("PR_SET_MDWE refused")
os.execvp(sys.argv[1], sys.argv[1:])' \
    setpriv --no-new-privs --inh-caps=-all --bounding-set="-all,$caps" -- \
    strace -f -qq -c -o "$summary" -- "$@"
"""


def _unit_settings():
    out = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def _syscall_groups():
    """systemd's system call groups (`systemd-analyze syscall-filter`), each expanded to names."""
    r = proc.run(["systemd-analyze", "syscall-filter", "--no-pager"], timeout=60)
    groups, current = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())

    def expand(name, seen=()):
        names = set()
        for item in groups.get(name, []):
            names |= expand(item, seen + (name,)) if item.startswith("@") and item not in seen else {item}
        return names
    return {name: expand(name) for name in groups}


def _allowed_syscalls(settings):
    """The system calls the unit's SystemCallFilter lines allow (an allow list, then ~ deny lists)."""
    groups = _syscall_groups()
    allowed = set()
    for value in settings.get("SystemCallFilter", []):
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= groups.get(item, set()) if item.startswith("@") else {item}
        allowed = allowed - names if deny else allowed | names
    return allowed


def _strace_summary(path):
    """System call names (and their error counts) of a `strace -c` summary."""
    calls = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return calls
    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total",):
            errors = int(parts[4]) if len(parts) == 6 else 0
            calls[parts[-1]] = errors
    return calls


def test_restricted_daemon(scene, checks, isthmus_bin):
    """The office gateway under the unit's restrictions (see RESTRICT) brings its tunnel up, answers ping,
    creates its deleted interface again and stops cleanly; every system call it made is one the unit allows."""
    prereq.require(checks, tools=["ip", "ping", "strace", "setpriv", "unshare", "systemd-analyze"],
                   isthmus=isthmus_bin, tun=True)
    settings = _unit_settings()
    caps = ",".join("+" + c.lower().removeprefix("cap_")
                    for c in " ".join(settings.get("CapabilityBoundingSet", [])).split())
    checks.require("unit-capabilities", caps == "+net_admin,+net_bind_service,+net_raw", f"caps {caps}")
    allowed = _allowed_syscalls(settings)
    checks.require("unit-syscall-filter-read", len(allowed) > 200, f"{len(allowed)} system calls allowed")
    sites = scene.two_sites(tuns=False)
    summary = scene.path("office-strace.txt")
    office, cloud, _ = self_plumbed_pair(
        scene, sites, checks, wrap_office=lambda argv: ["unshare", "--mount", "--propagation", "private", "--",
                                                        "/bin/sh", "-c", RESTRICT, "restrict", str(summary), caps,
                                                        *argv])
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("restricted-ping", r.returncode == 0, ping_problem(r))
    sites.ofc.ip("link", "del", "ist-cloud")
    back = office.wait_for(lambda s: data_path(s, "office-cloud").get("state") == "up"
                           and "ist-cloud" in links(sites.ofc), timeout=10)
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("restricted-interface-recreated", bool(back) and r.returncode == 0, ping_problem(r))
    # The gateway is strace's child; SIGTERM it, strace writes the summary when it exits.
    tracer = office.pid
    try:
        child = int(open(f"/proc/{tracer}/task/{tracer}/children").read().split()[0])
    except (OSError, IndexError, ValueError):
        child = None
    checks.require("restricted-gateway-found", child is not None, f"no child of strace {tracer}")
    os.kill(child, signal.SIGTERM)
    status = office.wait_exit(20)
    checks.check("restricted-sigterm-exit-0", status == 0, f"exit status {status}; {office.log_tail(5)}")
    calls = _strace_summary(summary)
    checks.require("strace-summary", len(calls) > 10, f"{summary}: {len(calls)} system calls")
    outside = sorted(set(calls) - allowed)
    checks.check("syscalls-within-the-unit-filter", not outside, f"not allowed by the unit: {outside}",
                 detail=f"{len(calls)} distinct system calls, all in the filter")
    denied = [line for line in office.log_text().splitlines() if "Operation not permitted" in line]
    checks.check("no-permission-errors", not denied, " | ".join(denied[:3]))


# ------------------------------------------------------------------------------------------------- the WAN's faults
IMPAIR_SECONDS = int(os.environ.get("IMPAIR_SECONDS", "150"))          # at most, for the first rekeys
IMPAIR_MIN_SECONDS = int(os.environ.get("IMPAIR_MIN_SECONDS", "0"))    # at least (scripts/stress: 600)
BLACKOUT_SECONDS = int(os.environ.get("BLACKOUT_SECONDS", "30"))
LOSS_PERCENT = int(os.environ.get("LOSS_PERCENT", "10"))
DUP_PERCENT = int(os.environ.get("DUP_PERCENT", "5"))
REORDER_PERCENT = int(os.environ.get("REORDER_PERCENT", "5"))
DELAY_MS = int(os.environ.get("DELAY_MS", "20"))
JITTER_MS = int(os.environ.get("JITTER_MS", "10"))
IMPAIR_SEED = int(os.environ.get("IMPAIR_SEED", "15"))
WAN_KEY = "isthmus-wan-faults-key-0123456789abcdef"


@dataclass
class Pair:
    version: int
    office_public: str
    cloud_public: str
    office_lan: str      # the office gateway's own LAN address (on its loopback), source of the inner ping
    cloud_lan: str
    office_prefix: str
    cloud_prefix: str

    def config(self, side):
        mine, theirs = (("office", "cloud") if side == "office" else ("cloud", "office"))
        public = {"office": self.office_public, "cloud": self.cloud_public}
        prefix = {"office": self.office_prefix, "cloud": self.cloud_prefix}
        kind = "dynamic" if self.version == 2 else "static"
        ike, esp = (("aes256gcm16-prfsha256-ecp256", "aes256gcm16") if self.version == 2
                    else ("aes256-sha256-modp2048", "aes256-sha256"))
        return f"""gateway: {{name: {mine}-v{self.version}, kind: {kind}, public_address: {public[mine]}}}
site: {{prefixes: [{prefix[mine]}]}}
local_networks:
  - {{name: {theirs}, gateway_address: {public[theirs]}, prefixes: [{prefix[theirs]}]}}
connections:
  - name: {mine}-{theirs}
    local_network: {theirs}
    ike_version: {self.version}
    shared_key: {WAN_KEY}
    ike: {ike}
    esp: {esp}
    lifetime: {{ike: 2m, esp: 1m}}
    dpd: {{interval: 5s, timeout: 20s, action: restart}}
"""


PAIRS = [Pair(2, "198.51.100.10", "203.0.113.20", "192.168.1.1", "10.0.1.1", "192.168.1.0/24", "10.0.1.0/24"),
         Pair(1, "198.51.100.11", "203.0.113.21", "192.168.2.1", "10.0.3.1", "192.168.2.0/24", "10.0.3.0/24")]


def _wan(scene):
    """A router namespace (the simulated internet) and, per pair, an office and a cloud gateway namespace behind
    it, each with its LAN address on its loopback. The office gateways are ports of bridge br-o (198.51.100.1/24,
    the router's); the cloud gateways are ports of bridge br-x, which has no address: between br-x and the
    router's br-c (203.0.113.1/24) there is no kernel path, only the impairment relay (harness/impair.py) between
    two veth ends, wx (whose peer wr is a port of br-c) and wy (whose peer wz is a port of br-x), both without
    addresses and ARP. Returns (router, gateways by (version, side), the relay's two interfaces)."""
    router = scene.namespace("r")
    router.sysctl("net.ipv4.ip_forward=1")
    for bridge, address in (("br-o", "198.51.100.1/24"), ("br-c", "203.0.113.1/24"), ("br-x", None)):
        router.ip("link", "add", bridge, "type", "bridge")
        if address:
            router.addr(address, bridge)
        router.up(bridge)
    for relay_end, bridge_end, bridge in (("wx", "wr", "br-c"), ("wy", "wz", "br-x")):
        scene.veth(router, relay_end, router, bridge_end)
        router.ip("link", "set", bridge_end, "master", bridge)
        router.up(bridge_end)
        # No IP on the relay's ends: no address, no ARP answers (the router would otherwise answer for
        # 203.0.113.1 on them and take frames past the relay), no IPv6.
        router.run(["sysctl", "-qw", f"net.ipv6.conf.{relay_end}.disable_ipv6=1"])
        router.up(relay_end, "arp", "off", "promisc", "on")
    gateways = {}
    for pair in PAIRS:
        for side, public, lan, bridge, gateway_route in (
                ("o", pair.office_public, pair.office_lan, "br-o", ("203.0.113.0/24", "via", "198.51.100.1")),
                ("c", pair.cloud_public, pair.cloud_lan, "br-x", ("198.51.100.0/24", "via", "203.0.113.1"))):
            ns = scene.namespace(f"{side}{pair.version}")
            port = f"{side}{pair.version}"
            scene.veth(router, port, ns, "wan0")
            router.ip("link", "set", port, "master", bridge)
            router.up(port)
            ns.addr(f"{public}/24", "wan0"); ns.up("wan0"); ns.route(*gateway_route)
            ns.addr(f"{lan}/32", "lo"); ns.up("lo")  # the gateway's LAN address (no dummy module here)
            ns.sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
            gateways[(pair.version, side)] = ns
    return router, gateways, ("wx", "wy")


def _relay(scene, router, ends, seconds):
    """The impairment relay between the router's ENDS (wx: the router's side, wy: the cloud gateways' side), both
    directions alike; stopped by PID at teardown, by itself after SECONDS."""
    stats = scene.path("impair-stats.json")
    argv = ["/usr/bin/python3", "-B", str(Path(__file__).parent / "harness" / "impair.py"), "--a", ends[0],
            "--b", ends[1], "--stats", str(stats), "--seed", str(IMPAIR_SEED), "--max-seconds", str(seconds),
            "--loss", str(LOSS_PERCENT), "--dup", str(DUP_PERCENT), "--reorder", str(REORDER_PERCENT),
            "--reorder-after", "1", "--reorder-hold-ms", "250", "--delay-ms", str(DELAY_MS),
            "--jitter-ms", str(JITTER_MS)]
    return scene.start(argv, "impair", ns=router), stats


def _relay_counters(relay, stats, timeout=5):
    """The relay's counters (SIGUSR1: it writes them to STATS), summed over both directions; {} when none."""
    try:
        before = stats.stat().st_mtime_ns
    except OSError:
        before = 0
    relay.send_signal(signal.SIGUSR1)
    if not proc.wait_for(lambda: stats.exists() and stats.stat().st_mtime_ns != before, timeout, interval=0.1):
        return {}, {}
    data = json.loads(stats.read_text())
    total = {}
    for counts in data["directions"].values():
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total, data["directions"]


def _nft(router, rules):
    """Replaces the router's `impair` table with RULES in its forward chain (none: the table goes)."""
    router.run(["nft", "delete", "table", "ip", "impair"])
    if rules:
        text = ("table ip impair {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n"
                + "".join(f"  {r}\n" for r in rules) + " }\n}\n")
        r = router.run(["nft", "-f", "-"], input=text)
        if r.returncode != 0:
            raise RuntimeError(f"nft: {r.stderr.strip()}")


def _inner_ping(ns, pair, count=5):
    return ns.run(["ping", "-c", str(count), "-i", "0.3", "-W", "1", "-I", pair.office_lan, pair.cloud_lan],
                  timeout=count + 10)


def _kinds(gw, *kinds):
    return [e for e in (gw.events().get("events") or []) if e.get("kind") in kinds]


def _ping_summary(text):
    """(transmitted, received) of a ping's final summary, (0, 0) without one."""
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


@pytest.mark.stress
def test_wan_impaired_and_blackout(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping", "nft"], isthmus=isthmus_bin, tun=True)
    router, ns, ends = _wan(scene)
    checks.ok("topology")
    relay, stats = _relay(scene, router, ends, max(IMPAIR_SECONDS, IMPAIR_MIN_SECONDS + 60) + BLACKOUT_SECONDS + 240)
    checks.require("relay-running", proc.wait_for(lambda: "impair:" in relay.output(), 10) and relay.alive,
                   relay.output()[-300:])
    impairment = (f"{LOSS_PERCENT}% loss, {REORDER_PERCENT}% reordered, {DUP_PERCENT}% duplicated, "
                  f"{DELAY_MS}\u00b1{JITTER_MS} ms each way")
    started = time.time()
    gws = {}
    for pair in PAIRS:
        v = pair.version
        gws[(v, "c")] = scene.isthmus(ns[(v, "c")], pair.config("cloud"), name=f"cloud-v{v}", passive=True,
                                      wait=False)
        gws[(v, "o")] = scene.isthmus(ns[(v, "o")], pair.config("office"), name=f"office-v{v}", wait=False)
    for pair in PAIRS:
        v = pair.version
        up = gws[(v, "o")].wait_child_sa(timeout=60) and gws[(v, "c")].wait_child_sa(timeout=30)
        if not up:
            gws[(v, "o")].dump_log(); gws[(v, "c")].dump_log()
        checks.check(f"ikev{v}-established-under-impairment", bool(up), "no CHILD SA within 60 s",
                     detail=f"{time.time() - started:.1f} s after start, {impairment}")

    # Inner traffic through both tunnels for the whole impaired phase (5 pings a second each way).
    pingers = {p.version: scene.start(["ping", "-i", "0.2", "-W", "1", "-I", p.office_lan, p.cloud_lan],
                                      f"ping-v{p.version}", ns=ns[(p.version, "o")]) for p in PAIRS}
    # Rekeys under impairment: an IKE SA and a CHILD SA rekey of each version (IKE 2m, CHILD 1m lifetimes).
    wanted = {pair.version: {"ike-sa-rekeyed", "child-sa-rekeyed"} for pair in PAIRS}
    seen = {pair.version: {} for pair in PAIRS}
    deadline = started + max(IMPAIR_SECONDS, IMPAIR_MIN_SECONDS + 60)
    while time.time() < deadline and (any(set(seen[v]) != wanted[v] for v in seen)
                                      or time.time() < started + IMPAIR_MIN_SECONDS):
        for pair in PAIRS:
            v = pair.version
            for side in ("o", "c"):
                for e in _kinds(gws[(v, side)], *wanted[v]):
                    seen[v].setdefault(e["kind"], time.time() - started)
        time.sleep(2)
    for pair in PAIRS:
        v = pair.version
        for kind in sorted(wanted[v]):
            # Every rekey event of either side (the sequence numbers are the gateway's own: no double count
            # within one side; both sides may record the same rekey).
            count = {side: len(_kinds(gws[(v, side)], kind)) for side in ("o", "c")}
            checks.check(f"ikev{v}-{kind}-under-impairment", kind in seen[v],
                         f"no {kind} within {IMPAIR_SECONDS} s",
                         detail=f"first after {seen[v].get(kind, 0):.0f} s; events office {count['o']}, cloud "
                         f"{count['c']} in {time.time() - started:.0f} s")
            if IMPAIR_MIN_SECONDS and kind == "child-sa-rekeyed":
                # 1m CHILD lifetime: a rekey about every 50 s; at least one per 90 s of the long phase.
                checks.check(f"ikev{v}-child-rekeys-keep-coming", max(count.values()) >= IMPAIR_MIN_SECONDS // 90,
                             f"{count} CHILD SA rekeys in {IMPAIR_MIN_SECONDS} s")
    for pair in PAIRS:
        v = pair.version
        pingers[v].stop(sig=signal.SIGINT)
        sent, received = _ping_summary(pingers[v].output())
        # A figure, not a check: a few dozen IKE messages may all get through 10 % loss.
        retransmits = sum(len(_kinds(gws[(v, side)], "retransmit")) for side in ("o", "c"))
        # A ping and its answer cross the relay once each: ~19 % of them lost at 10 % loss; some more around the
        # rekeys. Half lost would mean something beyond the impairment.
        lost = 100.0 * (sent - received) / sent if sent else 100.0
        checks.check(f"ikev{v}-traffic-under-impairment", sent > 0 and lost < 50,
                     f"{received}/{sent} pings answered",
                     detail=f"{received}/{sent} pings answered ({lost:.0f}% lost, 5/s through the rekeys); "
                     f"{retransmits} IKE retransmissions")
    counters, per_direction = _relay_counters(relay, stats)
    checks.check("impairment-applied", counters.get("dropped", 0) > 0 and counters.get("duplicated", 0) > 0
                 and counters.get("reordered", 0) > 0 and counters.get("delayed", 0) > 0
                 and counters.get("send_errors", 1) == 0, f"relay counters {counters}",
                 detail=", ".join(f"{k} {counters.get(k, 0)}" for k in
                                  ("received", "sent", "dropped", "duplicated", "reordered", "held_not_overtaken",
                                   "delayed", "checksums_filled", "send_errors")))
    for name, counts in per_direction.items():
        checks.ok(f"relay-{name}", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    replayed = sum(int(((gws[(p.version, s)].status().get("dataplane") or {}).get("drops") or {}).get("replayed", 0))
                   for p in PAIRS for s in ("o", "c"))
    checks.check("duplicates-refused-as-replays", replayed > 0, "no ESP duplicate refused",
                 detail=f"{replayed} replayed ESP packets dropped")

    # Blackout: everything between the gateways dropped (nftables in the router's forward chain, behind the
    # relay); DPD notices, the tunnels come back by themselves (through the still impaired path).
    _nft(router, ["ip saddr 198.51.100.0/24 ip daddr 203.0.113.0/24 drop",
                  "ip saddr 203.0.113.0/24 ip daddr 198.51.100.0/24 drop"])
    dark = time.time()
    marks = {p.version: max([e.get("sequence", 0) for e in (gws[(p.version, "o")].events().get("events") or [])] or [0])
             for p in PAIRS}
    detected = {}
    while time.time() < dark + BLACKOUT_SECONDS:
        for pair in PAIRS:
            v = pair.version
            if v not in detected:
                hits = [e for e in _kinds(gws[(v, "o")], "liveness-timeout", "peer-not-answering")
                        if e.get("sequence", 0) > marks[v]]
                if hits:
                    detected[v] = _wall(hits[0]["time"]) - dark
        time.sleep(0.5)
    _nft(router, [])
    light = time.time()
    recovered = {}
    while time.time() < light + 90 and len(recovered) < len(PAIRS):
        for pair in PAIRS:
            v = pair.version
            if v not in recovered and child_sas(gws[(v, "o")].status()) and child_sas(gws[(v, "c")].status()) \
                    and _inner_ping(ns[(v, "o")], pair, count=1).returncode == 0:
                recovered[v] = time.time() - light
        time.sleep(0.5)
    for pair in PAIRS:
        v = pair.version
        checks.check(f"ikev{v}-dpd-detects-the-blackout", v in detected and detected[v] <= 30,
                     f"no liveness failure event within {BLACKOUT_SECONDS} s",
                     detail=f"after {detected.get(v, 0):.1f} s (dpd 5s/20s)")
        checks.check(f"ikev{v}-back-after-the-blackout", v in recovered and recovered[v] <= 60,
                     "no CHILD SA and inner ping within 90 s of the path's return",
                     detail=f"{recovered.get(v, 0):.1f} s after the path returned ({BLACKOUT_SECONDS} s blackout, "
                     f"path still impaired)")
        for side in ("o", "c"):
            checks.check(f"ikev{v}-{side}-alive", gws[(v, side)].alive, "the gateway exited")
    counters, _ = _relay_counters(relay, stats)
    checks.check("relay-ran-throughout", relay.alive and counters.get("sent", 0) > 0, relay.output()[-300:],
                 detail=f"relay totals at the end: " + ", ".join(f"{k} {counters.get(k, 0)}" for k in
                                                                 ("received", "sent", "dropped", "duplicated",
                                                                  "reordered", "delayed")))
