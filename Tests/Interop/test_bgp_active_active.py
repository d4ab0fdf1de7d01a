"""Active-active: two Isthmus cloud gateways for one virtual network, a branch connected to both, BGP everywhere.

    bh 192.168.1.10 -- br (branch-a, AS 65010) --+                 +-- c1 (cloud-1, 203.0.113.20) --+
                                                  inet (router)  --+                                 fab -- vm 10.0.1.4
    bbh 172.16.2.10 -- bb (branch-b, AS 65020) --+                 +-- c2 (cloud-2, 203.0.113.21) --+  (10.0.2.1, 10.0.1.1)

The clouds (AS 65515, the same virtual network, gateway subnet 10.0.2.0/24) each run BGP over their tunnels and
internal BGP with the fabric router `fab` (BIRD, written by the test: it stands for the cloud's routing), so the
fabric learns branch A's prefix from both gateways and routes to both (equal paths). Branch A (Isthmus) has a
tunnel to each cloud and learns the virtual network from both (equal paths); branch B (Isthmus) has a tunnel to
cloud-1 only. BFD is on everywhere.

`active-active`:
- both paths up: branch A's route to the VM and the fabric's route to branch A have two next hops;
- `isthmus export` of the pair's two configurations writes the branch's side of both tunnels and one BIRD
  configuration with both sessions (BIRD parses it);
- transit: branch B's host reaches branch A's host through cloud-1, by routes learned over BGP only;
- failover: a ping every 10 ms and an iperf3 TCP stream from branch A's host to the VM; the cloud gateway that
  carries them is killed with SIGKILL (its BIRD follows it by itself): the longest gap between answers is under
  2 s and the TCP stream survives;
- return: the gateway started again comes back into both equal-path routes without a lost echo."""
import re
import signal
import time

from harness import proc, prereq
from harness.traffic import iperf3, iperf_mbps, ping_counts, stop_ping

ASN_CLOUD, ASN_A, ASN_B = 65515, 65010, 65020
KEY = "isthmus-active-active-demo-key-0123456789"
VM, HOST_A, HOST_B = "10.0.1.4", "192.168.1.10", "172.16.2.10"

VNET = """virtual_network:
  name: vnet
  address_spaces: [10.0.1.0/24, 10.0.2.0/24]
  subnets:
    - {name: vms, prefix: 10.0.1.0/24}
    - {name: GatewaySubnet, prefix: 10.0.2.0/24}
  gateway_subnet: GatewaySubnet
"""


def cloud_yaml(name, public, peering_a, with_b):
    text = f"""gateway:
  name: {name}
  kind: dynamic
  public_address: {public}
  bgp:
    asn: {ASN_CLOUD}
    neighbors: [{{name: fabric, address: 10.0.2.1, asn: {ASN_CLOUD}, bfd: true}}]
{VNET}local_networks:
  - {{name: branch-a, gateway_address: 198.51.100.10, prefixes: [192.168.0.0/16]}}
"""
    if with_b:
        text += "  - {name: branch-b, gateway_address: 198.51.100.11, prefixes: [172.16.0.0/16]}\n"
    text += f"""connections:
  - {{name: to-branch-a, local_network: branch-a, shared_key: {KEY}, ike: [aes128gcm16-prfsha256-ecp256],
     esp: [aes128gcm16], bgp: {{peer_asn: {ASN_A}, address: {peering_a}, bfd: true}}}}
"""
    if with_b:
        text += f"""  - {{name: to-branch-b, local_network: branch-b, shared_key: {KEY}, ike: [aes128gcm16-prfsha256-ecp256],
     esp: [aes128gcm16], bgp: {{peer_asn: {ASN_B}, address: 169.254.23.1/30, bfd: true}}}}
"""
    return text


BRANCH_A = f"""gateway: {{name: branch-a, kind: dynamic, public_address: 198.51.100.10, bgp: {{asn: {ASN_A}}}}}
site: {{prefixes: [192.168.1.0/24]}}
local_networks:
  - {{name: cloud-1, gateway_address: 203.0.113.20, prefixes: [10.0.0.0/16, 172.16.0.0/16]}}
  - {{name: cloud-2, gateway_address: 203.0.113.21, prefixes: [10.0.0.0/16, 172.16.0.0/16]}}
connections:
  - {{name: to-cloud-1, local_network: cloud-1, shared_key: {KEY}, ike: [aes128gcm16-prfsha256-ecp256],
     esp: [aes128gcm16], bgp: {{peer_asn: {ASN_CLOUD}, address: 169.254.21.2/30, bfd: true}}}}
  - {{name: to-cloud-2, local_network: cloud-2, shared_key: {KEY}, ike: [aes128gcm16-prfsha256-ecp256],
     esp: [aes128gcm16], bgp: {{peer_asn: {ASN_CLOUD}, address: 169.254.22.2/30, bfd: true}}}}
"""

BRANCH_B = f"""gateway: {{name: branch-b, kind: dynamic, public_address: 198.51.100.11, bgp: {{asn: {ASN_B}}}}}
site: {{prefixes: [172.16.2.0/24]}}
local_networks:
  - {{name: cloud-1, gateway_address: 203.0.113.20, prefixes: [10.0.0.0/16, 192.168.0.0/16]}}
connections:
  - {{name: to-cloud-1, local_network: cloud-1, shared_key: {KEY}, ike: [aes128gcm16-prfsha256-ecp256],
     esp: [aes128gcm16], bgp: {{peer_asn: {ASN_CLOUD}, address: 169.254.23.2/30, bfd: true}}}}
"""

FABRIC = f"""router id 10.0.2.1;
protocol device {{ scan time 10; }}
protocol kernel {{ ipv4 {{ import none; export where source = RTS_BGP; }}; merge paths on; }}
protocol bfd {{ interface "*" {{ min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }}; }}
template bgp gws {{
    local as {ASN_CLOUD}; direct; hold time 30; keepalive time 10; connect retry time 2; error wait time 2, 16; bfd on;
    ipv4 {{ import all; export none; }};
}}
protocol bgp gw1 from gws {{ neighbor 10.0.2.4 as {ASN_CLOUD}; }}
protocol bgp gw2 from gws {{ neighbor 10.0.2.5 as {ASN_CLOUD}; }}
"""


def build(scene):
    ns = {n: scene.namespace(n) for n in ("bh", "br", "bbh", "bb", "inet", "c1", "c2", "fab", "vm")}
    inet, fab = ns["inet"], ns["fab"]
    for bridge_ns, bridge in ((inet, "wan"), (fab, "gws")):
        bridge_ns.ip("link", "add", bridge, "type", "bridge")
        bridge_ns.up(bridge)
    # The internet: every public address on one bridge in `inet`, which routes between the two /24s.
    for name, port in (("br", "pa"), ("bb", "pb"), ("c1", "p1"), ("c2", "p2")):
        scene.veth(ns[name], "wan0", inet, port)
        inet.ip("link", "set", port, "master", "wan")
        inet.up(port)
        ns[name].up("wan0")
    inet.addr("198.51.100.1/24", "wan"); inet.addr("203.0.113.1/24", "wan")
    for name, address, router in (("br", "198.51.100.10", "198.51.100.1"), ("bb", "198.51.100.11", "198.51.100.1"),
                                  ("c1", "203.0.113.20", "203.0.113.1"), ("c2", "203.0.113.21", "203.0.113.1")):
        ns[name].addr(f"{address}/24", "wan0")
        ns[name].route("default", "via", router)
    # The cloud: both gateways on the gateway subnet with the fabric router, which also holds the VM subnet.
    for name, port, address in (("c1", "g1", "10.0.2.4"), ("c2", "g2", "10.0.2.5")):
        scene.veth(ns[name], "lan0", fab, port)
        fab.ip("link", "set", port, "master", "gws")
        fab.up(port)
        ns[name].addr(f"{address}/24", "lan0"); ns[name].up("lan0")
        ns[name].route("10.0.1.0/24", "via", "10.0.2.1")        # the virtual network's system route
    fab.addr("10.0.2.1/24", "gws")
    scene.veth(fab, "vm0", ns["vm"], "eth0")
    fab.addr("10.0.1.1/24", "vm0"); fab.up("vm0")
    ns["vm"].addr(f"{VM}/24", "eth0"); ns["vm"].up("eth0"); ns["vm"].route("default", "via", "10.0.1.1")
    # The branches' LANs.
    for gw, host, lan, address in (("br", "bh", "192.168.1.1", HOST_A), ("bb", "bbh", "172.16.2.1", HOST_B)):
        scene.veth(ns[gw], "lan0", ns[host], "eth0")
        ns[gw].addr(f"{lan}/24", "lan0"); ns[gw].up("lan0")
        ns[host].addr(f"{address}/24", "eth0"); ns[host].up("eth0"); ns[host].route("default", "via", lan)
    # Equal paths are chosen by source and destination address alone (policy 0), so `ip route get` names the
    # path of the ping and of the TCP stream alike.
    for name in ("br", "bb", "inet", "c1", "c2", "fab"):
        ns[name].sysctl("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                        "net.ipv4.fib_multipath_hash_policy=0")
    return ns


def nexthops(ns, prefix):
    """The devices (or gateways) of the kernel's route to PREFIX: two for an equal-path route."""
    r = ns.run(["ip", "-j", "route", "show", prefix])
    import json
    routes = json.loads(r.stdout or "[]") if r.returncode == 0 else []
    hops = []
    for route in routes:
        if route.get("nexthops"):
            hops += [h.get("dev") or h.get("gateway") for h in route["nexthops"]]
        else:
            hops.append(route.get("dev") or route.get("gateway"))
    return sorted(hops)


def device_for(ns, dest, source, iif):
    r = ns.run(["ip", "route", "get", dest, "from", source, "iif", iif])
    m = re.search(r"dev (\S+)", r.stdout)
    return m.group(1) if m else None


def answer_times(text):
    """The timestamps of the echoes answered in a `ping -D` log."""
    return [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from .* icmp_seq=\d+", text, re.M)]


def longest_gap(text):
    times = answer_times(text)
    return max((b - a for a, b in zip(times, times[1:])), default=float("inf"))


def established(gw, *connections):
    def check(status):
        by_name = {c.get("name"): c for c in status.get("connections") or []}
        return all((by_name.get(c, {}).get("bgp") or {}).get("bgp_state") == "Established" for c in connections)
    return check


def test_active_active(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping", "bird", "iperf3"], isthmus=isthmus_bin, tun=True)
    try:
        ns = build(scene)
    except Exception as e:  # noqa: BLE001 - any set-up failure ends the scenario with its reason
        checks.abort("topology", str(e))
    checks.ok("topology")
    scene.write("fabric.conf", FABRIC, mode=0o644)
    scene.start(["bird", "-f", "-c", scene.path("fabric.conf"), "-s", scene.path("fabric.ctl"),
                 "-P", scene.path("fabric.pid")], "fabric-bird", ns=ns["fab"])
    c1 = scene.isthmus(ns["c1"], cloud_yaml("cloud-1", "203.0.113.20", "169.254.21.1/30", True), name="cloud-1")
    c2 = scene.isthmus(ns["c2"], cloud_yaml("cloud-2", "203.0.113.21", "169.254.22.1/30", False), name="cloud-2")
    a = scene.isthmus(ns["br"], BRANCH_A, name="branch-a")
    b = scene.isthmus(ns["bb"], BRANCH_B, name="branch-b")
    ok = (a.wait_for(established(a, "to-cloud-1", "to-cloud-2"), timeout=60)
          and b.wait_for(established(b, "to-cloud-1"), timeout=30)
          and c1.wait_for(lambda s: all((n or {}).get("bgp_state") == "Established"
                                        for n in ((s.get("routingDaemon") or {}).get("neighbors") or {"x": None}).values()),
                          timeout=30))
    if not checks.check("all-sessions-established", bool(ok), f"branch-a {a.status().get('connections')}"):
        for gw in (a, b, c1, c2):
            gw.dump_log()
        checks.abort("all-sessions-established", "the rest needs the sessions")

    both = lambda n, prefix: proc.wait_for(lambda: len(nexthops(n, prefix)) == 2, 15)
    checks.check("branch-two-paths-to-vm", both(ns["br"], "10.0.1.0/24"), f"nexthops {nexthops(ns['br'], '10.0.1.0/24')}")
    checks.check("fabric-two-paths-to-branch", both(ns["fab"], "192.168.1.0/24"),
                 f"nexthops {nexthops(ns['fab'], '192.168.1.0/24')}")
    r = ns["bh"].ping(VM, count=5, interval=0.2)
    checks.check("ping-branch-to-vm", r.returncode == 0, r.stdout[-200:])

    # Transit: B reaches A through cloud-1 by BGP alone (no YAML of either lists the other).
    r = ns["bbh"].ping(HOST_A, count=5, interval=0.2)
    checks.check("transit-branch-b-to-branch-a", r.returncode == 0, r.stdout[-200:])

    # The branch's side of both tunnels, exported from the pair's two configurations.
    outdir = scene.path("export")
    outdir.mkdir(exist_ok=True)
    r = scene.run([isthmus_bin, "export", "to-branch-a", "--device", "strongswan", "--config", c1.config,
                   "--config", c2.config, "--output", str(outdir)])
    names = sorted(p.name for p in outdir.iterdir()) if outdir.is_dir() else []
    checks.check("pair-export-written", r.returncode == 0 and names == [
        "to-branch-a-cloud-1.conf", "to-branch-a-cloud-2.conf", "to-branch-a.bird.conf"], f"{names} {r.stderr[-300:]}")
    bird_conf = outdir / "to-branch-a.bird.conf"
    text = bird_conf.read_text() if bird_conf.is_file() else ""
    r = scene.run(["bird", "-p", "-c", str(bird_conf)])
    checks.check("pair-export-bird-parses-with-both-sessions", r.returncode == 0
                 and "neighbor 169.254.21.1 as 65515;" in text and "neighbor 169.254.22.1 as 65515;" in text,
                 (r.stdout + r.stderr)[-300:])

    # Failover: kill the gateway that carries branch A's traffic to the VM.
    carrier = device_for(ns["br"], VM, HOST_A, "lan0")
    victim, victim_ns, name = (c1, ns["c1"], "cloud-1") if carrier == "ist-cloud-1" else (c2, ns["c2"], "cloud-2")
    checks.check("carrier-found", carrier in ("ist-cloud-1", "ist-cloud-2"), f"route get says {carrier}",
                 detail=f"{carrier}")
    bird_pid = (victim.status().get("routingDaemon") or {}).get("pid")
    checks.check("victim-bird-running", isinstance(bird_pid, int) and _alive(bird_pid), f"pid {bird_pid}")
    ping = scene.start(["ping", "-D", "-i", "0.01", VM], "failover-ping", ns=ns["bh"])
    result = {}
    import threading
    stream = threading.Thread(target=lambda: result.update(
        report=iperf3(scene, ns["vm"], ns["bh"], VM, "5211", 12, name="failover-iperf", extra=("-b", "50M"))))
    stream.start()
    time.sleep(4)
    victim.stop(signal.SIGKILL, timeout=5)
    bird_gone = proc.wait_for(lambda: not _alive(bird_pid), 5)
    checks.check("bird-follows-killed-gateway", bool(bird_gone), f"BIRD {bird_pid} still runs")
    stream.join(timeout=60)
    time.sleep(1)
    text = stop_ping(ping)
    gap = longest_gap(text)
    checks.check("failover-gap-under-2s", gap < 2.0, f"longest gap {gap:.3f}s", detail=f"{gap * 1000:.0f} ms")
    report = result.get("report") or {}
    checks.check("tcp-stream-survives", iperf_mbps(report) > 0 and not report.get("error"),
                 f"iperf3 {report.get('error') or 'no report'}", detail=f"{iperf_mbps(report)} Mbit/s")
    checks.check("one-path-left", nexthops(ns["br"], "10.0.1.0/24") == [f"ist-{'cloud-2' if name == 'cloud-1' else 'cloud-1'}"],
                 f"nexthops {nexthops(ns['br'], '10.0.1.0/24')}")

    # Return: the gateway starts again and rejoins both equal-path routes without a lost echo.
    ping = scene.start(["ping", "-D", "-i", "0.01", VM], "return-ping", ns=ns["bh"])
    time.sleep(0.5)
    victim.start(wait=True)
    back = both(ns["br"], "10.0.1.0/24") and proc.wait_for(lambda: len(nexthops(ns["fab"], "192.168.1.0/24")) == 2, 30)
    time.sleep(2)
    text = stop_ping(ping)
    sent, received = ping_counts(text)
    checks.check("restarted-gateway-back-in-both-paths", bool(back),
                 f"branch {nexthops(ns['br'], '10.0.1.0/24')}, fabric {nexthops(ns['fab'], '192.168.1.0/24')}")
    checks.check("return-without-loss", sent > 0 and sent - received <= 1, f"{sent - received} of {sent} lost",
                 detail=f"{sent} echoes, {sent - received} lost")


def _alive(pid):
    """Whether process PID runs (a zombie, ended but not reaped by a PID 1 that does not reap, counts as gone)."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, ValueError, TypeError, IndexError):
        return False
