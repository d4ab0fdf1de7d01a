"""Data-plane and network faults (issue 15): the gateway notices and recovers by itself.

`interface-deleted`: two Isthmus gateways in the two-site topology (harness.sites, no --tun: each plumbs its own
interface) carry a ping (20 a second) and an iperf3 stream from the office host to the VM; `ip link del
ist-cloud` in the office gateway's namespace, FAULT_CYCLES times (default 10). Each time the office gateway
records `data-path-failed` (an error event, `status` shows the data path in error) within 1 s of the deletion,
creates the interface again with its MTU and route (the CHILD SAs are kept: the SPD of the interface number is
re-attached) and the ping gets answers again; the figures are the detection time (event time minus deletion
time), the recovery time (first answer after the event minus deletion time), the RSS (VmRSS of
/proc/PID/status) after each cycle and the open descriptors, which must not grow.
"""
import os
import re
import signal
import time
from datetime import datetime, timezone

from harness import prereq, proc
from harness.config import REPO
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
