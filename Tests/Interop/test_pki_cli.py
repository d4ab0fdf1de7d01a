"""`isthmus pki` as a user runs it (issue 14, the portal's certificate workflow), no network: init a root CA,
issue a client and a gateway certificate, revoke one, list, show; the files checked by other tools: `openssl
verify -CAfile`, `openssl x509 -text` (basic constraints, key usage, EKUs, SANs), the keys against the
certificates, strongSwan's `pki --print` and `pki --verify`; `export-p12` read by `openssl pkcs12` (AES-256,
SHA-256 MAC); modes 0600 on every private key, bundle and password file, and no secret on any output."""
import json
import os
import re
import stat
import subprocess

from harness import prereq

PKI = "/usr/bin/pki"


def run(argv, timeout=120):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def key_body(path):
    """The base64 lines of a PEM key, the text that must never appear on an output."""
    return [line for line in open(path).read().splitlines() if line and not line.startswith("-----")]


def test_pki_cli(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["openssl"], isthmus=isthmus_bin, files=[PKI], root=False)
    ca_dir = scene.path("ca")
    outputs = []

    def isthmus(*args):
        result = run([isthmus_bin, "pki", *args])
        outputs.append(result.stdout + result.stderr)
        return result

    init = isthmus("init", "--dir", str(ca_dir), "--name", "C=CH, O=Isthmus Test, CN=Isthmus Root CA")
    checks.require("init", init.returncode == 0, init.stderr)
    ca = str(ca_dir / "ca.pem")
    client = isthmus("issue", "alice@example.com", "--dir", str(ca_dir))
    checks.require("issue-client", client.returncode == 0, client.stderr)
    server = isthmus("issue", "vpn.example.com", "--server", "--dir", str(ca_dir), "--key", "rsa-3072",
                     "--san", "dns:vpn.example.com", "--san", "ip:203.0.113.20")
    checks.require("issue-server", server.returncode == 0, server.stderr)
    again = isthmus("issue", "alice@example.com", "--dir", str(ca_dir))
    checks.check("issue-refuses-overwrite", again.returncode == 1 and "--force" in again.stderr,
                 f"rc {again.returncode}: {again.stderr.strip()}")

    issued = ca_dir / "issued"
    alice_pem, alice_key = str(issued / "alice@example.com.pem"), str(issued / "alice@example.com.key")
    vpn_pem, vpn_key = str(issued / "vpn.example.com.pem"), str(issued / "vpn.example.com.key")

    modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in (str(ca_dir / "ca.key"), alice_key, vpn_key)}
    checks.check("keys-mode-0600", all(m == 0o600 for m in modes.values()),
                 ", ".join(f"{p}: {oct(m)}" for p, m in modes.items()))

    verify = run(["openssl", "verify", "-CAfile", ca, alice_pem, vpn_pem])
    checks.check("openssl-verify", verify.returncode == 0 and verify.stdout.count(": OK") == 2,
                 verify.stdout + verify.stderr)

    ca_text = run(["openssl", "x509", "-in", ca, "-noout", "-text"]).stdout
    checks.check("ca-extensions", "CA:TRUE" in ca_text and "Certificate Sign, CRL Sign" in ca_text
                 and "Subject: C = CH, O = Isthmus Test, CN = Isthmus Root CA" in ca_text, ca_text[:600])
    alice_text = run(["openssl", "x509", "-in", alice_pem, "-noout", "-text"]).stdout
    checks.check("client-eku-san", "TLS Web Client Authentication" in alice_text
                 and "email:alice@example.com" in alice_text and "CA:FALSE" in alice_text
                 and "Digital Signature" in alice_text and "Server Authentication" not in alice_text, alice_text)
    vpn_text = run(["openssl", "x509", "-in", vpn_pem, "-noout", "-text"]).stdout
    checks.check("server-eku-san", "TLS Web Server Authentication" in vpn_text and "1.3.6.1.5.5.8.2.2" in vpn_text
                 and "DNS:vpn.example.com" in vpn_text and "IP Address:203.0.113.20" in vpn_text
                 and "Public-Key: (3072 bit)" in vpn_text, vpn_text)

    for name, pem, key in (("alice", alice_pem, alice_key), ("vpn", vpn_pem, vpn_key)):
        cert_pub = run(["openssl", "x509", "-in", pem, "-noout", "-pubkey"]).stdout
        key_pub = run(["openssl", "pkey", "-in", key, "-pubout"]).stdout
        checks.check(f"{name}-key-matches", cert_pub and cert_pub == key_pub, f"{cert_pub!r} vs {key_pub!r}")

    for name, pem in (("alice", alice_pem), ("vpn", vpn_pem), ("ca", ca)):
        printed = run([PKI, "--print", "--type", "x509", "--in", pem])
        checks.check(f"strongswan-print-{name}", printed.returncode == 0 and "subject:" in printed.stdout,
                     printed.stdout + printed.stderr[-300:])
    printed = run([PKI, "--print", "--type", "x509", "--in", vpn_pem]).stdout
    checks.check("strongswan-sees-gateway-flags", "serverAuth" in printed and "ikeIntermediate" in printed
                 and "vpn.example.com, 203.0.113.20" in printed, printed)
    trusted = run([PKI, "--verify", "--in", alice_pem, "--cacert", ca])
    checks.check("strongswan-verify", trusted.returncode == 0 and "certificate trusted" in trusted.stdout,
                 trusted.stdout + trusted.stderr[-300:])
    for name, key in (("alice", alice_key), ("vpn", vpn_key)):
        printed = run([PKI, "--print", "--type", "priv", "--in", key])
        checks.check(f"strongswan-reads-key-{name}", printed.returncode == 0 and "privkey:" in printed.stdout,
                     printed.stdout + printed.stderr[-300:])

    revoke = isthmus("revoke", "alice@example.com", "--dir", str(ca_dir))
    checks.check("revoke", revoke.returncode == 0 and "revoked: serial" in revoke.stdout, revoke.stdout + revoke.stderr)
    serial = run(["openssl", "x509", "-in", alice_pem, "-noout", "-serial"]).stdout.strip().split("=")[-1].lower()
    serial = re.sub("^(00)+", "", serial)
    revoked_text = (ca_dir / "revoked").read_text()
    checks.check("revoked-file-has-openssl-serial", f"serial {serial}  # alice@example.com" in revoked_text,
                 f"{serial} not in {revoked_text!r}")
    twice = isthmus("revoke", "alice@example.com", "--dir", str(ca_dir))
    checks.check("revoke-twice", twice.returncode == 0 and "already revoked" in twice.stdout
                 and (ca_dir / "revoked").read_text() == revoked_text, twice.stdout + twice.stderr)

    listed = isthmus("list", "--dir", str(ca_dir), "--json")
    try:
        data = json.loads(listed.stdout)
        states = {c["name"]: c["revoked"] for c in data["certificates"]}
    except (ValueError, KeyError) as error:
        states = {"error": str(error)}
    checks.check("list-json", listed.returncode == 0 and states == {"alice@example.com": True, "vpn.example.com": False},
                 f"{states} {listed.stderr}")
    table = isthmus("list", "--dir", str(ca_dir))
    alice_row = next((line for line in table.stdout.splitlines() if line.startswith("alice@example.com")), "")
    checks.check("list-table", table.returncode == 0 and alice_row.endswith("yes") and serial in alice_row, table.stdout)

    shown = isthmus("show", vpn_pem)
    fingerprint = run(["openssl", "x509", "-in", vpn_pem, "-noout", "-fingerprint", "-sha256"]).stdout
    fingerprint = fingerprint.strip().split("=")[-1].replace(":", "").lower()
    checks.check("show", shown.returncode == 0 and f"sha256:      {fingerprint}" in shown.stdout
                 and "key:         RSA 3072" in shown.stdout and "subject:     CN=vpn.example.com" in shown.stdout,
                 shown.stdout + shown.stderr)

    garbage = scene.write("garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n")
    bad = isthmus("show", str(garbage))
    checks.check("show-garbage-refused", bad.returncode == 1 and "malformed" in bad.stderr,
                 f"rc {bad.returncode}: {bad.stderr.strip()}")
    with open(ca_dir / "revoked", "a") as broken:
        broken.write("this is not an entry\n")
    refused = isthmus("revoke", "--serial", "01", "--dir", str(ca_dir))
    checks.check("broken-revoked-file-named", refused.returncode == 1 and "Line 3" in refused.stderr,
                 f"rc {refused.returncode}: {refused.stderr.strip()}")

    p12 = isthmus("export-p12", "alice@example.com", "--dir", str(ca_dir))
    bundle, password_file = str(issued / "alice@example.com.p12"), str(issued / "alice@example.com.p12.password")
    checks.require("export-p12", p12.returncode == 0 and os.path.exists(bundle), p12.stdout + p12.stderr)
    p12_modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in (bundle, password_file)}
    checks.check("p12-mode-0600", all(m == 0o600 for m in p12_modes.values()),
                 ", ".join(f"{p}: {oct(m)}" for p, m in p12_modes.items()))
    info = run(["openssl", "pkcs12", "-info", "-nokeys", "-in", bundle, "-passin", f"file:{password_file}"])
    checks.check("p12-modern-profile", info.returncode == 0 and "MAC: sha256" in info.stderr
                 and info.stderr.count("PBES2, PBKDF2, AES-256-CBC") == 2 and "PRF hmacWithSHA256" in info.stderr
                 and "friendlyName: alice@example.com" in info.stdout
                 and info.stdout.count("-----BEGIN CERTIFICATE-----") == 2,
                 (info.stdout + info.stderr)[-800:])
    wrong = run(["openssl", "pkcs12", "-info", "-nokeys", "-in", bundle, "-passin", "pass:wrong"])
    checks.check("p12-wrong-password-refused", wrong.returncode != 0, f"rc {wrong.returncode}")
    given = scene.write("p12.pass", "a given pass phrase\n")
    p12_given = isthmus("export-p12", "vpn.example.com", "--dir", str(ca_dir), "--password-file", str(given))
    vpn_bundle = str(issued / "vpn.example.com.p12")
    key_out = run(["openssl", "pkcs12", "-in", vpn_bundle, "-nocerts", "-nodes", "-passin", "pass:a given pass phrase"])
    checks.check("p12-password-file", p12_given.returncode == 0 and "PRIVATE KEY" in key_out.stdout
                 and not os.path.exists(vpn_bundle + ".password"), p12_given.stdout + p12_given.stderr + key_out.stderr)

    secrets = key_body(str(ca_dir / "ca.key")) + key_body(alice_key) + key_body(vpn_key)
    secrets += [open(password_file).read().strip(), "a given pass phrase"]
    leaked = [line for line in secrets if any(line in out for out in outputs)]
    checks.check("no-key-on-any-output", not leaked and len(outputs) >= 12, f"{len(leaked)} secret lines printed")
