"""Point-to-site with a user name and password (issue 14): strongSwan laptops with `auth = eap-mschapv2`
(`eap_id`, Debian's libcharon-extauth-plugins; MD4 and DES from OpenSSL's legacy provider, which Debian's openssl
plugin loads by default) behind the NAT router of test_point_to_site.py authenticate the gateway by its key
(`remote { auth = psk }`) and themselves with EAP-MSCHAPv2 against the gateway's users file
(`point_to_site: {auth: [eap-mschapv2], users_file: ...}`, RFC 7296 section 2.16).

Alice's right password: the EAP exchange as strongSwan logs it, a pool address for her, the VM reachable both
ways, `status` listing the client as `alice` (the EAP user, not the laptop's IDi). Bob's wrong password: the
laptop logs the MS-CHAPv2 failure (error 691) and gets no SA; the gateway's event says "wrong password for user
bob" and never the password. A laptop that brings the pre-shared key instead is refused (psk is not allowed).
The second scenario has the gateway prove itself with its certificate instead of a key (what Windows needs)."""
import ipaddress
import re

from harness import prereq
from harness.traffic import ping_problem
from test_point_to_site import CLOUD_PUBLIC, KEY, VM, Lab, clients, events_of, iperf_both_ways, virtual_ip
from test_point_to_site import gateway_yaml as psk_gateway_yaml

USERS = {"alice": "correct-horse-battery", "bob": "b0b-the-builder"}
WRONG = "not-bob's-password"


def gateway_yaml():
    """test_point_to_site's gateway with clients authenticated by EAP-MSCHAPv2 against users.yaml."""
    text = psk_gateway_yaml()
    assert "    auth: [psk]\n" in text
    return text.replace("    auth: [psk]\n", "    auth: [eap-mschapv2]\n").replace(
        f"    shared_key: {KEY}\n", f"    shared_key: {KEY}\n    users_file: users.yaml\n")


def laptop_conf(user, password, eap=True):
    local = f"auth = eap-mschapv2\n            eap_id = {user}" if eap else f"auth = psk\n            id = {user}@laptop"
    return f"""connections {{
    p2s {{
        version = 2
        remote_addrs = {CLOUD_PUBLIC}
        vips = 0.0.0.0
        proposals = aes256gcm16-prfsha256-ecp256
        local {{
            {local}
        }}
        remote {{
            auth = psk
            id = {CLOUD_PUBLIC}
        }}
        children {{
            p2s {{
                remote_ts = 10.0.1.0/24
                esp_proposals = aes256gcm16
            }}
        }}
    }}
}}
secrets {{
    ike-gateway {{
        id = {CLOUD_PUBLIC}
        secret = "{KEY}"
    }}
    eap-user {{
        id = {user}
        secret = "{password}"
    }}
}}
"""


def charon(scene, lab, index, name, conf=None):
    """charon in laptop INDEX (DNS servers to a file of its own), with CONF loaded when given."""
    ss = scene.strongswan(lab.laptops[index], name=name, log_levels={"ike": 1, "cfg": 2, "knl": 1},
                          charon_options=f"plugins {{\n        resolve {{\n            file = "
                                         f"{scene.path(name + '.resolv.conf')}\n        }}\n    }}")
    if conf is not None:
        ss.load(conf)
    return ss


def test_point_to_site_eap_mschapv2(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping", "nft", "swanctl"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so"])
    lab = Lab(scene, checks, 2)
    scene.write("users.yaml", f'alice: "{USERS["alice"]}"\nbob: "{USERS["bob"]}"\n', mode=0o600)
    path = scene.write("cloud.yaml", gateway_yaml())
    r = scene.run([isthmus_bin, "check", path])
    checks.require("gateway-config-checks", r.returncode == 0, (r.stdout + r.stderr)[-400:])
    gw = scene.isthmus(lab.cld, path, name="cloud", passive=True)

    # Alice, right password.
    alice = charon(scene, lab, 0, "alice", laptop_conf("alice", USERS["alice"]))
    r = alice.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.require("alice-connects", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    log = alice.log_text()
    checks.check("laptop-log-shows-eap-identity-and-msk",
                 "server requested EAP_IDENTITY" in log and "EAP-MS-CHAPv2 succeeded" in log
                 and "EAP method EAP_MSCHAPV2 succeeded, MSK established" in log
                 and re.search(r"authentication of '203\.0\.113\.20' with EAP successful", log) is not None,
                 "missing EAP lines in alice's charon log")
    vip = virtual_ip(alice)
    checks.check("alice-gets-a-pool-address", vip is not None and ipaddress.ip_address(vip) in
                 ipaddress.ip_network("10.0.0.0/24"), f"virtual IP {vip}", detail=str(vip))
    r = lab.laptops[0].ping(VM, count=3, interval=0.2)
    checks.check("alice-pings-the-vm", r.returncode == 0, ping_problem(r))
    r = lab.vm.ping(vip, count=3, interval=0.2) if vip else None
    checks.check("vm-pings-alice", r is not None and r.returncode == 0, ping_problem(r) if r else "no address")
    status = gw.wait_for(lambda s: len(clients(s)) == 1)
    client = (clients(status) or [{}])[0]
    checks.check("status-names-the-eap-user", client.get("identity") == "alice"
                 and client.get("virtualAddress") == vip, f"status: {client}")
    authenticated = [e for e in events_of(gw) if e.get("kind") == "client-authenticated"]
    checks.check("client-authenticated-event", bool(authenticated) and
                 (authenticated[0].get("details") or {}).get("user") == "alice", f"{authenticated[:1]}")

    # Bob, wrong password.
    bob = charon(scene, lab, 1, "bob", laptop_conf("bob", WRONG))
    r = bob.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.check("bob-is-refused", r.returncode != 0, (r.stdout + r.stderr)[-300:])
    checks.check("laptop-log-shows-error-691", "EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE"
                 in bob.log_text(), "no MS-CHAPv2 failure in bob's charon log")
    failed = gw.wait_for(lambda s: any("wrong password for user bob" in e.get("message", "")
                                       for e in events_of(gw)), timeout=10)
    events = events_of(gw)
    wrong = [e for e in events if "wrong password for user bob" in e.get("message", "")]
    checks.check("gateway-event-says-wrong-password", bool(failed) and bool(wrong)
                 and wrong[0].get("kind") == "authentication-failed"
                 and (wrong[0].get("details") or {}).get("reason") == "wrong-password", f"{wrong[:1]}")
    text = gw.log_text() + "".join(str(e) for e in events)
    checks.check("no-password-in-logs", not any(p in text for p in (WRONG, *USERS.values())),
                 "a password appears in the gateway's log or events")
    checks.check("bob-holds-no-address", [c.get("identity") for c in clients(gw.status())] == ["alice"],
                 f"clients: {clients(gw.status())}")

    # The pre-shared key alone is not enough when auth is [eap-mschapv2].
    bob.stop()
    mallory = charon(scene, lab, 1, "mallory", laptop_conf("mallory", "x", eap=False))
    r = mallory.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.check("psk-client-refused-when-eap-is-required", r.returncode != 0
                 and "AUTHENTICATION_FAILED" in mallory.log_text(), (r.stdout + r.stderr)[-300:])
    checks.check("gateway-alive", gw.alive and not gw.crashed(), gw.log_tail(5))


def test_point_to_site_eap_gateway_certificate(scene, checks, isthmus_bin):
    """EAP-MSCHAPv2 as Windows' built-in client and strongSwan's `remote { auth = pubkey }` use it: the gateway
    has a certificate (`isthmus pki`) and no shared key, proves itself with its certificate (CERT + a signature
    AUTH) before the EAP exchange, and the laptop verifies it against the CA; alice gets an address and reaches
    the VM, bob's wrong password is refused."""
    prereq.require(checks, tools=["ip", "ping", "nft", "swanctl", "iperf3"], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-eap-mschapv2.so"])
    lab = Lab(scene, checks, 2)
    pki = scene.path("pki")
    server = "vpn.cloud.test"
    for what, args in (("init", ["init", "--dir", str(pki), "--name", "CN=Isthmus EAP Test CA"]),
                       ("issue-gateway", ["issue", server, "--dir", str(pki), "--server", "--san", f"dns:{server}",
                                          "--san", f"ip:{CLOUD_PUBLIC}"])):
        r = scene.run([isthmus_bin, "pki", *args])
        checks.require(f"pki-{what}", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    scene.write("users.yaml", f'alice: "{USERS["alice"]}"\nbob: "{USERS["bob"]}"\n', mode=0o600)
    text = gateway_yaml().replace(f"    shared_key: {KEY}\n", "").replace(
        f"  public_address: {CLOUD_PUBLIC}\n",
        f"  public_address: {CLOUD_PUBLIC}\n"
        f"  certificate: {{certificate: {pki}/issued/{server}.pem, private_key: {pki}/issued/{server}.key}}\n"
        f"  certificate_authorities: [{pki}/ca.pem]\n")
    checks.require("config-has-no-client-key", KEY not in text.split("connections:")[0], "the p2s key is still there")
    path = scene.write("cloud.yaml", text)
    r = scene.run([isthmus_bin, "check", path])
    checks.require("gateway-config-checks", r.returncode == 0, (r.stdout + r.stderr)[-400:])
    gw = scene.isthmus(lab.cld, path, name="cloud", passive=True)

    def laptop(index, user, password):
        folder = scene.path(f"{user}-swanctl")
        (folder / "x509ca").mkdir(parents=True, exist_ok=True)
        (folder / "x509ca" / "ca.pem").write_text((pki / "ca.pem").read_text())
        conf = laptop_conf(user, password).replace(
            f"            auth = psk\n            id = {CLOUD_PUBLIC}\n",
            f"            auth = pubkey\n            id = \"CN={server}\"\n")
        conf = re.sub(r"    ike-gateway \{[^}]*\}\n", "", conf)
        (folder / "swanctl.conf").write_text(conf)
        ss = charon(scene, lab, index, user)
        r = ss.load_file(str(folder / "swanctl.conf"))
        checks.require(f"{user}-profile-loads", r.returncode == 0 and "auth = pubkey" in conf,
                       (r.stdout + r.stderr)[-300:])
        return ss

    alice = laptop(0, "alice", USERS["alice"])
    r = alice.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.require("alice-connects", r.returncode == 0, (r.stdout + r.stderr)[-300:])
    log = alice.log_text()
    checks.check("laptop-verified-the-gateway-certificate",
                 re.search(r"authentication of '[^']*vpn\.cloud\.test' with \S+ successful", log) is not None
                 and "EAP-MS-CHAPv2 succeeded" in log and "MSK established" in log,
                 "no 'authentication of ...vpn.cloud.test... successful' with EAP success in alice's log")
    vip = virtual_ip(alice)
    checks.check("alice-gets-a-pool-address", vip is not None and ipaddress.ip_address(vip) in
                 ipaddress.ip_network("10.0.0.0/24"), f"virtual IP {vip}", detail=str(vip))
    r = lab.laptops[0].ping(VM, count=3, interval=0.2)
    checks.check("alice-pings-the-vm", r.returncode == 0, ping_problem(r))
    r = lab.vm.ping(vip, count=3, interval=0.2) if vip else None
    checks.check("vm-pings-alice", r is not None and r.returncode == 0, ping_problem(r) if r else "no address")
    checks.check("alice-gets-the-dns-server", "installing DNS server 10.0.1.4" in alice.log_text(),
                 "no 'installing DNS server 10.0.1.4' in alice's log")
    iperf_both_ways(scene, checks, lab, "alice-iperf3-both-ways")
    status = gw.wait_for(lambda s: len(clients(s)) == 1)
    client = (clients(status) or [{}])[0]
    checks.check("status-names-the-eap-user", client.get("identity") == "alice" and client.get("virtualAddress") == vip,
                 f"status: {client}")

    bob = laptop(1, "bob", WRONG)
    r = bob.swanctl("--initiate", "--child", "p2s", "--ike", "p2s", timeout=30)
    checks.check("bob-is-refused", r.returncode != 0, (r.stdout + r.stderr)[-300:])
    failed = gw.wait_for(lambda s: any("wrong password for user bob" in e.get("message", "")
                                       for e in events_of(gw)), timeout=10)
    checks.check("gateway-event-says-wrong-password", bool(failed), "no 'wrong password for user bob' event")
    checks.check("gateway-alive", gw.alive and not gw.crashed(), "the gateway exited or crashed")
