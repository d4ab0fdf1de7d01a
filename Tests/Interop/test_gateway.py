"""The gateway plumbs itself (issue: a gateway that plumbs itself and serves many sites).

`self-plumbing`: two Isthmus gateways in the two-site topology (harness.sites, no TUN made by the test) run
`isthmus run` without --tun: each creates its interface (ist-<remote site>) with the planned MTU and a route
(proto 73) to the far site; the office host pings the VM; `status` shows the data path up; SIGTERM removes the
interface and the route; after SIGKILL nothing is left either, and a new start comes up clean.

`hub`: one cloud gateway, four branches behind a bridge that plays the internet (two Isthmus route-based
branches, both with 0.0.0.0/0 traffic selectors, a strongSwan IKEv2 branch and a strongSwan IKEv1 policy-based
one): each branch host and the VM ping each other at the same time, each branch's WAN capture shows only its
own traffic, and a reload that removes one branch leaves the others' SAs and pings alone.

`seed-acls`: the seed's endpoint ACLs on the wire (see test_seed_acls)."""
import json
import shutil
import signal
import time
from pathlib import Path

from harness import prereq, proc
from harness.config import EXAMPLES, WAIT
from harness.isthmus import child_sas
from harness.sites import CLOUD_PUBLIC, OFFICE_HOST, VM
from harness.traffic import ping_counts, ping_lost, ping_problem, stop_ping

ROUTE_PROTO = 73


def links(ns):
    r = ns.run(["ip", "-j", "link", "show"])
    return {l["ifname"]: l for l in json.loads(r.stdout or "[]")} if r.returncode == 0 else {}


def routes(ns):
    r = ns.run(["ip", "-j", "route", "show", "table", "main"])
    return json.loads(r.stdout or "[]") if r.returncode == 0 else []


def our_routes(ns):
    """Routes marked proto 73 as (destination, device)."""
    return sorted((r.get("dst"), r.get("dev")) for r in routes(ns) if str(r.get("protocol")) in (str(ROUTE_PROTO), "isthmus"))


def data_path(status, connection):
    for c in status.get("connections") or []:
        if c.get("name") == connection:
            return c.get("dataPath") or {}
    return {}


def error_lines(gw):
    return [l for l in gw.log_text().splitlines() if " error " in f" {l.lower()} " or "level=error" in l]


def test_self_plumbing(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    checks.check("underlay-ping", sites.ofc.ping(CLOUD_PUBLIC).returncode == 0, "gateways cannot reach each other")
    configs = {side: scene.write(f"{side}.yaml", (EXAMPLES / f"{side}-dynamic.yaml").read_text())
               for side in ("office", "cloud")}
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, configs["office"], name="office", wait=False)
    if not (office.wait_child_sa() and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT}s")
    checks.ok("child-sa-established")

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
    prereq.require(checks, tools=["ip", "ping", "tcpdump", "swanctl"], isthmus=isthmus_bin, tun=True,
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

    # Everyone pings at once: each branch host to the VM and the VM to each branch host.
    pings = {f"h{n}-to-vm": scene.start(["ping", "-i", "0.1", "-c", "30", "-W", "1", "10.0.1.4"], f"ping-h{n}",
                                        ns=hosts[n]) for n in all_branches}
    pings.update({f"vm-to-h{n}": scene.start(["ping", "-i", "0.1", "-c", "30", "-W", "1", f"192.168.{n}.10"],
                                             f"ping-vm-h{n}", ns=vm) for n in all_branches})
    time.sleep(4)
    for name, p in pings.items():
        out = stop_ping(p)
        sent, received = ping_counts(out)
        checks.check(f"ping-{name}", received > 0 and received >= sent - 1, f"{received}/{sent} received",
                     detail=f"{received}/{sent}")

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


SERVER = """
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"hello from %d\\n" % port); c.close()
for p in (22, 443):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
threading.Event().wait()
"""


def tcp_hello(ns, source, address, port, timeout=3):
    """Connects from SOURCE to ADDRESS:PORT inside NS and returns what the server said ('' when it could not)."""
    code = ("import socket,sys\n"
            f"s=socket.socket(); s.settimeout({timeout}); s.bind(('{source}', 0))\n"
            f"try:\n s.connect(('{address}', {port})); print(s.recv(100).decode().strip())\n"
            "except OSError as e:\n print('')")
    r = ns.run(["python3", "-c", code], timeout=timeout + 10)
    return r.stdout.strip()


def acl_hits(status, endpoint, rule):
    for row in status.get("acl") or []:
        if row.get("endpoint") == endpoint and row.get("rule") == rule:
            return row.get("hits", 0)
    return None


def test_seed_acls(scene, checks, isthmus_bin):
    """The seed's endpoint ACLs (examples/cloud.yaml, static gateways as examples/office.yaml): the admin
    workstation 192.168.1.10 reaches the VM's TCP 22, 192.168.1.11 does not and reaches 443; counters and
    events show both decisions."""
    prereq.require(checks, tools=["ip", "ping", "python3"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    sites.oh.addr("192.168.1.11/24", "oh0")
    scene.start(["python3", "-c", SERVER], "vm-servers", ns=sites.vm)
    cloud = scene.isthmus(sites.cld, EXAMPLES / "cloud.yaml", name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, EXAMPLES / "office.yaml", name="office", wait=False)
    if not (office.wait_child_sa() and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT}s")
    checks.ok("child-sa-established")
    time.sleep(0.5)
    said = tcp_hello(sites.oh, "192.168.1.10", VM, 22)
    checks.check("admin-workstation-reaches-ssh", said == "hello from 22", f"got {said!r}")
    said = tcp_hello(sites.oh, "192.168.1.11", VM, 22)
    checks.check("other-office-host-denied-ssh", said == "", f"got {said!r}")
    said = tcp_hello(sites.oh, "192.168.1.11", VM, 443)
    checks.check("other-office-host-reaches-https", said == "hello from 443", f"got {said!r}")
    r = sites.oh.ping(VM, count=2, interval=0.2)
    checks.check("unlisted-ping-passes", r.returncode == 0, ping_problem(r))

    s = cloud.wait_for(lambda s: (acl_hits(s, "vm-ssh", "2") or 0) >= 1 and (acl_hits(s, "vm-web", "1") or 0) >= 1,
                       timeout=5) or cloud.status()
    permit, deny, web = acl_hits(s, "vm-ssh", "1"), acl_hits(s, "vm-ssh", "2"), acl_hits(s, "vm-web", "1")
    checks.check("status-counts-both-decisions", (permit or 0) >= 1 and (deny or 0) >= 1 and (web or 0) >= 1,
                 f"vm-ssh rule 1 {permit}, rule 2 {deny}, vm-web rule 1 {web}",
                 detail=f"vm-ssh permit {permit}, deny {deny}; vm-web permit {web}")
    denials = [e for e in (cloud.events().get("events") or []) if e.get("kind") == "acl-denied"]
    named = [e for e in denials if (e.get("details") or {}).get("endpoint") == "vm-ssh"
             and (e.get("details") or {}).get("source") == "192.168.1.11"
             and (e.get("details") or {}).get("rule") == "2"]
    checks.check("denial-event-names-rule-and-source", bool(named), f"{len(denials)} acl-denied events: {denials[:1]}",
                 detail=(named[0].get("message") if named else ""))
    checks.check("denial-event-under-the-connection", bool(named) and named[0].get("connection") == "cloud-office",
                 f"connection {named[0].get('connection') if named else None}")


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


def hosts_file(scene, ns, lines):
    """/etc/netns/NS/hosts and resolv.conf (`ip netns exec` mounts them over /etc's for processes in NS): LINES
    as the namespace's hosts file, and a resolver on the namespace's own loopback, where nothing answers, so no
    query ever leaves the namespace. Removed at teardown."""
    folder = Path("/etc/netns") / ns.name
    folder.mkdir(parents=True, exist_ok=True)
    scene.on_teardown(lambda: shutil.rmtree(folder, ignore_errors=True))
    (folder / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    path = folder / "hosts"
    path.write_text("127.0.0.1 localhost\n" + "".join(f"{line}\n" for line in lines))
    return path


def test_peer_by_name(scene, checks, isthmus_bin):
    """`gateway_address` as a DNS name (names from a hosts file per namespace): the office finds the cloud by
    name, a name that does not resolve is a `peer-unresolved` error for its connection only, and when the cloud
    moves to another address the office's next attempt (after DPD) resolves the name again and follows it."""
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    office_hosts = hosts_file(scene, sites.ofc, [f"{CLOUD_PUBLIC} cloud.example.test"])
    hosts_file(scene, sites.cld, ["198.51.100.10 office.example.test"])
    office_yaml = (EXAMPLES / "office-dynamic.yaml").read_text() \
        .replace("gateway_address: 203.0.113.20", "gateway_address: cloud.example.test") \
        .replace("dpd: {interval: 30s, timeout: 150s, action: restart}", "dpd: {interval: 2s, timeout: 6s, action: restart}")
    office_yaml = office_yaml.replace("local_networks:\n", "local_networks:\n  - name: branch\n"
                                      "    gateway_address: branch.nowhere.test\n    prefixes: [172.16.0.0/24]\n", 1)
    office_yaml += ("  - name: office-branch\n    local_network: branch\n    ike_version: 2\n"
                    "    shared_key: isthmus-demo-key-change-me-0123456789\n")
    cloud_yaml = (EXAMPLES / "cloud-dynamic.yaml").read_text() \
        .replace("gateway_address: 198.51.100.10", "gateway_address: office.example.test")
    for name, text in (("office", office_yaml), ("cloud", cloud_yaml)):
        path = scene.write(f"{name}.yaml", text)
        r = scene.run([isthmus_bin, "check", path])
        checks.require(f"{name}-config-checks", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    cloud = scene.isthmus(sites.cld, scene.path("cloud.yaml"), name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, scene.path("office.yaml"), name="office", wait=False)
    ok = office.wait_child_sa() and cloud.wait_child_sa()
    checks.require("child-sa-established-by-name", bool(ok), f"no CHILD SA within {WAIT}s: {office.log_tail(5)}")
    s = office.status()
    remote = next((c.get("remoteAddress") for c in s.get("connections") or [] if c.get("name") == "office-cloud"), None)
    checks.check("status-shows-the-resolved-address", remote == CLOUD_PUBLIC, f"remoteAddress {remote}")
    events = office.events().get("events") or []
    resolved = [e for e in events if e.get("kind") == "peer-resolved" and e.get("connection") == "office-cloud"]
    checks.check("peer-resolved-event", bool(resolved), f"{len(events)} events", detail=resolved[0]["message"] if resolved else "")
    unresolved = [e for e in events if e.get("kind") == "peer-unresolved" and e.get("connection") == "office-branch"]
    checks.check("unresolvable-name-is-its-connections-error", bool(unresolved) and unresolved[0].get("severity") == "error",
                 f"events: {[e.get('kind') for e in events]}", detail=unresolved[0]["message"] if unresolved else "")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("ping-office-host-to-vm", r.returncode == 0, ping_problem(r))

    # The cloud moves to 203.0.113.21; its name follows; the office's DPD gives up and its next attempt goes
    # to the new address.
    cloud.stop(signal.SIGKILL, timeout=5)
    sites.cld.ip("addr", "del", f"{CLOUD_PUBLIC}/24", "dev", "wan0")
    sites.cld.addr("203.0.113.21/24", "wan0")
    sites.cld.ip("route", "replace", "198.51.100.0/24", "dev", "wan0")  # gone with the old address
    scene.write("cloud-moved.yaml", cloud_yaml.replace(f"public_address: {CLOUD_PUBLIC}", "public_address: 203.0.113.21"))
    office_hosts.write_text("127.0.0.1 localhost\n203.0.113.21 cloud.example.test\n")
    cloud2 = scene.isthmus(sites.cld, scene.path("cloud-moved.yaml"), name="cloud-moved", passive=True)
    back = office.wait_for(lambda s: any(c.get("remote", "").startswith("203.0.113.21") for c in child_sas(s)), timeout=60)
    checks.check("office-follows-the-name-to-the-new-address", bool(back),
                 f"no CHILD SA to 203.0.113.21 within 60 s: {office.log_tail(5)}")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("ping-after-the-move", r.returncode == 0, ping_problem(r))


NAT_RULES = """table ip istnat {
    chain post {
        type nat hook postrouting priority 100;
        oifname "wan0" masquerade
    }
}
"""


def test_office_behind_nat(scene, checks, isthmus_bin):
    """The seed's office behind a real NAT (nftables masquerade in a router namespace) on a changing public
    address: the cloud knows it only as `gateway_address: any` and the FQDN identity office.example.test. The
    tunnel comes up through the NAT (ESP in UDP 4500); the NAT's public address changes mid-test; traffic is
    back within the DPD interval, with one IKE SA left on each side.

      PREFIX-oh 192.168.1.10 -- 192.168.1.1 PREFIX-ofc 192.168.100.2 -- 192.168.100.1 PREFIX-nat 198.51.100.10
      -- 203.0.113.20 PREFIX-cld 10.0.1.1 -- 10.0.1.4 PREFIX-vm"""
    prereq.require(checks, tools=["ip", "ping", "nft"], isthmus=isthmus_bin, tun=True)
    oh, ofc, nat, cld, vm = (scene.namespace(n) for n in ("oh", "ofc", "nat", "cld", "vm"))
    scene.veth(oh, "oh0", ofc, "lan0")
    scene.veth(ofc, "wan0", nat, "lan0")
    scene.veth(nat, "wan0", cld, "wan0")
    scene.veth(cld, "lan0", vm, "vm0")
    oh.addr("192.168.1.10/24", "oh0"); oh.up("oh0"); oh.route("default", "via", "192.168.1.1")
    ofc.addr("192.168.1.1/24", "lan0"); ofc.up("lan0")
    ofc.addr("192.168.100.2/24", "wan0"); ofc.up("wan0"); ofc.route("default", "via", "192.168.100.1")
    nat.addr("192.168.100.1/24", "lan0"); nat.up("lan0")
    nat.addr("198.51.100.10/24", "wan0"); nat.up("wan0"); nat.route("203.0.113.0/24", "dev", "wan0")
    cld.addr(f"{CLOUD_PUBLIC}/24", "wan0"); cld.up("wan0"); cld.route("198.51.100.0/24", "dev", "wan0")
    cld.addr("10.0.1.1/24", "lan0"); cld.up("lan0")
    vm.addr(f"{VM}/24", "vm0"); vm.up("vm0"); vm.route("default", "via", "10.0.1.1")
    for gw in (ofc, nat, cld):
        gw.sysctl("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
    r = nat.run(["nft", "-f", "-"], input=NAT_RULES, timeout=20)
    checks.require("nat-masquerade", r.returncode == 0, (r.stderr or r.stdout)[:200])
    checks.require("underlay-through-the-nat", ofc.ping(CLOUD_PUBLIC).returncode == 0, "office cannot reach the cloud")

    office_yaml = (EXAMPLES / "office-dynamic.yaml").read_text() \
        .replace("public_address: 198.51.100.10", "public_address: 192.168.100.2") \
        .replace("dpd: {interval: 30s, timeout: 150s, action: restart}", "dpd: {interval: 2s, timeout: 6s, action: restart}\n"
                 "    local_id: office.example.test")
    cloud_yaml = (EXAMPLES / "cloud-dynamic.yaml").read_text() \
        .replace("gateway_address: 198.51.100.10", "gateway_address: any") \
        .replace("dpd: {interval: 30s, timeout: 150s, action: restart}", "dpd: {interval: 2s, timeout: 6s, action: clear}\n"
                 "    remote_id: office.example.test")
    for name, text in (("office", office_yaml), ("cloud", cloud_yaml)):
        path = scene.write(f"{name}.yaml", text)
        r = scene.run([isthmus_bin, "check", path])
        checks.require(f"{name}-config-checks", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    cloud = scene.isthmus(cld, scene.path("cloud.yaml"), name="cloud")
    office = scene.isthmus(ofc, scene.path("office.yaml"), name="office", wait=False)
    ok = office.wait_child_sa() and cloud.wait_child_sa()
    checks.require("child-sa-through-the-nat", bool(ok), f"no CHILD SA within {WAIT}s: {cloud.log_tail(5)}")
    sa = (child_sas(cloud.status()) or [{}])[0]
    checks.check("esp-in-udp-through-the-nat", sa.get("udpEncapsulated") is True and
                 sa.get("remote", "").startswith("198.51.100.10:"), f"cloud's CHILD SA {sa}")
    r = oh.ping(VM, count=3, interval=0.2)
    checks.check("ping-through-the-nat", r.returncode == 0, ping_problem(r))

    ike_before = [s.get("localSPI") for s in (cloud.status().get("connections") or [{}])[0].get("ikeSAs") or []]

    # The NAT's public address changes (its mappings go with the old address).
    nat.ip("addr", "del", "198.51.100.10/24", "dev", "wan0")
    nat.addr("198.51.100.11/24", "wan0")
    nat.ip("route", "replace", "203.0.113.0/24", "dev", "wan0")
    t0 = time.monotonic()
    back = proc.wait_for(lambda: oh.ping(VM, count=1, wait=1).returncode == 0, 30, interval=0.5)
    took = time.monotonic() - t0
    checks.check("traffic-back-within-the-dpd-interval", bool(back) and took <= 6 + 2,
                 f"{'back' if back else 'not back'} after {took:.1f} s (DPD 2 s / 6 s)", detail=f"{took:.1f} s")
    time.sleep(1)
    ike_office = [s for s in (office.status().get("connections") or [{}])[0].get("ikeSAs") or []]
    ike_cloud = [s for s in (cloud.status().get("connections") or [{}])[0].get("ikeSAs") or []]
    checks.check("one-ike-sa-on-each-side", len(ike_office) == 1 and len(ike_cloud) == 1,
                 f"office {len(ike_office)}, cloud {len(ike_cloud)} IKE SAs")
    checks.check("the-same-ike-sa-followed", [s.get("localSPI") for s in ike_cloud] == ike_before,
                 f"cloud's IKE SA {ike_before} -> {[s.get('localSPI') for s in ike_cloud]} (replaced, not followed)")
    sa = (child_sas(cloud.status()) or [{}])[-1]
    checks.check("cloud-follows-the-new-address", sa.get("remote", "").startswith("198.51.100.11:"),
                 f"cloud's CHILD SA {sa}")
