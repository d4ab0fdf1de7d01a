#!/usr/bin/env python3
"""Independent check of the strongSwan capture fixtures: decrypts them with the `cryptography` package.

Usage: capture_verify.py Tests/Fixtures/captures/<case>/capture.json [...]

Only capture.json is used (datagrams + keys). For every case it
  * decrypts every ESP packet (AES-GCM per RFC 4106: nonce = salt || 8-byte IV, AAD = SPI || seq,
    16-byte ICV; AES-CBC / 3DES-CBC after an HMAC check) and checks that the inner packet is an ICMP
    echo request 192.168.1.10 -> 10.0.1.4 (from gwa) or echo reply back (from gwb);
  * IKEv2: decrypts every SK payload (AES-GCM per RFC 5282, AES-CBC + HMAC) and lists inner payloads;
  * IKEv1: decrypts Main Mode 5/6 (IV = initial_iv, then CBC chaining), Quick Mode and INFORMATIONAL
    (IV = hash(last Phase 1 CBC block | message ID), RFC 2409 appendix), and reads the Quick Mode lifetime.
Exit status 0 if every check passed.
"""
import hashlib
import hmac
import json
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # older cryptography
    TripleDES = algorithms.TripleDES

HASHES = {"HMAC_SHA1_96": (hashlib.sha1, 12), "HMAC_SHA2_256_128": (hashlib.sha256, 16)}


def cbc_decrypt(alg, key, iv, ct):
    cipher = algorithms.AES(key) if alg.startswith("AES") else TripleDES(key)
    d = Cipher(cipher, modes.CBC(iv)).decryptor()
    return d.update(ct) + d.finalize()


def block_size(alg):
    return 16 if alg.startswith("AES") else 8


def payload_chain(data, first):
    out, nxt, off = [], first, 0
    while nxt and off + 4 <= len(data):
        t = nxt
        nxt, ln = data[off], struct.unpack("!H", data[off + 2:off + 4])[0]
        if ln < 4:
            break
        out.append((t, data[off + 4:off + ln]))
        off += ln
    return out


def check_esp(case, failures):
    keys = {k["spi"]: k for k in case["esp_keys"]}
    n = 0
    for d in case["datagrams"]:
        if d.get("kind") != "esp":
            continue
        p = bytes.fromhex(d["payload_hex"])
        k = keys[d["esp_spi"]]
        ek = bytes.fromhex(k["encryption_key"])
        if "GCM" in k["encryption"]:
            key, salt = ek[:-4], ek[-4:]
            pt = AESGCM(key).decrypt(salt + p[8:16], p[16:], p[:8])
        else:
            h, icv = HASHES[k["integrity"]]
            mac = hmac.new(bytes.fromhex(k["integrity_key"]), p[:-icv], h).digest()[:icv]
            if mac != p[-icv:]:
                failures.append(f"ESP {d['index']}: ICV mismatch")
                continue
            bs = block_size(k["encryption"])
            pt = cbc_decrypt(k["encryption"], ek, p[8:8 + bs], p[8 + bs:-icv])
        pad, nh = pt[-2], pt[-1]
        inner = pt[:-2 - pad]
        if nh != 4 or inner[0] >> 4 != 4 or inner[9] != 1:
            failures.append(f"ESP {d['index']}: next header {nh}, not IPv4 ICMP")
            continue
        src = ".".join(map(str, inner[12:16]))
        dst = ".".join(map(str, inner[16:20]))
        icmp_type = inner[(inner[0] & 15) * 4]
        want = ("192.168.1.10", "10.0.1.4", 8) if d["src"] == "198.51.100.1" else ("10.0.1.4", "192.168.1.10", 0)
        if (src, dst, icmp_type) != want:
            failures.append(f"ESP {d['index']}: inner {src}->{dst} ICMP type {icmp_type}, expected {want}")
            continue
        if n == 0:
            print(f"    first ESP packet (datagram {d['index']}, SPI {d['esp_spi']}): inner IPv4 {src} -> {dst} "
                  f"ICMP type {icmp_type}, {len(inner)} bytes, pad {pad}")
        n += 1
    return n


def check_ikev2(case, failures):
    k = case["ike_keys"][0]
    n, seen = 0, []
    for d in case["datagrams"]:
        if d.get("kind") != "ike" or d["exchange_type"] == 34:
            continue
        msg = bytes.fromhex(d["payload_hex"])[4 if d.get("non_esp_marker") else 0:]
        # unencrypted payloads before SK (none here, but walk the chain properly)
        nxt, off = msg[16], 28
        while nxt != 46:
            nxt, off = msg[off], off + struct.unpack("!H", msg[off + 2:off + 4])[0]
        inner_first, sklen = msg[off], struct.unpack("!H", msg[off + 2:off + 4])[0]
        body = msg[off + 4:off + sklen]
        init = d["from_original_initiator"]
        ek = bytes.fromhex(k["sk_ei"] if init else k["sk_er"])
        if "GCM" in k["encryption"]:
            iv, ct = body[:8], body[8:]
            pt = AESGCM(ek[:-4]).decrypt(ek[-4:] + iv, ct, msg[:off + 4])
        else:
            h, icv = HASHES[k["integrity"]]
            ak = bytes.fromhex(k["sk_ai"] if init else k["sk_ar"])
            if hmac.new(ak, msg[:-icv], h).digest()[:icv] != msg[-icv:]:
                failures.append(f"IKE {d['index']}: integrity mismatch")
                continue
            bs = block_size(k["encryption"])
            pt = cbc_decrypt(k["encryption"], ek, body[:bs], body[bs:-icv])
        pt = pt[:len(pt) - pt[-1] - 1]
        types = [t for t, _b in payload_chain(pt, inner_first)]
        seen.append(f"{d['exchange']}{'(R)' if d['response'] else ''}{types}")
        if d["exchange"] == "IKE_AUTH" and not {35 if init else 36, 39, 33, 44, 45} <= set(types):
            failures.append(f"IKE {d['index']}: IKE_AUTH without ID/AUTH/SA/TS payloads: {types}")
        n += 1
    print("    IKEv2 decrypted: " + " ".join(seen))
    return n


def check_ikev1(case, failures):
    k = case["ike_keys"][0]
    ek = bytes.fromhex(k["encryption_key"])
    alg = k["encryption"]
    bs = block_size(alg)
    h = hashlib.sha1 if "SHA1" in k["prf"] else hashlib.sha256
    n, seen = 0, []
    last_p1_block = None
    iv = bytes.fromhex(k["initial_iv"])
    phase2_iv = {}
    for d in case["datagrams"]:
        if d.get("kind") != "ike" or not d["encrypted"]:
            continue
        msg = bytes.fromhex(d["payload_hex"])[4 if d.get("non_esp_marker") else 0:]
        ct = msg[28:d["ike_length"]]
        mid = d["message_id"]
        if d["exchange_type"] == 2:       # Main Mode 5/6: CBC chaining across the messages
            use_iv = iv
            iv = ct[-bs:]
            last_p1_block = iv
        else:
            if mid not in phase2_iv:
                phase2_iv[mid] = h(last_p1_block + struct.pack("!I", mid)).digest()[:bs]
            use_iv = phase2_iv[mid]
            phase2_iv[mid] = ct[-bs:]
        pt = cbc_decrypt(alg, ek, use_iv, ct)
        chain = payload_chain(pt, d["first_payload"])
        types = [t for t, _b in chain]
        seen.append(f"{d['exchange'].split(' ')[0]}{types}")
        if d["exchange_type"] == 2 and types[:2] != [5, 8]:
            failures.append(f"IKE {d['index']}: Main Mode 5/6 does not start with ID, HASH: {types}")
        if d["exchange_type"] in (32, 5) and (not types or types[0] != 8):
            failures.append(f"IKE {d['index']}: phase 2 message does not start with HASH: {types}")
        if d["exchange_type"] == 32 and 1 in types and d["src"] == "198.51.100.1":
            sa = dict(chain)[1]
            life = quick_mode_lifetimes(sa)
            print(f"    Quick Mode 1 proposes lifetimes {life}")
            if {"seconds": 3600} not in life and not any(x.get("seconds") == 3600 for x in life):
                failures.append(f"Quick Mode lifetime is {life}, expected 3600 s")
        n += 1
    print("    IKEv1 decrypted: " + " ".join(seen))
    return n


def quick_mode_lifetimes(sa):
    res = []
    for _t, prop in payload_chain(sa[8:], 2):
        spi_size = prop[2]
        for _tt, tr in payload_chain(prop[4 + spi_size:], 3):
            attrs, o, cur, lt = tr[4:], 0, {}, None
            while o + 4 <= len(attrs):
                at, val = struct.unpack("!HH", attrs[o:o + 4])
                if at & 0x8000:
                    v, o = val, o + 4
                else:
                    v, o = int.from_bytes(attrs[o + 4:o + 4 + val], "big"), o + 4 + val
                if at & 0x7FFF == 1:
                    lt = {1: "seconds", 2: "kilobytes"}.get(v, v)
                elif at & 0x7FFF == 2 and lt:
                    cur[lt] = v
            res.append(cur)
    return res


def main():
    ok = True
    for path in sys.argv[1:]:
        case = json.load(open(path))
        failures = []
        print(f"{case['case']}:")
        try:
            n_esp = check_esp(case, failures)
            n_ike = check_ikev2(case, failures) if case["ike_version"] == 2 else check_ikev1(case, failures)
        except Exception as e:  # a tag mismatch (InvalidTag) or a parse error
            failures.append(f"exception {type(e).__name__}: {e}")
            n_esp = n_ike = 0
        print(f"  ESP packets decrypted and checked: {n_esp}; encrypted IKE messages decrypted: {n_ike}")
        print("  result: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
        ok = ok and not failures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
