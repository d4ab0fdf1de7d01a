"""Traffic through the sites: ping summaries, iperf3 runs, single forged datagrams."""
import json
import re
import signal
import time

from . import proc


def ping_counts(text):
    """(transmitted, received) of a ping summary, (0, 0) when there is none."""
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def ping_lost(text):
    """Echoes of a ping stopped by SIGINT that got no answer, not counting the last one sent: it may still
    have been in flight when the signal came (50 ms at most at -i 0.05), which is the harness's doing,
    not the tunnel's. Lost echoes before it are all counted."""
    sent, _ = ping_counts(text)
    answered = {int(n) for n in re.findall(r"icmp_seq=(\d+)", text)}
    return sum(1 for seq in range(1, sent) if seq not in answered)


def ping_problem(result):
    """The line a failing ping is reported with (the bash scripts' grep -E 'packets|error' | head -1)."""
    for line in (result.stdout + result.stderr).splitlines():
        if "packets" in line or "error" in line:
            return line
    return f"exit status {result.returncode}"


def iperf3(scene, server_ns, client_ns, address, port, seconds, reverse=False, name="iperf3", extra=()):
    """iperf3 -s -1 in SERVER_NS, then the client (JSON) from CLIENT_NS, retried for 5 s while the server does
    not listen yet (as the bash scripts did). Returns the client's JSON report ({} when there is none)."""
    server = scene.start(["iperf3", "-s", "-1", "-p", port], f"{name}-server", ns=server_ns)
    out = {}
    for _ in range(25):
        r = proc.run(["iperf3", "-c", address, "-p", port, "-t", seconds, "-J", *(["-R"] if reverse else []),
                      *extra], ns=client_ns.name, timeout=seconds + 30)
        try:
            out = json.loads(r.stdout) if r.stdout.strip() else {}
        except ValueError:
            out = {}
        if (out.get("end") or {}).get("sum_sent"):
            break
        time.sleep(0.2)
    if server.wait(10) is None:
        server.stop()
    (scene.path(f"{name}.json")).write_text(json.dumps(out, indent=1))
    return out


def iperf_mbps(report):
    return int(((report.get("end") or {}).get("sum_received") or {}).get("bits_per_second", 0) / 1e6)


def iperf_retransmits(report):
    return ((report.get("end") or {}).get("sum_sent") or {}).get("retransmits", 0)


def send_udp(ns, address, port, payload):
    """One UDP datagram from namespace NS (python3 in the namespace)."""
    code = ("import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
            f"s.sendto(bytes.fromhex('{payload.hex()}'), ('{address}', {int(port)}))")
    return proc.run(["python3", "-c", code], ns=ns.name, timeout=20)


def send_raw_esp(ns, address, payload):
    """One IP protocol 50 packet from namespace NS."""
    code = ("import socket; s=socket.socket(socket.AF_INET,socket.SOCK_RAW,50); "
            f"s.sendto(bytes.fromhex('{payload.hex()}'), ('{address}', 0))")
    return proc.run(["python3", "-c", code], ns=ns.name, timeout=20)


def stop_ping(process):
    """SIGINT a background ping (it prints its summary) and return its output."""
    process.stop(signal.SIGINT, timeout=5)
    return process.output()
