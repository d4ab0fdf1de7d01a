#!/usr/bin/env python3
"""Turns one strongSwan capture (pcap + both charons' level-4 logs) into capture.json.

Standard library only. Called by scripts/capture-strongswan; usable by hand:
  capture_extract.py --case NAME --pcap capture.pcap --log-gwa charon-gwa.log --log-gwb charon-gwb.log \
      --psk PSK --ike-version 2 --ike-proposal P --esp-proposal E --strongswan-version V \
      --keys-dir keys/ --out capture.json [--summary summary.txt]

Keys come from charon's debug log (ike/chd at level 4 print every derived key as a hex dump,
"NAME => N bytes @ 0x..." followed by "   0: 01 02 ..." lines), because Debian 12's strongSwan
5.9.8 does not ship the save-keys plugin. The extractor also writes Wireshark key tables in the
format save-keys would have written (keys/ikev2_decryption_table, ikev1_decryption_table, esp_sa)
and checks every ESP packet's HMAC ICV (stdlib hmac) and every IKEv2 message's integrity checksum
where the algorithm is an HMAC, so a key/SPI mix-up cannot go unnoticed.
"""
import argparse
import hashlib
import hmac
import json
import os
import re
import struct
import sys

GWA_PUBLIC = "198.51.100.1"
GWB_PUBLIC = "203.0.113.1"

IKEV2_EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}
IKEV1_EXCHANGES = {2: "ID_PROT (Main Mode)", 4: "AGGRESSIVE", 5: "INFORMATIONAL", 32: "QUICK_MODE"}

# strongSwan transform name -> (Wireshark IKEv2 name, Wireshark ESP name, key bits)
ENCR = {
    "AES_GCM_16_128": ("AES-GCM-128 with 16 octet ICV [RFC5282]", "AES-GCM [RFC4106]"),
    "AES_GCM_16_256": ("AES-GCM-256 with 16 octet ICV [RFC5282]", "AES-GCM [RFC4106]"),
    "AES_CBC_128": ("AES-CBC-128 [RFC3602]", "AES-CBC [RFC3602]"),
    "AES_CBC_256": ("AES-CBC-256 [RFC3602]", "AES-CBC [RFC3602]"),
    "3DES_CBC": ("3DES [RFC2451]", "TripleDes-CBC [RFC2451]"),
}
INTEG = {  # name -> (Wireshark IKEv2 name, Wireshark ESP name, hash, ICV bytes)
    "HMAC_SHA1_96": ("HMAC_SHA1_96 [RFC2404]", "HMAC-SHA-1-96 [RFC2404]", hashlib.sha1, 12),
    "HMAC_SHA2_256_128": ("HMAC_SHA2_256_128 [RFC4868]", "HMAC-SHA-256-128 [RFC4868]", hashlib.sha256, 16),
    "HMAC_SHA2_384_192": ("HMAC_SHA2_384_192 [RFC4868]", "HMAC-SHA-384-192 [RFC4868]", hashlib.sha384, 24),
    "HMAC_SHA2_512_256": ("HMAC_SHA2_512_256 [RFC4868]", "HMAC-SHA-512-256 [RFC4868]", hashlib.sha512, 32),
}


# ----------------------------------------------------------------------------- pcap
def read_pcap(path):
    """Yields (timestamp_float, udp-bearing IPv4 packet fields) from a classic libpcap file."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap file (magic {magic.hex()})")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(end + "HHiIII", data[4:24])
    off = 24
    out = []
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ts = sec + frac / (1e9 if nano else 1e6)
        ip = link_payload(linktype, frame)
        if ip is None or len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        frag = struct.unpack("!H", ip[6:8])[0]
        if ip[9] != 17:
            continue
        if frag & 0x3FFF:
            out.append((ts, None))  # IP fragment: reported, not reassembled
            continue
        ip = ip[:total]
        udp = ip[ihl:]
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        src = ".".join(str(b) for b in ip[12:16])
        dst = ".".join(str(b) for b in ip[16:20])
        out.append((ts, (src, sport, dst, dport, udp[8:ulen])))
    return out


def link_payload(linktype, frame):
    if linktype == 1:  # Ethernet
        etype, off = struct.unpack("!H", frame[12:14])[0], 14
        while etype in (0x8100, 0x88A8):
            etype, off = struct.unpack("!H", frame[off + 2:off + 4])[0], off + 4
        return frame[off:] if etype == 0x0800 else None
    if linktype == 113:  # Linux cooked (SLL)
        return frame[16:] if struct.unpack("!H", frame[14:16])[0] == 0x0800 else None
    if linktype == 276:  # Linux cooked v2 (SLL2)
        return frame[20:] if struct.unpack("!H", frame[0:2])[0] == 0x0800 else None
    if linktype in (101, 228, 12, 14):  # raw IP / raw IPv4
        return frame
    if linktype == 0:  # BSD loopback
        return frame[4:]
    return None


# ----------------------------------------------------------------------------- datagram classification
def classify(sport, dport, payload):
    """Returns a dict describing the datagram: IKE (with header fields), ESP, or NAT keepalive."""
    if 4500 in (sport, dport):
        if payload == b"\xff":
            return {"kind": "nat-keepalive"}
        if len(payload) >= 4 and payload[:4] == b"\0\0\0\0":
            d = ike_header(payload[4:])
            d["non_esp_marker"] = True
            return d
        if len(payload) >= 8:
            spi, seq = struct.unpack("!II", payload[:8])
            return {"kind": "esp", "esp_spi": f"0x{spi:08x}", "esp_seq": seq}
        return {"kind": "unknown"}
    return ike_header(payload)


def ike_header(msg):
    if len(msg) < 28:
        return {"kind": "unknown"}
    ispi, rspi = msg[0:8].hex(), msg[8:16].hex()
    nxt, ver, exch, flags = msg[16], msg[17], msg[18], msg[19]
    mid, length = struct.unpack("!II", msg[20:28])
    d = {"kind": "ike", "ike_major_version": ver >> 4, "ike_spi_i": ispi, "ike_spi_r": rspi,
         "exchange_type": exch, "message_id": mid, "first_payload": nxt, "flags": flags, "ike_length": length}
    if ver >> 4 == 2:
        d["exchange"] = IKEV2_EXCHANGES.get(exch, f"#{exch}")
        d["from_original_initiator"] = bool(flags & 0x08)
        d["response"] = bool(flags & 0x20)
    else:
        d["exchange"] = IKEV1_EXCHANGES.get(exch, f"#{exch}")
        d["encrypted"] = bool(flags & 0x01)
    return d


def ike_payloads(msg, first, start=28):
    """Walks a generic payload chain; returns [(type, body)] (no decryption)."""
    out, nxt, off = [], first, start
    while nxt and off + 4 <= len(msg):
        ptype = nxt
        nxt, plen = msg[off], struct.unpack("!H", msg[off + 2:off + 4])[0]
        if plen < 4:
            break
        out.append((ptype, msg[off + 4:off + plen]))
        off += plen
    return out


# ----------------------------------------------------------------------------- charon log
LINE = re.compile(r"^(\d+\.\d+) (\d+)\[(\w+)\] (?:<[^>]*> )?(.*)$")
DUMP_HEAD = re.compile(r"^(.*?) => (\d+) bytes @ 0x[0-9a-f]+$")
DUMP_ROW = re.compile(r"^\s*(\d+): (.*)$")


def parse_log(path):
    """Returns a list of events in file order: ('line', lineno, thread, group, text) and
    ('dump', lineno, thread, group, name, bytes)."""
    events, pending = [], {}
    for lineno, raw in enumerate(open(path, errors="replace"), 1):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        _t, thread, group, text = m.groups()
        p = pending.get(thread)
        if p is not None:
            r = DUMP_ROW.match(text)
            if r and int(r.group(1)) == len(p["data"]):
                hexpart = r.group(2)[:48]
                want = min(16, p["size"] - len(p["data"]))
                p["data"] += bytes.fromhex("".join(re.findall(r"[0-9A-F]{2}", hexpart)[:want]))
                if len(p["data"]) >= p["size"]:
                    events.append(("dump", p["lineno"], thread, p["group"], p["name"], p["data"]))
                    del pending[thread]
                continue
            events.append(("dump", p["lineno"], thread, p["group"], p["name"], p["data"]))
            del pending[thread]
        h = DUMP_HEAD.match(text)
        if h:
            size = int(h.group(2))
            if size == 0:
                events.append(("dump", lineno, thread, group, h.group(1), b""))
            else:
                pending[thread] = {"name": h.group(1), "size": size, "data": b"", "lineno": lineno, "group": group}
            continue
        events.append(("line", lineno, thread, group, text))
    for thread, p in pending.items():
        events.append(("dump", p["lineno"], thread, p["group"], p["name"], p["data"]))
    events.sort(key=lambda e: e[1])
    return events


IKE_KEY_NAMES = {
    # IKEv2 (keymat_v2.c)
    "shared Diffie Hellman secret": "dh_shared_secret", "SKEYSEED": "skeyseed",
    "Sk_d secret": "sk_d", "Sk_ai secret": "sk_ai", "Sk_ar secret": "sk_ar",
    "Sk_ei secret": "sk_ei", "Sk_er secret": "sk_er", "Sk_pi secret": "sk_pi", "Sk_pr secret": "sk_pr",
    # IKEv1 (keymat_v1.c)
    "SKEYID": "skeyid", "SKEYID_d": "skeyid_d", "SKEYID_a": "skeyid_a", "SKEYID_e": "skeyid_e",
    "encryption key Ka": "encryption_key", "initial IV": "initial_iv",
}
CHILD_KEY_NAMES = {
    "encryption initiator key": "encr_i", "encryption responder key": "encr_r",
    "integrity initiator key": "integ_i", "integrity responder key": "integ_r",
    "seed": "seed", "initiator SA seed": "seed_i", "responder SA seed": "seed_r",
}


def analyse_log(events, my_addr):
    """Pulls IKE key sets, CHILD_SA key sets (bound to SPIs and directions) and proposals out of one log."""
    ike_sets, child_sas, ivs, proposals = [], [], [], []
    last_msg = {}      # thread -> "request"/"response" of the last parsed message
    child_keys = {}    # thread -> dict of pending child keys
    cur_ike = None
    pending_dh = None
    for ev in events:
        if ev[0] == "dump":
            _k, lineno, thread, group, name, data = ev
            if name in IKE_KEY_NAMES and group == "IKE":
                key = IKE_KEY_NAMES[name]
                if key == "dh_shared_secret":
                    pending_dh = data.hex()    # belongs to the SKEYSEED that follows
                    continue
                if key in ("skeyseed", "skeyid") or cur_ike is None:
                    cur_ike = {}
                    if pending_dh:
                        cur_ike["dh_shared_secret"] = pending_dh
                    pending_dh = None
                    ike_sets.append(cur_ike)
                cur_ike[key] = data.hex()
            elif name.startswith("next IV for MID"):
                ivs.append({"name": name, "iv": data.hex()})
            elif name in CHILD_KEY_NAMES and group == "CHD":
                ck = child_keys.setdefault(thread, {})
                if name in ("seed", "initiator SA seed") and "encr_i" in ck:
                    ck = child_keys[thread] = {}
                ck[CHILD_KEY_NAMES[name]] = data.hex()
            continue
        _k, lineno, thread, group, text = ev
        m = re.match(r"(?:parsed|generating) (\S+) (request|response) (\d+) \[", text)
        if m:
            if text.startswith("parsed"):
                last_msg[thread] = (m.group(1), m.group(2))
            continue
        m = re.match(r"selected proposal: (IKE|ESP):(\S+)", text)
        if m:
            proposals.append((lineno, thread, m.group(1), m.group(2)))
            continue
        m = re.match(r"\s*SPI 0x([0-9a-f]{8}), src (\S+) dst (\S+)$", text)
        if m and group == "CHD":
            ck = child_keys.get(thread, {})
            spi, src, dst = m.groups()
            parsed = last_msg.get(thread)
            # this side initiated the exchange that created the CHILD_SA iff the last message it
            # parsed in this job was a response
            initiator = parsed is not None and parsed[1] == "response"
            sender_is_initiator = (src == my_addr) == initiator
            esp = [p for p in proposals if p[2] == "ESP"]
            child_sas.append({
                "spi": f"0x{spi}", "src": src, "dst": dst,
                "direction_of_logging_side": "outbound" if src == my_addr else "inbound",
                "sender_is_exchange_initiator": sender_is_initiator,
                "exchange": parsed[0] if parsed else None,
                "proposal": esp[-1][3] if esp else None,
                "encryption_key": ck.get("encr_i" if sender_is_initiator else "encr_r"),
                "integrity_key": ck.get("integ_i" if sender_is_initiator else "integ_r"),
                "seed": ck.get("seed") or (ck.get("seed_i") if sender_is_initiator else ck.get("seed_r")),
                "log_line": lineno,
            })
    # de-duplicate SPI installs (libipsec logs the outbound SA twice around a rekey)
    seen, uniq = set(), []
    for c in child_sas:
        if c["spi"] not in seen:
            seen.add(c["spi"])
            uniq.append(c)
    return ike_sets, uniq, ivs, proposals


def split_proposal(text):
    """'AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_256' -> (encr, integ, prf, dh)."""
    encr = integ = prf = dh = None
    for t in text.split("/"):
        if t.startswith(("AES_", "3DES", "CHACHA", "CAMELLIA", "DES")):
            encr = t
        elif t.startswith("PRF_"):
            prf = t
        elif t.startswith(("HMAC_", "AES_XCBC", "AES_CMAC")):
            integ = t
        elif t.startswith(("MODP_", "ECP_", "CURVE_")):
            dh = t
    return encr, integ, prf, dh


# ----------------------------------------------------------------------------- checks
def check_esp(datagrams, esp_keys):
    """HMAC-checks every ESP packet whose SA uses an HMAC; returns {spi: [ok, bad, unchecked]}."""
    res = {}
    keys = {k["spi"]: k for k in esp_keys}
    for d in datagrams:
        if d.get("kind") != "esp":
            continue
        r = res.setdefault(d["esp_spi"], [0, 0, 0])
        k = keys.get(d["esp_spi"])
        if not k or k["integrity"] not in INTEG:
            r[2] += 1
            continue
        _w1, _w2, h, icvlen = INTEG[k["integrity"]]
        pkt = bytes.fromhex(d["payload_hex"])
        mac = hmac.new(bytes.fromhex(k["integrity_key"]), pkt[:-icvlen], h).digest()[:icvlen]
        r[0 if hmac.compare_digest(mac, pkt[-icvlen:]) else 1] += 1
    return res


def check_ikev2(datagrams, ike_key):
    """Checks the integrity checksum of every encrypted IKEv2 message (HMAC integrity only)."""
    integ = ike_key.get("integrity")
    if integ not in INTEG:
        return None
    _w1, _w2, h, icvlen = INTEG[integ]
    ok = bad = 0
    for d in datagrams:
        if d.get("kind") != "ike" or d.get("exchange_type") == 34:
            continue
        msg = bytes.fromhex(d["payload_hex"])[4 if d.get("non_esp_marker") else 0:]
        key = ike_key["sk_ai"] if d["from_original_initiator"] else ike_key["sk_ar"]
        mac = hmac.new(bytes.fromhex(key), msg[:-icvlen], h).digest()[:icvlen]
        if hmac.compare_digest(mac, msg[-icvlen:]):
            ok += 1
        else:
            bad += 1
    return ok, bad


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    for a in ("case", "pcap", "log-gwa", "log-gwb", "psk", "ike-proposal", "esp-proposal",
              "strongswan-version", "keys-dir", "out"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--ike-version", type=int, required=True)
    ap.add_argument("--summary")
    a = ap.parse_args()

    packets = read_pcap(a.pcap)
    fragments = sum(1 for _t, p in packets if p is None)
    packets = [(t, p) for t, p in packets if p is not None]
    t0 = packets[0][0] if packets else 0.0
    datagrams = []
    for i, (ts, (src, sport, dst, dport, payload)) in enumerate(packets):
        d = {"index": i, "time": round(ts - t0, 6), "src": src, "sport": sport, "dst": dst, "dport": dport,
             "payload_hex": payload.hex()}
        d.update(classify(sport, dport, payload))
        datagrams.append(d)

    ev_a = parse_log(a.log_gwa)
    ev_b = parse_log(a.log_gwb)
    ike_sets, child_sas, ivs, proposals = analyse_log(ev_a, GWA_PUBLIC)
    ike_sets_b, child_sas_b, _ivs_b, _p = analyse_log(ev_b, GWB_PUBLIC)
    problems = []

    # ---- IKE keys: SPIs / cookies come from the capture (first exchange's response header)
    ike_msgs = [d for d in datagrams if d.get("kind") == "ike"]
    ike_props = [p for p in proposals if p[2] == "IKE"]
    encr, integ, prf, dh = split_proposal(ike_props[-1][3]) if ike_props else (None,) * 4
    ike_keys = []
    spi_pairs = []
    for d in ike_msgs:
        pair = (d["ike_spi_i"], d["ike_spi_r"])
        if pair[1] != "0" * 16 and pair not in spi_pairs:
            spi_pairs.append(pair)
    for n, ks in enumerate(ike_sets):
        pair = spi_pairs[n] if n < len(spi_pairs) else (None, None)
        entry = {"ike_version": a.ike_version,
                 ("spi_i" if a.ike_version == 2 else "cookie_i"): pair[0],
                 ("spi_r" if a.ike_version == 2 else "cookie_r"): pair[1],
                 "encryption": encr, "integrity": integ or ("NONE (AEAD)" if encr and "GCM" in encr else None),
                 "prf": prf, "dh_group": dh}
        entry.update(ks)
        if a.ike_version == 2 and encr and "GCM" in encr:
            entry["sk_ai"] = entry.get("sk_ai", "")
            entry["sk_ar"] = entry.get("sk_ar", "")
        ike_keys.append(entry)
    if len(ike_sets) != len(spi_pairs):
        problems.append(f"{len(ike_sets)} IKE key sets in the log but {len(spi_pairs)} IKE SPI pairs in the capture")
    b_values = {v for s in ike_sets_b for v in s.values()}
    for s in ike_sets:
        for k, v in s.items():
            if k != "initial_iv" and v not in b_values:
                problems.append(f"IKE key {k} of gwa not found in gwb's log")

    # ---- public KE values and nonces of the first exchange (cleartext in the capture)
    handshake = {}
    if a.ike_version == 2:
        for d in ike_msgs:
            if d["exchange_type"] == 34:
                msg = bytes.fromhex(d["payload_hex"])[4 if d.get("non_esp_marker") else 0:]
                who = "responder" if d["response"] else "initiator"
                for ptype, body in ike_payloads(msg, d["first_payload"]):
                    if ptype == 34:
                        handshake[f"ke_{who}"] = {"dh_group_number": struct.unpack("!H", body[:2])[0],
                                                  "public_value": body[4:].hex()}
                    elif ptype == 40:
                        handshake[f"nonce_{who}"] = body.hex()
    else:
        mm = [d for d in ike_msgs if d["exchange_type"] == 2 and not d["encrypted"]]
        for d in mm:
            msg = bytes.fromhex(d["payload_hex"])[4 if d.get("non_esp_marker") else 0:]
            who = "initiator" if d["src"] == GWA_PUBLIC else "responder"
            for ptype, body in ike_payloads(msg, d["first_payload"]):
                if ptype == 4:
                    handshake[f"ke_{who}"] = {"public_value": body.hex()}
                elif ptype == 10:
                    handshake[f"nonce_{who}"] = body.hex()
                elif ptype == 13:
                    handshake.setdefault(f"vendor_ids_{who}", []).append(body.hex())
                elif ptype == 1 and who == "initiator":
                    handshake["sa_payload_initiator"] = body.hex()

    # ---- ESP keys
    esp_keys = []
    b_spis = {c["spi"]: c for c in child_sas_b}
    for c in child_sas:
        e, i, _prf, _dh = split_proposal(c["proposal"] or "")
        k = {"spi": c["spi"], "src": c["src"], "dst": c["dst"],
             "encryption": e, "encryption_key": c["encryption_key"],
             "integrity": i or ("NONE (AEAD)" if e and "GCM" in e else None),
             "integrity_key": c["integrity_key"] or "",
             "created_by": c["exchange"],
             "sender_is_exchange_initiator": c["sender_is_exchange_initiator"],
             "key_material_seed": c["seed"]}
        if e and "GCM" in e:
            k["encryption_key_layout"] = "AES key || 4-byte salt (RFC 4106): the last 4 bytes are the salt"
        cb = b_spis.get(c["spi"])
        if not cb or cb["encryption_key"] != c["encryption_key"] or (cb["integrity_key"] or "") != k["integrity_key"]:
            problems.append(f"ESP SA {c['spi']}: gwb's log does not hold the same keys")
        esp_keys.append(k)

    esp_check = check_esp(datagrams, esp_keys)
    ike_check = check_ikev2(datagrams, ike_keys[0]) if a.ike_version == 2 and ike_keys else None
    for spi, (ok, bad, unchecked) in esp_check.items():
        if bad:
            problems.append(f"ESP SPI {spi}: {bad} packets fail the HMAC check")
        if spi not in {k['spi'] for k in esp_keys}:
            problems.append(f"ESP SPI {spi} in the capture has no keys")
    if ike_check and ike_check[1]:
        problems.append(f"IKEv2: {ike_check[1]} messages fail the integrity check")

    # ---- lifetimes proposed in IKEv1 (cleartext SA payloads in Main Mode message 1)
    lifetimes = None
    if a.ike_version == 1 and "sa_payload_initiator" in handshake:
        lifetimes = ikev1_lifetimes(bytes.fromhex(handshake["sa_payload_initiator"]))

    # ---- Wireshark tables (the format strongSwan's save-keys plugin writes)
    os.makedirs(a.keys_dir, exist_ok=True)
    if a.ike_version == 2:
        with open(os.path.join(a.keys_dir, "ikev2_decryption_table"), "w") as f:
            for k in ike_keys:
                ws_e = ENCR.get(k["encryption"], (k["encryption"], None))[0]
                ws_i = INTEG[k["integrity"]][0] if k["integrity"] in INTEG else "NONE [RFC4306]"
                f.write(f'{k["spi_i"]},{k["spi_r"]},{k["sk_ei"]},{k["sk_er"]},"{ws_e}",'
                        f'{k.get("sk_ai", "")},{k.get("sk_ar", "")},"{ws_i}"\n')
    else:
        with open(os.path.join(a.keys_dir, "ikev1_decryption_table"), "w") as f:
            for k in ike_keys:
                f.write(f'{k["cookie_i"]},{k["encryption_key"]}\n')
    with open(os.path.join(a.keys_dir, "esp_sa"), "w") as f:
        for k in esp_keys:
            ws_e = ENCR.get(k["encryption"], (None, k["encryption"]))[1]
            if k["integrity"] in INTEG:
                ws_i = INTEG[k["integrity"]][1]
            elif k["encryption"] and "GCM_16" in k["encryption"]:
                ws_i = "ANY 128 bit authentication [no checking]"
            else:
                ws_i = "NULL"
            f.write(f'"IPv4","{k["src"]}","{k["dst"]}","{k["spi"]}","{ws_e}","0x{k["encryption_key"]}",'
                    f'"{ws_i}","0x{k["integrity_key"]}"\n')
    # the raw key dumps of both logs, for reference
    for side, evs in (("gwa", ev_a), ("gwb", ev_b)):
        with open(os.path.join(a.keys_dir, f"charon-{side}-key-dumps.txt"), "w") as f:
            f.write(f"# the level-4 key dumps charon on {side} logged, with the protocol lines around them, in log order\n")
            for ev in evs:
                if ev[0] == "dump" and (ev[4] in IKE_KEY_NAMES or ev[4] in CHILD_KEY_NAMES
                                        or ev[4].startswith("next IV")):
                    f.write(f"line {ev[1]} [{ev[3]}] {ev[4]} ({len(ev[5])} bytes): {ev[5].hex()}\n")
                elif ev[0] == "line" and re.match(r"(selected proposal|\s*SPI 0x|CHILD_SA \S+ established|"
                                                  r"IKE_SA \S+ established|(parsed|generating) \S+ (request|response))",
                                                  ev[4]):
                    f.write(f"line {ev[1]} [{ev[3]}] {ev[4]}\n")

    # ---- counts and the JSON
    on500 = sum(1 for d in datagrams if 500 in (d["sport"], d["dport"]))
    on4500 = sum(1 for d in datagrams if 4500 in (d["sport"], d["dport"]))
    n_esp = sum(1 for d in datagrams if d.get("kind") == "esp")
    n_ka = sum(1 for d in datagrams if d.get("kind") == "nat-keepalive")
    exch_seq = []
    for d in ike_msgs:
        tag = d["exchange"].split(" ")[0]
        if a.ike_version == 2:
            tag += " resp" if d["response"] else " req"
        exch_seq.append(tag)
    floated = next((d for d in ike_msgs if d["sport"] == 4500), None)

    notes = [
        "gwa (198.51.100.1, inner 192.168.1.0/24) is the initiator of the IKE SA and of every CHILD_SA "
        "(also of the IKEv2 CHILD_SA rekey); gwb (203.0.113.1, inner 10.0.1.0/24) responds. "
        "Pings go 192.168.1.10 -> 10.0.1.4 and back.",
        "Captured on gwa's public veth. payload_hex is the whole UDP payload; on port 4500 IKE messages "
        "start with the 4-byte non-ESP marker 00000000 and ESP packets start with the SPI (RFC 3948).",
        "Both peers run strongSwan's kernel-libipsec backend, which fakes NAT detection so that ESP is always "
        "UDP-encapsulated: each side sends a NAT-D hash for its own address that does not match (IKEv2 "
        "NAT_DETECTION_SOURCE_IP, IKEv1 the second NAT-D payload), so both log 'remote host is behind NAT'; "
        "the initiator gwa floats to port 4500 with the first message after the first exchange (IKE_AUTH, "
        "resp. Main Mode message 5) and all ESP is UDP/4500 with no NAT in the path.",
        "Keys: strongSwan 5.9.8 on Debian 12 does not ship the save-keys plugin, so every key here was "
        "parsed from charon's own debug log (ike/chd level 4), and checked to be identical in both peers' logs. "
        "keys/ holds the raw dumps and Wireshark tables in the format save-keys writes.",
        "esp_keys: packets from 'src' to 'dst' carry 'spi' and are protected with these keys. The initiator of "
        "the exchange that created a CHILD_SA sends with the 'initiator' keys (encr_i/integ_i) to the "
        "responder's inbound SPI.",
    ]
    if a.ike_version == 2:
        notes.append("Exchanges: IKE_SA_INIT, IKE_AUTH (first CHILD_SA), CREATE_CHILD_SA (rekey of that CHILD_SA, "
                     "initiated by gwa, no PFS), INFORMATIONAL with the DELETE of the old CHILD_SA, then "
                     "INFORMATIONAL with the DELETE of the IKE SA (its response is empty).")
        notes.append("ike_keys: SK_e*/SK_a* as derived by prf+ (RFC 7296). For AES-GCM the SK_e* are key || 4-byte "
                     "salt (RFC 5282) and there are no SK_a* (empty strings). SPIs are the IKE SPIs in hex.")
    else:
        notes.append("Exchanges: Main Mode (6), Quick Mode (3), then two INFORMATIONAL messages from gwa, DELETE of "
                     "the ESP SA and DELETE of the ISAKMP SA (IKEv1 deletes are not answered). Lifetimes proposed: "
                     "28800 s in the Main Mode SA payload, 3600 s in the Quick Mode SA payload.")
        notes.append("ike_keys: encryption_key is the IKEv1 Phase 1 key after Appendix B expansion (Ka), "
                     "truncated to the cipher's key size; initial_iv = hash(g^xi | g^xr) truncated to the block "
                     "size; ike_keys_next_ivs lists every per-message-ID IV charon logged, in log order. "
                     "cookie_i/cookie_r are the ISAKMP cookies. Quick Mode and INFORMATIONAL IVs follow RFC 2409 "
                     "(hash of the last Phase 1 CBC block | message ID).")
    if problems:
        notes.append("PROBLEMS: " + "; ".join(problems))

    out = {
        "case": a.case,
        "strongswan_version": a.strongswan_version,
        "psk": a.psk,
        "ike_version": a.ike_version,
        "proposals": {"ike": a.ike_proposal, "esp": a.esp_proposal,
                      "selected": [f"{p[2]}:{p[3]}" for p in proposals]},
        "identities": {"gwa": GWA_PUBLIC, "gwb": GWB_PUBLIC, "auth": "psk, IDs are IPv4 addresses (ID_IPV4_ADDR)"},
        "traffic_selectors": {"gwa": "192.168.1.0/24", "gwb": "10.0.1.0/24"},
        "initiator": GWA_PUBLIC,
        "datagrams": datagrams,
        "ike_keys": ike_keys,
        "ike_handshake_public": handshake,
        "esp_keys": esp_keys,
        "checks": {
            "esp_hmac": {spi: {"ok": v[0], "bad": v[1], "unchecked_aead": v[2]} for spi, v in esp_check.items()},
            "ikev2_integrity": None if ike_check is None else {"ok": ike_check[0], "bad": ike_check[1]},
            "ip_fragments_skipped": fragments,
        },
        "notes": " ".join(notes),
    }
    if a.ike_version == 1:
        out["ike_keys_next_ivs"] = ivs
        out["ikev1_proposed_lifetimes"] = lifetimes
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    lines = [f"{a.case}: {len(datagrams)} datagrams, {on500} on UDP 500, {on4500} on UDP 4500 "
             f"({n_esp} ESP, {n_ka} NAT keepalives)",
             f"  IKE exchanges: {', '.join(exch_seq)}",
             f"  first IKE message on 4500: datagram {floated['index'] if floated else '-'} "
             f"({floated['src'] + ' ' + floated['exchange'] if floated else 'none'})",
             f"  keys (from charon level-4 log): {len(ike_keys)} IKE key set(s), {len(esp_keys)} ESP SAs "
             f"({', '.join(k['spi'] + ' ' + k['src'] + '->' + k['dst'] for k in esp_keys)})",
             "  checks: ESP HMAC " + (", ".join(f"{s}: {v[0]} ok/{v[1]} bad" + (f"/{v[2]} aead-unchecked" if v[2] else "")
                                      for s, v in esp_check.items()) or "none")
             + (f"; IKEv2 integrity {ike_check[0]} ok/{ike_check[1]} bad" if ike_check else "")]
    if lifetimes:
        lines.append(f"  IKEv1 lifetimes proposed in MM1: {lifetimes}")
    if "vendor_ids_initiator" in handshake:
        lines.append(f"  vendor IDs: initiator {len(handshake['vendor_ids_initiator'])}, "
                     f"responder {len(handshake.get('vendor_ids_responder', []))}")
    lines.append("  problems: " + ("; ".join(problems) if problems else "none"))
    text = "\n".join(lines) + "\n"
    if a.summary:
        open(a.summary, "w").write(text)
    sys.stdout.write(text)
    return 1 if problems else 0


def ikev1_lifetimes(sa):
    """Reads SA life type/duration attributes from an IKEv1 SA payload body (DOI, situation, proposals)."""
    res = []
    off = 8
    props = ike_payloads(sa, 2, off)
    for ptype, prop in props:
        # proposal: num, proto, spi size, #transforms, spi, transforms...
        spi_size = prop[2]
        for _tt, tr in ike_payloads(prop, 3, 4 + spi_size):
            attrs, o, life_type = tr[4:], 0, None
            cur = {}
            while o + 4 <= len(attrs):
                at, val = struct.unpack("!HH", attrs[o:o + 4])
                if at & 0x8000:
                    v, o = val, o + 4
                else:
                    v, o = int.from_bytes(attrs[o + 4:o + 4 + val], "big"), o + 4 + val
                t = at & 0x7FFF
                if t == 11:
                    life_type = {1: "seconds", 2: "kilobytes"}.get(v, v)
                elif t == 12 and life_type:
                    cur[life_type] = v
            res.append(cur)
    return res


if __name__ == "__main__":
    sys.exit(main())
