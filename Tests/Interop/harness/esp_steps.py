"""The step runners of test_esp_strongswan.py (RUNNERS: a Step's kind -> its runner, called as
runner(run, step, **step.opts)): ping, iperf, esp-counted, alive, udp-baseline, rekey (a CHILD SA rekey under
iperf3 load, by strongSwan or by Isthmus) and volume (a rekey on the volume lifetime). Knobs (environment):
REKEY_AT=5, UDP_RATE=50M, UDP_MAX_LOST=10, UDP_MAX_LOSS_PCT=0.5."""
import os
import re
import time

from .checks import log
from .config import WAIT, env_int
from .esp_run import (CONN, SS_CHILD, SS_CONN, current_in_spi, dp_counters, drops_delta, established_children,
                      iperf_summary, kernel_text)
from .ikev2_checks import child_rekey_seconds, rekeyed_checks
from .isthmus import dataplane
from .proc import wait_for
from .sites import VM

REKEY_AT = env_int("REKEY_AT", 5)
UDP_RATE = os.environ.get("UDP_RATE") or "50M"
UDP_MAX_LOST = env_int("UDP_MAX_LOST", 10)
UDP_MAX_LOSS_PCT = float(os.environ.get("UDP_MAX_LOSS_PCT") or 0.5)
UDP_ARGS = ("-u", "-b", UDP_RATE, "-l", "1300", "--get-server-output")


def step_ping(run, step, src, dst, count):
    ns = getattr(run.sites, src)
    r = ns.ping(dst, count=count, interval=0.1, wait=2)
    text = r.stdout + r.stderr
    run.scene.write(f"{step.name}.ping.txt", text, mode=0o644)
    got = text.count(f"bytes from {dst}")
    first = "icmp_seq=1 " in text
    rtt = re.search(r"^rtt .* = (\S+) ms", text, re.M)
    problem = " ".join([line for line in text.splitlines() if "transmitted" in line or "rror" in line][:2])
    run.checks.check(run.name(step.name), got == count or (got == count - 1 and not first),
                     f"{got}/{count} replies: {problem}",
                     detail=f"{got}/{count} replies, rtt min/avg/max/mdev {rtt.group(1) if rtt else '?'} ms")


def step_iperf(run, step, seconds, reverse=False):
    name = run.name(step.name)
    k0 = run.kdrops()
    started = run.iperf_start(step.name, seconds, *(["-R"] if reverse else []))
    if started is None:
        tail = " ".join(run.scene.path(f"{step.name}.server.log").read_text(errors="replace").splitlines()[-2:])
        run.checks.fail(name, f"the iperf3 server in the VM did not start: {tail}")
        return
    run.iperf_wait(started[0])
    ok, res = iperf_summary(run.scene.path(f"{step.name}.json"))
    if not ok:
        run.checks.fail(name, res)
        return
    k1 = run.kdrops()
    run.checks.ok(name, f"{res['mbps']} Mbit/s, {res['retransmits']} TCP retransmits, {seconds} s; kernel drops: "
                        f"{kernel_text({k: k1[k] - k0.get(k, 0) for k in k1})}")
    run.note(f"throughput {step.name} {res['mbps']} Mbit/s")


def step_esp_counted(run, step, more_than):
    before, after = run.marks["before-traffic"], run.ist_snapshot("after-traffic")
    out = dataplane(after, "espPacketsOut") - dataplane(before, "espPacketsOut")
    inn = dataplane(after, "espPacketsIn") - dataplane(before, "espPacketsIn")
    drops = drops_delta(before, after)
    run.checks.check(run.name(step.name), out > more_than and inn > more_than,
                     f"Isthmus's data plane counted ESP out {out}, in {inn} during the traffic (drops: {drops})",
                     detail=f"ESP packets out {out}, in {inn}; data-plane drops: {drops}")


def step_alive(run, step):
    if not run.checks.check(run.name(step.name), run.daemons_alive(), "a daemon exited during the traffic"):
        run.tails()


def step_udp_baseline(run, step, seconds):
    """The UDP stream with no rekey: what the rate alone loses on this machine."""
    name = run.name(step.name)
    sampler = run.ksampler_start(step.name)
    started = run.iperf_start(step.name, seconds, *UDP_ARGS)
    if started is None:
        run.ksampler_stop(sampler)
        run.checks.fail(name, "iperf3 server did not start")
        return
    run.iperf_wait(started[0])
    kern = run.ksampler_stop(sampler)
    ok, res = iperf_summary(run.scene.path(f"{step.name}.json"), None, kern, started[1])
    if not ok:
        run.checks.fail(name, res)
        return
    run.checks.ok(name, f"{res['lost']} of {res['packets']} datagrams lost ({res['lost_pct']} %) at {res['mbps']} "
                        f"Mbit/s, no rekey; kernel drops: {res.get('kernel', 'none')}")
    run.note(f"{step.name} lost={res['lost']}/{res['packets']} kernel={res.get('kernel', 'none')}")


def step_rekey(run, step, by, proto, seconds):
    """One iperf3 run with a CHILD SA rekey in it. by=strongswan: swanctl --rekey REKEY_AT s into the run;
    by=isthmus: the run starts REKEY_AT s before Isthmus's own rekey (its status's rekeyInSeconds)."""
    checks, label = run.checks, step.name
    name = run.name(step.name)
    if by == "isthmus":
        status = run.ist_snapshot(f"before-{label}-wait")
        due = child_rekey_seconds(status, CONN)
        if due is None:
            checks.fail(name, "Isthmus's status shows no rekeyInSeconds for the CHILD SA")
            return
        delay = due - REKEY_AT
        run.note(f"Isthmus will rekey its CHILD SA in {due} s (status rekeyInSeconds); starting the {proto} run "
                 f"in {delay} s")
        if delay > 0:
            time.sleep(delay)
    before = f"{label}.before"
    ss0, ist0 = run.ss_snapshot(before), run.ist_snapshot(before)
    spi0 = current_in_spi(ist0)
    n_req0 = run.rekey_requests()
    sampler = run.ksampler_start(label)
    started = run.iperf_start(label, seconds, *(UDP_ARGS if proto == "udp" else ()))
    if started is None:
        run.ksampler_stop(sampler)
        checks.fail(name, "the iperf3 server in the VM did not start")
        return
    client, t_start = started
    checks.ok(name, f"iperf3 {proto} for {seconds} s" + (f", Isthmus's rekey due in {due} s" if by == "isthmus" else ""))
    t_rekey = None
    if by == "strongswan":
        time.sleep(REKEY_AT)
        t_rekey = time.time() - t_start
        r = run.ss.rekey(child=SS_CHILD)
        run.scene.write(f"{label}.rekey.txt", r.stdout + r.stderr, mode=0o644)
        if checks.check(name + ".rekey-requested",
                        r.returncode == 0 and "rekey completed successfully" in r.stdout + r.stderr,
                        f"swanctl --rekey --child {SS_CHILD}: {' '.join((r.stdout + r.stderr).splitlines()[-2:])}",
                        detail=f"swanctl --rekey --child {SS_CHILD} at +{t_rekey:.1f} s"):
            run.note(f"{step.name}: swanctl --rekey --child {SS_CHILD} at +{t_rekey:.1f} s")
    else:
        # watch for Isthmus's inbound SPI to change (its own rekey) while the run goes on
        deadline = time.monotonic() + seconds + 2
        while time.monotonic() < deadline and client.alive:
            spi = current_in_spi(run.ist_snapshot(f"{label}.watch"))
            if spi and spi != spi0:
                t_rekey = time.time() - t_start
                run.note(f"{step.name}: Isthmus's CHILD SA rekeyed at +{t_rekey:.1f} s (in {spi0} -> {spi})")
                break
            time.sleep(0.25)
    run.iperf_wait(client)
    kern = run.ksampler_stop(sampler)
    ok, res = iperf_summary(run.scene.path(f"{label}.json"), t_rekey, kern, t_start)

    # the rekey settled on both sides (one CHILD SA each, SPIs new and crossed, the old ones gone, same IKE SA)
    after = f"{label}.after"
    verdict = {}

    def settled():
        if not run.daemons_alive():
            return False
        verdict["results"] = rekeyed_checks("child", ss0, ist0, run.ss_snapshot(after), run.ist_snapshot(after),
                                            ss_conn=SS_CONN, ist_conn=CONN)
        return all(good for _, good, _ in verdict["results"])
    is_settled = bool(wait_for(settled, WAIT, abort=lambda: not run.daemons_alive()))
    results = verdict.get("results") or [("settled", False, "no snapshot could be taken (a daemon exited?)")]
    run.scene.write(f"{after}.txt", "".join(f"ok {n}\n" if g else f"bad {n} {why}\n" for n, g, why in results),
                    mode=0o644)
    ist1 = run.marks.get(after, {})
    spi1 = current_in_spi(ist1)
    drops = drops_delta(ist0, ist1)
    kernel = f"kernel drops: {res.get('kernel', 'none') if ok else 'none'}"
    run.note(f"{step.name}: iperf3: {res}; Isthmus drops: {drops}; {kernel}")
    run.note(f"{step.name}: Isthmus data plane: {dp_counters(ist1)}")
    bad = ";".join(f"{n} {why}" for n, g, why in results if not g)
    if checks.check(name + ".settled", is_settled, f"after {WAIT}s: {bad[:600]}",
                    detail=f"{len(results)} agreement checks"):
        checks.check(name + ".rekeyed", spi1 and spi1 != spi0,
                     f"Isthmus's inbound SPI did not change ({spi0} -> {spi1})",
                     detail=f"Isthmus inbound SPI {spi0} -> {spi1}, {len(results)} agreement checks, rekey at "
                            f"+{f'{t_rekey:.1f}' if t_rekey is not None else '?'} s")
    else:
        run.tails()
    if by == "isthmus":
        n_req1 = run.rekey_requests()
        checks.check(name + ".started-by-isthmus", n_req1 > n_req0,
                     "charon parsed no CREATE_CHILD_SA request with N(REKEY_SA) during the run",
                     detail=f"{n_req1 - n_req0} CREATE_CHILD_SA REKEY_SA request(s) parsed by charon")
    if not checks.check(name + ".traffic", ok, res if not ok else "", detail="iperf3 report complete"):
        run.tails()
        return
    if proto == "tcp":
        checks.ok(name + ".tcp-survived", f"{res['mbps']} Mbit/s over {res['seconds']} s, {res['retransmits']} TCP "
                                          f"retransmits; Isthmus drops: {drops}; {kernel}")
        run.note(f"rekey {step.name} retransmits={res['retransmits']} mbps={res['mbps']} drops=[{drops}] {kernel}")
        return
    # The rekey window's loss decides, less the datagrams that full receive buffers of strongSwan's socket and of
    # the VM dropped in that window (the shared CPUs starving charon or iperf3, which happens with no rekey too:
    # see udp-baseline); Isthmus's own drops and its TUN queue's count against it. All reported.
    wl, wp = res.get("win_lost"), res.get("win_packets")
    ws, wt = res.get("win_sockbuf", 0), res.get("win_tun", "?")
    if wl is None or wp is None:
        checks.fail(name + ".udp-loss", f"no rekey time or no interval report: {res}")
    else:
        blame = max(0, wl - ws)
        msg = (f"{wl} of {wp} datagrams lost in the rekey window {res['win']} ({ws} of them dropped by full socket "
               f"buffers at strongSwan or the VM, {wt} by Isthmus's TUN queue; counted against the rekey: {blame}); "
               f"whole run {res['lost']} of {res['packets']} ({res['lost_pct']} %), outside the window "
               f"{res['rest_lost']} of {res['rest_packets']}; {res['mbps']} Mbit/s sent; Isthmus drops: {drops}; "
               f"{kernel}")
        run.note(f"rekey {step.name} window_lost={wl}/{wp} window_sockbuf={ws} window_tun={wt} counted={blame} "
                 f"total_lost={res['lost']}/{res['packets']} isthmus_drops=[{drops}] {kernel}")
        checks.check(name + ".udp-loss", blame <= UDP_MAX_LOST or blame * 100 <= UDP_MAX_LOSS_PCT * wp,
                     f"{msg} (allowed in the window: <= {UDP_MAX_LOST} datagrams or <= {UDP_MAX_LOSS_PCT} %)",
                     detail=msg)
    after_received = res.get("after_received", 0)
    checks.check(name + ".udp-flows-after-rekey", after_received > 0,
                 f"no datagram received after the rekey window ({res})",
                 detail=f"{after_received} datagrams received after the window")


def step_volume(run, step, pings, size, limit_kb):
    """PINGS echoes of SIZE bytes (~1.5 MB each way) through a CHILD SA that may carry LIMIT_KB: Isthmus must
    rekey it on the way (its soft limit is 9/10 of esp_size), with no black hole."""
    checks, sites = run.checks, run.sites
    before = run.ist_snapshot("before-volume")
    spi0, n0 = current_in_spi(before), run.rekey_requests()
    r = sites.oh.run(["ping", "-q", "-c", pings, "-i", "0.005", "-s", size, "-W", "1", VM],
                     timeout=pings * 0.05 + 60)
    run.scene.write("volume.ping.txt", r.stdout + r.stderr, mode=0o644)
    m = re.search(r"(\d+) received", r.stdout)
    got = int(m.group(1)) if m else 0

    # the rekey Isthmus started on the way has completed (bounded; the bash script gave it 1 s)
    def rekeyed():
        status = run.ist_snapshot("after-volume")
        spi = current_in_spi(status)
        return run.rekey_requests() > n0 and spi and spi != spi0
    time.sleep(1)
    wait_for(rekeyed, WAIT, abort=lambda: not run.daemons_alive())
    after = run.marks.get("after-volume") or run.ist_snapshot("after-volume")
    spi1 = current_in_spi(after)
    drops = drops_delta(before, after)
    inst = dataplane(after, "installedSAs")
    est = len(established_children(after))
    run.note(f"volume: Isthmus inbound SPI {spi0} -> {spi1}; data plane: {dp_counters(after)}")
    for line in run.gw.log_text().splitlines():
        if "lifetime reached" in line or "rekey" in line:
            log("    " + line[:220])
    triggers = " ".join(re.findall(r"kind=[a-z]* trigger=[a-z]*", run.gw.log_text()))
    checks.check(run.name("rekeyed-by-isthmus"), run.rekey_requests() > n0 and spi1 != spi0,
                 f"no CHILD SA rekey while ~{pings * (size + 28) // 1024} KB crossed a CHILD SA limited to "
                 f"{limit_kb} KB (inbound SPI {spi0} -> {spi1}; Isthmus logged: {triggers})",
                 detail=f"inbound SPI {spi0} -> {spi1}")
    checks.check(run.name("no-blackhole"), got >= pings - 5,
                 f"{got}/{pings} replies; Isthmus's data-plane drops: {drops}",
                 detail=f"{got}/{pings} replies; Isthmus drops: {drops}")
    checks.check(run.name("dataplane-matches-ike"), est >= 1 and inst >= est,
                 f"Isthmus's IKE lists {est} established CHILD SA(s) (in {spi1}), its data plane has {inst} installed",
                 detail=f"{est} CHILD SA(s) established, {inst} installed in the data plane")


RUNNERS = {"ping": step_ping, "iperf": step_iperf, "esp-counted": step_esp_counted, "alive": step_alive,
           "udp-baseline": step_udp_baseline, "rekey": step_rekey, "volume": step_volume}
