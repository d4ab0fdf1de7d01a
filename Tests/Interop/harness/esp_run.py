"""What test_esp_strongswan.py (Isthmus's ESP data plane against strongSwan) shares between bringing the
tunnel up and its step runners (harness/esp_steps.py): the connections' names, helpers over Isthmus's status, the
kernel's drop counters (read once, or sampled in the background every 0.1 s), `Run` (one case: the scene, the
sites, both daemons, snapshots, iperf3 runs) and `iperf_summary` (an iperf3 report, with the rekey window's loss)."""
import json
import os
import re
import time

from .checks import log
from .config import WAIT
from .proc import wait_for
from .sites import VM
from .strongswan import ss_normalise

CONN = "office-cloud"            # Isthmus's connection
SS_CONN, SS_CHILD = "s2s", "net"  # strongSwan's
REKEY_REQUEST = re.compile(r"parsed CREATE_CHILD_SA request.*N\(REKEY_SA\)")


# ----------------------------------------------------------------------------- status helpers
def established_children(status):
    return [k for c in status.get("connections") or [] if c.get("name") == CONN
            for sa in c.get("ikeSAs") or [] if sa.get("state") == "established" for k in sa.get("childSAs") or []]


def current_in_spi(status):
    """The inbound SPI(s) of the established IKE SA's CHILD SA(s), joined by commas."""
    return ",".join(str(k.get("inboundSPI")) for k in established_children(status))


def installed(status):
    return [c for c in status.get("childSAs") or [] if c.get("connection") == CONN]


def drops_delta(before, after):
    a = (before.get("dataplane") or {}).get("drops") or {}
    b = (after.get("dataplane") or {}).get("drops") or {}
    d = {k: (b.get(k) or 0) - (a.get(k) or 0) for k in set(a) | set(b)}
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items()) if v) or "none"


def dp_counters(status):
    d = status.get("dataplane") or {}
    return json.dumps({k: d.get(k) for k in ("espPacketsOut", "espPacketsIn", "tunPacketsRead", "installedSAs",
                                             "lifetimeEvents", "drops")} | {"ikeDropped": (status.get("counters") or {}).get("dropped")})


def kernel_text(d):
    return ", ".join(f"{k} {v}" for k, v in d.items() if v) or "none"


# ----------------------------------------------------------------------------- kernel drop counters
# A background sampler (one python3 process that enters each of this test's namespaces with setns and reads
# /proc/self/net/snmp and /proc/self/net/dev every 0.1 s), so that drops can be placed in time: which of them
# fell inside a rekey window. Lines: EPOCH name=count ...
KSAMPLER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
spec = [a.split(":") for a in sys.argv[1:]]          # label:netns[:device]
fds = {ns: os.open(f"/run/netns/{ns}", os.O_RDONLY) for _, ns, *_ in spec}
def rcvbuf(text):
    lines = [l.split() for l in text.splitlines() if l.startswith("Udp:")]
    return lines[1][lines[0].index("RcvbufErrors")]
def txdrop(text, dev):
    for l in text.splitlines():
        name, _, rest = l.partition(":")
        if name.strip() == dev:
            return rest.split()[11]                    # transmit: bytes packets errs drop ...
    return "0"
while True:
    out = [f"{time.time():.3f}"]
    for label, ns, *dev in spec:
        if libc.setns(fds[ns], CLONE_NEWNET) != 0:
            continue
        if dev:
            out.append(f"{label}={txdrop(open('/proc/self/net/dev').read(), dev[0])}")
        else:
            out.append(f"{label}={rcvbuf(open('/proc/self/net/snmp').read())}")
    print(" ".join(out), flush=True)
    time.sleep(0.1)
"""


def udp_rcvbuf_errors(ns):
    text = ns.run(["cat", "/proc/net/snmp"], timeout=10).stdout
    lines = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
    try:
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (IndexError, ValueError):
        return 0


def tx_dropped(ns, dev):
    r = ns.run(["ip", "-s", "-j", "link", "show", "dev", dev], timeout=10)
    try:
        return int(json.loads(r.stdout)[0]["stats64"]["tx"]["dropped"])
    except (ValueError, LookupError, TypeError):
        return 0


class Run:
    """One case: the scene, the sites, both daemons, and the helpers the step runners share."""

    def __init__(self, case, scene, checks, sites, tun):
        self.case, self.scene, self.checks, self.sites, self.tun = case, scene, checks, sites, tun
        self.ss = self.gw = None
        self.marks = {}              # snapshots by label (status dicts)
        self.summary = []            # lines of summary.txt

    def name(self, *parts):
        return ".".join([self.case.name, *[p for p in parts if p]])

    def note(self, line):
        self.summary.append(line)
        log(f"{self.case.name}: {line}")

    # ---------------------------------------------------------------- snapshots (kept in the case folder)
    def ss_snapshot(self, label):
        text = self.ss.list_sas_pretty()
        self.scene.write(f"{label}.sas.txt", text, mode=0o644)
        sas = ss_normalise(text)
        self.scene.write(f"{label}.sas.json", json.dumps(sas, indent=1), mode=0o644)
        return sas

    def ist_snapshot(self, label):
        status = self.gw.status()
        self.scene.write(f"{label}.status.json", json.dumps(status, indent=1), mode=0o644)
        self.marks[label] = status
        return status

    def daemons_alive(self):
        return self.gw is not None and self.gw.alive and self.ss is not None and self.ss.alive

    def rekey_requests(self):
        return len(REKEY_REQUEST.findall(self.ss.log_text()))

    def tails(self):
        for path in (self.gw.log_path if self.gw else None, self.ss.log_path if self.ss else None):
            if path and os.path.exists(path):
                lines = [line for line in open(path, errors="replace").read().splitlines() if "vici client" not in line]
                log(f"----- last 25 lines of {path} (without vici chatter)")
                for line in lines[-25:]:
                    log("    " + line)

    # ---------------------------------------------------------------- kernel counters
    def kdrops(self):
        s = self.sites
        return {"office-gw-udp-rcvbuf": udp_rcvbuf_errors(s.ofc), "cloud-gw-udp-rcvbuf": udp_rcvbuf_errors(s.cld),
                "vm-udp-rcvbuf": udp_rcvbuf_errors(s.vm), "office-host-udp-rcvbuf": udp_rcvbuf_errors(s.oh),
                "isthmus-tun-txdrop": tx_dropped(s.ofc, self.tun), "ipsec0-txdrop": tx_dropped(s.cld, "ipsec0")}

    def ksampler_start(self, label):
        s = self.sites
        spec = [f"office-gw-udp-rcvbuf:{s.ofc}", f"cloud-gw-udp-rcvbuf:{s.cld}", f"vm-udp-rcvbuf:{s.vm}",
                f"office-host-udp-rcvbuf:{s.oh}", f"isthmus-tun-txdrop:{s.ofc}:{self.tun}",
                f"ipsec0-txdrop:{s.cld}:ipsec0"]
        return self.scene.start(["python3", "-c", KSAMPLER, *spec], f"{label}.kern")

    @staticmethod
    def ksampler_stop(sampler):
        time.sleep(0.2)
        sampler.stop()
        samples = []
        for line in sampler.output().splitlines():
            f = line.split()
            try:
                if len(f) > 1:
                    samples.append((float(f[0]), {k: int(v) for k, v in (x.split("=") for x in f[1:])}))
            except ValueError:
                continue
        return samples

    # ---------------------------------------------------------------- iperf3
    def iperf_start(self, label, seconds, *args):
        """A one-off iperf3 server in the VM (-J, 0.5 s intervals), then the client in the office host in the
        background (its JSON into LABEL.json). Returns (client, t0) or None when the server did not listen."""
        s = self.sites
        server = self.scene.start(["iperf3", "-s", "-1", "-J", "-i", "0.5", "-B", VM, "-p", "5201"],
                                  f"{label}.server", ns=s.vm)
        if not wait_for(lambda: "5201" in s.vm.run(["ss", "-Hltn", "sport = :5201"], timeout=10).stdout
                        or not server.alive, WAIT, interval=0.1) or not server.alive:
            server.stop()
            return None
        out, err = self.scene.path(f"{label}.json"), self.scene.path(f"{label}.err")
        t0 = time.time()
        client = self.scene.start(
            ["sh", "-c", 'out=$1; err=$2; shift 2; exec "$@" >"$out" 2>"$err"', "_", out, err,
             "iperf3", "-c", VM, "-p", "5201", "-t", seconds, "-J", "--connect-timeout", "3000", *args],
            f"{label}.client", ns=s.oh)
        client.server, client.seconds = server, seconds
        return client, t0

    @staticmethod
    def iperf_wait(client):
        """Waits for the client (bounded: its run + 20 s, then stopped), then the server (3 s)."""
        if client.wait(client.seconds + 20) is None:
            client.stop()
        client.stop()
        client.server.wait(3)
        client.server.stop()


def iperf_summary(path, rekey_at=None, kern=(), t_start=None):
    """(True, {numbers}) or (False, reason) of an iperf3 client report. UDP: the receiver's counts (the server's
    own report) and, with REKEY_AT (seconds into the run), the datagrams sent and lost in the server's 0.5 s
    intervals that overlap [REKEY_AT - 0.5, REKEY_AT + 2] (the rekey window) and in the rest; with KERN (the
    sampler's samples) and T_START (epoch of the client's start): the kernel drop counters over the run and, for
    the window, the datagrams full receive buffers of strongSwan's socket and of the VM dropped (win_sockbuf)
    and Isthmus's TUN queue dropped (win_tun)."""
    def kdelta(lo, hi):
        a = [c for t, c in kern if t <= lo] or [kern[0][1]]
        b = [c for t, c in kern if t >= hi] or [kern[-1][1]]
        return {k: b[0].get(k, 0) - a[-1].get(k, 0) for k in b[0]}
    try:
        j = json.loads(open(path).read())
    except (OSError, ValueError) as e:
        try:
            txt = open(path, errors="replace").read().strip().splitlines()
        except OSError:
            txt = []
        return False, f"no JSON from iperf3 ({e}): {' '.join(txt[-2:])[:200]}"
    if j.get("error"):
        return False, f"iperf3 error: {j['error']}"
    end = j.get("end") or {}
    udp = ((j.get("start") or {}).get("test_start") or {}).get("protocol") == "UDP"
    if udp:
        srv = j.get("server_output_json") or {}
        s = dict(end.get("sum_received") or end.get("sum") or {})
        s.update({k: v for k, v in ((srv.get("end") or {}).get("sum") or {}).items()
                  if k in ("lost_packets", "packets", "lost_percent", "out_of_order")})
        if not s.get("packets"):
            return False, "the server received no datagrams"
        out = dict(mbps=round((end.get("sum_sent") or end.get("sum") or {}).get("bits_per_second", 0) / 1e6, 1),
                   packets=s.get("packets", 0), lost=s.get("lost_packets", 0),
                   lost_pct=round(s.get("lost_percent", 0.0), 3))
        if rekey_at is not None:
            ivs = [iv.get("sum") or {} for iv in srv.get("intervals") or []]
            if not ivs:
                return False, "the server's report has no intervals"
            win = [iv for iv in ivs if iv.get("end", 0) > rekey_at - 0.5 and iv.get("start", 0) < rekey_at + 2]
            rest = [iv for iv in ivs if iv not in win]
            after = [iv for iv in ivs if iv.get("start", 0) >= rekey_at + 2]
            out.update(win_packets=sum(iv.get("packets", 0) for iv in win),
                       win_lost=sum(iv.get("lost_packets", 0) for iv in win),
                       rest_packets=sum(iv.get("packets", 0) for iv in rest),
                       rest_lost=sum(iv.get("lost_packets", 0) for iv in rest),
                       after_received=sum(iv.get("packets", 0) - iv.get("lost_packets", 0) for iv in after),
                       win=f"{max(0.0, rekey_at - 0.5):.1f}-{rekey_at + 2:.1f}s")
            if kern and win:
                # the window's intervals in epoch time (the server's clock starts ~0.1 s after the client's), widened
                lo = t_start + min(iv.get("start", 0) for iv in win) - 0.1
                hi = t_start + max(iv.get("end", 0) for iv in win) + 0.3
                d = kdelta(lo, hi)
                out.update(win_sockbuf=d.get("cloud-gw-udp-rcvbuf", 0) + d.get("vm-udp-rcvbuf", 0),
                           win_tun=d.get("isthmus-tun-txdrop", 0))
    else:
        r, s = end.get("sum_received") or {}, end.get("sum_sent") or {}
        out = dict(mbps=round(r.get("bits_per_second", 0) / 1e6, 1), retransmits=s.get("retransmits", 0),
                   seconds=round(r.get("seconds", 0), 1))
        if not r.get("bits_per_second"):
            return False, "0 bit/s received"
    if kern:
        out["kernel"] = kernel_text(kdelta(kern[0][0], kern[-1][0]))
    return True, out
