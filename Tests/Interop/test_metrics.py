"""The Prometheus metrics endpoint on the wire (formerly scripts/interop/metrics-isthmus): two Isthmus gateways
(examples/office-dynamic.yaml and cloud-dynamic.yaml with `nat_traversal: force`) run `isthmus run --tun NAME
--metrics ADDRESS:PORT` (office on 127.0.0.1, cloud on [::1]); pings cross the tunnel, then curl scrapes GET
/metrics inside each gateway's namespace and checks the values against what was sent, a down/up cycle, drops
of forged ESP, a 404 for another path, the content type, the text format, a bad --metrics value and a port
already in use. Check names are the bash script's."""
import re
import time

from harness import prereq
from harness.config import EXAMPLES, WAIT
from harness.isthmus import ike_sas
from harness.prometheus import MISSING, at_least, format_errors, samples, scrape, value
from harness.sites import CLOUD_PUBLIC, OFFICE_HOST, VM
from harness.traffic import ping_problem, send_udp

PORT = 9469
URL_O, URL_C = f"http://127.0.0.1:{PORT}/metrics", f"http://[::1]:{PORT}/metrics"


def settle():
    """Metrics are synced from `status` every second: wait that long before reading gauges and counters."""
    time.sleep(2.2)


def test_metrics(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping", "python3", "curl"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(ipv6_loopback_in_cloud=True)

    # ---------------------------------------------------------------- configurations
    configs = {}
    for side in ("office", "cloud"):
        text = re.sub(r"^(    dpd: .*)$", r"\1\n    nat_traversal: force",
                      (EXAMPLES / f"{side}-dynamic.yaml").read_text(), flags=re.M)
        if "\n    nat_traversal: force" not in text:
            checks.abort("configs", f"cannot adapt examples/{side}-dynamic.yaml")
        configs[side] = scene.write(f"{side}.yaml", text)
        r = scene.run([isthmus_bin, "check", configs[side]])
        if r.returncode != 0:
            checks.abort(f"check-{side}", " ".join((r.stdout + r.stderr).splitlines()[-3:]))
    m = re.search(r"^ *shared_key: *([^ #\n]*)", configs["office"].read_text(), flags=re.M)
    if not m or not m.group(1):
        checks.abort("configs", "no shared_key found in the office configuration")
    key = m.group(1)
    checks.ok("configs")

    # ---------------------------------------------------------------- --metrics validation
    r = scene.run([isthmus_bin, "run", configs["office"], "--metrics", "localhost"], ns=sites.ofc, timeout=20)
    out = r.stdout + r.stderr
    checks.check("bad-metrics-address-refused",
                 r.returncode != 0 and "--metrics must be an IP address and a port" in out,
                 f"exit {r.returncode}: {' '.join(out.splitlines()[:2])}", detail=f"exit {r.returncode}")

    # ---------------------------------------------------------------- daemons
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", tun=sites.tun_cloud, passive=True,
                          metrics=f"[::1]:{PORT}", wait=False)
    time.sleep(0.5)
    office = scene.isthmus(sites.ofc, configs["office"], name="office", tun=sites.tun_office,
                           metrics=f"127.0.0.1:{PORT}", wait=False)
    if not (office.wait_child_sa() and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT}s")
    checks.ok("child-sa-established")

    # ---------------------------------------------------------------- traffic, then a scrape
    pings_o, pings_v = 5, 3
    r = sites.oh.ping(VM, count=pings_o, interval=0.2)
    checks.check("ping-office-host-to-vm", r.returncode == 0, ping_problem(r))
    r = sites.vm.ping(OFFICE_HOST, count=pings_v, interval=0.2)
    checks.check("ping-vm-to-office-host", r.returncode == 0, ping_problem(r))
    sent = pings_o + pings_v      # each way: office sends 5 requests and 3 replies, and receives as many
    settle()
    scraped = {}
    for name, gw, url, conn in (("office", office, URL_O, "office-cloud"), ("cloud", cloud, URL_C, "cloud-office")):
        ok, text, headers, err = scrape(gw.ns, url, scene.path(f"{name}-1.prom"))
        if not ok:
            checks.fail(f"{name}-scrape", f"GET {url} failed: {err.splitlines()[0] if err else ''}")
            continue
        scraped[name] = text
        checks.ok(f"{name}-scrape", f"{url}, {len(samples(text))} samples")
        ctype = next((line.split(":", 1)[1].strip() for line in headers.replace("\r", "").splitlines()
                      if line.lower().startswith("content-type:")), "")
        checks.check(f"{name}-content-type", ctype == "text/plain; version=0.0.4; charset=utf-8", f"'{ctype}'")
        errors = format_errors(text)
        checks.check(f"{name}-prometheus-text-format", not errors, " ".join(errors[:3]))
        v = value(text, f'isthmus_ike_sas{{connection="{conn}",state="established"}}')
        checks.check(f"{name}-ike-sa-established-gauge-1", v == 1, f"got {v}")
        v = value(text, f'isthmus_child_sas{{connection="{conn}"}}')
        checks.check(f"{name}-child-sas-gauge", at_least(v, 1), f"got {v}", detail=str(v))
        for d in ("in", "out"):
            v = value(text, f'isthmus_esp_packets_total{{direction="{d}"}}')
            checks.check(f"{name}-esp-packets-{d}", at_least(v, sent), f"got {v}, sent {sent} pings",
                         detail=f"{v} >= {sent}")
            v = value(text, f'isthmus_esp_bytes_total{{direction="{d}"}}')
            checks.check(f"{name}-esp-bytes-{d}", at_least(v, sent * 84), f"got {v}", detail=str(v))
            v = value(text, f'isthmus_ike_datagrams_total{{direction="{d}"}}')
            checks.check(f"{name}-ike-datagrams-{d}", at_least(v, 2), f"got {v}", detail=str(v))
            # Per connection: inner packets and bytes (a ping is 84 bytes of inner IPv4).
            v = value(text, f'isthmus_connection_packets_total{{connection="{conn}",direction="{d}"}}')
            checks.check(f"{name}-connection-packets-{d}", at_least(v, sent), f"got {v}, sent {sent} pings",
                         detail=f"{v} >= {sent}")
            v = value(text, f'isthmus_connection_bytes_total{{connection="{conn}",direction="{d}"}}')
            checks.check(f"{name}-connection-bytes-{d}", at_least(v, sent * 84), f"got {v}", detail=str(v))
        # The same numbers as `status` (one state, many views).
        s = (gw.status().get("dataplane") or {}).get("espPacketsOut")
        v = value(text, 'isthmus_esp_packets_total{direction="out"}')
        checks.check(f"{name}-esp-out-equals-status", s == v, f"metrics {v}, status {s}", detail=str(v))
        v = value(text, f'isthmus_events_total{{connection="{conn}",kind="child-sa-installed"}}')
        checks.check(f"{name}-child-sa-installed-event-counted", at_least(v, 1), f"got {v}", detail=str(v))
        checks.check(f"{name}-no-key-material", key not in text, "the shared key appears in the metrics")
        r = scene.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                       url[:-len("/metrics")] + "/other"], ns=gw.ns, timeout=15)
        checks.check(f"{name}-other-path-404", r.stdout.strip() == "404", f"HTTP {r.stdout.strip()}")

    # ---------------------------------------------------------------- a down/up cycle
    o1 = scraped.get("office", "")
    est_before = value(o1, 'isthmus_events_total{connection="office-cloud",kind="ike-sa-established"}')
    del_before = value(o1, 'isthmus_events_total{connection="office-cloud",kind="ike-sa-deleted"}')
    del_before = 0 if del_before == MISSING else del_before
    child_before = value(o1, 'isthmus_events_total{connection="office-cloud",kind="child-sa-installed"}')
    out_before = value(o1, 'isthmus_esp_packets_total{direction="out"}')
    r = office.down("office-cloud")
    checks.check("down", r.returncode == 0, (r.stdout + r.stderr).strip())
    office.wait_for(lambda s: len(ike_sas(s)) == 0)
    settle()
    ok, text, _, _ = scrape(sites.ofc, URL_O, scene.path("office-2.prom"))
    if ok:
        v = value(text, 'isthmus_ike_sas{connection="office-cloud",state="established"}')
        checks.check("down-ike-sa-established-gauge-0", v == 0, f"got {v}")
        v = value(text, 'isthmus_child_sas{connection="office-cloud"}')
        checks.check("down-child-sas-gauge-0", v == 0, f"got {v}")
        v = value(text, 'isthmus_events_total{connection="office-cloud",kind="ike-sa-deleted"}')
        checks.check("down-ike-sa-deleted-counted", at_least(v, del_before + 1), f"{del_before} -> {v}",
                     detail=f"{del_before} -> {v}")
    else:
        checks.fail("down-scrape", f"GET {URL_O} failed")
    r = office.up("office-cloud")
    checks.check("up", r.returncode == 0, (r.stdout + r.stderr).strip())
    checks.check("up-child-sa", office.wait_child_sa() and cloud.wait_child_sa(),
                 f"no CHILD SA within {WAIT}s after up")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("ping-after-up", r.returncode == 0, "lost")
    settle()
    ok, text, _, _ = scrape(sites.ofc, URL_O, scene.path("office-3.prom"))
    if ok:
        v = value(text, 'isthmus_ike_sas{connection="office-cloud",state="established"}')
        checks.check("up-ike-sa-established-gauge-1", v == 1, f"got {v}")
        v = value(text, 'isthmus_events_total{connection="office-cloud",kind="ike-sa-established"}')
        checks.check("up-ike-sa-established-counted", est_before != MISSING and at_least(v, est_before + 1),
                     f"{est_before} -> {v}", detail=f"{est_before} -> {v}")
        v = value(text, 'isthmus_events_total{connection="office-cloud",kind="child-sa-installed"}')
        checks.check("up-child-sa-installed-counted", child_before != MISSING and at_least(v, child_before + 1),
                     f"{child_before} -> {v}", detail=f"{child_before} -> {v}")
        v = value(text, 'isthmus_esp_packets_total{direction="out"}')
        checks.check("up-esp-packets-out-keep-counting", out_before != MISSING and at_least(v, out_before + 3),
                     f"{out_before} -> {v}", detail=f"{out_before} -> {v}")
    else:
        checks.fail("up-scrape", f"GET {URL_O} failed")

    # ---------------------------------------------------------------- drops
    # A forged ESP packet (unknown SPI) to the cloud gateway's UDP 4500: counted as a data-plane drop.
    send_udp(sites.ofc, CLOUD_PUBLIC, 4500, b"\x00\x00\x12\x34\x00\x00\x00\x01garbage-garbage-garbage")
    settle()
    ok, text, _, _ = scrape(sites.cld, URL_C, scene.path("cloud-2.prom"))
    if ok:
        v = value(text, 'isthmus_dataplane_drops_total{reason="unknown-spi"}')
        checks.check("forged-esp-counted-as-unknown-spi-drop", at_least(v, 1), f"got {v}", detail=str(v))
        v = value(text, 'isthmus_dataplane_drops_total{reason="integrity-failure"}')
        checks.check("no-integrity-failures", v in (MISSING, 0), f"got {v}")
    else:
        checks.fail("drops-scrape", f"GET {URL_C} failed")

    # ---------------------------------------------------------------- the port already in use
    # A second gateway asked for the office's metrics address refuses to start (exit 1) and says why.
    r = scene.run([isthmus_bin, "run", configs["office"], "--control", scene.path("second.sock"), "--ike-port", "1500",
                   "--nat-port", "1501", "--passive", "--metrics", f"127.0.0.1:{PORT}"], ns=sites.ofc, timeout=20)
    out = r.stdout + r.stderr
    checks.check("metrics-port-in-use-refused",
                 r.returncode == 1 and f"cannot serve metrics on 127.0.0.1:{PORT}" in out,
                 f"exit {r.returncode}: {' '.join(out.splitlines()[-2:])}", detail="exit 1")

    # ---------------------------------------------------------------- clean stop
    dead = [str(gw.pid) for gw in (office, cloud) if not gw.alive]
    checks.check("daemon-alive", not dead, f"pid {' '.join(dead)} exited")
    for gw in (office, cloud):
        gw.stop()
    for name, gw in (("office", office), ("cloud", cloud)):
        text = gw.log_text()
        checks.check(f"clean-stop-{name}", "stopped" in text, "no 'stopped' line in its log")
        checks.check(f"no-crash-{name}", not gw.crashed(), f"see {gw.log_path}")
        # The endpoint stops gracefully with the gateway: no error logged by it.
        bad = [line for line in text.splitlines() if "error isthmus.metrics" in line]
        checks.check(f"metrics-stopped-quietly-{name}", not bad, bad[0] if bad else "")
