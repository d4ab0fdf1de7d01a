"""IKEv2 certificate authentication (RFC 7296 3.6-3.8, RFC 7427) against Debian's strongSwan 5.9.8.

The topology and the data plane are test_esp_strongswan.py's: Isthmus is the office gateway (`isthmus run --tun`,
`auth: certificate`), charon with kernel-libipsec the cloud gateway (`auth = pubkey`). The CA and every
certificate are made in the test with strongSwan's `pki` (in the case folder): a root CA, a certificate for each
gateway (ECDSA P-256 or RSA 3072), and for the refusals a CA nobody trusts, a revoked certificate and one whose
validity ended yesterday (`pki --issue --not-before/--not-after`); one refusal with Isthmus initiating.

Cases (CASES): the tunnel comes up with certificates on both sides, either side initiating, ECDSA and RSA, and
traffic passes (ping office host <-> VM); strongSwan's log shows which AUTH method it received and sent (checked:
RFC 7427 Digital Signature, since both ends announce SIGNATURE_HASH_ALGORITHMS; with charon's
`signature_authentication = no`, the legacy methods 9 and 1). Refusals: strongSwan initiates
with a certificate from another CA, a revoked one and an expired one; Isthmus answers AUTHENTICATION_FAILED
(strongSwan logs it) and its event names the cause (`cause` unknown-ca, revoked, expired).

Check names: `topology`, `CASE.certificates`, `CASE.isthmus-check`, `CASE.strongswan-start`, `CASE.isthmus-start`,
`CASE.tunnel-up`, `CASE.auth-methods`, `CASE.ping-office-to-vm`, `CASE.ping-vm-to-office`; refusals:
`CASE.refused-by-isthmus`, `CASE.strongswan-heard-authentication-failed`, `CASE.isthmus-event-names-cause`,
`CASE.isthmus-no-crash`.
"""
import json
import os
import re
import shutil
import time
from dataclasses import dataclass

import pytest

from harness import netns, prereq
from harness.config import ISTHMUS_LOG_LEVEL, WAIT
from harness.esp_run import CONN, SS_CHILD, SS_CONN, Run, established_children
from harness.esp_steps import step_ping
from harness.isthmus import dataplane
from harness.proc import wait_for
from harness.sites import CLOUD_PREFIX, CLOUD_PUBLIC, OFFICE_HOST, OFFICE_PUBLIC, VM, two_sites

PKI = "/usr/bin/pki"
CRASH = re.compile(r"fatal error|assertion failed|crash", re.I)
# strongSwan names RFC 7427 schemes (AUTH method 14) ECDSA_WITH_SHA256_DER, RSA_EMSA_PKCS1_SHA2_256, ...; the
# legacy methods 1/9/10/11 as "RSA signature" / "ECDSA-256 signature".
RFC7427 = re.compile(r"_DER\b|RSA_EMSA_")
# charon's log of the notify: "received AUTHENTICATION_FAILED notify error" in an IKE_AUTH response, "parsed
# INFORMATIONAL request 2 [ N(AUTH_FAILED) ]" from an initiator that refused it
AUTH_FAILED = re.compile(r"AUTHENTICATION_FAILED|N\(AUTH_FAILED\)")
ISTHMUS_DN = "C=CH, O=Isthmus Interop, CN=office"
STRONGSWAN_DN = "C=CH, O=Isthmus Interop, CN=cloud"


@dataclass(frozen=True)
class Case:
    name: str
    key: str                  # ecdsa | rsa: both gateways' keys
    initiator: str            # isthmus | strongswan
    refusal: str = None       # None, or what is wrong with strongSwan's certificate: other-ca | revoked | expired
    cause: str = None         # the `cause` Isthmus's authentication-failed event must carry
    legacy: bool = False      # strongSwan without RFC 7427 (`signature_authentication = no`): AUTH methods 1/9


CASES = [
    Case("ecdsa-isthmus-init", "ecdsa", "isthmus"),
    Case("ecdsa-strongswan-init", "ecdsa", "strongswan"),
    Case("rsa-isthmus-init", "rsa", "isthmus"),
    Case("rsa-strongswan-init", "rsa", "strongswan"),
    Case("ecdsa-legacy-methods", "ecdsa", "isthmus", legacy=True),
    Case("rsa-legacy-methods", "rsa", "strongswan", legacy=True),
    Case("refuse-other-ca", "ecdsa", "strongswan", refusal="other-ca", cause="unknown-ca"),
    Case("refuse-revoked", "ecdsa", "strongswan", refusal="revoked", cause="revoked"),
    Case("refuse-expired", "ecdsa", "strongswan", refusal="expired", cause="expired"),
    Case("refuse-other-ca-as-initiator", "rsa", "isthmus", refusal="other-ca", cause="unknown-ca"),
]


# ----------------------------------------------------------------------------- certificates (strongSwan's pki)
class Certificates:
    """The case's CA and certificates, as files in the case folder."""

    def __init__(self, scene, case):
        self.scene, self.case = scene, case
        self.dir = scene.path("pki")
        os.makedirs(self.dir, exist_ok=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def pki(self, *args, stdin=None):
        r = self.scene.run([PKI, *args], timeout=60, input=stdin)
        if r.returncode != 0:
            raise RuntimeError(f"pki {' '.join(args[:2])} failed: {(r.stderr or '').strip()[-300:]}")
        return r.stdout

    def key(self, name, kind):
        size = ["--size", "256"] if kind == "ecdsa" else ["--size", "3072"]
        text = self.pki("--gen", "--type", kind, *size, "--outform", "pem")
        with open(self.path(f"{name}.key"), "w") as f:
            f.write(text)
        os.chmod(self.path(f"{name}.key"), 0o600)
        return self.path(f"{name}.key")

    def ca(self, name, dn):
        key = self.key(name, "ecdsa")
        text = self.pki("--self", "--ca", "--in", key, "--type", "ecdsa", "--dn", dn, "--lifetime", "30",
                        "--outform", "pem")
        with open(self.path(f"{name}.crt"), "w") as f:
            f.write(text)
        return self.path(f"{name}.crt")

    def issue(self, name, kind, dn, san, ca, serial, window=None):
        key = self.key(name, kind)
        public = self.pki("--pub", "--in", key, "--type", kind, "--outform", "pem")
        validity = (["--dateform", "%Y-%m-%d %H:%M:%S", "--not-before", window[0], "--not-after", window[1]]
                    if window else ["--lifetime", "30"])
        text = self.pki("--issue", "--cacert", self.path(f"{ca}.crt"), "--cakey", self.path(f"{ca}.key"),
                        "--type", "pub", "--dn", dn, "--san", san, "--serial", serial, *validity,
                        "--outform", "pem", stdin=public)
        with open(self.path(f"{name}.crt"), "w") as f:
            f.write(text)
        return self.path(f"{name}.crt")

    def make(self):
        """root (trusted by both), isthmus and strongswan certificates; for a refusal, strongSwan's certificate
        is the wrong one and the revocation list names what it must."""
        case = self.case
        self.ca("root", "C=CH, O=Isthmus Interop, CN=Interop Root")
        self.issue("isthmus", case.key, ISTHMUS_DN, "office.example.test", "root", "0a01")
        issuer, window = "root", None
        if case.refusal == "other-ca":
            self.ca("other", "C=CH, O=Somebody Else, CN=Other Root")
            issuer = "other"
        if case.refusal == "expired":
            past = time.gmtime(time.time() - 2 * 86400), time.gmtime(time.time() - 86400)
            window = tuple(time.strftime("%Y-%m-%d %H:%M:%S", t) for t in past)
        self.issue("strongswan", case.key, STRONGSWAN_DN, "cloud.example.test", issuer, "0c01", window)
        revoked = "serial 0c01\n" if case.refusal == "revoked" else ""
        with open(self.path("revoked.txt"), "w") as f:
            f.write("# serials Isthmus refuses (written by test_certauth_strongswan.py)\n" + revoked)


# ----------------------------------------------------------------------------- configurations
def install_strongswan_credentials(ss, certs, case):
    """strongSwan's credentials where `swanctl --load-all --file DIR/swanctl.conf` looks for them: DIR/x509
    (its certificate), DIR/x509ca (the root it trusts), DIR/ecdsa or DIR/rsa (its key)."""
    for folder, source, target in (("x509", "strongswan.crt", "strongswan.crt"), ("x509ca", "root.crt", "root.crt"),
                                   (case.key, "strongswan.key", "strongswan.key")):
        os.makedirs(ss.dir / folder, exist_ok=True)
        shutil.copyfile(certs.path(source), ss.dir / folder / target)
        os.chmod(ss.dir / folder / target, 0o600)


def swanctl_conf(case):
    return f"""connections {{
    {SS_CONN} {{
        version = 2
        local_addrs = {CLOUD_PUBLIC}
        remote_addrs = {OFFICE_PUBLIC}
        proposals = aes128gcm16-prfsha256-ecp256
        local {{
            auth = pubkey
            certs = strongswan.crt
            id = "{STRONGSWAN_DN}"
        }}
        remote {{
            auth = pubkey
            id = "{ISTHMUS_DN}"
        }}
        children {{
            {SS_CHILD} {{
                local_ts = 10.0.1.0/24
                remote_ts = 192.168.1.0/24
                esp_proposals = aes128gcm16
                mode = tunnel
                start_action = none
            }}
        }}
    }}
}}
"""


def isthmus_yaml(certs):
    return f"""# Isthmus office gateway with certificates (written by Tests/Interop/test_certauth_strongswan.py).
gateway:
  name: cert-interop-office
  kind: dynamic
  public_address: {OFFICE_PUBLIC}
  certificate: {{certificate: {certs.path("isthmus.crt")}, private_key: {certs.path("isthmus.key")}}}
  certificate_authorities: [{certs.path("root.crt")}]
  revoked: {certs.path("revoked.txt")}

site:
  prefixes: [192.168.1.0/24]

local_networks:
  - name: cloud
    gateway_address: {CLOUD_PUBLIC}
    prefixes: [10.0.1.0/24]

connections:
  - name: {CONN}
    local_network: cloud
    ike_version: 2
    auth: certificate
    remote_id: "{STRONGSWAN_DN}"
    ike: [aes128gcm16-prfsha256-ecp256]
    esp: [aes128gcm16]
    dpd: {{interval: 30s, timeout: 150s, action: clear}}
"""


# ----------------------------------------------------------------------------- the runner
def start_both(run, isthmus_bin, certs):
    case, scene, checks, sites = run.case, run.scene, run.checks, run.sites
    cfg = scene.write("isthmus-ofc.yaml", isthmus_yaml(certs))
    r = scene.run([isthmus_bin, "check", cfg], timeout=30)
    scene.write("check.txt", r.stdout + r.stderr, mode=0o644)
    error = next((line for line in (r.stdout + r.stderr).splitlines() if "error" in line), "")
    checks.require(run.name("isthmus-check"), r.returncode == 0, f"isthmus check refused the config: {error}")
    run.ss = scene.strongswan(sites.cld, start=False, log_levels={"ike": 2, "cfg": 2, "lib": 1},
                              charon_options="signature_authentication = no" if case.legacy else "")
    try:
        run.ss.start()
    except RuntimeError as e:
        checks.abort(run.name("strongswan-start"), f"charon did not come up: {e}")
    install_strongswan_credentials(run.ss, certs, case)
    r = run.ss.load(swanctl_conf(case))
    scene.write("load.txt", r.stdout + r.stderr, mode=0o644)
    loaded = r.stdout + r.stderr
    checks.require(run.name("strongswan-start"), r.returncode == 0 and "loaded certificate" in loaded
                   and " key from " in loaded,
                   f"swanctl --load-all failed: {(r.stdout + r.stderr).strip().splitlines()[-2:]}")
    passive = case.initiator == "strongswan"
    run.gw = scene.isthmus(sites.ofc, cfg, name="isthmus", start=False, tun=run.tun, passive=passive,
                           log_format="text", log_level=ISTHMUS_LOG_LEVEL or "debug")
    try:
        run.gw.start()
    except RuntimeError as e:
        run.tails()
        checks.abort(run.name("isthmus-start"), f"isthmus run did not answer on its control socket ({e})")
    checks.ok(run.name("isthmus-start"))


def auth_methods(ss_log):
    """What strongSwan logged about the AUTH payloads: `authentication of 'X' (myself) with METHOD` and
    `authentication of 'Y' with METHOD successful`."""
    ours = re.findall(r"authentication of '[^']*' \(myself\) with (\S+)", ss_log)
    theirs = re.findall(r"authentication of '[^']*' with (.+) successful", ss_log)
    return ours, theirs


def tunnel(run):
    case, checks, scene = run.case, run.checks, run.scene
    if case.initiator == "strongswan":
        r = run.ss.initiate(SS_CHILD, ike=SS_CONN, timeout=WAIT + 5)
        scene.write("initiate.txt", r.stdout + r.stderr, mode=0o644)
        if "initiate completed successfully" not in r.stdout + r.stderr:
            run.tails()
            checks.abort(run.name("tunnel-up"), "swanctl --initiate failed: "
                         + " ".join((r.stdout + r.stderr).strip().splitlines()[-2:]))
    if not wait_for(lambda: run.ss.ready(SS_CONN), WAIT, abort=lambda: not run.daemons_alive()):
        run.tails()
        checks.abort(run.name("tunnel-up"), f"strongSwan shows no ESTABLISHED IKE SA with a CHILD SA after {WAIT}s")

    def isthmus_ready():
        status = run.ist_snapshot("poll")
        return established_children(status) and dataplane(status, "installedSAs") >= 1
    if not wait_for(isthmus_ready, WAIT, abort=lambda: not run.daemons_alive()):
        run.tails()
        checks.abort(run.name("tunnel-up"), f"Isthmus shows no established IKE SA with a CHILD SA after {WAIT}s")
    checks.ok(run.name("tunnel-up"), f"{case.initiator} initiated, {case.key} certificates on both sides")
    ours, theirs = auth_methods(run.ss.log_text())
    run.note(f"strongSwan signed with: {ours}; verified Isthmus's: {theirs}")
    expected = (lambda m: not RFC7427.search(m)) if case.legacy else RFC7427.search
    checks.check(run.name("auth-methods"), bool(ours) and bool(theirs) and all(expected(m) for m in ours + theirs),
                 f"strongSwan's AUTH lines: signed {ours}, verified {theirs}",
                 detail=f"strongSwan signed with {ours[0] if ours else '?'}, verified {theirs[0] if theirs else '?'}")


def refusal(run):
    case, checks, scene = run.case, run.checks, run.scene
    out = ""
    if case.initiator == "strongswan":
        r = run.ss.initiate(SS_CHILD, ike=SS_CONN, timeout=WAIT + 5)
        scene.write("initiate.txt", r.stdout + r.stderr, mode=0o644)
        out = r.stdout + r.stderr
    # Isthmus initiating refuses strongSwan's IKE_AUTH response and tells it with an INFORMATIONAL
    # AUTHENTICATION_FAILED (RFC 7296 2.21.2): strongSwan then deletes the SA it had established.
    heard = wait_for(lambda: AUTH_FAILED.search(run.ss.log_text()), 10, interval=0.2)
    gone = wait_for(lambda: not run.ss.ready(SS_CONN), 5, interval=0.2)
    checks.check(run.name("refused-by-isthmus"), "initiate completed successfully" not in out and gone,
                 "strongSwan kept a tunnel with a " + case.refusal + " certificate")
    line = next((x for x in run.ss.log_text().splitlines() if AUTH_FAILED.search(x)), "")
    checks.check(run.name("strongswan-heard-authentication-failed"), heard,
                 "charon's log has no AUTHENTICATION_FAILED", detail=line.strip()[-120:])
    events = []

    def failed_event():
        events[:] = [e for e in (run.gw.events().get("events") or []) if e.get("kind") == "authentication-failed"]
        return bool(events)
    wait_for(failed_event, 10, interval=0.3)
    scene.write("events.json", json.dumps(events, indent=1), mode=0o644)
    causes = [(e.get("details") or {}).get("cause") for e in events]
    message = events[0].get("message", "") if events else ""
    checks.check(run.name("isthmus-event-names-cause"), case.cause in causes,
                 f"Isthmus's authentication-failed events carry causes {causes}, expected {case.cause}: {message}",
                 detail=message[:160])


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_certauth_strongswan(case, scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "swanctl", "ping", PKI], isthmus=isthmus_bin, tun=True,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    tun = f"{scene.short}t"
    try:
        sites = two_sites(scene, tuns=False)
        for ns in (sites.oh, sites.ofc, sites.cld, sites.vm):
            ns.sysctl("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                      "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        sites.ofc.tun(tun, 1400, routes=[CLOUD_PREFIX])
        if sites.ofc.ping(CLOUD_PUBLIC, count=1, wait=2).returncode != 0:
            raise netns.NetnsError("office gateway cannot reach the cloud gateway")
    except netns.NetnsError as e:
        checks.abort("topology", str(e))
    checks.ok("topology")
    run = Run(case, scene, checks, sites, tun)
    certs = Certificates(scene, case)
    try:
        certs.make()
    except RuntimeError as e:
        checks.abort(run.name("certificates"), str(e))
    checks.ok(run.name("certificates"), f"{case.key} certificates under one root"
              + (f", strongSwan's {case.refusal}" if case.refusal else ""))
    try:
        start_both(run, isthmus_bin, certs)
        if case.refusal:
            refusal(run)
        else:
            tunnel(run)
            step_ping(run, type("Step", (), {"name": "ping-office-to-vm"})(), src="oh", dst=VM, count=10)
            step_ping(run, type("Step", (), {"name": "ping-vm-to-office"})(), src="vm", dst=OFFICE_HOST, count=5)
    finally:
        if run.gw is not None:
            run.gw.stop()
            crash = next((line for line in run.gw.log_text().splitlines() if CRASH.search(line)), "")
            checks.check(run.name("isthmus-no-crash"), not crash, crash[:200])
        if run.ss is not None:
            run.ss.stop()
        scene.write("summary.txt", "\n".join(run.summary) + "\n", mode=0o644)
