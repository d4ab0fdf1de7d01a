"""tcpdump captures and reading them back (stdlib only): a Capture runs tcpdump on one interface of a
namespace into a pcap; datagrams() reads the UDP datagrams of a pcap; ike_summary() is the one line per
datagram the ikev2 script wrote as wire.txt."""
import signal
import socket
import struct
from pathlib import Path

from . import proc

IKEV2_EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}


class Capture:
    def __init__(self, ns, iface, path, bpf="udp port 500 or udp port 4500"):
        self.ns, self.iface, self.path, self.bpf = ns, iface, Path(path), bpf
        self.process = None

    def start(self, timeout=5):
        """Starts tcpdump and returns once it says it is listening (RuntimeError otherwise)."""
        self.process = proc.start(["tcpdump", "-i", self.iface, "-n", "-U", "-s", "0", "-Z", "root", "-w",
                                   str(self.path), self.bpf], Path(str(self.path) + ".err"), ns=self.ns.name,
                                  name="tcpdump")
        if not proc.wait_for(lambda: "listening on" in self.process.output(), timeout, interval=0.1,
                             abort=lambda: not self.process.alive):
            raise RuntimeError(f"tcpdump on {self.ns}/{self.iface} did not start: {self.process.output()[-300:]}")
        return self

    def stop(self):
        """SIGINT (tcpdump flushes its file), then as proc.Process.stop."""
        return self.process.stop(signal.SIGINT) if self.process else None

    def datagrams(self):
        return datagrams(self.path)

    def ipv4_packets(self):
        return ipv4_packets(self.path)


def ipv4_packets(path):
    """The IPv4 packets of a pcap (Ethernet link type): [(time, src, dst, protocol, payload after the IP header)]."""
    out = []
    try:
        data = Path(path).read_bytes()
    except OSError:
        return out
    off = 24
    while off + 16 <= len(data):
        ts, tu, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        out.append((ts + tu / 1e6, socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]), ip[9], ip[ihl:]))
    return out


def datagrams(path):
    """The IPv4 UDP datagrams of a pcap (Ethernet link type): [(time, src, sport, dst, dport, payload)]."""
    out = []
    for ts, src, dst, protocol, udp in ipv4_packets(path):
        if protocol != 17 or len(udp) < 8:
            continue
        sport, dport = struct.unpack("!HH", udp[:4])
        out.append((ts, src, sport, dst, dport, udp[8:]))
    return out
    off = 24
    while off + 16 <= len(data):
        ts, tu, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 42 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            continue
        udp = ip[ihl:]
        sport, dport = struct.unpack("!HH", udp[:4])
        out.append((ts + tu / 1e6, socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]), dport, udp[8:]))
    return out


def ike_messages(path, src=None, dst=None):
    """IKE messages (non-ESP marker stripped on 4500) in the pcap, optionally only from SRC to DST."""
    out = []
    for _, s, sp, d, dp, payload in datagrams(path):
        if (src and s != src) or (dst and d != dst):
            continue
        if 4500 in (sp, dp):
            if payload[:4] != b"\0\0\0\0":
                continue
            payload = payload[4:]
        elif 500 not in (sp, dp):
            continue
        if len(payload) >= 28:
            out.append(payload)
    return out


def ike_summary(path):
    """One line per datagram (exchange, request/response, I flag, message ID, SPIs; ESP SPI; NAT keepalive) and
    per IKE SA the on-the-wire time from the first IKE_SA_INIT request to the IKE_AUTH response."""
    lines, first_init, auth_done, t0 = [], {}, {}, None
    for t, src, sp, dst, dp, pl in datagrams(path):
        t0 = t if t0 is None else t0
        size, desc = len(pl), ""
        if 4500 in (sp, dp):
            if pl[:4] == b"\0\0\0\0":
                pl = pl[4:]
            elif len(pl) == 1 and pl[0] == 0xff:
                desc, pl = "NAT-keepalive", b""
            else:
                desc, pl = f"ESP spi {pl[:4].hex()}", b""
        if len(pl) >= 28:
            ex, fl = pl[18], pl[19]
            mid = struct.unpack("!I", pl[20:24])[0]
            desc = (f"{IKEV2_EXCHANGES.get(ex, ex)} {'request' if not fl & 0x20 else 'response'} "
                    f"{'I' if fl & 0x08 else 'R'} mid {mid} spi_i {pl[0:8].hex()} spi_r {pl[8:16].hex()}")
            if ex == 34 and not fl & 0x20:
                first_init.setdefault(pl[0:8].hex(), t)
            if ex == 35 and fl & 0x20:
                auth_done.setdefault(pl[0:8].hex(), t)
        lines.append(f"+{t - t0:7.3f} {src}:{sp} -> {dst}:{dp} len {size} {desc}")
    for spi, t in auth_done.items():
        if spi in first_init:
            lines.append(f"# IKE SA {spi}: first IKE_SA_INIT request -> IKE_AUTH response "
                         f"{(t - first_init[spi]) * 1000:.1f} ms on the wire")
    return lines
