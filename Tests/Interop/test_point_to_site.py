"""Point-to-site (issue 14): strongSwan remote-access clients (swanctl, `vips = 0.0.0.0`, kernel-libipsec,
`auth = psk`) in "laptop" namespaces behind one NAT router (nftables masquerade) connect to the dynamic cloud
gateway, which hands out addresses of its pool 10.0.0.0/24, the DNS server 10.0.1.4 and its VM subnet.

  PREFIX-lN 192.168.100.(10+N) --br0-- 192.168.100.1 PREFIX-nat 198.51.100.1 -- 203.0.113.20 PREFIX-cld
  10.0.1.1 -- 10.0.1.4 PREFIX-vm"""
import ipaddress
import re
import signal
import threading
import time

from harness import prereq, proc
from harness.config import WAIT
from harness.traffic import iperf3, iperf_mbps, ping_problem

CLOUD_PUBLIC = "203.0.113.20"
NAT_PUBLIC = "198.51.100.1"
VM = "10.0.1.4"
KEY = "laptops-share-this-key-0123456789"

NAT_RULES = """table ip istnat {
    chain post {
        type nat hook postrouting priority 100;
        oifname "wan0" masquerade
    }
}
"""


def gateway_yaml(pool="10.0.0.0/24"):
    return f"""gateway:
  name: cloud
  kind: dynamic
  public_address: {CLOUD_PUBLIC}
  point_to_site:
    address_pool: {pool}
    auth: [psk]
    shared_key: {KEY}
virtual_network:
  name: vnet
  address_spaces: [10.0.1.0/24, 10.0.2.0/24]
  subnets:
    - {{name: vms, prefix: 10.0.1.0/24}}
    - {{name: GatewaySubnet, prefix: 10.0.2.0/24}}
  gateway_subnet: GatewaySubnet
  dns_servers: [{VM}]
local_networks:
  - name: office
    gateway_address: 198.51.100.10
    prefixes: [192.168.1.0/24]
connections:
  - name: cloud-office
    local_network: office
    shared_key: a-site-key-nobody-uses-here-0123
endpoints:
  - name: vm-ssh
    address: {VM}
    protocol: tcp
    port: 22
    rules:
      - {{action: deny, remote: 10.0.0.0/24, description: laptops do not log in to the VM}}
"""


def laptop_conf(index):
    return f"""connections {{
    p2s {{
        version = 2
        remote_addrs = {CLOUD_PUBLIC}
        vips = 0.0.0.0
        proposals = aes256gcm16-prfsha256-ecp256
        local {{
            auth = psk
            id = laptop{index}@example.test
        }}
        remote {{
            auth = psk
            id = {CLOUD_PUBLIC}
        }}
        children {{
            p2s {{
                remote_ts = 10.0.1.0/24
                esp_proposals = aes256gcm16
            }}
        }}
    }}
}}
secrets {{
    ike-clients {{
        secret = "{KEY}"
    }}
}}
"""


class Lab:
    """The cloud, its VM, the NAT router and N laptops (namespaces only; charon and the gateway come later)."""

    def __init__(self, scene, checks, laptops):
        self.scene = scene
        self.cld, self.vm, self.nat = (scene.namespace(n) for n in ("cld", "vm", "nat"))
        scene.veth(self.nat, "wan0", self.cld, "wan0")
        scene.veth(self.cld, "lan0", self.vm, "vm0")
        self.nat.ip("link", "add", "br0", "type", "bridge")
        self.nat.addr("192.168.100.1/24", "br0")
        self.nat.up("br0")
        self.nat.addr(f"{NAT_PUBLIC}/24", "wan0")
        self.nat.up("wan0")
        self.nat.route("203.0.113.0/24", "dev", "wan0")
        self.cld.addr(f"{CLOUD_PUBLIC}/24", "wan0")
        self.cld.up("wan0")
        self.cld.route("198.51.100.0/24", "dev", "wan0")
        self.cld.addr("10.0.1.1/24", "lan0")
        self.cld.up("lan0")
        self.vm.addr(f"{VM}/24", "vm0")
        self.vm.up("vm0")
        self.vm.route("default", "via", "10.0.1.1")
        for ns in (self.nat, self.cld):
            ns.sysctl("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        r = self.nat.run(["nft", "-f", "-"], input=NAT_RULES, timeout=20)
        checks.require("nat-masquerade", r.returncode == 0, (r.stderr or r.stdout)[:200])
        self.laptops = []
        for index in range(1, laptops + 1):
            ns = scene.namespace(f"l{index}")
            scene.veth(ns, "lan0", self.nat, f"p{index}")
            self.nat.ip("link", "set", f"p{index}", "master", "br0")
            self.nat.up(f"p{index}")
            ns.addr(f"192.168.100.{10 + index}/24", "lan0")
            ns.up("lan0")
            ns.route("default", "via", "192.168.100.1")
            self.laptops.append(ns)
        checks.require("underlay-through-the-nat", self.laptops[0].ping(CLOUD_PUBLIC).returncode == 0,
                       "laptop 1 cannot reach the cloud")

    def charon(self, index, name=None):
        """charon for laptop INDEX (1-based), started, its connection loaded; DNS servers go to a file of its own
        (never the machine's /etc/resolv.conf)."""
        name = name or f"laptop{index}"
        resolv = self.scene.path(f"{name}.resolv.conf")
        ss = self.scene.strongswan(
            self.laptops[index - 1], name=name, log_levels={"ike": 1, "cfg": 2, "knl": 1},
            charon_options=f"plugins {{\n        resolve {{\n            file = {resolv}\n        }}\n    }}")
        ss.load(laptop_conf(index))
        return ss


def events_of(gw):
    return gw.events().get("events") or []


def clients(status):
    return ((status or {}).get("pointToSite") or {}).get("clients") or []


def gateway(scene, checks, lab, isthmus_bin, pool="10.0.0.0/24", extra_args=()):
    path = scene.write("cloud.yaml", gateway_yaml(pool))
    r = scene.run([isthmus_bin, "check", path])
    checks.require("gateway-config-checks", r.returncode == 0, (r.stdout + r.stderr)[-400:])
    return scene.isthmus(lab.cld, path, name="cloud", passive=True, extra_args=extra_args)


def virtual_ip(ss):
    """The virtual address strongSwan installed (its own log: 'installing new virtual IP 10.0.0.1')."""
    found = re.findall(r"installing new virtual IP (\S+)", ss.log_text())
    return found[-1] if found else None


def initiate_all(laptops, timeout=60):
    """`swanctl --initiate` on every laptop at once; returns the failures."""
    failed = []
    def one(ss):
        r = ss.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=timeout)
        if r.returncode != 0:
            failed.append((ss.name, (r.stdout + r.stderr)[-200:]))
    threads = [threading.Thread(target=one, args=(ss,)) for ss in laptops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed


def iperf_both_ways(scene, checks, lab, name, seconds=2):
    """Check NAME: iperf3 from the VM to laptop 1 and back (SECONDS each) passes traffic both ways."""
    up = iperf3(scene, lab.vm, lab.laptops[0], VM, 5201, seconds, name="iperf-up")
    down = iperf3(scene, lab.vm, lab.laptops[0], VM, 5202, seconds, reverse=True, name="iperf-down")
    summary = f"up {iperf_mbps(up)} Mbit/s, down {iperf_mbps(down)} Mbit/s"
    checks.check(name, iperf_mbps(up) > 0 and iperf_mbps(down) > 0, summary, detail=summary)


def test_point_to_site_client(scene, checks, isthmus_bin):
    """One laptop: an address from the pool and the DNS server (strongSwan's log and --list-sas), ping to the
    VM and back to the virtual address, iperf3 both ways, the client in `status` and in the events; when it
    disconnects its address is released."""
    prereq.require(checks, tools=["ip", "ping", "nft", "swanctl", "iperf3"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon"])
    lab = Lab(scene, checks, 1)
    gw = gateway(scene, checks, lab, isthmus_bin)
    ss = lab.charon(1)
    r = ss.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.require("client-connects", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    vip = virtual_ip(ss)
    checks.check("client-gets-a-pool-address", vip is not None and ipaddress.ip_address(vip) in
                 ipaddress.ip_network("10.0.0.0/24"), f"strongSwan's virtual IP: {vip}", detail=str(vip))
    log = ss.log_text()
    checks.check("client-gets-the-dns-server", re.search(r"installing DNS server 10\.0\.1\.4", log) is not None,
                 "no 'installing DNS server 10.0.1.4' in the laptop's log")
    sas = ss.list_sas_pretty()
    checks.check("list-sas-shows-the-virtual-address", vip is not None and f"{vip}/32" in sas, sas[-400:])
    child = ((ss.list_sas("p2s") or [{}])[0].get("children") or [{}])[0]
    checks.check("child-sa-narrowed-to-the-virtual-address", child.get("local_ts") == [f"{vip}/32"]
                 and child.get("remote_ts") == ["10.0.1.0/24"], f"strongSwan's CHILD SA: {child}")
    status = gw.wait_for(lambda s: len(clients(s)) == 1)
    client = (clients(status) or [{}])[0]
    checks.check("status-lists-the-client", client.get("identity") == "laptop1@example.test"
                 and client.get("virtualAddress") == vip and client.get("outerAddress", "").startswith(NAT_PUBLIC),
                 f"status: {client}")
    p2s = (status or {}).get("pointToSite") or {}
    checks.check("status-pool-usage", p2s.get("size") == 254 and p2s.get("inUse") == 1, f"pool: {p2s}")
    r = lab.laptops[0].ping(VM, count=3, interval=0.2)
    checks.check("laptop-pings-the-vm", r.returncode == 0, ping_problem(r))
    r = lab.vm.ping(vip, count=3, interval=0.2)
    checks.check("vm-pings-the-laptop", r.returncode == 0, ping_problem(r))
    iperf_both_ways(scene, checks, lab, "iperf3-both-ways", seconds=3)
    # The endpoint ACL applies to clients: TCP 22 on the VM is denied to the pool (no RST comes back, the SYN is
    # dropped), while TCP 23 (no endpoint) reaches the VM, which refuses it.
    def connect(port):
        return lab.laptops[0].run(["timeout", "3", "bash", "-c", f"exec 3<>/dev/tcp/{VM}/{port}"], timeout=10)
    denied, refused = connect(22), connect(23)
    checks.check("acl-denies-client-to-vm-ssh", denied.returncode == 124 and refused.returncode == 1,
                 f"port 22 exit {denied.returncode}, port 23 exit {refused.returncode}")
    acl = [e for e in events_of(gw) if e.get("kind") == "acl-denied"]
    checks.check("acl-denied-event-under-point-to-site", bool(acl) and acl[0].get("connection") == "point-to-site"
                 and vip in acl[0].get("message", ""), f"{acl[:1]}")
    human = gw.cli("status").stdout
    checks.check("human-status-has-the-clients", f"point-to-site: pool 10.0.0.0/24, 1 of 254 addresses in use" in human
                 and f"{vip}  laptop1@example.test from {NAT_PUBLIC}:" in human, human[-500:])
    r = gw.cli("diagnose")
    scene.write("diagnose.txt", r.stdout + r.stderr, mode=0o644)
    checks.check("diagnose-answers", r.returncode == 0, (r.stdout + r.stderr)[-300:], detail=(r.stdout.splitlines() or [""])[-1][:120])
    client = (clients(gw.status()) or [{}])[0]
    checks.check("status-counts-the-client's-bytes", (client.get("bytesIn") or 0) > 1_000_000
                 and (client.get("bytesOut") or 0) > 1_000_000, f"status: {client}")
    events = events_of(gw)
    connected = [e for e in events if e.get("kind") == "client-connected"]
    checks.check("client-connected-event", bool(connected) and (connected[0].get("details") or {}).get(
        "virtual_address") == vip, f"events: {[e.get('kind') for e in events]}")
    # The laptop crashes and comes back: its new IKE SA (INITIAL_CONTACT) replaces the old one, which is
    # forgotten; the address stays the laptop's throughout.
    old_spi = [sa.get("localSPI") for c in gw.status().get("connections") or [] if c.get("name") == "point-to-site"
               for sa in c.get("ikeSAs") or []]
    ss.stop(signal.SIGKILL)
    ss = lab.charon(1, name="laptop1-again")
    r = ss.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.check("crashed-client-reconnects", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    again = gw.wait_for(lambda s: [sa.get("localSPI") for c in s.get("connections") or []
                                   if c.get("name") == "point-to-site" for sa in c.get("ikeSAs") or []] not in ([], old_spi)
                        and len(clients(s)) == 1 and (s.get("pointToSite") or {}).get("inUse") == 1, timeout=10)
    replaced = [e for e in events_of(gw) if e.get("kind") == "ike-sa-replaced"]
    checks.check("old-ike-sa-forgotten", bool(again) and bool(replaced) and
                 (replaced[-1].get("details") or {}).get("reason") == "peer-restarted",
                 f"status {(gw.status().get('pointToSite') or {})}, replaced events {len(replaced)}")
    checks.check("same-address-after-the-crash", virtual_ip(ss) == vip, f"{vip} -> {virtual_ip(ss)}")
    r = lab.vm.ping(vip, count=2, interval=0.2)
    checks.check("vm-pings-the-laptop-again", r.returncode == 0, ping_problem(r))
    ss.swanctl("--terminate", "--ike", "p2s", timeout=20)
    gone = gw.wait_for(lambda s: not clients(s) and ((s.get("pointToSite") or {}).get("inUse") == 0))
    checks.check("disconnect-releases-the-address", bool(gone), f"status: {gw.status().get('pointToSite')}")
    checks.check("client-disconnected-event", any(e.get("kind") == "client-disconnected" for e in events_of(gw)),
                 "no client-disconnected event")
    checks.check("gateway-alive", gw.alive and not gw.crashed(), gw.log_tail(5))


def test_point_to_site_twenty_clients(scene, checks, isthmus_bin):
    """20 laptops at once: 20 distinct addresses, each pings the VM and the VM each of them; 10 disconnect and
    reconnect while `status --json` is polled: no address is ever held by two identities, and each identity
    gets its address back."""
    prereq.require(checks, tools=["ip", "ping", "nft", "swanctl"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon"])
    count = 20
    lab = Lab(scene, checks, count)
    # All 20 behind one NAT address and started at once: past 5 half-open SAs from one address (the default
    # --half-open-per-source, strongSwan's block_threshold) a COOKIE-proven newcomer would evict a client in
    # the middle of its handshake, which then never completes (README "Point-to-site").
    gw = gateway(scene, checks, lab, isthmus_bin, extra_args=("--half-open-per-source", "32"))
    laptops = [lab.charon(i) for i in range(1, count + 1)]
    t0 = time.monotonic()
    failed = initiate_all(laptops)
    checks.require("twenty-clients-connect", not failed, f"{len(failed)} failed: {failed[:3]}",
                   detail=f"{time.monotonic() - t0:.1f} s")
    addresses = {ss.name: virtual_ip(ss) for ss in laptops}
    checks.check("twenty-distinct-addresses", len(set(addresses.values())) == count and None not in
                 addresses.values(), f"{addresses}")
    status = gw.wait_for(lambda s: len(clients(s)) == count)
    checks.check("status-lists-twenty-clients", bool(status), f"{len(clients(gw.status()))} clients in status")

    def ping_both(ns, vip):
        a = ns.ping(VM, count=2, interval=0.2)
        b = lab.vm.ping(vip, count=2, interval=0.2)
        return a.returncode == 0 and b.returncode == 0
    results = {}
    def pinger(i, ss):
        results[ss.name] = ping_both(lab.laptops[i], addresses[ss.name])
    threads = [threading.Thread(target=pinger, args=(i, ss)) for i, ss in enumerate(laptops)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checks.check("all-twenty-pass-traffic", all(results.values()),
                 f"no traffic for {[n for n, ok in results.items() if not ok]}")

    def ike_spis(status):
        return {sa.get("clientIdentity"): sa.get("localSPI") for c in (status or {}).get("connections") or []
                if c.get("name") == "point-to-site" for sa in c.get("ikeSAs") or []}
    before = ike_spis(gw.status())

    # Disconnect and reconnect 10 while status is polled.
    seen_conflicts, polls = [], [0]
    lock = threading.Lock()
    def poll_once():
        holders = {}
        for client in clients(gw.status()):
            holders.setdefault(client.get("virtualAddress"), set()).add(client.get("identity"))
        with lock:
            polls[0] += 1
            seen_conflicts.extend((a, sorted(ids)) for a, ids in holders.items() if len(ids) > 1)
    stop = threading.Event()
    def poll():
        while not stop.is_set():
            poll_once()
            time.sleep(0.05)
    poller = threading.Thread(target=poll)
    poller.start()
    try:
        half = laptops[:10]
        for ss in half:
            ss.swanctl("--terminate", "--ike", "p2s", timeout=20)
            poll_once()
        gw.wait_for(lambda s: len(clients(s)) == count - 10)
        failed = initiate_all(half)
        checks.check("ten-reconnect", not failed, f"{failed[:3]}")
        back = gw.wait_for(lambda s: len(clients(s)) == count)
        checks.check("twenty-again", bool(back), f"{len(clients(gw.status()))} clients in status")
    finally:
        stop.set()
        poller.join()
    poll_once()
    checks.check("no-address-held-twice", not seen_conflicts and polls[0] >= 11,
                 f"{seen_conflicts[:3]} in {polls[0]} polls", detail=f"{polls[0]} polls")
    again = {ss.name: virtual_ip(ss) for ss in half}
    checks.check("same-identities-same-addresses", all(again[n] == addresses[n] for n in again),
                 f"before {[addresses[n] for n in again]}, after {list(again.values())}")
    after = ike_spis(gw.status())
    others = [f"laptop{i}@example.test" for i in range(11, count + 1)]
    checks.check("other-clients-keep-their-ike-sas", all(after.get(n) == before.get(n) is not None for n in others),
                 f"changed: {[n for n in others if after.get(n) != before.get(n)]}")
    r = lab.laptops[0].ping(VM, count=2, interval=0.2)
    checks.check("reconnected-client-passes-traffic", r.returncode == 0, ping_problem(r))
    r = lab.laptops[count - 1].ping(VM, count=2, interval=0.2)
    checks.check("untouched-client-passes-traffic", r.returncode == 0, ping_problem(r))
    checks.check("gateway-alive", gw.alive and not gw.crashed(), gw.log_tail(5))


def test_point_to_site_pool_exhausted(scene, checks, isthmus_bin):
    """A pool of 2 addresses (10.0.0.0/30) and 3 laptops: the third is refused with INTERNAL_ADDRESS_FAILURE
    (its own log) and a `client-refused` event naming the exhausted pool; the first two keep working."""
    prereq.require(checks, tools=["ip", "ping", "nft", "swanctl"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon"])
    lab = Lab(scene, checks, 3)
    gw = gateway(scene, checks, lab, isthmus_bin, pool="10.0.0.0/30")
    laptops = [lab.charon(i) for i in (1, 2, 3)]
    failed = initiate_all(laptops[:2])
    checks.require("two-clients-connect", not failed, f"{failed}")
    r = laptops[2].swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    log = laptops[2].log_text()
    checks.check("third-client-refused", r.returncode != 0, (r.stdout + r.stderr)[-300:])
    checks.check("client-log-names-internal-address-failure", "INTERNAL_ADDRESS_FAILURE" in log,
                 log[-400:])
    refused = [e for e in events_of(gw) if e.get("kind") == "client-refused"]
    checks.check("client-refused-event", bool(refused) and (refused[0].get("details") or {}).get("reason")
                 == "pool-exhausted" and "exhausted" in refused[0].get("message", ""),
                 f"events: {[e.get('kind') for e in events_of(gw)]}", detail=refused[0].get("message", "") if refused else "")
    # The gateway deletes the refused client's IKE SA at once (strongSwan would keep it, without a CHILD SA).
    gone = proc.wait_for(lambda: not laptops[2].list_sas("p2s"), 10, interval=0.2)
    checks.check("refused-client's-ike-sa-deleted", bool(gone) and "received DELETE for IKE_SA" in
                 laptops[2].log_text(), laptops[2].list_sas_pretty()[-300:])
    status = gw.status()
    ike = [sa for c in status.get("connections") or [] if c.get("name") == "point-to-site" for sa in c.get("ikeSAs") or []]
    checks.check("gateway-keeps-two-ike-sas", len(ike) == 2, f"{[(sa.get('state'), sa.get('clientIdentity')) for sa in ike]}")
    p2s = status.get("pointToSite") or {}
    checks.check("pool-full-in-status", p2s.get("size") == 2 and p2s.get("inUse") == 2 and len(clients(status)) == 2,
                 f"{p2s}")
    r = lab.laptops[0].ping(VM, count=2, interval=0.2)
    checks.check("first-clients-still-pass-traffic", r.returncode == 0, ping_problem(r))
    checks.check("gateway-alive", gw.alive and not gw.crashed(), gw.log_tail(5))
