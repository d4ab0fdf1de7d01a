"""Remote gateways that are not at a fixed address: named by DNS (`gateway_address: NAME`, names from a hosts
file per namespace) and anywhere behind a NAT (`gateway_address: any`, recognised by its IKE identity)."""
import shutil
import signal
import time
from pathlib import Path

from harness import prereq, proc
from harness.config import EXAMPLES, WAIT
from harness.isthmus import child_sas
from harness.sites import CLOUD_PUBLIC, VM
from harness.traffic import ping_problem


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
