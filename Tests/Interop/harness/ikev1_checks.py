"""IKEv1 comparisons and hostile ISAKMP input (stdlib only; formerly scripts/lib/interop_ikev1.py), for
test_ikev1_strongswan.py.

verify_established(ss, status, ss_conn=, ist_conn=, ike=, esp=, ist_ike=, ist_esp=, ss_lts=, ss_rts=,
isthmus_role=, ike_lifetime=, esp_lifetime=) -> [(name, ok, reason)] (ss/status as data or JSON file paths, see
ikev2_checks); samples_summary(lines); inject_hostile(to=, pcap=, peer=, bind=, count=) -> {kind: count}: hostile
ISAKMP to TO (UDP 500 and 4500) from a socket bound to BIND (run it inside the sending namespace): malformed
datagrams, Quick Modes and Informationals for unknown cookies, messages with a wrong HASH (mutated ciphertext), and
replays of every Main Mode message PEER sent to TO in PCAP.

ALG strings use strongSwan's names as `swanctl --list-sas` prints them (AES_CBC-256/HMAC_SHA1_96/PRF_HMAC_SHA1/
MODP_1024); Isthmus's are its keywords (aes256-sha1-modp1024).
"""
import random
import socket
import struct
from types import SimpleNamespace

from .capture import datagrams
from .ikev2_checks import load_json, spi_norm


def ss_sas(path, conn):
    return [sa for sa in load_json(path, []) if sa["conn"] == conn]


def ist_sas(path, conn):
    for c in load_json(path, {}).get("connections") or []:
        if c.get("name") == conn:
            return c.get("ikeSAs") or []
    return []


def ist_installed(path, conn):
    return [c for c in load_json(path, {}).get("childSAs") or [] if c.get("connection") == conn]


# ----------------------------------------------------------------------------- verify
def verify_established(ss, status, **kw):
    return _verify(SimpleNamespace(ssjson=ss, status=status, **kw))


def _verify(a):
    results = []

    def check(name, ok, reason=""):
        results.append((name, ok, reason))

    ss_all = ss_sas(a.ssjson, a.ss_conn)
    ss_est = [sa for sa in ss_all if sa["state"] == "ESTABLISHED"]
    check("ss-one-ike-sa", len(ss_est) == 1, f"strongSwan lists {len(ss_est)} ESTABLISHED IKE SAs ({len(ss_all)} in all)")
    ist_all = ist_sas(a.status, a.ist_conn)
    ist_est = [s for s in ist_all if s.get("state") == "established"]
    check("ist-one-ike-sa", len(ist_est) == 1,
          f"Isthmus lists {len(ist_est)} established IKE SAs ({[s.get('state') for s in ist_all]})")
    if len(ss_est) != 1 or len(ist_est) != 1:
        return results
    ss, ist = ss_est[0], ist_est[0]
    check("ss-ikev1", ss.get("version") == "1", f"strongSwan IKE version {ss.get('version')}")
    check("ist-ikev1", ist.get("ikeVersion") == 1, f"Isthmus ikeVersion {ist.get('ikeVersion')}")
    check("ss-ike-algorithms", ss["ike_alg"] == a.ike, f"strongSwan: {ss['ike_alg']}, expected {a.ike}")
    check("ist-ike-algorithms", ist.get("algorithms") == a.ist_ike, f"Isthmus: {ist.get('algorithms')}, expected {a.ist_ike}")
    check("ist-role", ist.get("role") == a.isthmus_role, f"Isthmus role {ist.get('role')}, expected {a.isthmus_role}")
    ss_role_ok = ss["initiator"] == (a.isthmus_role == "responder")
    check("ss-role", ss_role_ok, f"strongSwan initiator={ss['initiator']} while Isthmus is {a.isthmus_role}")
    mine = (spi_norm(ist.get("localSPI")), spi_norm(ist.get("remoteSPI")))
    theirs = (ss["ispi"], ss["rspi"]) if a.isthmus_role == "initiator" else (ss["rspi"], ss["ispi"])
    check("cookies", mine == theirs, f"Isthmus cookies (ours/theirs) {mine}, strongSwan {theirs}")
    check("ist-ike-lifetime", str(ist.get("lifetimeSeconds")) == a.ike_lifetime,
          f"Isthmus ISAKMP SA lifetime {ist.get('lifetimeSeconds')} s ({ist.get('lifetimeReason')}), expected {a.ike_lifetime}")
    check("ist-ike-lifetime-reason", bool(ist.get("lifetimeReason")), "no lifetimeReason in status")
    ss_children = [c for c in ss["children"] if c["state"] == "INSTALLED"]
    ist_children = [c for c in ist.get("childSAs") or [] if c.get("state") == "installed"]
    check("ss-one-child", len(ss_children) == 1, f"strongSwan INSTALLED CHILD SAs: {len(ss_children)}")
    check("ist-one-child", len(ist_children) == 1, f"Isthmus installed IPsec SAs: {len(ist_children)}")
    if len(ss_children) != 1 or len(ist_children) != 1:
        return results
    sc, ic = ss_children[0], ist_children[0]
    check("ss-esp-algorithms", sc["esp_alg"] == a.esp, f"strongSwan: {sc['esp_alg']}, expected {a.esp}")
    check("ist-esp-algorithms", ic.get("algorithms") == a.ist_esp, f"Isthmus: {ic.get('algorithms')}, expected {a.ist_esp}")
    check("ss-tunnel-in-udp", sc["mode"] == "TUNNEL" and sc["encap"], f"strongSwan mode {sc['mode']} encap {sc['encap']}")
    check("ss-selectors", sc["local_ts"] == [a.ss_lts] and sc["remote_ts"] == [a.ss_rts],
          f"strongSwan {sc['local_ts']} === {sc['remote_ts']}")
    check("ist-selectors", ic.get("localSelectors") == [a.ss_rts] and ic.get("remoteSelectors") == [a.ss_lts],
          f"Isthmus {ic.get('localSelectors')} === {ic.get('remoteSelectors')}")
    check("spis-crossed", spi_norm(ic.get("inboundSPI")) == sc["spi_out"] and spi_norm(ic.get("outboundSPI")) == sc["spi_in"],
          f"Isthmus in/out {ic.get('inboundSPI')}/{ic.get('outboundSPI')}, strongSwan in/out {sc['spi_in']}/{sc['spi_out']}")
    check("ist-esp-lifetime", str(ic.get("lifetimeSeconds")) == a.esp_lifetime,
          f"Isthmus IPsec SA lifetime {ic.get('lifetimeSeconds')} s ({ic.get('lifetimeReason')}), expected {a.esp_lifetime}")
    installed = [c for c in ist_installed(a.status, a.ist_conn) if spi_norm(c.get("inboundSPI")) == spi_norm(ic.get("inboundSPI"))]
    check("ist-installed-udp", len(installed) == 1 and installed[0].get("udpEncapsulated") is True,
          f"Isthmus installed table: {installed}")
    dataplane = load_json(a.status, {}).get("dataplane") or {}
    check("ist-dataplane-installed", (dataplane.get("installedSAs") or 0) >= 1, f"data plane: {dataplane.get('installedSAs')}")
    return results


def samples_summary(lines):
    """(n, min strongSwan, min Isthmus, zero strongSwan, zero Isthmus) of `time ss ist` sample lines."""
    ss, ist = [], []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            ss.append(int(parts[1]))
            ist.append(int(parts[2]))
    if not ss:
        return 0, None, None, 0, 0
    return len(ss), min(ss), min(ist), ss.count(0), ist.count(0)


# ----------------------------------------------------------------------------- hostile input
def pcap_datagrams(path, src, dst):
    """IKEv1 messages (marker stripped) sent from SRC to DST to port 500 or 4500 in the pcap, in order."""
    out = []
    for _, s, _, d, dport, payload in datagrams(path):
        if s != src or d != dst or dport not in (500, 4500):
            continue
        if dport == 4500:
            if payload[:4] != b"\0\0\0\0":
                continue
            payload = payload[4:]
        if len(payload) >= 28 and payload[17] == 0x10:
            out.append(payload)
    return out


def isakmp(cookie_i, cookie_r, exchange, message_id, body=b"", flags=0, next_payload=8):
    length = 28 + len(body)
    return struct.pack("!QQBBBBII", cookie_i, cookie_r, next_payload, 0x10, exchange, flags, message_id, length) + body


def inject_hostile(to, pcap, peer, bind, count=3):
    """Sends the hostile ISAKMP of inject() and returns {kind: datagrams sent}."""
    return _inject(SimpleNamespace(to=to, pcap=pcap, peer=peer, bind=bind, count=count))


def _inject(a):
    rng = random.Random(4711)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.bind, 0))
    sent = {}

    def send(kind, payload, port=500):
        data = payload if port == 500 else b"\0\0\0\0" + payload
        sock.sendto(data, (a.to, port))
        sent[kind] = sent.get(kind, 0) + 1

    captured = pcap_datagrams(a.pcap, a.peer, a.to)
    main_mode = [m for m in captured if m[18] == 2]
    quick = [m for m in captured if m[18] == 32]
    cookies = (struct.unpack("!Q", main_mode[-1][0:8])[0], struct.unpack("!Q", main_mode[-1][8:16])[0]) if main_mode else (1, 2)
    for _ in range(a.count):
        # malformed: short, a header whose length lies, random bytes with an ISAKMP version
        send("malformed", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 27))))
        send("malformed", isakmp(cookies[0], cookies[1], 2, 0, b"\0" * 12)[:-6])
        send("malformed", isakmp(cookies[0], cookies[1], 32, 7, bytes(rng.getrandbits(8) for _ in range(40)), flags=1)[:30] + b"\xff" * 5, port=4500)
        # Quick Mode and Informational for an ISAKMP SA nobody has
        send("unknown-sa", isakmp(rng.getrandbits(64) | 1, rng.getrandbits(64) | 1, 32, rng.getrandbits(32) | 1,
                                  bytes(rng.getrandbits(8) for _ in range(48)), flags=1))
        send("unknown-sa", isakmp(rng.getrandbits(64) | 1, rng.getrandbits(64) | 1, 5, rng.getrandbits(32) | 1,
                                  bytes(rng.getrandbits(8) for _ in range(32)), flags=1), port=4500)
        # wrong HASH: a real encrypted message (the Quick Mode the peer sent, else Main Mode 5) with one ciphertext
        # byte changed, under a fresh message ID so it is not a plain replay; and a new Quick Mode on the live SA
        for template in (quick[:1] or main_mode[-2:-1]):
            body = bytearray(template)
            body[-1] ^= 0x5a
            body[20:24] = struct.pack("!I", rng.getrandbits(32) | 1)
            send("wrong-hash", bytes(body), port=4500)
        body = bytes(rng.getrandbits(8) for _ in range(64))
        send("wrong-hash", isakmp(cookies[0], cookies[1], 32, rng.getrandbits(32) | 1, body, flags=1), port=4500)
        # replays of every Main Mode message the peer sent (message 1 on 500, the others where they went)
        for m in main_mode:
            send("replayed-main-mode", m, port=500 if m[8:16] == b"\0" * 8 else 4500)
    return sent
