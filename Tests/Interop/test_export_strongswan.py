"""`isthmus export` on the wire (formerly scripts/interop/export-strongswan): the strongSwan configuration Isthmus
generates for its peer is loaded into Debian's strongSwan (charon, kernel-libipsec) exactly as written, and the
tunnel must come up and carry traffic; `isthmus key rotate` must lock the old peer out until it gets the new
export; the IKEv1 exports load into strongSwan; the libreswan exports pass libreswan's own parsers.

The cases are data: TUNNELS (which example Isthmus runs on which gateway, strongSwan's selectors, who pings whom)
run through one runner, the other three cases (rotate, ikev1, libreswan) each through their own, with their
inputs as data (ROTATE_*, IKEV1_EXPORTS, LIBRESWAN_*). Check names are the bash script's (`cloud.export-written`,
`rotate.no-sa-with-old-key`, `libreswan.office-cloud.algparse-esp`, ...).
"""
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass

import pytest

from harness import prereq, proc
from harness.checks import log
from harness.config import EXAMPLES, WAIT
from harness.export_checks import verify_established
from harness.isthmus import ike_sas
from harness.netns import NetnsError
from harness.sites import CLOUD_PREFIX, CLOUD_PUBLIC, OFFICE_HOST, OFFICE_PREFIX, VM
from harness.traffic import ping_counts, ping_problem

IKE = "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256"
ESP = "AES_GCM_16-256"
DEMO_KEY = "isthmus-demo-key-change-me-0123456789"


@dataclass(frozen=True)
class Tunnel:
    """Isthmus runs CONFIG (an example, unmodified) on gateway ISTHMUS_GW with `--tun --passive`, the other
    site's prefix routed into its TUN; strongSwan on the other gateway loads the export of CONN and initiates;
    LTS/RTS are strongSwan's selectors. The office host pings the VM and back."""
    name: str
    config: str
    conn: str
    isthmus_gw: str
    lts: tuple
    rts: tuple


TUNNELS = [
    Tunnel("cloud", "cloud-dynamic.yaml", "cloud-office", "cloud", (OFFICE_PREFIX,), (CLOUD_PREFIX,)),
    Tunnel("office", "office-dynamic.yaml", "office-cloud", "office", (CLOUD_PREFIX,), (OFFICE_PREFIX,)),
]
# rotate: a copy of cloud-dynamic.yaml with the key in a file next to it
ROTATE_CONFIG, ROTATE_CONN, ROTATE_KEY_FILE = "cloud-dynamic.yaml", "cloud-office", "cloud.key"
# ikev1: (example, connection, gateway strongSwan runs on)
IKEV1_EXPORTS = [("cloud.yaml", "cloud-office", "office"), ("office.yaml", "office-cloud", "cloud")]
# libreswan: exports that must pass its parsers, and (IKEv1, modp1024) ones that must be refused with a position
LIBRESWAN_ACCEPTED = [("cloud-dynamic.yaml", "cloud-office"), ("office-dynamic.yaml", "office-cloud"),
                      ("cloud-bgp.yaml", "cloud-office")]
LIBRESWAN_REFUSED = [("cloud.yaml", "cloud-office"), ("office.yaml", "office-cloud")]

CASES = [t.name for t in TUNNELS] + ["rotate", "ikev1", "libreswan"]


def mode_of(path):
    try:
        return f"{stat.S_IMODE(os.stat(path).st_mode):o}"
    except OSError:
        return "missing"


def sha256(path):
    try:
        return hashlib.sha256(open(path, "rb").read()).hexdigest()
    except OSError:
        return None


def text_of(r):
    return r.stdout + r.stderr


def export(scene, isthmus_bin, conn, config, outdir, device="strongswan"):
    """`isthmus export CONN --device DEVICE --config CONFIG --output OUTDIR`, its output in OUTDIR/export.out|err."""
    os.makedirs(outdir, exist_ok=True)
    r = scene.run([isthmus_bin, "export", conn, "--device", device, "--config", config, "--output", outdir])
    with open(os.path.join(outdir, "export.out"), "w") as f:
        f.write(r.stdout)
    with open(os.path.join(outdir, "export.err"), "w") as f:
        f.write(r.stderr)
    return r


class Side:
    """Isthmus and strongSwan of one case, and the checks both need."""

    def __init__(self, scene, checks, sites):
        self.scene, self.checks, self.sites = scene, checks, sites
        self.gw = self.ss = None

    def ss_ready(self, conn):
        return any(sa["state"] == "ESTABLISHED" and any(c["state"] == "INSTALLED" for c in sa["children"])
                   for sa in self.ss.list_sas(conn))

    def ist_ready(self, conn, status=None):
        s = self.gw.status() if status is None else status
        return any(sa.get("state") == "established" and sa.get("childSAs") for sa in ike_sas(s, conn))

    def both_ready(self, conn):
        return proc.wait_for(lambda: self.ss_ready(conn) and self.ist_ready(conn), WAIT,
                             abort=lambda: not (self.gw.alive and self.ss.alive))

    def snap(self, label):
        return self.scene.snapshot(label, self.ss, self.gw)

    def tails(self):
        for path in (self.gw.log_path if self.gw else None, self.ss.log_path if self.ss else None):
            if path is None:
                continue
            log(f"----- last 20 lines of {path}")
            try:
                lines = [x for x in open(path, errors="replace").read().splitlines() if "vici client" not in x]
            except OSError:
                lines = []
            for line in lines[-20:]:
                log("    " + line[:300])

    def ping(self, check, ns, dest):
        r = ns.ping(dest, count=4, interval=0.3, wait=2)
        self.scene.write(f"{check.rsplit('.', 1)[-1]}.ping", text_of(r), mode=0o644)
        self.checks.check(check, r.returncode == 0, ping_problem(r), detail=f"{ping_counts(r.stdout)[1]} received")

    def tun(self, check, ns, route):
        name = f"{self.scene.short}t"
        try:
            ns.tun(name, 1400, routes=[route])
        except NetnsError as e:
            self.checks.abort(check, f"cannot create {name}: {e}")
        self.checks.ok(check)
        return name

    def start_isthmus(self, check, ns, config, name="isthmus", **options):
        try:
            self.gw = self.scene.isthmus(ns, config, name=name, log_format="text", log_level="debug", **options)
        except RuntimeError as e:
            self.tails()
            self.checks.abort(check, f"isthmus run did not answer: {e}")
        self.checks.ok(check)
        return self.gw

    def start_charon(self, check, ns, name="charon", abort=True):
        try:
            ss = self.scene.strongswan(ns, name=name)
        except RuntimeError as e:
            if abort:
                self.checks.abort(check, f"charon did not start: {e}")
            self.checks.fail(check, f"charon did not start: {e}")
            return None
        self.checks.ok(check)
        self.ss = ss
        return ss


@pytest.mark.parametrize("case", CASES)
def test_export(case, scene, checks, isthmus_bin):
    def export_command():
        r = scene.run([isthmus_bin, "export", "--help"])
        return [] if r.returncode == 0 else ["this isthmus has no 'export' command"]
    tools = ["ip", "ping", "swanctl"] + (["apt-get", "dpkg-deb"] if case == "libreswan" else [])
    prereq.require(checks, tools=tools, isthmus=isthmus_bin, tun=True, more=export_command,
                   files=["/usr/lib/ipsec/charon", "/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"])
    if case == "libreswan":          # no namespace needed: libreswan's parsers only
        return libreswan_case(scene, checks, isthmus_bin)
    sites = scene.two_sites(tuns=False)
    side = Side(scene, checks, sites)
    if case == "rotate":
        return rotate_case(side, scene, checks, sites, isthmus_bin)
    if case == "ikev1":
        return ikev1_case(side, scene, checks, sites, isthmus_bin)
    tunnel_case(next(t for t in TUNNELS if t.name == case), side, scene, checks, sites, isthmus_bin)


# ----------------------------------------------------------------------------- cloud, office
def tunnel_case(t, side, scene, checks, sites, isthmus_bin):
    N = t.name
    ist_ns, ss_ns = (sites.cld, sites.ofc) if t.isthmus_gw == "cloud" else (sites.ofc, sites.cld)
    route = OFFICE_PREFIX if t.isthmus_gw == "cloud" else CLOUD_PREFIX
    config = str(EXAMPLES / t.config)
    outdir = scene.path("export")
    file = outdir / f"{t.conn}.conf"
    r = export(scene, isthmus_bin, t.conn, config, outdir)
    checks.require(f"{N}.export-written", r.returncode == 0 and file.is_file() and file.stat().st_size > 0,
                   f"isthmus export: {' '.join(r.stderr.strip().splitlines()[-2:])}")
    checks.check(f"{N}.export-mode-600", mode_of(file) == "600", f"mode {mode_of(file)}")
    digest = sha256(file)
    tun = side.tun(f"{N}.tun", ist_ns, route)
    side.start_isthmus(f"{N}.isthmus-start", ist_ns, config, tun=tun, passive=True)
    ss = side.start_charon(f"{N}.charon-start", ss_ns)
    # The export, exactly as isthmus wrote it.
    r = ss.load_file(file)
    scene.write("load.txt", text_of(r), mode=0o644)
    if not checks.check(f"{N}.strongswan-loads-export-unmodified",
                        r.returncode == 0 and f"loaded connection '{t.conn}'" in r.stdout
                        and "loaded ike secret" in r.stdout, " ".join(text_of(r).strip().splitlines()[-3:])):
        side.tails()
        checks.abort(f"{N}.strongswan-loads-export-unmodified", "the rest needs the loaded export")
    checks.check(f"{N}.export-untouched", sha256(file) == digest, "the file changed")
    hosts = ((sites.oh, VM), (sites.vm, OFFICE_HOST))
    # strongSwan initiates by itself (start_action = start in the export).
    if not checks.check(f"{N}.tunnel-up-strongswan-initiated", side.both_ready(t.conn),
                        f"no established SAs on both sides within {WAIT}s"):
        side.tails()
    ss_sas, status = side.snap("up")
    checks.extend(f"{N}.initiated-by-strongswan", verify_established(
        ss_sas, status, t.conn, ike=IKE, esp=ESP, lts=list(t.lts), rts=list(t.rts), isthmus_role="responder"))
    side.ping(f"{N}.ping-through-tunnel", *hosts[0])
    side.ping(f"{N}.ping-back", *hosts[1])
    # Isthmus deletes the SA, then initiates to the exported configuration (strongSwan as responder).
    side.gw.down(t.conn)
    checks.check(f"{N}.isthmus-down-deletes-at-strongswan", proc.wait_for(lambda: not ss.list_sas(t.conn), WAIT),
                 f"strongSwan still lists '{t.conn}'")
    side.gw.up(t.conn)
    if not checks.check(f"{N}.tunnel-up-isthmus-initiated", side.both_ready(t.conn),
                        f"no established SAs on both sides within {WAIT}s"):
        side.tails()
    ss_sas, status = side.snap("again")
    checks.extend(f"{N}.initiated-by-isthmus", verify_established(
        ss_sas, status, t.conn, ike=IKE, esp=ESP, lts=list(t.lts), rts=list(t.rts), isthmus_role="initiator"))
    side.ping(f"{N}.ping-after-isthmus-initiated", *hosts[0])


# ----------------------------------------------------------------------------- rotate
def rotate_case(side, scene, checks, sites, isthmus_bin):
    conn = ROTATE_CONN
    text = (EXAMPLES / ROTATE_CONFIG).read_text()
    text = re.sub(r"(?m)^    shared_key: .*$", f"    shared_key: file:{ROTATE_KEY_FILE}", text)
    cfg = scene.write("cloud.yaml", text)
    key = scene.write(ROTATE_KEY_FILE, DEMO_KEY + "\n")
    r = scene.run([isthmus_bin, "check", cfg])
    checks.require("rotate.config", f"shared_key: file:{ROTATE_KEY_FILE}" in text and r.returncode == 0,
                   " ".join(text_of(r).strip().splitlines()[-2:]))
    r = export(scene, isthmus_bin, conn, cfg, scene.path("export-old"))
    checks.require("rotate.export-old", r.returncode == 0, r.stderr.strip())
    tun = side.tun("rotate.tun", sites.cld, OFFICE_PREFIX)
    side.start_isthmus("rotate.isthmus-start", sites.cld, cfg, tun=tun, passive=True)
    ss = side.start_charon("rotate.charon-start", sites.ofc)
    scene.write("load-old.txt", text_of(ss.load_file(scene.path("export-old") / f"{conn}.conf")), mode=0o644)
    if not side.both_ready(conn):
        side.tails()
        checks.abort("rotate.tunnel-up-with-old-key", f"no SAs within {WAIT}s")
    checks.ok("rotate.tunnel-up-with-old-key")

    # Isthmus tells that the key file changed since it read it by the file's mtime in whole seconds
    # (KeyFile.info: st_mtim.tv_sec), so a rotation in the same second as the file's previous write goes unseen
    # (keyChangedSinceStart false, no "`isthmus reload` to use it"). The bash script never got there within a
    # second; this port does (tunnel up in ~0.5 s), and failed so 2 runs in 4. Rotating once the clock is past
    # that second is what any operator does; the checks below stay as they were. (Reported: a limitation of
    # Isthmus, not of the test.)
    written = int(os.stat(key).st_mtime)
    proc.wait_for(lambda: int(time.time()) > written, 5, interval=0.05)
    # Rotate: the key on stdout only, alone; the rest on stderr.
    old = key.read_text().strip()
    r = scene.run([isthmus_bin, "key", "rotate", conn, "--config", cfg])
    scene.write("rotate.out", r.stdout, mode=0o644)
    scene.write("rotate.err", r.stderr, mode=0o644)
    checks.require("rotate.key-rotate-exit-0", r.returncode == 0, " ".join(r.stderr.splitlines()))
    new = r.stdout.strip()
    checks.check("rotate.new-key-43-alphanumerics", len(r.stdout.splitlines()) == 1
                 and re.fullmatch(r"[0-9A-Za-z]{43}", new), f"stdout: {r.stdout[:100]}")
    checks.check("rotate.key-file-holds-new-key", key.read_text().strip() == new and new != old,
                 "the file does not hold the printed key")
    checks.check("rotate.key-file-mode-600", mode_of(key) == "600", f"mode {mode_of(key)}")
    tmp = [n for n in os.listdir(scene.workdir) if n.endswith(".tmp")]
    checks.check("rotate.no-temporary-left", not tmp, " ".join(tmp))
    checks.check("rotate.names-peer-to-update", "local network 'office' (198.51.100.10" in r.stderr,
                 " ".join(r.stderr.splitlines())[:300])
    checks.check("rotate.key-not-on-stderr", new not in r.stderr, "the key is on stderr")
    rotated = side.gw.status()
    scene.write("rotated.status.json", json.dumps(rotated, indent=1), mode=0o644)
    c = next((x for x in rotated.get("connections") or [] if x.get("name") == conn), {})
    checks.check("rotate.status-shows-rotation-and-stale-running-key",
                 c.get("keyChangedSinceStart") is True and (c.get("keyLastRotated") or 0) > 0
                 and c.get("sharedKey") == f"file:{ROTATE_KEY_FILE}",
                 json.dumps(rotated.get("connections"))[:300])
    status_text = text_of(side.gw.cli("status"))
    scene.write("rotated.status.txt", status_text, mode=0o644)
    checks.check("rotate.status-text-says-reload", re.search(r"last rotated .*isthmus reload. to use it", status_text),
                 " ".join(x for x in status_text.splitlines() if "shared key" in x))
    r = scene.run([isthmus_bin, "key", "show", conn, "--config", cfg])
    scene.write("show.err", r.stderr, mode=0o644)
    checks.check("rotate.key-show-prints-key-and-rotation-time",
                 r.stdout.strip() == new and "last rotated: " in r.stderr, " ".join(r.stderr.splitlines()))

    # Restart Isthmus with the new key; the peer still has the old one: refused.
    side.gw.stop()
    first = side.gw
    gw = side.start_isthmus("rotate.isthmus-restart", sites.cld, cfg, name="isthmus-restarted", tun=tun)
    checks.check("rotate.old-peer-refused-after-rotation",
                 proc.wait_for(lambda: "authentication-failed" in gw.log_text(), WAIT),
                 f"no authentication-failed in Isthmus's log within {WAIT}s")
    ss_sas, status = side.snap("refused")
    checks.check("rotate.no-sa-with-old-key",
                 not any(s.get("state") == "established" for s in ike_sas(status, conn))
                 and not [sa for sa in ss_sas if sa["conn"] == conn],
                 "an SA exists although the keys differ")
    # The new export, loaded into the running strongSwan (it replaces the connection and the secret), brings it
    # back: Isthmus stops its retries, then initiates once the peer has the new key.
    gw.down(conn)
    newdir = scene.path("export-new")
    r = export(scene, isthmus_bin, conn, cfg, newdir)
    conf = newdir / f"{conn}.conf"
    checks.check("rotate.new-export-has-new-key", r.returncode == 0 and conf.is_file()
                 and f'secret = "{new}"' in conf.read_text(), r.stderr.strip())
    r = ss.load_file(conf)
    scene.write("load-new.txt", text_of(r), mode=0o644)
    checks.check("rotate.strongswan-loads-new-export", r.returncode == 0 and "loaded ike secret" in r.stdout,
                 " ".join(text_of(r).strip().splitlines()[-2:]))
    gw.up(conn)
    if not checks.check("rotate.tunnel-up-with-new-key", side.both_ready(conn), f"no SAs within {WAIT}s"):
        side.tails()
    side.ping("rotate.ping-with-new-key", sites.oh, VM)
    scene.write("events.json", json.dumps(gw.events(), indent=1), mode=0o644)
    scene.write("final.status.json", json.dumps(gw.status(), indent=1), mode=0o644)
    leaks = []
    for path in (first.log_path, gw.log_path, scene.path("events.json"), scene.path("final.status.json"),
                 scene.path("rotated.status.json"), scene.path("rotated.status.txt"), scene.path("show.err"),
                 newdir / "export.err", newdir / "export.out"):
        try:
            content = open(path, errors="replace").read()
        except OSError:
            continue
        if new in content:
            leaks.append(str(path))
        if old in content:
            leaks.append(f"{path}(old)")
    checks.check("rotate.key-in-no-log-status-event", not leaks, f"found in: {' '.join(leaks)}")


# ----------------------------------------------------------------------------- ikev1
def ikev1_case(side, scene, checks, sites, isthmus_bin):
    for example, conn, gw in IKEV1_EXPORTS:
        ns = sites.ofc if gw == "office" else sites.cld
        d = scene.path(conn)
        r = export(scene, isthmus_bin, conn, str(EXAMPLES / example), d)
        if r.returncode != 0:
            checks.fail(f"ikev1.{conn}.export", r.stderr.strip())
            continue
        checks.ok(f"ikev1.{conn}.export")
        ss = side.start_charon(f"ikev1.{conn}.charon-start", ns, name=f"charon-{conn}", abort=False)
        if ss is None:
            continue
        r = ss.load_file(d / f"{conn}.conf")
        (d / "load.txt").write_text(text_of(r))
        checks.check(f"ikev1.{conn}.strongswan-loads-export-unmodified",
                     r.returncode == 0 and f"loaded connection '{conn}'" in r.stdout,
                     " ".join(text_of(r).strip().splitlines()[-2:]))
        conns = ss.swanctl("--list-conns").stdout
        (d / "conns.txt").write_text(conns)
        pairs = conns.count("TUNNEL")
        checks.check(f"ikev1.{conn}.listed-as-ikev1", re.search(rf"(?m)^{conn}: IKEv1", conns) and pairs >= 1,
                     " ".join(conns.splitlines()[:3]), detail=f"{pairs} CHILD SA configs")
        ss.stop()


# ----------------------------------------------------------------------------- libreswan
def libreswan_case(scene, checks, isthmus_bin):
    """libreswan cannot be installed next to strongSwan (the Debian packages conflict), so its .deb is fetched
    with `apt-get download` and unpacked into the scratch directory; nothing is installed."""
    root = scene.path("libreswan-root")
    r = scene.run(["apt-get", "download", "libreswan"], timeout=180, cwd=str(scene.workdir))
    scene.write("download.txt", text_of(r), mode=0o644)
    debs = sorted(n for n in os.listdir(scene.workdir) if n.startswith("libreswan_") and n.endswith(".deb"))
    unpacked = debs and scene.run(["dpkg-deb", "-x", scene.path(debs[0]), root]).returncode == 0
    if not unpacked:
        checks.abort("libreswan.fetch", f"apt-get download libreswan failed: {text_of(r).strip().splitlines()[-1:]}")
    addconn, algparse = root / "usr/libexec/ipsec/addconn", root / "usr/libexec/ipsec/algparse"
    if not os.access(addconn, os.X_OK):
        checks.abort("libreswan.fetch", f"no addconn in {debs[0]}")
    checks.ok("libreswan.fetched", f"{debs[0]}, unpacked, not installed")
    for example, conn in LIBRESWAN_ACCEPTED:
        label = f"{conn}-bgp" if "bgp" in example else conn      # check names stay distinct
        d = scene.path(label)
        r = export(scene, isthmus_bin, conn, str(EXAMPLES / example), d, device="libreswan")
        if r.returncode != 0:
            checks.fail(f"libreswan.{label}.export", r.stderr.strip())
            continue
        checks.ok(f"libreswan.{label}.export")
        conf_path = d / f"{conn}.conf"
        r = scene.run([addconn, "--checkconfig", "--config", conf_path])
        (d / "checkconfig.txt").write_text(text_of(r))
        checks.check(f"libreswan.{label}.addconn-checkconfig", r.returncode == 0, " ".join(text_of(r).splitlines()))
        conf = conf_path.read_text()
        version = "-v1" if "ikev2=no" in conf else "-v2"
        pfs = "-pfs=yes" if "pfs=yes" in conf else "-pfs=no"
        for line in ("ike", "esp"):
            m = re.search(rf"(?m)^\t{line}=(.*)$", conf)
            value = m.group(1) if m else ""
            r = scene.run([algparse, version, pfs, f"{line}={value}"])
            (d / f"algparse-{line}.txt").write_text(text_of(r))
            checks.check(f"libreswan.{label}.algparse-{line}", r.returncode == 0 and "ERROR" not in text_of(r),
                         " ".join(text_of(r).splitlines()), detail=value)
        secrets = (d / f"{conn}.secrets").read_text() if (d / f"{conn}.secrets").is_file() else ""
        checks.check(f"libreswan.{label}.secrets-line",
                     re.search(r'(?m)^(198\.51\.100\.10 203\.0\.113\.20|203\.0\.113\.20 198\.51\.100\.10) : PSK "[^"]+"$',
                               secrets),
                     " ".join(x for x in secrets.splitlines() if not x.startswith("#")))
    for example, conn in LIBRESWAN_REFUSED:
        r = scene.run([isthmus_bin, "export", conn, "--device", "libreswan", "--config", EXAMPLES / example])
        scene.write(f"{conn}-refused.err", r.stderr, mode=0o644)
        if r.returncode == 0:
            checks.fail(f"libreswan.{conn}.modp1024-refused", "the export succeeded")
        elif re.search(rf"examples/{re.escape(example)}:\d*:\d*: error: .*modp1024", r.stderr):
            checks.ok(f"libreswan.{conn}.modp1024-refused-with-position")
        else:
            checks.fail(f"libreswan.{conn}.modp1024-refused", " ".join(r.stderr.splitlines()[:2]))
