"""A userspace WAN impairment relay (this kernel has neither sch_netem nor NFQUEUE): run as a process inside a
test's router namespace, it forwards Ethernet frames between two interfaces that the kernel does not bridge or
route (AF_PACKET sockets bound to each; frames the relay itself sent, `sll_pkttype == PACKET_OUTGOING`, are
skipped), with per direction: loss %, duplication %, reordering % (a held frame is released after the next
REORDER_AFTER frames of its direction have been sent, or after REORDER_HOLD_MS when fewer come), and a fixed
delay plus a uniform jitter (release times stay in order within a direction: only the reordering reorders).

    python3 impair.py --a IF_A --b IF_B --stats FILE [--seed N] [--max-seconds S]
                      [--loss P] [--dup P] [--reorder P] [--reorder-after N] [--reorder-hold-ms MS]
                      [--delay-ms MS] [--jitter-ms MS]   (both directions; --ab-* / --ba-* for one)

Randomness comes from random.Random(SEED) (one generator per direction, seeded SEED and SEED+1), so a run's
decisions are reproducible for the same frames. Counters per direction (received, sent, dropped, duplicated,
reordered, held_not_overtaken, delayed, send_errors, checksums_filled) go as JSON to --stats (and a line to
stdout) on SIGUSR1, at SIGTERM/SIGINT and at exit. It stops by itself after --max-seconds (default 600). Frames
whose checksum the sender left to the NIC (veth: CHECKSUM_PARTIAL, PACKET_AUXDATA's TP_STATUS_CSUMNOTREADY) get
their IPv4 UDP/TCP checksum filled in before they are sent on, else the receiver would drop them. It opens only
the two interfaces named, in the namespace it was started in; the harness starts it with `ip netns exec`."""
import argparse
import heapq
import json
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_CSUMNOTREADY = 0x8
COUNTERS = ("received", "sent", "dropped", "duplicated", "reordered", "held_not_overtaken", "delayed",
            "send_errors", "checksums_filled")


def _sum16(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def fill_checksum(frame):
    """FRAME with its IPv4 UDP or TCP checksum computed (a frame of another kind comes back unchanged)."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack("!H", frame[16:18])[0]
    proto = frame[23]
    if struct.unpack("!H", frame[20:22])[0] & 0x3FFF:   # a fragment: no L4 header to fix
        return frame
    start, end = 14 + ihl, 14 + total
    offset = {17: 6, 6: 16}.get(proto)
    if offset is None or end > len(frame) or end - start < offset + 2:
        return frame
    l4 = bytearray(frame[start:end])
    l4[offset:offset + 2] = b"\0\0"
    pseudo = frame[26:34] + struct.pack("!BBH", 0, proto, len(l4))
    csum = (~_sum16(pseudo + bytes(l4))) & 0xFFFF
    if proto == 17 and csum == 0:
        csum = 0xFFFF
    l4[offset:offset + 2] = struct.pack("!H", csum)
    return frame[:start] + bytes(l4) + frame[end:]


class Direction:
    def __init__(self, name, out_sock, rng, loss, dup, reorder, reorder_after, hold, delay, jitter):
        self.name, self.out, self.rng = name, out_sock, rng
        self.loss, self.dup, self.reorder = loss, dup, reorder
        self.reorder_after, self.hold, self.delay, self.jitter = reorder_after, hold, delay, jitter
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.last_release = 0.0
        self.held = []          # [frame, frames sent since held, release deadline]

    def _release_time(self, now):
        t = now + max(0.0, self.delay + self.rng.uniform(-self.jitter, self.jitter))
        t = max(t, self.last_release)       # in order within the direction
        self.last_release = t
        return t

    def frame_in(self, frame, now, queue, seq):
        c = self.counts
        c["received"] += 1
        if self.rng.random() * 100 < self.loss:
            c["dropped"] += 1
            return seq
        copies = 2 if self.rng.random() * 100 < self.dup else 1
        if copies == 2:
            c["duplicated"] += 1
        if self.reorder_after > 0 and self.rng.random() * 100 < self.reorder:
            self.held.append([frame, 0, now + self.hold])
            copies -= 1     # the original is held; a duplicate (if any) goes on now
        for _ in range(copies):
            seq = self._schedule(frame, now, queue, seq)
        return seq

    def _schedule(self, frame, now, queue, seq):
        t = self._release_time(now)
        if t > now:
            self.counts["delayed"] += 1
        heapq.heappush(queue, (t, seq, self, frame))
        return seq + 1

    def sent_one(self, now, queue, seq):
        """A frame of this direction went out: held frames count it, and those overtaken enough go on."""
        for h in self.held:
            h[1] += 1
        return self._release_held(now, queue, seq, lambda h: h[1] >= self.reorder_after)

    def tick(self, now, queue, seq):
        return self._release_held(now, queue, seq, lambda h: now >= h[2])

    def _release_held(self, now, queue, seq, due):
        keep = []
        for h in self.held:
            if due(h):
                self.counts["reordered" if h[1] > 0 else "held_not_overtaken"] += 1
                seq = self._schedule(h[0], now, queue, seq)
            else:
                keep.append(h)
        self.held = keep
        return seq

    def next_deadline(self):
        return min((h[2] for h in self.held), default=None)


def _open(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=600)
    knobs = (("loss", float, 0), ("dup", float, 0), ("reorder", float, 0), ("reorder-after", int, 2),
             ("reorder-hold-ms", float, 50), ("delay-ms", float, 0), ("jitter-ms", float, 0))
    for knob, kind, default in knobs:
        p.add_argument(f"--{knob}", type=kind, default=default)
        for d in ("ab", "ba"):
            p.add_argument(f"--{d}-{knob}", type=kind, default=None)
    args = p.parse_args(argv)

    def knob(d, name):
        v = getattr(args, f"{d}_{name.replace('-', '_')}")
        return getattr(args, name.replace("-", "_")) if v is None else v

    sock_a, sock_b = _open(args.a), _open(args.b)
    dirs = {}
    for d, out, seed in (("ab", sock_b, args.seed), ("ba", sock_a, args.seed + 1)):
        dirs[d] = Direction(f"{args.a if d == 'ab' else args.b}->{args.b if d == 'ab' else args.a}", out,
                            random.Random(seed), knob(d, "loss"), knob(d, "dup"), knob(d, "reorder"),
                            knob(d, "reorder-after"), knob(d, "reorder-hold-ms") / 1000, knob(d, "delay-ms") / 1000,
                            knob(d, "jitter-ms") / 1000)
    by_sock = {sock_a.fileno(): (sock_a, dirs["ab"]), sock_b.fileno(): (sock_b, dirs["ba"])}
    started = time.monotonic()
    state = {"stop": None, "dump": False}

    def write_stats(reason):
        out = {"reason": reason, "seconds": round(time.monotonic() - started, 1), "seed": args.seed,
               "directions": {d.name: dict(d.counts, held_now=len(d.held)) for d in dirs.values()},
               "settings": {d.name: {"loss": d.loss, "dup": d.dup, "reorder": d.reorder,
                                     "reorder_after": d.reorder_after, "reorder_hold_ms": d.hold * 1000,
                                     "delay_ms": d.delay * 1000, "jitter_ms": d.jitter * 1000}
                            for d in dirs.values()}}
        text = json.dumps(out, sort_keys=True)
        with open(args.stats + ".tmp", "w") as f:
            f.write(text + "\n")
        import os
        os.replace(args.stats + ".tmp", args.stats)
        print(text, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: state.__setitem__("stop", "SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: state.__setitem__("stop", "SIGINT"))
    signal.signal(signal.SIGUSR1, lambda *_: state.__setitem__("dump", True))
    print(f"impair: {args.a} <-> {args.b}, seed {args.seed}, at most {args.max_seconds:.0f} s", flush=True)
    queue, seq = [], 0
    anc = socket.CMSG_SPACE(32)
    while state["stop"] is None:
        now = time.monotonic()
        if now - started >= args.max_seconds:
            state["stop"] = "max-seconds"
            break
        if state["dump"]:
            state["dump"] = False
            write_stats("SIGUSR1")
        deadlines = [queue[0][0]] if queue else []
        deadlines += [t for t in (d.next_deadline() for d in dirs.values()) if t is not None]
        timeout = max(0.0, min(deadlines) - now) if deadlines else 0.5
        try:
            ready, _, _ = select.select([sock_a, sock_b], [], [], min(timeout, 0.5))
        except InterruptedError:
            continue
        now = time.monotonic()
        for s in ready:
            sock, direction = by_sock[s.fileno()]
            for _ in range(64):
                try:
                    frame, ancdata, _, addr = sock.recvmsg(65535, anc)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                for level, kind, data in ancdata:
                    if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 4:
                        if struct.unpack("I", data[:4])[0] & TP_STATUS_CSUMNOTREADY:
                            frame = fill_checksum(frame)
                            direction.counts["checksums_filled"] += 1
                seq = direction.frame_in(frame, now, queue, seq)
        for d in dirs.values():
            seq = d.tick(now, queue, seq)
        while queue and queue[0][0] <= now:
            _, _, d, frame = heapq.heappop(queue)
            try:
                d.out.send(frame)
                d.counts["sent"] += 1
            except OSError:
                d.counts["send_errors"] += 1
            seq = d.sent_one(now, queue, seq)
    write_stats(state["stop"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
