"""Userspace ESP data plane, end to end (formerly scripts/interop/dataplane-isthmus): two Isthmus gateways
(route-based IKEv2, examples/office-dynamic.yaml and examples/cloud-dynamic.yaml, adapted per case) each run
`isthmus run --tun NAME` in the two-site topology (harness.sites); the office host pings the cloud VM through
the tunnel, iperf3 crosses both ways, path MTU and MSS clamping, forged ESP, a clean stop; case `reload` runs
`isthmus reload`/SIGHUP/SIGTERM with a ping running. Check names are the bash script's, prefixed by the case.
"""
import re
import signal
import time
from dataclasses import dataclass

import pytest

from harness import prereq
from harness.config import EXAMPLES, WAIT
from harness.isthmus import child_sas, dataplane, drops, ike_sas
from harness.sites import CLOUD_PUBLIC, OFFICE_HOST, VM
from harness.traffic import (iperf3, iperf_mbps, iperf_retransmits, ping_counts, ping_lost, ping_problem,
                             send_raw_esp, send_udp, stop_ping)

NAT_FORCE = (r"^(    dpd: .*)$", r"\1\n    nat_traversal: force")


@dataclass
class Case:
    """One scenario: how the examples are adapted (regex substitutions, then a pattern the result must
    contain), which side initiates, whether the CHILD SA is ESP-in-UDP, and which checks follow."""
    name: str
    edits: tuple = ()
    must_contain: str = None
    initiator: str = "office"         # the other side runs --passive
    udp: bool = False                 # expected childSAs[0].udpEncapsulated
    iperf_seconds: int = 3
    rekey: bool = False               # checks across the rekeys of a 100 MB volume lifetime
    reload: bool = False              # the reload/SIGHUP/SIGTERM checks instead of the traffic checks


CASES = [
    Case("udp", edits=(NAT_FORCE,), must_contain="    nat_traversal: force", udp=True),
    Case("raw"),
    Case("cbc", edits=((r"^    ike: .*$", "    ike: [aes256-sha256-modp2048]"),
                       (r"^    esp: .*$", "    esp: [aes256-sha256]")),
         must_contain="    esp: [aes256-sha256]", initiator="cloud"),
    Case("rekey", edits=(NAT_FORCE, (r"esp_size: 102400000KB", "esp_size: 100MB")), must_contain="esp_size: 100MB",
         udp=True, iperf_seconds=8, rekey=True),
    Case("reload", reload=True),
]


def adapt(case, text):
    for pattern, replacement in case.edits:
        text = re.sub(pattern, replacement, text, flags=re.M)
    return text if case.must_contain is None or case.must_contain in text else None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_dataplane(case, scene, checks, isthmus_bin):
    C = case.name
    prereq.require(checks, tools=["ip", "ping", "python3", "iperf3"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites()
    r = sites.ofc.ping(CLOUD_PUBLIC)
    checks.check("underlay-ping", r.returncode == 0, "gateways cannot reach each other")

    # ---------------------------------------------------------------- configurations
    configs = {}
    for side in ("office", "cloud"):
        text = adapt(case, (EXAMPLES / f"{side}-dynamic.yaml").read_text())
        if text is None:
            checks.abort(f"{C}-configs", "cannot adapt the example configurations")
        configs[side] = scene.write(f"{side}.yaml", text)
    for side in ("office", "cloud"):
        r = scene.run([isthmus_bin, "check", configs[side]])
        if r.returncode != 0:
            checks.abort(f"{C}-check-{side}", " ".join((r.stdout + r.stderr).splitlines()[-3:]))
    checks.ok(f"{C}-configs")

    # ---------------------------------------------------------------- daemons
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", tun=sites.tun_cloud,
                          passive=case.initiator != "cloud", wait=False)
    time.sleep(0.5)
    office = scene.isthmus(sites.ofc, configs["office"], name="office", tun=sites.tun_office,
                           passive=case.initiator != "office", wait=False)
    if not (office.wait_child_sa() and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort(f"{C}-child-sa-established", f"no CHILD SA within {WAIT}s")
    checks.ok(f"{C}-child-sa-established")
    udp = (child_sas(office.status())[:1] or [{}])[0].get("udpEncapsulated")
    want = "true" if case.udp else "false"
    got = {True: "true", False: "false"}.get(udp, "null")
    checks.check(f"{C}-child-sa-udp-encapsulated-{got}" if got == want else f"{C}-child-sa-udp-encapsulated",
                 got == want, f"udpEncapsulated={got}, expected {want}")
    for gw, short in ((office, "ofc"), (cloud, "cld")):
        n = dataplane(gw.status(), "installedSAs")
        checks.check(f"{C}-engine-sa-installed-{short}", n >= 1, f"installedSAs={n}")

    # ---------------------------------------------------------------- traffic
    r = sites.oh.ping(VM, count=5, interval=0.2)
    checks.check(f"{C}-ping-office-host-to-vm", r.returncode == 0, ping_problem(r),
                 detail=f"{ping_counts(r.stdout)[1]} received")
    r = sites.vm.ping(OFFICE_HOST, count=3, interval=0.2)
    checks.check(f"{C}-ping-vm-to-office-host", r.returncode == 0, ping_problem(r))
    if case.reload:
        reload_checks(C, scene, checks, sites, office, cloud, configs)
        return
    r = sites.oh.ping(VM, count=2, size=1300)
    checks.check(f"{C}-ping-1300-bytes", r.returncode == 0, "lost")

    spi_before = (child_sas(office.status())[:1] or [{}])[0].get("inboundSPI")
    rekeys_before = dataplane(office.status(), "lifetimeEvents") + dataplane(cloud.status(), "lifetimeEvents")
    out = iperf3(scene, sites.vm, sites.oh, VM, 5201, case.iperf_seconds, name="iperf-office-to-vm")
    mbps, retr = iperf_mbps(out), iperf_retransmits(out)
    checks.check(f"{C}-iperf3-office-to-vm", mbps > 0 and not out.get("error"),
                 str(out.get("error") or "no result")[:200],
                 detail=f"{mbps} Mbit/s, {retr} retransmits, {case.iperf_seconds} s")
    if case.rekey:
        so, sc = office.status(), cloud.status()
        spi_after = (child_sas(so)[-1:] or [{}])[0].get("inboundSPI")
        rekeys = dataplane(so, "lifetimeEvents") + dataplane(sc, "lifetimeEvents") - rekeys_before
        cloud_drops = dataplane(sc, "drops", {})
        checks.check(f"{C}-tcp-survives-rekeys", rekeys >= 1 and spi_after != spi_before and mbps > 0,
                     f"lifetime events {rekeys}, SPI {spi_before} -> {spi_after}, {mbps} Mbit/s",
                     detail=f"{rekeys} lifetime events, SPI {spi_before} -> {spi_after}, {retr} retransmits, "
                            f"cloud drops {cloud_drops}")
        # Old SAs are removed after their grace: the engine holds what IKE lists, not a growing pile.
        time.sleep(3)
        so = office.status()
        listed, installed = len(child_sas(so)), dataplane(so, "installedSAs")
        checks.check(f"{C}-old-sas-removed", installed <= 2 and listed <= 2,
                     f"IKE lists {listed}, engine holds {installed}",
                     detail=f"IKE lists {listed}, engine holds {installed}")
        sc = cloud.status()
        bad = drops(sc, "integrity-failure", "replayed")
        checks.check(f"{C}-no-integrity-or-replay-drops", bad == 0, str(dataplane(sc, "drops", {})))
        # Packets lost to the rekey itself: on an SA not (or no longer) installed, or expired, on either side.
        lost = drops(office.status(), "unknown-spi", "sa-expired") + drops(sc, "unknown-spi", "sa-expired")
        checks.check(f"{C}-rekey-loses-at-most-a-handful", lost <= 10,
                     f"{lost} ESP packets dropped on unknown or expired SAs",
                     detail=f"{lost} ESP packets on unknown or expired SAs, {retr} TCP retransmits")
    else:
        out = iperf3(scene, sites.vm, sites.oh, VM, 5202, 2, reverse=True, name="iperf-vm-to-office")
        mbps = iperf_mbps(out)
        checks.check(f"{C}-iperf3-vm-to-office", mbps > 0, "no result", detail=f"{mbps} Mbit/s")

    # MTU: with the office TUN at 1500, a 1500-byte packet with DF does not fit the 1500-byte path once
    # encapsulated: the gateway answers ICMP "fragmentation needed" with the tunnel's inner MTU (1399), and a
    # packet of exactly 1399 bytes crosses. Then the TUN goes back to 1400.
    sites.ofc.ip("link", "set", sites.tun_office, "mtu", 1500)
    r = sites.oh.ping(VM, count=1, size=1472, extra=["-M", "do"])
    text = r.stdout + r.stderr
    if "mtu = 1399" in text:
        checks.ok(f"{C}-df-too-big-answered-with-icmp-mtu-1399")
    else:
        checks.fail(f"{C}-df-too-big-answered-with-icmp", " ".join(text.splitlines())[:300])
    r = sites.oh.ping(VM, count=2, size=1371, extra=["-M", "do"])
    checks.check(f"{C}-ping-1399-bytes-df", r.returncode == 0, "lost")
    sites.oh.run(["ip", "route", "flush", "cache"])
    sites.ofc.ip("link", "set", sites.tun_office, "mtu", 1400)
    icmp = dataplane(office.status(), "icmpTooBigSent")
    checks.check(f"{C}-status-counts-icmp-too-big", icmp >= 1, f"icmpTooBigSent={icmp}", detail=str(icmp))

    # TCP MSS clamping: a SYN from the office host (MSS 1460 on its 1500-byte link) crosses with MSS <= 1359.
    listener = scene.start(["python3", "-c", (
        "import socket\n"
        "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('10.0.1.4', 5301))\n"
        "s.listen(1); s.settimeout(10); c, _ = s.accept()\n"
        "print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG), flush=True); c.close()\n")],
        "mss-listener", ns=sites.vm)
    time.sleep(0.5)
    scene.run(["python3", "-c", (
        "import socket, time\n"
        "for attempt in range(50):\n"
        "    try:\n"
        "        s = socket.create_connection(('10.0.1.4', 5301), timeout=5); s.close(); break\n"
        "    except OSError:\n"
        "        time.sleep(0.2)\n")], ns=sites.oh, timeout=40)
    listener.wait(15)
    mss_text = listener.output().strip()
    mss = int(mss_text) if mss_text.isdigit() else None
    clamped = dataplane(office.status(), "mssClamped")
    checks.check(f"{C}-tcp-mss-clamped", mss is not None and mss <= 1359 and clamped >= 1,
                 f"VM saw MSS '{mss_text}', mssClamped={clamped}", detail=f"VM sees MSS {mss}, {clamped} SYNs clamped")

    for gw, side in ((office, "office"), (cloud, "cloud")):
        s = gw.status()
        o, i = dataplane(s, "espPacketsOut"), dataplane(s, "espPacketsIn")
        checks.check(f"{C}-status-esp-counted-{side}", o >= 10 and i >= 10, f"espPacketsOut={o} espPacketsIn={i}",
                     detail=f"out {o}, in {i}")

    # ---------------------------------------------------------------- bad input
    # Garbage and a forged ESP packet (unknown SPI) to the cloud gateway's UDP 4500: dropped and counted, the
    # tunnel keeps working. (raw: and a forged ESP packet as IP protocol 50.)
    send_udp(sites.ofc, CLOUD_PUBLIC, 4500, b"\x00\x00\x12\x34\x00\x00\x00\x01garbage-garbage-garbage")
    want = 1
    if C == "raw":
        want = 2
        r = send_raw_esp(sites.ofc, CLOUD_PUBLIC, b"\x00\x00\x12\x35\x00\x00\x00\x01" + b"\xee" * 40)
        if r.returncode != 0:
            checks.fail(f"{C}-forged-raw-esp-sent", "python3 raw socket failed")
    seen = cloud.wait_for(lambda s: drops(s, "unknown-spi") >= want, timeout=5)
    n = drops(seen or cloud.status(), "unknown-spi")
    checks.check(f"{C}-forged-esp-dropped-and-counted", n >= want, f"unknown-spi={n}", detail=f"unknown-spi {n}")
    r = sites.oh.ping(VM, count=2)
    checks.check(f"{C}-ping-after-bad-input", r.returncode == 0, "lost")
    dead = [str(gw.pid) for gw in (office, cloud) if not gw.alive]
    checks.check(f"{C}-daemon-alive", not dead, f"pid {' '.join(dead)} exited")

    # ---------------------------------------------------------------- clean stop
    for gw in (office, cloud):
        gw.stop()
    for gw, side in ((office, "office"), (cloud, "cloud")):
        checks.check(f"{C}-clean-stop-{side}", "stopped" in gw.log_text(), "no 'stopped' line in its log")
        checks.check(f"{C}-no-crash-{side}", not gw.crashed(), f"see {gw.log_path}")


def reload_checks(C, scene, checks, sites, office, cloud, configs):
    """With a ping running through the tunnel, `isthmus reload` of an unchanged file, of a new shared key (both
    sides), SIGHUP, a half-written file and a new public address keep every SA and lose no packet; a changed ESP
    proposal restarts the connection with it; SIGTERM exits 0 after telling the peer."""
    cfg_o, cfg_c = configs["office"], configs["cloud"]

    def sa_ids(gw):
        s = gw.status()
        return [sa.get("localSPI") for sa in ike_sas(s)] + [c.get("inboundSPI") for c in child_sas(s)]

    def out(r):
        return r.stdout + r.stderr

    def head(text, n=3):
        return " ".join(text.splitlines()[:n])

    before_o, before_c = sa_ids(office), sa_ids(cloud)
    pinger = scene.start(["ping", "-i", "0.05", "-W", "1", VM], "reload-ping", ns=sites.oh)
    time.sleep(0.5)
    # An unchanged file.
    r = office.reload()
    checks.check(f"{C}-unchanged-file", r.returncode == 0 and "nothing changed" in out(r), head(out(r)))
    # A new shared key on both sides: SAs kept, the next authentication uses it.
    for cfg in (cfg_o, cfg_c):
        cfg.write_text(cfg.read_text().replace("isthmus-demo-key-change-me-0123456789",
                                               "reloaded-key-abcdefghijklmnopqrstuvwxyz"))
    ro, rc = office.reload(), cloud.reload()
    checks.check(f"{C}-new-key-keeps-sas", ro.returncode == 0 and rc.returncode == 0
                 and "office-cloud: new shared key, SAs kept" in out(ro)
                 and "cloud-office: new shared key, SAs kept" in out(rc), head(out(ro) + out(rc), 6))
    # SIGHUP does the same as `isthmus reload`.
    hups_before = office.log_text().count("configuration reloaded")
    office.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and office.log_text().count("configuration reloaded") <= hups_before:
        time.sleep(0.1)
    text = office.log_text()
    checks.check(f"{C}-sighup-reloads", text.count("configuration reloaded") > hups_before
                 and ("signal=HUP" in text or '"signal":"HUP"' in text), "no 'configuration reloaded' after SIGHUP")
    checks.check(f"{C}-alive-after-sighup", office.alive, "the office gateway exited")
    # A half-written file: refused whole with the loader's messages; the running configuration stays.
    good = cfg_o.read_text()
    cfg_o.write_text(good.encode()[:len(good.encode()) // 2].decode(errors="ignore"))
    r = office.reload()
    if r.returncode == 0:
        checks.fail(f"{C}-truncated-file-refused", f"exit 0: {head(out(r))}")
    else:
        lines = out(r).splitlines()
        checks.check(f"{C}-truncated-file-refused", "reload refused" in out(r)
                     and "the running configuration stays" in out(r) and "error" in out(r), head(out(r)),
                     detail=(lines[1] if len(lines) > 1 else "")[:120])
    # A new public address cannot be taken over by a running daemon: refused, restart needed.
    cfg_o.write_text(good.replace("public_address: 198.51.100.10", "public_address: 198.51.100.11"))
    r = office.reload()
    if r.returncode == 0:
        checks.fail(f"{C}-public-address-change-refused", "exit 0")
    else:
        checks.check(f"{C}-public-address-change-refused", "restart the gateway" in out(r), head(out(r), 2))
    cfg_o.write_text(good)
    time.sleep(1)
    summary = stop_ping(pinger)
    sent, received = ping_counts(summary)
    lost = ping_lost(summary)
    checks.check(f"{C}-no-packet-lost-across-reloads", sent >= 20 and lost == 0,
                 f"{lost} of {sent} pings lost ({received} answered)", detail=f"{received}/{sent}")
    after_o, after_c = sa_ids(office), sa_ids(cloud)
    checks.check(f"{C}-same-sas-after-reloads", after_o == before_o and after_c == before_c,
                 f"office {before_o} -> {after_o}, cloud {before_c} -> {after_c}")
    # A changed ESP proposal: the connection restarts and its new CHILD SA uses it (and the new key).
    cfg_o.write_text(re.sub(r"^    esp: \[aes256gcm16, aes256-sha256\]$", "    esp: [aes256-sha256]",
                            cfg_o.read_text(), flags=re.M))
    r = office.reload()
    checks.check(f"{C}-changed-esp-restarts", r.returncode == 0 and "office-cloud: changed (esp): restarted" in out(r),
                 head(out(r)))

    def algorithms(s):
        return ",".join(str(c.get("algorithms")) for c in child_sas(s))
    s = office.wait_for(lambda s: algorithms(s) and "gcm" not in algorithms(s).lower()) or office.status()
    algs = algorithms(s)
    ike_after = [sa.get("localSPI") for sa in ike_sas(office.status()) if sa.get("state") == "established"]
    checks.check(f"{C}-new-sas-with-new-proposal",
                 algs and "gcm" not in algs.lower() and ike_after and ike_after[0] not in before_o,
                 f"CHILD SAs '{algs}', IKE SAs {ike_after} (before {before_o})",
                 detail=f"{algs}, IKE SA {ike_after}")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check(f"{C}-ping-after-restart", r.returncode == 0, "lost")
    # SIGTERM: the office deletes its SAs, telling the cloud, and exits 0.
    office.send_signal(signal.SIGTERM)
    code = office.wait_exit(5)
    checks.check(f"{C}-sigterm-exits-0", code == 0, f"exit status {'timeout' if code is None else code}")
    s = cloud.wait_for(lambda s: len(ike_sas(s)) == 0, timeout=5)
    left = 0 if s else len(ike_sas(cloud.status()))
    checks.check(f"{C}-peer-told-on-sigterm", s is not None, f"cloud still lists {left} IKE SAs",
                 detail="cloud holds no IKE SA")
    text = office.log_text()
    checks.check(f"{C}-clean-stop-office", "graceful shutdown requested" in text and "stopped" in text,
                 "no shutdown lines in its log")
    cloud.stop()
    office.stop()
    checks.check(f"{C}-no-crash", not (office.crashed() or cloud.crashed()), "see the logs")
