"""The client bundle (issue 14 item 4, "download the VPN client"): `isthmus pki init/issue` make a CA, the gateway's
certificate and client certificates; `isthmus pki bundle` writes each client's folder from the gateway's
configuration (point_to_site auth [certificate]). The bundle's swanctl.conf, loaded UNMODIFIED into strongSwan in a
laptop namespace behind the NAT (`swanctl --load-all --file BUNDLE/swanctl.conf`), connects with its certificate,
gets a pool address and pings the VM. The NetworkManager, Apple and Windows profiles are checked by format only
(configparser, plistlib with `openssl pkcs12` on the embedded PKCS#12, the PowerShell text). Refusals with
certificates on the wire: a revoked certificate, an expired one (made with strongSwan's `pki`, as ours cannot
backdate) and one from another CA; the client logs AUTHENTICATION_FAILED and the gateway's event names the cause.

Same namespaces as test_point_to_site.py (its `Lab`)."""
import base64
import configparser
import ipaddress
import os
import plistlib
import re
import stat
import time

from harness import prereq
from harness.traffic import ping_problem
from test_point_to_site import CLOUD_PUBLIC, VM, Lab, clients, events_of, gateway_yaml, iperf_both_ways, virtual_ip

SERVER_NAME = "vpn.cloud.test"


def cloud_yaml(pki):
    """test_point_to_site's gateway with clients authenticated by certificates (and a revocation list)."""
    text = gateway_yaml()
    p2s = ("    auth: [psk]\n    shared_key: laptops-share-this-key-0123456789\n")
    assert p2s in text
    text = text.replace(p2s, "    auth: [certificate]\n")
    return text.replace(
        f"  public_address: {CLOUD_PUBLIC}\n",
        f"  public_address: {CLOUD_PUBLIC}\n"
        f"  certificate: {{certificate: {pki}/issued/{SERVER_NAME}.pem, private_key: {pki}/issued/{SERVER_NAME}.key}}\n"
        f"  certificate_authorities: [{pki}/ca.pem]\n"
        f"  revoked: {pki}/revoked\n")


def isthmus(scene, checks, isthmus_bin, step, *args):
    r = scene.run([isthmus_bin, *args])
    checks.require(step, r.returncode == 0, (r.stdout + r.stderr)[-400:])
    return r


def make_pki(scene, checks, isthmus_bin):
    """CA, the gateway's certificate (SANs: its name and public address), alice (good), bob (revoked), carol
    (expired, via strongSwan's pki), mallory (issued by another CA, with a same-name certificate of ours so the
    bundle can be written)."""
    pki = scene.path("pki")
    other = scene.path("other-ca")
    isthmus(scene, checks, isthmus_bin, "pki-init", "pki", "init", "--dir", str(pki), "--name",
            "C=CH, O=Isthmus Test, CN=Isthmus Test Root CA")
    isthmus(scene, checks, isthmus_bin, "pki-issue-gateway", "pki", "issue", SERVER_NAME, "--dir", str(pki), "--server",
            "--san", f"dns:{SERVER_NAME}", "--san", f"ip:{CLOUD_PUBLIC}")
    for name in ("alice@example.test", "bob@example.test", "mallory@example.test"):
        isthmus(scene, checks, isthmus_bin, f"pki-issue-{name}", "pki", "issue", name, "--dir", str(pki))
    isthmus(scene, checks, isthmus_bin, "pki-revoke-bob", "pki", "revoke", "bob@example.test", "--dir", str(pki))
    isthmus(scene, checks, isthmus_bin, "pki-init-other", "pki", "init", "--dir", str(other), "--name",
            "CN=Someone Else's CA")
    isthmus(scene, checks, isthmus_bin, "pki-issue-other", "pki", "issue", "mallory@example.test", "--dir", str(other))
    # carol: valid in 2020 only, signed by our CA (strongSwan's pki can set the dates).
    key = pki / "issued" / "carol@example.test.key"
    r = scene.run(["pki", "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"])
    checks.require("pki-gen-carol", r.returncode == 0, r.stderr[-200:])
    key.write_text(r.stdout)
    os.chmod(key, 0o600)
    r = scene.run(["bash", "-c", f"pki --pub --in {key} | pki --issue --cacert {pki}/ca.pem --cakey {pki}/ca.key "
                   "--dn 'CN=carol@example.test' --san carol@example.test --flag clientAuth "
                   "--dateform '%Y-%m-%d' --not-before 2020-01-01 --not-after 2020-12-31 --outform pem"])
    checks.require("pki-issue-expired-carol", r.returncode == 0 and "BEGIN CERTIFICATE" in r.stdout, r.stderr[-200:])
    (pki / "issued" / "carol@example.test.pem").write_text(r.stdout)
    return pki, other


def bundle(scene, checks, isthmus_bin, pki, config, name):
    out = scene.path("bundles")
    r = isthmus(scene, checks, isthmus_bin, f"bundle-{name}", "pki", "bundle", name, "--dir", str(pki), "--config",
                str(config), "--out", str(out))
    return out / name, r


def check_modes(checks, folder, name):
    secret = [f"{name}.key", f"{name}.p12", f"{name}.p12.password", f"{name}.mobileconfig", f"private/{name}.key"]
    modes = {f: stat.S_IMODE(os.stat(folder / f).st_mode) for f in secret}
    checks.check("bundle-secrets-are-0600", all(m == 0o600 for m in modes.values()),
                 f"modes: { {f: oct(m) for f, m in modes.items()} }")


def check_network_manager(checks, folder):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(folder / "cloud.nmconnection")
    vpn = parser["vpn"] if parser.has_section("vpn") else {}
    files_exist = all(os.path.exists(vpn.get(k, "/nonexistent")) for k in ("certificate", "usercert", "userkey"))
    checks.check("nmconnection-format",
                 vpn.get("service-type") == "org.freedesktop.NetworkManager.strongswan"
                 and vpn.get("address") == CLOUD_PUBLIC and vpn.get("method") == "key" and vpn.get("virtual") == "yes"
                 and vpn.get("proposal") == "yes" and vpn.get("ike", "").startswith("aes256gcm16-prfsha256-ecp256")
                 and vpn.get("esp") == "aes256gcm16;aes256-sha256" and vpn.get("remote-ts") == "10.0.1.0/24"
                 and vpn.get("remote-identity") == f"CN={SERVER_NAME}" and files_exist
                 and parser.get("connection", "type", fallback="") == "vpn",
                 f"[vpn] {dict(vpn)}")


def check_apple(scene, checks, folder, name):
    profile = plistlib.loads((folder / f"{name}.mobileconfig").read_bytes())
    payloads = {p.get("PayloadType"): p for p in profile.get("PayloadContent", [])}
    vpn = payloads.get("com.apple.vpn.managed", {})
    ikev2 = vpn.get("IKEv2", {})
    identity = payloads.get("com.apple.security.pkcs12", {})
    root = payloads.get("com.apple.security.root", {})
    ike = ikev2.get("IKESecurityAssociationParameters", {})
    child = ikev2.get("ChildSecurityAssociationParameters", {})
    checks.check("mobileconfig-structure",
                 profile.get("PayloadType") == "Configuration" and vpn.get("VPNType") == "IKEv2"
                 and ikev2.get("RemoteAddress") == CLOUD_PUBLIC and ikev2.get("RemoteIdentifier") == CLOUD_PUBLIC
                 and ikev2.get("LocalIdentifier") == name and ikev2.get("AuthenticationMethod") == "Certificate"
                 and ikev2.get("PayloadCertificateUUID") == identity.get("PayloadUUID") is not None
                 and ikev2.get("CertificateType") == "ECDSA256"
                 and ike == {"EncryptionAlgorithm": "AES-256-GCM", "IntegrityAlgorithm": "SHA2-256",
                             "DiffieHellmanGroup": 19, "LifeTimeInMinutes": 1440}
                 and child.get("EncryptionAlgorithm") == "AES-256-GCM" and ikev2.get("EnablePFS") == 0,
                 f"IKEv2 {ikev2}")
    ca_pem = (folder / "ca.pem").read_text()
    ca_der = base64.b64decode("".join(l for l in ca_pem.splitlines() if "-----" not in l))
    checks.check("mobileconfig-root-is-the-ca", root.get("PayloadContent") == ca_der, "root payload differs from ca.pem")
    p12 = scene.path(f"{name}-from-mobileconfig.p12")
    p12.write_bytes(identity.get("PayloadContent", b""))
    os.chmod(p12, 0o600)
    password = identity.get("Password", "")
    r = scene.run(["openssl", "pkcs12", "-in", str(p12), "-passin", f"pass:{password}", "-nokeys", "-clcerts"])
    checks.check("mobileconfig-pkcs12-opens", r.returncode == 0 and f"CN = {name}" in r.stdout,
                 (r.stdout + r.stderr)[-300:])
    checks.check("mobileconfig-password-is-the-bundle's",
                 password == (folder / f"{name}.p12.password").read_text().strip(), "passwords differ")


def check_windows(checks, folder, name):
    script = (folder / f"{name}-windows.ps1").read_text()
    wanted = [
        "Import-PfxCertificate", f"'{name}.p12'", "Cert:\\LocalMachine\\My", "Cert:\\LocalMachine\\Root",
        f"Add-VpnConnection -Name 'cloud' -ServerAddress '{CLOUD_PUBLIC}' -TunnelType Ikev2 "
        "-AuthenticationMethod MachineCertificate",
        "-SplitTunneling:$true",
        "Set-VpnConnectionIPsecConfiguration -ConnectionName 'cloud'", "-EncryptionMethod GCMAES256",
        "-IntegrityCheckMethod SHA256", "-DHGroup ECP256", "-CipherTransformConstants GCMAES256",
        "-AuthenticationTransformConstants GCMAES256", "-PfsGroup None",
        "Add-VpnConnectionRoute -ConnectionName 'cloud' -AllUserConnection -DestinationPrefix 10.0.1.0/24",
    ]
    missing = [w for w in wanted if w not in script]
    password = (folder / f"{name}.p12.password").read_text().strip()
    checks.check("windows-script-format", not missing and password not in script, f"missing: {missing}")


def test_client_bundle(scene, checks, isthmus_bin):
    """alice's bundle: profiles by format, then its swanctl.conf unmodified connects, gets a pool address and pings
    the VM; bob (revoked), carol (expired) and mallory (another CA) are refused with the cause named."""
    prereq.require(checks, tools=["ip", "ping", "nft", "swanctl", "pki", "openssl", "iperf3"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon"])
    lab = Lab(scene, checks, 4)
    pki, other = make_pki(scene, checks, isthmus_bin)
    config = scene.write("cloud.yaml", cloud_yaml(pki))
    r = scene.run([isthmus_bin, "check", str(config)])
    checks.require("gateway-config-checks", r.returncode == 0, (r.stdout + r.stderr)[-400:])

    alice = "alice@example.test"
    folder, r = bundle(scene, checks, isthmus_bin, pki, config, alice)
    password = (folder / f"{alice}.p12.password").read_text().strip()
    checks.check("bundle-prints-no-secret", password not in r.stdout + r.stderr
                 and "PRIVATE KEY" not in r.stdout + r.stderr, r.stdout[-300:])
    again = scene.run([isthmus_bin, "pki", "bundle", alice, "--dir", str(pki), "--config", str(config), "--out",
                       str(scene.path("bundles"))])
    checks.check("bundle-refuses-to-overwrite", again.returncode == 1 and "--force" in again.stderr,
                 (again.stdout + again.stderr)[-200:])
    check_modes(checks, folder, alice)
    check_network_manager(checks, folder)
    check_apple(scene, checks, folder, alice)
    check_windows(checks, folder, alice)

    gw = scene.isthmus(lab.cld, config, name="cloud", passive=True)
    resolv = scene.path("alice.resolv.conf")
    ss = scene.strongswan(lab.laptops[0], name="alice", log_levels={"ike": 1, "cfg": 2, "knl": 1},
                          charon_options=f"plugins {{\n        resolve {{\n            file = {resolv}\n        }}\n    }}")
    r = ss.load_file(str(folder / "swanctl.conf"))
    checks.require("bundle-swanctl-conf-loads-unmodified", r.returncode == 0, (r.stdout + r.stderr)[-400:])
    r = ss.swanctl("--initiate", "--child", "cloud", "--ike", "cloud", timeout=30)
    checks.require("bundle-client-connects", r.returncode == 0, (r.stdout + r.stderr)[-400:])
    vip = virtual_ip(ss)
    checks.check("bundle-client-gets-a-pool-address", vip is not None and ipaddress.ip_address(vip) in
                 ipaddress.ip_network("10.0.0.0/24"), f"virtual IP {vip}", detail=str(vip))
    log = ss.log_text()
    checks.check("client-authenticated-the-gateway-by-certificate",
                 re.search(rf"authentication of 'CN={re.escape(SERVER_NAME)}' with \S+ successful", log) is not None,
                 "no 'authentication of CN=vpn.cloud.test ... successful' in the laptop's log")
    r = lab.laptops[0].ping(VM, count=3, interval=0.2)
    checks.check("bundle-client-pings-the-vm", r.returncode == 0, ping_problem(r))
    r = lab.vm.ping(vip or "10.0.0.1", count=3, interval=0.2)
    checks.check("vm-pings-the-bundle-client", r.returncode == 0, ping_problem(r))
    checks.check("bundle-client-gets-the-dns-server", re.search(r"installing DNS server 10\.0\.1\.4", log) is not None,
                 "no 'installing DNS server 10.0.1.4' in the laptop's log")
    iperf_both_ways(scene, checks, lab, "bundle-client-iperf3-both-ways")
    status = gw.wait_for(lambda s: len(clients(s)) == 1)
    client = (clients(status) or [{}])[0]
    checks.check("status-lists-the-certificate-client", client.get("virtualAddress") == vip
                 and client.get("identity") == "alice@example.test", f"status: {client}",
                 detail=client.get("identity"))

    # Refusals: each client's own bundle (mallory's with the other CA's certificate and key put in).
    folder_m, _ = bundle(scene, checks, isthmus_bin, pki, config, "mallory@example.test")
    mallory_key = (other / "issued" / "mallory@example.test.key").read_text()
    mallory_cert = (other / "issued" / "mallory@example.test.pem").read_text()
    (folder_m / "x509" / "mallory@example.test.pem").write_text(mallory_cert)
    (folder_m / "private" / "mallory@example.test.key").write_text(mallory_key)
    cases = [("bob@example.test", "revoked", 2), ("carol@example.test", "expired", 3),
             ("mallory@example.test", "unknown-ca", 4)]
    for name, cause, laptop in cases:
        time.sleep(1.2)  # one authentication-failed event per second and source passes the flood limit
        folder_n = folder_m if name.startswith("mallory") else bundle(scene, checks, isthmus_bin, pki, config, name)[0]
        peer = scene.strongswan(lab.laptops[laptop - 1], name=name.split("@")[0],
                                log_levels={"ike": 1, "cfg": 2, "knl": 1})
        r = peer.load_file(str(folder_n / "swanctl.conf"))
        checks.require(f"{cause}-profile-loads", r.returncode == 0, (r.stdout + r.stderr)[-300:])
        r = peer.swanctl("--initiate", "--child", "cloud", "--ike", "cloud", timeout=30)
        log = peer.log_text()
        checks.check(f"{cause}-client-refused", r.returncode != 0 and "AUTHENTICATION_FAILED" in log,
                     (r.stdout + r.stderr)[-200:] + log[-300:])
        found = gw.wait_for(lambda s: [e for e in events_of(gw) if e.get("kind") == "authentication-failed"
                                       and (e.get("details") or {}).get("cause") == cause], timeout=10)
        failed = [e for e in events_of(gw) if e.get("kind") == "authentication-failed"
                  and (e.get("details") or {}).get("cause") == cause]
        checks.check(f"{cause}-event-names-the-cause", bool(found) and bool(failed),
                     f"events: {[(e.get('kind'), e.get('message', '')[:150]) for e in events_of(gw)[-3:]]}",
                     detail=failed[0].get("message", "")[:160] if failed else "")
    status = gw.status()
    checks.check("refused-clients-hold-no-address", len(clients(status)) == 1
                 and (status.get("pointToSite") or {}).get("inUse") == 1, f"{(status.get('pointToSite') or {})}")
