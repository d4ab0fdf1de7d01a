#!/usr/bin/env python3
"""Summaries for scripts/bench-tunnel (standard library only).

    bench_tunnel.py summary OUT            the table (stdout) from OUT's raw files
    bench_tunnel.py threads SAMPLES HZ     per-thread user/sys CPU from /proc/PID/task/*/stat samples
    bench_tunnel.py cpu FILE               one gateway CPU line (utime/stime before and after a run)
    bench_tunnel.py hops CASE              the four traversals' latency from CASE's hops-*.txt (HOPS=1)

OUT holds meta.txt (key=value), cases.txt (label TAB path TAB suite TAB status TAB encap) and one folder per
case: iperf-P1.N.json / iperf-P4.N.json (iperf3 -J), ping.N.txt (ping output), cpu-PX.N.txt (gateway CPU
ticks), notes.txt (free text lines from the script).
"""
import json
import os
import re
import statistics as st
import sys

GCM_TARGET = 10.0         # Isthmus >= 10x strongSwan with AES-GCM (raw ESP and ESP in UDP, -P1 and -P4)
CBC_TARGET = 8.0          # Isthmus >= 8x strongSwan with AES-CBC + HMAC-SHA-256
LATENCY_TARGET_US = 100   # added RTT median <= 100 us


def read_meta(out):
    meta = {}
    try:
        for line in open(os.path.join(out, "meta.txt")):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    except OSError:
        pass
    return meta


def read_cases(out):
    cases = []
    try:
        for line in open(os.path.join(out, "cases.txt")):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 4:
                parts += [""] * (5 - len(parts))
                cases.append(dict(label=parts[0], path=parts[1], suite=parts[2], status=parts[3], encap=parts[4]))
    except OSError:
        pass
    return cases


def iperf_runs(folder, streams):
    """[(Gbit/s, retransmits)] of every iperf-P<streams>.N.json that holds a result."""
    vals, failed = [], 0
    names = sorted(f for f in os.listdir(folder) if re.fullmatch(rf"iperf-P{streams}\.\d+\.json", f))
    for name in names:
        try:
            j = json.load(open(os.path.join(folder, name)))
            end = j["end"]
            vals.append((end["sum_received"]["bits_per_second"] / 1e9, end["sum_sent"].get("retransmits", 0)))
        except Exception:
            failed += 1
    return vals, failed


def ping_samples(folder):
    rtts, lost, sent = [], 0, 0
    for name in sorted(f for f in os.listdir(folder) if re.fullmatch(r"ping\.\d+\.txt", f)):
        txt = open(os.path.join(folder, name)).read()
        rtts += [float(x) for x in re.findall(r"time=([0-9.]+) ms", txt)]
        m = re.search(r"(\d+) packets transmitted, (\d+) received", txt)
        if m:
            sent += int(m.group(1))
            lost += int(m.group(1)) - int(m.group(2))
    return rtts, lost, sent


def cpu_line(path):
    """{gateway: (total%, user%, sys%)} from lines `NAME u0 s0 u1 s1 t0 t1 HZ`."""
    res = {}
    for line in open(path):
        f = line.split()
        if len(f) != 8:
            continue
        name = f[0]
        u0, s0, u1, s1, t0, t1, hz = map(float, f[1:])
        dt = t1 - t0
        if dt <= 0:
            continue
        u = (u1 - u0) / hz / dt * 100
        s = (s1 - s0) / hz / dt * 100
        res[name] = (u + s, u, s)
    return res


def cpu_runs(folder, streams):
    per = {}
    for name in sorted(f for f in os.listdir(folder) if re.fullmatch(rf"cpu-P{streams}\.\d+\.txt", f)):
        for gw, v in cpu_line(os.path.join(folder, name)).items():
            per.setdefault(gw, []).append(v)
    return {gw: tuple(st.median(x[i] for x in v) for i in range(3)) for gw, v in per.items()}


def fmt_g(vals):
    if not vals:
        return "-"
    g = [v[0] for v in vals]
    return f"{st.median(g):7.3f} ({min(g):.3f}-{max(g):.3f})"


def case_stats(out, case):
    folder = os.path.join(out, case["label"])
    s = dict(case)
    s["ok"] = case["status"] == "ok"
    if not os.path.isdir(folder):
        s.update(p1=[], p4=[], f1=0, f4=0, rtts=[], lost=0, sent=0, cpu1={}, cpu4={}, notes=[])
        return s
    s["p1"], s["f1"] = iperf_runs(folder, 1)
    s["p4"], s["f4"] = iperf_runs(folder, 4)
    s["rtts"], s["lost"], s["sent"] = ping_samples(folder)
    s["cpu1"], s["cpu4"] = cpu_runs(folder, 1), cpu_runs(folder, 4)
    try:
        s["notes"] = [l.rstrip("\n") for l in open(os.path.join(folder, "notes.txt")) if l.strip()]
    except OSError:
        s["notes"] = []
    s["m1"] = st.median(v[0] for v in s["p1"]) if s["p1"] else None
    s["m4"] = st.median(v[0] for v in s["p4"]) if s["p4"] else None
    s["rtt"] = st.median(s["rtts"]) if s["rtts"] else None
    return s


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def summary(out):
    meta = read_meta(out)
    stats = [case_stats(out, c) for c in read_cases(out)]
    lines = []
    p = lines.append
    p("Isthmus tunnel benchmark (scripts/bench-tunnel)")
    for key in ("started", "host", "kernel", "cpus", "isthmus", "isthmus_version", "strongswan", "iperf3",
                "runs", "dur", "pings", "ike", "isthmus_nat_t", "steps", "load_at_start", "load_at_end", "elapsed"):
        if key in meta:
            p(f"  {key:16s} {meta[key]}")
    p("")
    p(f"Throughput: iperf3 TCP office host 192.168.1.10 -> VM 10.0.1.4, median over {meta.get('runs', '?')} runs "
      f"of {meta.get('dur', '?')} s (min-max). RTT: ping office host -> VM, all samples.")
    hdr = f"{'path':11s} {'suite':14s} {'encap':9s} {'Gbit/s -P1':24s} {'Gbit/s -P4':24s} {'RTT median ms (min-max)':28s} lost"
    p(hdr)
    p("-" * len(hdr))
    for s in stats:
        if s["rtts"]:
            rtt = f"{st.median(s['rtts']):7.3f} ({min(s['rtts']):.3f}-{max(s['rtts']):.3f})"
        else:
            rtt = "-"
        lost = f"{s['lost']}/{s['sent']}" if s["sent"] else "-"
        p(f"{s['path']:11s} {s['suite']:14s} {s['encap'] or '-':9s} {fmt_g(s['p1']):24s} {fmt_g(s['p4']):24s} "
          f"{rtt:28s} {lost}")
        if not s["ok"]:
            p(f"{'':11s} ^ {s['status']}")
        elif s["f1"] or s["f4"]:
            p(f"{'':11s} ^ failed iperf3 runs: -P1 {s['f1']}, -P4 {s['f4']}")
    p("")

    plain = next((s for s in stats if s["path"] == "plain" and s["ok"]), None)
    by = {(s["path"], s["suite"]): s for s in stats if s["path"] != "plain"}
    suites = []
    for s in stats:
        if s["path"] != "plain" and s["suite"] not in suites:
            suites.append(s["suite"])

    def r(x):
        return "   n/a" if x is None else f"{x:6.2f}x"

    p("Ratios (of medians)")
    for suite in suites:
        iss, sss = by.get(("isthmus", suite)), by.get(("strongswan", suite))
        r1 = ratio(iss and iss.get("m1"), sss and sss.get("m1"))
        r4 = ratio(iss and iss.get("m4"), sss and sss.get("m4"))
        line = f"  Isthmus/strongSwan {suite:14s} -P1 {r(r1)}  -P4 {r(r4)}"
        target, name = (GCM_TARGET, "AES-GCM") if "gcm" in suite else (CBC_TARGET, "CBC+HMAC")
        verdicts = [f"-P{n} {'MET' if x >= target else 'NOT MET'}" for n, x in ((1, r1), (4, r4)) if x is not None]
        line += f"   target >= {target:g}x ({name}): " + (", ".join(verdicts) if verdicts else "n/a")
        p(line)
    for suite in suites:
        iss = by.get(("isthmus", suite))
        r1 = ratio(iss and iss.get("m1"), plain and plain.get("m1"))
        r4 = ratio(iss and iss.get("m4"), plain and plain.get("m4"))
        p(f"  Isthmus/plain      {suite:14s} -P1 {r(r1)}  -P4 {r(r4)}")
    for suite in suites:
        sss = by.get(("strongswan", suite))
        r1 = ratio(sss and sss.get("m1"), plain and plain.get("m1"))
        r4 = ratio(sss and sss.get("m4"), plain and plain.get("m4"))
        p(f"  strongSwan/plain   {suite:14s} -P1 {r(r1)}  -P4 {r(r4)}")
    p("")
    base = plain.get("rtt") if plain else None
    p("Added latency (tunnel RTT median - plain RTT median"
      + (f" {base * 1000:.0f} us)" if base is not None else ", plain not measured)"))
    for path in ("isthmus", "strongswan"):
        for suite in suites:
            s = by.get((path, suite))
            if s is None:
                continue
            if base is None or s.get("rtt") is None:
                p(f"  {path:10s} {suite:14s}    n/a")
                continue
            added = (s["rtt"] - base) * 1000  # ms -> us
            line = f"  {path:10s} {suite:14s} {added:+7.0f} us"
            if path == "isthmus":
                line += f"   target <= {LATENCY_TARGET_US} us: {'MET' if added <= LATENCY_TARGET_US else 'NOT MET'}"
            p(line)
    p("")
    p("Details per case (gateway CPU% = utime+stime of the daemon process over the iperf3 run, median; all = the "
      "whole machine, 100% per CPU; s/GB = CPU seconds per gigabyte carried at the median rate; retransmits median)")
    for s in stats:
        parts = []
        for n, key, runs in ((1, "cpu1", "p1"), (4, "cpu4", "p4")):
            cpu = s.get(key) or {}
            rate = st.median(v[0] for v in s[runs]) if s.get(runs) else 0
            def per_gb(pct):
                return f", {pct / 100 / (rate / 8):.2f} s/GB" if rate > 0 else ""
            c = " ".join(f"{gw} {v[0]:.0f}% (usr {v[1]:.0f} sys {v[2]:.0f}{per_gb(v[0])})"
                         for gw, v in sorted(cpu.items(), reverse=True))
            retr = st.median(v[1] for v in s[runs]) if s.get(runs) else None
            seg = f"-P{n}: retr {retr:.0f}" if retr is not None else f"-P{n}: -"
            if c:
                seg += f", CPU {c}"
            parts.append(seg)
        p(f"  {s['label']}: " + "; ".join(parts))
        for note in s.get("notes", []):
            p(f"      {note}")
    if meta.get("profile"):
        p("")
        p(f"Profile: {meta['profile']}")
    return "\n".join(lines) + "\n"


def threads(path, hz):
    """Per-thread CPU over the sampled span: first and last sample of each thread."""
    samples = []  # [(t, {tid: (comm, utime, stime)})]
    cur = None
    for line in open(path):
        if line.startswith("T "):
            cur = (float(line.split()[1]), {})
            samples.append(cur)
            continue
        if cur is None or ")" not in line:
            continue
        head, _, rest = line.rpartition(")")
        tid = head.split("(", 1)[0].strip()
        comm = head.split("(", 1)[1] if "(" in head else "?"
        f = rest.split()
        if len(f) < 13:
            continue
        cur[1][tid] = (comm, int(f[11]), int(f[12]))
    samples = [s for s in samples if s[1]]
    if len(samples) < 2:
        return "not enough samples\n"
    first, last = {}, {}
    for t, d in samples:
        for tid, v in d.items():
            first.setdefault(tid, (t, v))
            last[tid] = (t, v)
    span = samples[-1][0] - samples[0][0]
    rows = []
    for tid, (t1, (comm, u1, s1)) in last.items():
        t0, (_, u0, s0) = first[tid]
        u, s = (u1 - u0) / hz / span * 100, (s1 - s0) / hz / span * 100
        rows.append((u + s, u, s, tid, comm))
    rows.sort(reverse=True)
    out = [f"per-thread CPU over {span:.1f} s ({len(samples)} samples of /proc/PID/task/*/stat; 100% = one core)",
           f"{'tid':>8s} {'thread':18s} {'total%':>7s} {'user%':>7s} {'sys%':>7s}"]
    tot = [0.0, 0.0, 0.0]
    for total, u, s, tid, comm in rows:
        tot[0] += total
        tot[1] += u
        tot[2] += s
        if total >= 0.5:
            out.append(f"{tid:>8s} {comm:18s} {total:7.1f} {u:7.1f} {s:7.1f}")
    out.append(f"{'all':>8s} {f'({len(rows)} threads)':18s} {tot[0]:7.1f} {tot[1]:7.1f} {tot[2]:7.1f}")
    return "\n".join(out) + "\n"


HOP_NAMES = ("office out", "cloud in", "VM turnaround", "cloud out", "office in")


def hop_times(folder):
    """Per ping: the five intervals between the six moments a ping passes the capture points (microseconds).

    ofc-lan sees the request come in and the reply go out; ofc-wan the protected request leave and the protected
    reply come back (ESP, ESP in UDP, or plain ICMP); cld-lan the decrypted request leave for the VM and the reply
    come back. The WAN packet of a ping is the first one in its direction between the LAN moments around it."""
    def read(tag):
        rows = []
        for line in open(os.path.join(folder, f"hops-{tag}.txt"), errors="replace"):
            f = line.split(" ", 2)
            if len(f) < 3 or f[1] != "IP":
                continue
            t = float(f[0])
            m = re.search(r"ICMP echo (request|reply), id \d+, seq (\d+)", line)
            src = f[2].split(" > ", 1)[0]
            rows.append((t, m.group(1) if m else None, int(m.group(2)) if m else None, src))
        return rows

    lan, wan, cld = read("ofc-lan"), read("ofc-wan"), read("cld-lan")

    def at(rows, kind, seq):
        return next((t for t, k, s, _ in rows if k == kind and s == seq), None)

    def wan_after(start, end, outbound):
        for t, _, _, src in wan:
            if start < t <= end and src.startswith(("198.51.100.", "192.168.1.")) == outbound:
                return t
        return None

    out = []
    for seq in sorted({s for _, k, s, _ in lan if k == "request"}):
        t1, t6 = at(lan, "request", seq), at(lan, "reply", seq)
        t3, t4 = at(cld, "request", seq), at(cld, "reply", seq)
        if None in (t1, t3, t4, t6):
            continue
        t2, t5 = wan_after(t1, t3, True), wan_after(t4, t6, False)
        if None in (t2, t5):
            continue
        marks = (t1, t2, t3, t4, t5, t6)
        out.append([(b - a) * 1e6 for a, b in zip(marks, marks[1:])])
    return out


def hops(folder):
    try:
        times = hop_times(folder)
    except OSError as error:
        return f"no capture to read ({error.filename}: {error.strerror}; see hops-*.log)\n"
    if not times:
        return "no complete ping in the captures\n"
    med = [st.median(t[i] for t in times) for i in range(len(HOP_NAMES))]
    gateways = med[0] + med[1] + med[3] + med[4]
    line = ", ".join(f"{n} {v:.0f}" for n, v in zip(HOP_NAMES, med))
    out = [f"{line} us (medians of {len(times)} pings; the four traversals {gateways:.0f} us)"]
    for i, name in enumerate(HOP_NAMES):
        v = sorted(t[i] for t in times)
        out.append(f"  {name:14s} median {med[i]:7.1f} us, min {v[0]:7.1f}, max {v[-1]:7.1f}")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) >= 2 and argv[0] == "summary":
        sys.stdout.write(summary(argv[1]))
    elif len(argv) >= 3 and argv[0] == "threads":
        sys.stdout.write(threads(argv[1], float(argv[2])))
    elif len(argv) >= 2 and argv[0] == "hops":
        sys.stdout.write(hops(argv[1]))
    elif len(argv) >= 2 and argv[0] == "cpu":
        for gw, v in sorted(cpu_line(argv[1]).items(), reverse=True):
            print(f"{gw} {v[0]:.0f}% (usr {v[1]:.0f} sys {v[2]:.0f})")
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
