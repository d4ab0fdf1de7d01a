"""BGP over route-based tunnels: two Isthmus gateways run their BGP sessions with BIRD.

`two-sites`: the office and the cloud of examples/office-bgp.yaml and cloud-bgp.yaml in the two-site topology
(harness.sites, no TUN made by the test). Each gateway gives its interface the inner address, starts BIRD on a
configuration written from its YAML, and learns the other's prefixes over the tunnel: the kernel routes come from
BIRD (proto bird), none of ours (proto 73); `status` shows the session Established with its counts; the office
host and the VM ping each other. Then:
- a prefix added on the office (its YAML and `isthmus reload`, nothing on the cloud) is reachable from the VM
  within 10 s; a prefix outside the cloud's accept list is refused (`bgp-prefix-refused`, counted in `status`);
  the reload keeps the tunnel (same CHILD SA);
- BIRD killed with SIGKILL: `routing-daemon-failed`, started again, the session and the routes come back, the
  tunnel is untouched;
- a wrong peer ASN (office reload): the session goes down with BIRD's 'Bad peer AS' in `status`, and comes back
  when the ASN is right again, the tunnel untouched by either reload;
- SIGTERM: BIRD stops with the gateway and its routes go."""
import json
import os
import signal
import time

from harness import prometheus, proc, prereq
from harness.config import EXAMPLES, WAIT
from harness.gateway import links, our_routes, routes
from harness.isthmus import child_sas
from harness.sites import OFFICE_HOST, VM
from harness.traffic import ping_problem


def bird_routes(ns):
    """Routes BIRD installed, as (destination, device, gateway)."""
    return sorted((r.get("dst"), r.get("dev"), r.get("gateway")) for r in routes(ns)
                  if str(r.get("protocol")) in ("bird", "12"))


def bgp(status, connection):
    for c in status.get("connections") or []:
        if c.get("name") == connection:
            return c.get("bgp") or {}
    return {}


def events(gw, kind):
    return [e for e in gw.events().get("events") or [] if e.get("kind") == kind]


def spis(status):
    return sorted(sa.get("inboundSPI") for sa in child_sas(status))


def test_two_sites(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping", "bird"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    texts = {side: (EXAMPLES / f"{side}-bgp.yaml").read_text() for side in ("office", "cloud")}
    configs = {side: scene.write(f"{side}.yaml", texts[side]) for side in ("office", "cloud")}
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", passive=True, wait=False,
                          metrics="127.0.0.1:9469")
    office = scene.isthmus(sites.ofc, configs["office"], name="office", wait=False)
    if not (office.wait_child_sa(timeout=WAIT * 2) and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT * 2}s")

    # The sessions come up and each side learns the other's prefixes.
    up = lambda gw, conn: gw.wait_for(lambda s: bgp(s, conn).get("bgp_state") == "Established", timeout=WAIT)
    ok = up(office, "office-cloud") and up(cloud, "cloud-office")
    checks.check("bgp-established", bool(ok),
                 f"office {bgp(office.status(), 'office-cloud')}; cloud {bgp(cloud.status(), 'cloud-office')}")
    if not ok:
        office.dump_log(); cloud.dump_log()
        checks.abort("bgp-established", "no BGP session")
    learned = lambda ns, prefix: proc.wait_for(lambda: any(r[0] == prefix for r in bird_routes(ns)), 10)
    checks.check("office-learns-cloud-prefix", learned(sites.ofc, "10.0.1.0/24"), f"routes {routes(sites.ofc)}")
    checks.check("cloud-learns-office-prefix", learned(sites.cld, "192.168.1.0/24"), f"routes {routes(sites.cld)}")
    checks.check("learned-route-into-tunnel",
                 ("192.168.1.0/24", "ist-office", "169.254.21.2") in bird_routes(sites.cld),
                 f"bird routes {bird_routes(sites.cld)}")
    # `ss -Hltn`: state, queues, local address (the fourth column), peer.
    listening = [line.split()[3] for line in sites.cld.run(["ss", "-Hltn", "sport = :179"]).stdout.splitlines()
                 if len(line.split()) > 3]
    checks.check("bgp-listens-on-the-inner-address-only",
                 listening and all(a.startswith("169.254.21.1") for a in listening), f"ss: {listening}")
    checks.check("no-static-routes-for-bgp", our_routes(sites.ofc) == [] and our_routes(sites.cld) == [],
                 f"proto 73: office {our_routes(sites.ofc)}, cloud {our_routes(sites.cld)}")
    # `status` has what BIRD said at its last poll (once a second).
    counted = lambda s: bgp(s, "cloud-office").get("imported") == 1 and bgp(s, "cloud-office").get("exported") == 1
    cloud.wait_for(counted, timeout=5)
    status = cloud.status()
    session = bgp(status, "cloud-office")
    checks.check("status-bgp-counts", counted(status) and session.get("neighbor_as") == 65010
                 and session.get("neighbor") == "169.254.21.2", f"bgp {session}")
    dp = next((c.get("dataPath") or {} for c in status.get("connections") or [] if c.get("name") == "cloud-office"), {})
    checks.check("status-inner-address", dp.get("addresses") == ["169.254.21.1/30"] and dp.get("routes") == [],
                 f"dataPath {dp}")
    checks.check("status-routing-daemon", (status.get("routingDaemon") or {}).get("state") == "running",
                 f"routingDaemon {status.get('routingDaemon')}")
    text = cloud.cli("status").stdout
    checks.check("status-text-bgp", "BGP Established with 169.254.21.2 (AS 65010)" in text
                 and "routing daemon: BIRD running" in text, text[-600:])
    metrics = lambda: prometheus.scrape(sites.cld, "http://127.0.0.1:9469/metrics", scene.path("metrics.txt"))[1]
    names = ('isthmus_bgp_session_up{connection="cloud-office"}',
             'isthmus_bgp_prefixes{connection="cloud-office",kind="accepted"}', "isthmus_routing_daemon_up")
    # Metrics are synced once a second from what BIRD said at its last poll.
    series = lambda: {name: prometheus.value(metrics(), name) for name in names}
    proc.wait_for(lambda: list(series().values()) == [1, 1, 1], 5, interval=0.5)
    checks.check("metrics-bgp", list(series().values()) == [1, 1, 1], f"{series()}")
    r = sites.oh.ping(VM, count=5, interval=0.2)
    checks.check("ping-office-host-to-vm", r.returncode == 0, ping_problem(r))
    r = sites.vm.ping(OFFICE_HOST, count=3, interval=0.2)
    checks.check("ping-vm-to-office-host", r.returncode == 0, ping_problem(r))

    # A prefix added on the office only: the cloud learns it; one outside its accept list is refused.
    before = spis(office.status())
    sites.ofc.addr("192.168.2.1/24", "lan0")
    sites.oh.addr("192.168.2.10/24", "oh0")
    scene.write("office.yaml", texts["office"].replace(
        "prefixes: [192.168.1.0/24]", "prefixes: [192.168.1.0/24, 192.168.2.0/24, 172.16.5.0/24]"))
    started = time.monotonic()
    r = office.reload()
    checks.check("reload-add-prefix", r.returncode == 0, (r.stdout + r.stderr).strip()[:300])
    reached = proc.wait_for(lambda: sites.vm.ping("192.168.2.10", count=1, wait=1).returncode == 0, 10, interval=0.2)
    elapsed = time.monotonic() - started
    checks.check("added-prefix-reachable-within-10s", bool(reached), f"not reachable after {elapsed:.1f}s",
                 detail=f"{elapsed:.1f}s")
    refused = proc.wait_for(lambda: events(cloud, "bgp-prefix-refused"), 10, interval=0.5)
    checks.check("outside-accept-list-refused", bool(refused) and "172.16.5.0/24" in json.dumps(refused),
                 f"events {refused}")
    checks.check("refused-not-installed", all(r[0] != "172.16.5.0/24" for r in bird_routes(sites.cld)),
                 f"bird routes {bird_routes(sites.cld)}")
    checks.check("status-filtered-count",
                 cloud.wait_for(lambda s: bgp(s, "cloud-office").get("filtered") == 1, timeout=5),
                 f"bgp {bgp(cloud.status(), 'cloud-office')}")
    checks.check("reload-keeps-tunnel", spis(office.status()) == before, f"SPIs {before} -> {spis(office.status())}")

    # BIRD killed: restarted, the session and the routes come back, the tunnel stays.
    pid = (cloud.status().get("routingDaemon") or {}).get("pid")
    checks.check("routing-daemon-pid", isinstance(pid, int) and pid > 1, f"pid {pid}")
    before = spis(cloud.status())
    if isinstance(pid, int) and pid > 1:
        os.kill(pid, signal.SIGKILL)
    failed = proc.wait_for(lambda: events(cloud, "routing-daemon-failed"), 10, interval=0.5)
    checks.check("bird-killed-event", bool(failed) and "signal 9" in json.dumps(failed), f"events {failed}")
    back = cloud.wait_for(lambda s: (s.get("routingDaemon") or {}).get("pid") not in (None, pid)
                          and bgp(s, "cloud-office").get("bgp_state") == "Established", timeout=WAIT)
    checks.check("bird-restarted-session-back", bool(back), f"status {cloud.status().get('routingDaemon')}")
    checks.check("bird-restarted-routes-back", learned(sites.cld, "192.168.1.0/24"), f"routes {routes(sites.cld)}")
    checks.check("bird-restart-keeps-tunnel", spis(cloud.status()) == before, f"SPIs {before} -> {spis(cloud.status())}")
    r = sites.vm.ping(OFFICE_HOST, count=3, interval=0.2)
    checks.check("ping-after-bird-restart", r.returncode == 0, ping_problem(r))

    # A wrong ASN: the session fails with BIRD's reason, and comes back once corrected; the tunnel stays.
    before = spis(office.status())
    scene.write("office.yaml", texts["office"].replace("peer_asn: 65515", "peer_asn: 65516"))
    r = office.reload()
    checks.check("reload-wrong-asn", r.returncode == 0, (r.stdout + r.stderr).strip()[:300])
    down = office.wait_for(lambda s: "Bad peer AS" in (bgp(s, "office-cloud").get("last_error") or ""), timeout=WAIT)
    checks.check("wrong-asn-explained", bool(down), f"bgp {bgp(office.status(), 'office-cloud')}")
    r = office.cli("diagnose", "office-cloud", "--json")
    try:
        findings = json.loads(r.stdout)["connections"][0]["findings"]
    except (ValueError, KeyError, IndexError):
        findings = []
    wrong = next((f for f in findings if f.get("cause") == "bgp-session-down"), {})
    checks.check("diagnose-wrong-asn", "AS 65515" in wrong.get("summary", "") and "65516" in wrong.get("summary", "")
                 and any(fix.get("yaml") == "peer_asn: 65515" for fix in wrong.get("fixes") or []),
                 f"diagnose: {r.stdout.strip()[:500]}", detail=wrong.get("summary", ""))
    scene.write("office.yaml", texts["office"])
    office.reload()
    checks.check("asn-corrected-session-back",
                 bool(up(office, "office-cloud")), f"bgp {bgp(office.status(), 'office-cloud')}")
    checks.check("bgp-reloads-keep-tunnel", spis(office.status()) == before,
                 f"SPIs {before} -> {spis(office.status())}")

    # SIGTERM: BIRD stops and withdraws its routes.
    checks.check("office-sigterm-exit-0", office.stop(signal.SIGTERM, timeout=15) == 0, "exit status not 0")
    checks.check("office-bird-routes-removed", bird_routes(sites.ofc) == [], f"routes {routes(sites.ofc)}")
    checks.check("office-interface-removed", "ist-cloud" not in links(sites.ofc), f"links {sorted(links(sites.ofc))}")


def test_strongswan_branch(scene, checks, isthmus_bin):
    """`strongswan-branch`: the office is Debian's strongSwan (kernel-libipsec, its TUN ipsec0) with BIRD, both
    configured with exactly what `isthmus export cloud-office --device strongswan` wrote for examples/cloud-bgp.yaml;
    the cloud is Isthmus. The session comes up over the tunnel, the cloud learns the office LAN (announced by the
    branch's BIRD from its connected networks), the branch learns the VM subnet into ipsec0, and hosts ping. Then the
    branch misbehaves (its BIRD changed by hand): it announces the cloud's own 10.0.1.0/24 back and 172.16.9.0/24,
    outside the accept list; both are refused, counted and reported, and traffic is unaffected."""
    prereq.require(checks, tools=["ip", "ping", "bird", "swanctl"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    sites = scene.two_sites(tuns=False)
    config = str(EXAMPLES / "cloud-bgp.yaml")
    outdir = scene.path("export")
    os.makedirs(outdir, exist_ok=True)
    r = scene.run([isthmus_bin, "export", "cloud-office", "--device", "strongswan", "--config", config,
                   "--output", str(outdir)])
    swanctl, bird_conf = outdir / "cloud-office.conf", outdir / "cloud-office.bird.conf"
    checks.require("export-written", r.returncode == 0 and swanctl.is_file() and bird_conf.is_file(),
                   (r.stdout + r.stderr).strip()[-300:])
    r = scene.run(["bird", "-p", "-c", str(bird_conf)])
    checks.check("exported-bird-conf-parses", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
    cloud = scene.isthmus(sites.cld, config, name="cloud", passive=True)
    ss = scene.strongswan(sites.ofc)
    # The export's one manual step: the inner address on strongSwan's TUN, before the tunnel comes up.
    peer_address = next(line.split()[4] for line in bird_conf.read_text().splitlines()
                        if line.startswith("#   ip address add"))
    checks.require("ipsec0-created", proc.wait_for(lambda: "ipsec0" in links(sites.ofc), 10), "no ipsec0")
    sites.ofc.addr(peer_address, "ipsec0")
    r = ss.load_file(swanctl)
    checks.require("strongswan-loads-export", r.returncode == 0 and "loaded connection 'cloud-office'" in r.stdout,
                   (r.stdout + r.stderr).strip()[-300:])
    ready = proc.wait_for(lambda: child_sas(cloud.status()), WAIT)
    checks.require("tunnel-up", bool(ready), f"cloud status {cloud.status().get('connections')}")
    scene.start(["bird", "-f", "-c", str(bird_conf), "-s", str(scene.path("branch-bird.ctl")),
                 "-P", str(scene.path("branch-bird.pid"))], "branch-bird", ns=sites.ofc)
    ok = cloud.wait_for(lambda s: bgp(s, "cloud-office").get("bgp_state") == "Established", timeout=WAIT)
    checks.check("bgp-established-with-strongswan-branch", bool(ok), f"bgp {bgp(cloud.status(), 'cloud-office')}")
    learned = lambda ns, prefix: proc.wait_for(lambda: any(r[0] == prefix for r in bird_routes(ns)), 10)
    checks.check("cloud-learns-branch-lan", learned(sites.cld, "192.168.1.0/24"), f"routes {routes(sites.cld)}")
    checks.check("branch-learns-vm-subnet", learned(sites.ofc, "10.0.1.0/24"), f"routes {routes(sites.ofc)}")
    checks.check("branch-route-into-ipsec0",
                 ("10.0.1.0/24", "ipsec0", "169.254.21.1") in bird_routes(sites.ofc), f"routes {bird_routes(sites.ofc)}")
    checks.check("peering-prefix-not-announced", all(r[0] != "169.254.21.0/30" for r in bird_routes(sites.cld)),
                 f"routes {bird_routes(sites.cld)}")
    r = sites.oh.ping(VM, count=5, interval=0.2)
    checks.check("ping-office-host-to-vm", r.returncode == 0, ping_problem(r))
    r = sites.vm.ping(OFFICE_HOST, count=3, interval=0.2)
    checks.check("ping-vm-to-office-host", r.returncode == 0, ping_problem(r))

    # A misbehaving branch: it announces the cloud's own address space back and a prefix outside the accept list
    # (its BIRD changed by hand: export everything, two static routes). Both are dropped and counted.
    rogue = bird_conf.read_text().replace(
        '            if proto = "isthmus_lans" && net ~ [ 192.168.0.0/16+ ] then accept;\n            reject;',
        "            accept;")
    rogue += "\nprotocol static rogue { ipv4; route 10.0.1.0/24 blackhole; route 172.16.9.0/24 blackhole; }\n"
    rogue_conf = scene.write("rogue.bird.conf", rogue, mode=0o644)
    r = scene.run(["birdc", "-s", str(scene.path("branch-bird.ctl")), "configure", f'"{rogue_conf}"'], ns=sites.ofc)
    checks.check("branch-announces-rogue-prefixes", r.returncode == 0 and "Reconfigured" in r.stdout,
                 (r.stdout + r.stderr)[-300:])
    refused = proc.wait_for(lambda: [e for e in events(cloud, "bgp-prefix-refused")
                                     if "10.0.1.0/24" in json.dumps(e) and "172.16.9.0/24" in json.dumps(e)], 10,
                            interval=0.5)
    checks.check("own-space-and-outsider-refused", bool(refused), f"events {events(cloud, 'bgp-prefix-refused')}")
    # Exporting everything, it also announces its WAN and peering networks: refused as well (4 in all).
    checks.check("own-space-not-learned",
                 cloud.wait_for(lambda s: (bgp(s, "cloud-office").get("filtered") or 0) >= 2, 5)
                 and all(r[0] not in ("10.0.1.0/24", "172.16.9.0/24") for r in bird_routes(sites.cld)),
                 f"bgp {bgp(cloud.status(), 'cloud-office')}, routes {bird_routes(sites.cld)}")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("ping-after-rogue-announcements", r.returncode == 0, ping_problem(r))


def test_missing_bird(scene, checks, isthmus_bin):
    """`missing-bird`: the cloud gateway runs with `--bird` naming no program: a routing-daemon-failed error that
    says to install bird2, `status` and `diagnose` say BGP cannot run, and the tunnel comes up regardless."""
    prereq.require(checks, tools=["ip"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    configs = {side: scene.write(f"{side}.yaml", (EXAMPLES / f"{side}-bgp.yaml").read_text())
               for side in ("office", "cloud")}
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", passive=True, wait=False,
                          extra_args=["--bird", "/nonexistent/bird"])
    office = scene.isthmus(sites.ofc, configs["office"], name="office", wait=False)
    checks.check("tunnel-up-without-bird", bool(office.wait_child_sa(timeout=WAIT * 2) and cloud.wait_child_sa()),
                 "no CHILD SA")
    failed = proc.wait_for(lambda: events(cloud, "routing-daemon-failed"), 10, interval=0.5)
    checks.check("missing-bird-event", bool(failed) and "apt-get install bird2" in json.dumps(failed),
                 f"events {failed}")
    routing = cloud.status().get("routingDaemon") or {}
    checks.check("status-routing-daemon-error", routing.get("state") == "error" and "not installed" in
                 (routing.get("error") or ""), f"routingDaemon {routing}")
    r = cloud.cli("diagnose", "cloud-office", "--json")
    checks.check("diagnose-routing-daemon-down", '"routing-daemon-down"' in r.stdout, r.stdout[-400:])
    checks.check("cloud-still-serves", cloud.alive and not cloud.crashed(), cloud.log_tail(5))
