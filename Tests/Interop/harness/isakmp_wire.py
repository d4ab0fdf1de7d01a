"""IKEv1 Informationals read back from a capture and decrypted with the keys charon logged (stdlib and the
openssl command): which Delete each encrypted Informational carried, in the order it was on the wire.

charon logs every ISAKMP SA's encryption key at `ike` level 4 (`encryption key Ka => N bytes @ ...` and a hex
dump). An Informational (RFC 2409 section 5.7) is HASH(1) then the Delete payload, CBC-encrypted with IV =
hash(last phase 1 CBC block | M-ID). The IV only affects the first cipher block, which holds the HASH payload's
header and the start of the hash; the Delete payload starts at 4 + hash length (>= one block), so it is read
without the IV. A plaintext counts as a Delete only when its Delete payload is well formed (DOI 1, protocol ISAKMP
with 16-byte SPIs or ESP with 4-byte SPIs, a length that matches, no next payload): random bytes from a wrong key
or cipher do not pass that."""
import re
import struct
import subprocess

from .capture import datagrams

# key length -> the CBC ciphers of IKEv1 it can be (openssl names, block size)
CIPHERS = {16: [("aes-128-cbc", 16)], 24: [("aes-192-cbc", 16), ("des-ede3-cbc", 8)], 32: [("aes-256-cbc", 16)]}
HASH_LENGTHS = (20, 32, 48, 64, 16)      # SHA-1, SHA-256, -384, -512, MD5
PROTOCOLS = {1: ("isakmp", 16), 3: ("esp", 4)}

_KA = re.compile(r"encryption key Ka => (\d+) bytes")
_DUMP = re.compile(r"\s(\d+): ((?:[0-9A-Fa-f]{2} ?)+)")


def charon_encryption_keys(log_text):
    """Every IKEv1 encryption key (Ka) in a charon log written with `ike` at level 4, oldest first."""
    keys, want, buf = [], 0, b""
    for line in log_text.splitlines():
        m = _KA.search(line)
        if m:
            want, buf = int(m.group(1)), b""
            continue
        if want:
            d = _DUMP.search(line)
            if not d:
                want = 0
                continue
            buf += bytes.fromhex(d.group(2).replace(" ", ""))
            if len(buf) >= want:
                keys.append(buf[:want])
                want = 0
    return keys


def _decrypt(cipher, key, data):
    """CBC decryption without padding; IV zero (only the first block depends on it, and it is not read)."""
    try:
        r = subprocess.run(["openssl", "enc", "-d", f"-{cipher}", "-K", key.hex(), "-iv", "00" * 16, "-nopad"],
                           input=data, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def parse_delete(plain, block):
    """(protocol name, [SPI bytes]) of the Delete payload after HASH(1), or None when there is none."""
    for hlen in HASH_LENGTHS:
        off = 4 + hlen
        if off < block or off + 12 > len(plain):
            continue
        nxt, _, length, doi, proto, spi_size, n = struct.unpack("!BBHIBBH", plain[off:off + 12])
        if nxt != 0 or doi != 1 or proto not in PROTOCOLS or PROTOCOLS[proto][1] != spi_size or n < 1:
            continue
        if length != 12 + n * spi_size or off + length > len(plain):
            continue
        spis = [plain[off + 12 + i * spi_size:off + 12 + (i + 1) * spi_size] for i in range(n)]
        return PROTOCOLS[proto][0], spis
    return None


def informational_deletes(pcap, src, keys):
    """The encrypted IKEv1 Informationals SRC sent in PCAP, in wire order: [{time, cookies: (ci hex, cr hex),
    mid, delete: 'esp'|'isakmp'|None, spis: [hex]}]; `delete` is None when no key in KEYS decrypts it to a Delete."""
    out = []
    for t, s, sp, d, dp, payload in datagrams(pcap):
        if s != src:
            continue
        if 4500 in (sp, dp):
            if payload[:4] != b"\0\0\0\0":
                continue
            payload = payload[4:]
        if len(payload) < 28 or payload[17] != 0x10 or payload[18] != 5 or not payload[19] & 1:
            continue
        length = struct.unpack("!I", payload[24:28])[0]
        body = payload[28:min(length, len(payload))]
        entry = {"time": t, "cookies": (payload[0:8].hex(), payload[8:16].hex()),
                 "mid": struct.unpack("!I", payload[20:24])[0], "delete": None, "spis": []}
        for key in keys:
            for cipher, block in CIPHERS.get(len(key), []):
                if not body or len(body) % block:
                    continue
                plain = _decrypt(cipher, key, body)
                found = parse_delete(plain, block) if plain else None
                if found:
                    entry["delete"], entry["spis"] = found[0], [x.hex() for x in found[1]]
                    break
            if entry["delete"]:
                break
        out.append(entry)
    return out
