"""A bounded flood of IKE first messages with spoofed sources, for test_hardening_flood.py.

Run as a script inside the flooder's namespace (raw socket, IP_HDRINCL: root):

    python3 -B flood.py TARGET SECONDS PEER PEER_RATE RANDOM_RATE RESULT.json

It sends well-formed IKEv1 Main Mode messages 1 (an SA payload with a real proposal, the NAT-T and DPD vendor
IDs) and IKEv2 IKE_SA_INIT requests (SA, KE for Curve25519, where any 32 bytes are a public value, and a nonce),
alternately, each with a fresh SPI/cookie: from PEER (the real peer's address) at PEER_RATE a second and from
random addresses of SPOOF_NETWORKS at up to RANDOM_RATE a second, for SECONDS, then stops by itself (also after
SECONDS * (rates) * 1.1 packets). What it reached goes to RESULT.json. Sources are only ever PEER and the two
/26 networks below, all in the documentation ranges 198.51.100.0/24 and 203.0.113.0/24."""
import ipaddress
import json
import os
import socket
import struct
import sys
import time

ALLOWED = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24")]
# The random sources: two /26 networks the gateway routes back to the flooder (answers die there).
SPOOF_NETWORKS = [ipaddress.ip_network("198.51.100.128/26"), ipaddress.ip_network("203.0.113.128/26")]

NATT_VID = bytes.fromhex("4a131c81070358455c5728f20e95452f")     # RFC 3947
DPD_VID = bytes.fromhex("afcad71368a1f1c96b8696fc77570100")      # RFC 3706


def isakmp_main_mode_1():
    """ISAKMP header + SA (AES-CBC-256, SHA2-256, PSK, MODP 2048, 28800 s) + two vendor IDs; cookie zero."""
    attrs = b"".join(struct.pack("!HH", 0x8000 | t, v) for t, v in
                     [(1, 7), (14, 256), (2, 4), (3, 1), (4, 14), (11, 1), (12, 28800)])
    transform = struct.pack("!BBHBBH", 0, 0, 8 + len(attrs), 1, 1, 0) + attrs
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transform), 1, 1, 0, 1) + transform
    sa_body = struct.pack("!II", 1, 1) + proposal
    sa = struct.pack("!BBH", 13, 0, 4 + len(sa_body)) + sa_body
    vid1 = struct.pack("!BBH", 13, 0, 4 + len(NATT_VID)) + NATT_VID
    vid2 = struct.pack("!BBH", 0, 0, 4 + len(DPD_VID)) + DPD_VID
    body = sa + vid1 + vid2
    header = bytes(16) + struct.pack("!BBBBII", 1, 0x10, 2, 0, 0, 28 + len(body))
    return header + body


def ikev2_sa_init():
    """IKE header (I flag) + SA (AES-GCM-16-256, PRF HMAC-SHA2-256, Curve25519) + KE + Ni; SPIs zero."""
    t_encr = struct.pack("!BBHBBH", 3, 0, 12, 1, 0, 20) + struct.pack("!HH", 0x800E, 256)
    t_prf = struct.pack("!BBHBBH", 3, 0, 8, 2, 0, 5)
    t_dh = struct.pack("!BBHBBH", 0, 0, 8, 4, 0, 31)
    transforms = t_encr + t_prf + t_dh
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 3) + transforms
    sa = struct.pack("!BBH", 34, 0, 4 + len(proposal)) + proposal
    ke = struct.pack("!BBHHH", 40, 0, 8 + 32, 31, 0) + os.urandom(32)
    nonce = struct.pack("!BBH", 0, 0, 4 + 32) + os.urandom(32)
    body = sa + ke + nonce
    header = bytes(16) + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return header + body


def udp_ip(payload, target):
    """IPv4 (the kernel fills in the checksum, ID and total length) + UDP 500 -> 500 without checksum."""
    udp = struct.pack("!HHHH", 500, 500, 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0, 64, 17, 0,
                     bytes(4), socket.inet_aton(target))
    return bytearray(ip + udp + payload)


def main(argv):
    target, seconds, peer = argv[0], float(argv[1]), argv[2]
    peer_rate, random_rate, result_path = float(argv[3]), float(argv[4]), argv[5]
    if not any(ipaddress.ip_address(peer) in n for n in ALLOWED):
        raise SystemExit(f"refusing to spoof {peer}: not in {ALLOWED}")
    for n in SPOOF_NETWORKS:
        assert any(n.subnet_of(a) for a in ALLOWED)
    templates = [udp_ip(isakmp_main_mode_1(), target), udp_ip(ikev2_sa_init(), target)]
    spi_at = 20 + 8                     # the initiator SPI / cookie: first 8 bytes of the IKE header
    randoms = [(int(n.network_address), n.num_addresses) for n in SPOOF_NETWORKS]
    peer_bytes = socket.inet_aton(peer)
    limit = int(seconds * (peer_rate + random_rate) * 1.1) + 10
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sent = {"peer": 0, "random": 0}
    errors = 0
    start = time.monotonic()
    end = start + seconds
    pool = os.urandom(8 * 65536)
    pool_at = 0
    counter = 0
    while True:
        now = time.monotonic()
        if now >= end or sent["peer"] + sent["random"] >= limit:
            break
        elapsed = now - start
        due = {"peer": int(elapsed * peer_rate) - sent["peer"], "random": int(elapsed * random_rate) - sent["random"]}
        if due["peer"] <= 0 and due["random"] <= 0:
            time.sleep(0.001)
            continue
        for stream in ("peer", "random"):
            for _ in range(min(due[stream], 2000)):
                counter += 1
                packet = templates[counter & 1]
                if pool_at + 8 > len(pool):
                    pool, pool_at = os.urandom(8 * 65536), 0
                packet[spi_at:spi_at + 8] = pool[pool_at:pool_at + 8]
                pool_at += 8
                if stream == "peer":
                    packet[12:16] = peer_bytes
                else:
                    base, size = randoms[counter & 2 and 1 or 0]
                    packet[12:16] = struct.pack("!I", base + pool[pool_at - 1] % size)
                try:
                    s.sendto(packet, (target, 0))
                    sent[stream] += 1
                except OSError:
                    errors += 1
    duration = time.monotonic() - start
    result = {"seconds": round(duration, 3), "peer_sent": sent["peer"], "random_sent": sent["random"],
              "peer_rate": round(sent["peer"] / duration, 1), "random_rate": round(sent["random"] / duration, 1),
              "errors": errors, "asked_peer_rate": peer_rate, "asked_random_rate": random_rate}
    with open(result_path, "w") as f:
        json.dump(result, f)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
