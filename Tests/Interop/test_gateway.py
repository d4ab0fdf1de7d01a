"""The gateway plumbs itself and serves many sites.

`self-plumbing`: two Isthmus gateways in the two-site topology (harness.sites, no TUN made by the test) run
`isthmus run` without --tun: each creates its interface (ist-<remote site>) with the planned MTU and a route
(proto 73) to the far site; the office host pings the VM; `status` shows the data path up; `down` keeps the
route (traffic fails closed) and `up` brings the tunnel back; SIGTERM removes the interface and the route;
after SIGKILL nothing is left either, and a new start comes up clean.

`data-path-conflicts`: an interface name and a route taken by others are that connection's errors only, and a
reload plumbs what was missing once they are gone.

`hub`: one cloud gateway, four branches behind a bridge that plays the internet (two Isthmus route-based
branches, both with 0.0.0.0/0 traffic selectors, a strongSwan IKEv2 branch and a strongSwan IKEv1 policy-based
one): each branch host and the VM ping each other at the same time, each branch's WAN capture shows only its
own traffic, while each branch host also runs iperf3 to the VM; and a reload that removes one branch leaves
the others' SAs and pings alone."""
import signal
import threading
import time

from harness import prereq
from harness.config import EXAMPLES, WAIT
from harness.gateway import data_path, error_lines, links, our_routes, routes, self_plumbed_pair
from harness.isthmus import child_sas
from harness.sites import CLOUD_PUBLIC, OFFICE_HOST, VM
from harness.traffic import iperf3, iperf_mbps, ping_counts, ping_problem, stop_ping


def test_self_plumbing(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    checks.check("underlay-ping", sites.ofc.ping(CLOUD_PUBLIC).returncode == 0, "gateways cannot reach each other")
    office, cloud, configs = self_plumbed_pair(scene, sites, checks)

    # Interfaces and routes, made by the gateways themselves.
    for ns, gw, conn, iface, prefix in ((sites.ofc, office, "office-cloud", "ist-cloud", "10.0.1.0/24"),
                                       (sites.cld, cloud, "cloud-office", "ist-office", "192.168.1.0/24")):
        link = links(ns).get(iface)
        checks.check(f"{gw.name}-interface-created", link is not None and "UP" in (link.get("flags") or []),
                     f"links: {sorted(links(ns))}")
        # aes256gcm16 or aes256-sha256 within 1500: 1500 - 28 - (8 + 16 + 15 + 2 + 16) = 1415
        checks.check(f"{gw.name}-interface-mtu", link is not None and link.get("mtu") == 1415,
                     f"mtu {link and link.get('mtu')}", detail=f"mtu {link and link.get('mtu')}")
        checks.check(f"{gw.name}-route-installed", (prefix, iface) in our_routes(ns), f"routes: {routes(ns)}")
        dp = data_path(gw.status(), conn)
        checks.check(f"{gw.name}-status-data-path-up",
                     dp.get("state") == "up" and dp.get("interface") == iface and dp.get("routes") == [prefix],
                     f"dataPath {dp}")
    r = sites.oh.ping(VM, count=5, interval=0.2)
    checks.check("ping-office-host-to-vm", r.returncode == 0, ping_problem(r), detail=f"{ping_counts(r.stdout)[1]} received")
    r = sites.vm.ping(OFFICE_HOST, count=3, interval=0.2)
    checks.check("ping-vm-to-office-host", r.returncode == 0, ping_problem(r))

    # `down` keeps the interface and the route: the office's traffic for the cloud fails closed (dropped by the
    # data plane, not sent elsewhere); `up` brings the tunnel back into them.
    r = office.down("office-cloud")
    checks.check("down-exit-0", r.returncode == 0, (r.stdout + r.stderr).strip()[:200])
    office.wait_for(lambda s: not child_sas(s), timeout=10)
    checks.check("down-keeps-the-route", ("10.0.1.0/24", "ist-cloud") in our_routes(sites.ofc),
                 f"routes: {our_routes(sites.ofc)}")
    r = sites.oh.ping(VM, count=2, interval=0.2, wait=1)
    checks.check("down-traffic-fails-closed", r.returncode != 0, "the office host still reached the VM")
    r = office.up("office-cloud")
    checks.check("up-exit-0", r.returncode == 0, (r.stdout + r.stderr).strip()[:200])
    checks.check("up-child-sa", bool(office.wait_child_sa()), "no CHILD SA after up")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("up-ping-office-host-to-vm", r.returncode == 0, ping_problem(r))

    # SIGTERM: interface and route gone with the gateway.
    checks.check("office-sigterm-exit-0", office.stop(signal.SIGTERM, timeout=10) == 0, "exit status not 0")
    checks.check("office-interface-removed", "ist-cloud" not in links(sites.ofc), f"links: {sorted(links(sites.ofc))}")
    checks.check("office-routes-removed", our_routes(sites.ofc) == [], f"routes: {our_routes(sites.ofc)}")

    # SIGKILL: the kernel removes the TUN and its routes; a new start finds nothing in its way.
    cloud.stop(signal.SIGKILL, timeout=5)
    checks.check("cloud-killed-interface-gone", "ist-office" not in links(sites.cld), f"links: {sorted(links(sites.cld))}")
    checks.check("cloud-killed-routes-gone", our_routes(sites.cld) == [], f"routes: {our_routes(sites.cld)}")
    cloud2 = scene.isthmus(sites.cld, configs["cloud"], name="cloud-again", passive=True, wait=True)
    office2 = scene.isthmus(sites.ofc, configs["office"], name="office-again", wait=True)
    ok = office2.wait_child_sa() and cloud2.wait_child_sa()
    checks.check("restart-child-sa-established", bool(ok), f"no CHILD SA within {WAIT}s")
    checks.check("restart-route-installed", ("192.168.1.0/24", "ist-office") in our_routes(sites.cld),
                 f"routes: {our_routes(sites.cld)}")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("restart-ping-office-host-to-vm", r.returncode == 0, ping_problem(r))
    errors = error_lines(cloud2) + error_lines(office2)
    checks.check("restart-no-error-lines", not errors, " | ".join(errors[:3]))


def test_data_path_conflicts(scene, checks, isthmus_bin):
    """Bad input at run time: the office's interface name is taken by another interface, the cloud's route is
    taken by someone else's. Each is that connection's data-path error (status, event), the gateways and their
    IKE SAs run on, and once the conflict is gone `isthmus reload` plumbs what was missing."""
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    sites.ofc.ip("link", "add", "ist-cloud", "type", "veth", "peer", "name", "ist-cloud-peer")
    sites.cld.route("192.168.1.0/24", "dev", "lan0")
    configs = {side: scene.write(f"{side}.yaml", (EXAMPLES / f"{side}-dynamic.yaml").read_text())
               for side in ("office", "cloud")}
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, configs["office"], name="office", wait=False)
    ok = office.wait_child_sa() and cloud.wait_child_sa()
    checks.check("ike-and-child-sa-despite-the-data-path", bool(ok), f"no CHILD SA within {WAIT}s")
    for gw, conn, want in ((office, "office-cloud", "name is taken"), (cloud, "cloud-office", "exists already")):
        dp = data_path(gw.status(), conn)
        checks.check(f"{gw.name}-data-path-error", dp.get("state") == "error" and want in (dp.get("error") or ""),
                     f"dataPath {dp}", detail=dp.get("error", ""))
        failed = [e for e in (gw.events().get("events") or []) if e.get("kind") == "data-path-failed"]
        checks.check(f"{gw.name}-data-path-failed-event", bool(failed) and failed[0].get("severity") == "error",
                     f"events: {failed[:1]}")
    checks.check("cloud-foreign-route-untouched", any(r.get("dst") == "192.168.1.0/24" and r.get("dev") == "lan0"
                                                      for r in routes(sites.cld)), f"routes: {routes(sites.cld)}")

    # The conflicts go; a reload plumbs what was missing.
    sites.ofc.ip("link", "del", "ist-cloud")
    sites.cld.ip("route", "del", "192.168.1.0/24", "dev", "lan0")
    for gw, conn in ((office, "office-cloud"), (cloud, "cloud-office")):
        r = gw.reload()
        checks.check(f"{gw.name}-reload", r.returncode == 0, (r.stdout + r.stderr).strip()[:200])
        dp = data_path(gw.status(), conn)
        checks.check(f"{gw.name}-data-path-up-after-reload", dp.get("state") == "up", f"dataPath {dp}")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("ping-after-the-conflicts-went", r.returncode == 0, ping_problem(r))


HUB_PUBLIC = "203.0.113.20"
KEY = "isthmus-hub-test-key-0123456789abcdef"
HUB_CONFIG = f"""gateway: {{{{name: hub, kind: dynamic, public_address: {HUB_PUBLIC}}}}}
virtual_network:
  name: vnet
  address_spaces: [10.0.1.0/24, 10.0.2.0/24]
  subnets:
    - {{{{name: vms, prefix: 10.0.1.0/24}}}}
    - {{{{name: GatewaySubnet, prefix: 10.0.2.0/24}}}}
  gateway_subnet: GatewaySubnet
local_networks:
{{networks}}
connections:
{{connections}}
"""
def branch_config(n):
    return (f"gateway: {{name: branch{n}, kind: dynamic, public_address: 198.51.100.1{n}}}\n"
            f"site: {{prefixes: [192.168.{n}.0/24]}}\n"
            "local_networks:\n"
            f"  - {{name: hub, gateway_address: {HUB_PUBLIC}, prefixes: [10.0.1.0/24]}}\n"
            "connections:\n"
            f"  - {{name: branch{n}-hub, local_network: hub, shared_key: {KEY}, "
            "ike: aes128gcm16-prfsha256-ecp256, esp: aes128gcm16}\n")


ISTHMUS_BRANCHES, SWAN_V2, SWAN_V1 = (1, 2), 3, 4


def hub_config(branches):
    """The hub's YAML: route-based IKEv2 connections to branches 1 to 3, a policy-based IKEv1 one to branch 4."""
    networks = "\n".join(f"  - {{name: branch{n}, gateway_address: 198.51.100.1{n}, prefixes: [192.168.{n}.0/24]}}"
                         for n in branches)
    connections = []
    for n in branches:
        if n == SWAN_V1:
            connections.append(f"  - {{name: hub-branch{n}, local_network: branch{n}, kind: static, ike_version: 1, "
                               f"shared_key: {KEY}, ike: aes128-sha256-modp2048, esp: aes128-sha256}}")
        else:
            connections.append(f"  - {{name: hub-branch{n}, local_network: branch{n}, shared_key: {KEY}, "
                               "ike: aes128gcm16-prfsha256-ecp256, esp: aes128gcm16}")
    return HUB_CONFIG.format(networks=networks, connections="\n".join(connections))


def swanctl_branch(n):
    """strongSwan on branch N: IKEv2 (route-based from the hub's side) or IKEv1 policy-based, its site only."""
    v1 = n == SWAN_V1
    return f"""connections {{
    hub {{
        version = {1 if v1 else 2}
        local_addrs = 198.51.100.1{n}
        remote_addrs = {HUB_PUBLIC}
        proposals = {"aes128-sha256-modp2048" if v1 else "aes128gcm16-prfsha256-ecp256"}
        local {{
            auth = psk
            id = 198.51.100.1{n}
        }}
        remote {{
            auth = psk
            id = {HUB_PUBLIC}
        }}
        children {{
            net {{
                local_ts = 192.168.{n}.0/24
                remote_ts = 10.0.1.0/24
                esp_proposals = {"aes128-sha256" if v1 else "aes128gcm16"}
            }}
        }}
    }}
}}
secrets {{
    ike-hub {{
        id-a = 198.51.100.1{n}
        id-b = {HUB_PUBLIC}
        secret = "{KEY}"
    }}
}}
"""


def test_hub(scene, checks, isthmus_bin):
    """One cloud gateway and four branches behind a bridge (the internet): two Isthmus route-based branches
    (both 0.0.0.0/0), a strongSwan IKEv2 branch and a strongSwan IKEv1 policy-based branch:

      PREFIX-hN 192.168.N.10 -- 192.168.N.1 PREFIX-bN 198.51.100.1N --br0 (PREFIX-net)-- 203.0.113.20 PREFIX-hub
      10.0.1.1 -- 10.0.1.4 PREFIX-vm"""
    prereq.require(checks, tools=["ip", "ping", "tcpdump", "swanctl", "iperf3"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    all_branches = (*ISTHMUS_BRANCHES, SWAN_V2, SWAN_V1)
    net, hub, vm = scene.namespace("net"), scene.namespace("hub"), scene.namespace("vm")
    net.ip("link", "add", "br0", "type", "bridge")
    net.up("br0")
    scene.veth(hub, "wan0", net, "p0")
    scene.veth(hub, "lan0", vm, "vm0")
    hub.addr(f"{HUB_PUBLIC}/24", "wan0"); hub.up("wan0"); hub.route("198.51.100.0/24", "dev", "wan0")
    hub.addr("10.0.1.1/24", "lan0"); hub.up("lan0")
    vm.addr("10.0.1.4/24", "vm0"); vm.up("vm0"); vm.route("default", "via", "10.0.1.1")
    branches, hosts = {}, {}
    for n in all_branches:
        b, h = scene.namespace(f"b{n}"), scene.namespace(f"h{n}")
        scene.veth(b, "wan0", net, f"p{n}")
        scene.veth(b, "lan0", h, "h0")
        b.addr(f"198.51.100.1{n}/24", "wan0"); b.up("wan0"); b.route("203.0.113.0/24", "dev", "wan0")
        b.addr(f"192.168.{n}.1/24", "lan0"); b.up("lan0")
        h.addr(f"192.168.{n}.10/24", "h0"); h.up("h0"); h.route("default", "via", f"192.168.{n}.1")
        branches[n], hosts[n] = b, h
    for n in (0, *all_branches):
        net.ip("link", "set", f"p{n}", "master", "br0")
        net.up(f"p{n}")
    for gw in (hub, *branches.values()):
        gw.sysctl("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
    checks.ok("topology")
    captures = {n: scene.capture(branches[n], "wan0", name=f"wan-b{n}", bpf="esp or udp port 4500 or udp port 500")
                for n in all_branches}

    hub_gw = scene.isthmus(hub, hub_config(all_branches), name="hub", passive=True)
    gws = {n: scene.isthmus(branches[n], branch_config(n), name=f"branch{n}", wait=False) for n in ISTHMUS_BRANCHES}
    swans = {}
    for n in (SWAN_V2, SWAN_V1):
        swans[n] = scene.strongswan(branches[n], name=f"charon{n}")
        r = swans[n].load(swanctl_branch(n))
        checks.check(f"branch{n}-strongswan-loads", r.returncode == 0, (r.stdout + r.stderr)[-300:])
        r = swans[n].initiate("net", ike="hub")
        checks.check(f"branch{n}-strongswan-initiates", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    up = all(gws[n].wait_child_sa() for n in ISTHMUS_BRANCHES) \
        and all(swans[n].wait_ready("hub") for n in swans) \
        and hub_gw.wait_for(lambda s: len({c.get("connection") for c in s.get("childSAs") or []}) >= 4)
    if not up:
        hub_gw.dump_log(); gws[1].dump_log(); gws[2].dump_log()
        checks.abort("child-sas-established", f"not every branch has a CHILD SA within {WAIT}s")
    checks.ok("child-sas-established")
    for n in all_branches:
        iface = "ist-hub" if n == SWAN_V1 else f"ist-branch{n}"
        checks.check(f"hub-route-branch{n}", (f"192.168.{n}.0/24", iface) in our_routes(hub),
                     f"routes: {our_routes(hub)}")

    # Everyone at once: each branch host pings the VM and the VM each branch host, while every branch host
    # runs iperf3 to the VM (a port each).
    pings = {f"h{n}-to-vm": scene.start(["ping", "-i", "0.1", "-c", "30", "-W", "1", "10.0.1.4"], f"ping-h{n}",
                                        ns=hosts[n]) for n in all_branches}
    pings.update({f"vm-to-h{n}": scene.start(["ping", "-i", "0.1", "-c", "30", "-W", "1", f"192.168.{n}.10"],
                                             f"ping-vm-h{n}", ns=vm) for n in all_branches})
    reports = {}
    streams = [threading.Thread(target=lambda n=n: reports.__setitem__(
        n, iperf3(scene, vm, hosts[n], "10.0.1.4", 5210 + n, 3, name=f"iperf-h{n}"))) for n in all_branches]
    for stream in streams:
        stream.start()
    for stream in streams:
        stream.join(60)
    time.sleep(1)
    for name, p in pings.items():
        p.wait(10)
        sent, received = ping_counts(stop_ping(p))
        checks.check(f"ping-{name}", received > 0 and received >= sent - 1, f"{received}/{sent} received",
                     detail=f"{received}/{sent}")
    for n in all_branches:
        mbps = iperf_mbps(reports.get(n) or {})
        checks.check(f"iperf3-h{n}-to-vm", mbps > 0, str((reports.get(n) or {}).get("error") or "no result")[:200],
                     detail=f"{mbps} Mbit/s")

    # Each branch's WAN carries its own ESP only.
    for cap in captures.values():
        cap.stop()
    for n in all_branches:
        others = {f"198.51.100.1{m}" for m in all_branches if m != n}
        packets = captures[n].ipv4_packets()
        esp = [p for p in packets if p[3] == 50 or (p[3] == 17 and len(p[4]) > 12 and p[4][8:12] != b"\0\0\0\0")]
        strangers = [p for p in packets if others & {p[1], p[2]}]
        checks.check(f"branch{n}-wan-carries-its-own-esp", esp and not strangers,
                     f"{len(esp)} ESP packets, {len(strangers)} to or from other branches",
                     detail=f"{len(esp)} ESP packets, none of the other branches'")

    # Reload without branch 2: the other branches keep their SAs and their pings.
    def spis(status, n):
        return sorted(c.get("inboundSPI") for c in child_sas(status) if c.get("connection") == f"hub-branch{n}")
    kept = [n for n in all_branches if n != 2]
    before = {n: spis(hub_gw.status(), n) for n in kept}
    # 40 pings over 4 s, the reload after 1 s; each ping runs to its end (an interrupted ping counts the
    # request still in flight as lost).
    pingers = {n: scene.start(["ping", "-i", "0.1", "-c", "40", "-W", "2", "10.0.1.4"], f"ping-during-reload-{n}",
                              ns=hosts[n]) for n in kept}
    time.sleep(1)
    hub_gw.config.write_text(hub_config(kept))
    r = hub_gw.reload()
    checks.check("reload-removes-branch2", r.returncode == 0, (r.stdout + r.stderr).strip()[:200])
    for n, pinger in pingers.items():
        pinger.wait(15)
        sent, received = ping_counts(pinger.output())
        checks.check(f"reload-branch{n}-loses-no-ping", sent > 0 and received == sent, f"{received}/{sent} received",
                     detail=f"{received}/{sent}")
    s = hub_gw.status()
    for n in kept:
        after = spis(s, n)
        checks.check(f"reload-branch{n}-keeps-its-sas", before[n] and before[n] == after, f"{before[n]} -> {after}")
    checks.check("reload-branch2-interface-removed", "ist-branch2" not in links(hub), f"links: {sorted(links(hub))}")
    checks.check("reload-branch2-route-removed", ("192.168.2.0/24", "ist-branch2") not in our_routes(hub),
                 f"routes: {our_routes(hub)}")
    checks.check("reload-branch1-interface-kept", "ist-branch1" in links(hub), f"links: {sorted(links(hub))}")
