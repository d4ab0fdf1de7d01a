"""dist/ (formerly scripts/check-dist): the systemd unit parses (`systemd-analyze verify`, with ExecStart
pointing at the binary under test), reloads with SIGHUP, stops with SIGTERM and runs `isthmus check` before
starting. No root needed. Check names are the bash script's."""
import os
import re
import tempfile
from pathlib import Path

from harness import prereq, proc
from harness.config import REPO

UNIT = REPO / "dist" / "isthmus@.service"


def test_dist(checks, isthmus_bin):
    checks.require("unit-present", UNIT.is_file(), f"{UNIT} missing")
    prereq.require(checks, tools=["systemd-analyze"], isthmus=isthmus_bin, root=False)
    text = UNIT.read_text()
    with tempfile.TemporaryDirectory(prefix="ist-dist-") as tmp:
        Path(tmp, "isthmus@.service").write_text(text.replace("/usr/local/sbin/isthmus", isthmus_bin))
        r = proc.run(["systemd-analyze", "verify", "--man=no", "isthmus@office.service"], cwd=tmp, timeout=60)
        output = (r.stdout + r.stderr).strip()
        checks.check("systemd-analyze-verify", r.returncode == 0 and not output, " ".join(output.splitlines()[:5]))
        # The check itself can fail: a unit with a relative ExecStart is refused.
        broken = re.sub(r"^ExecStart=.*$", "ExecStart=isthmus-relative run",
                        text.replace("/usr/local/sbin/isthmus", isthmus_bin), flags=re.M)
        Path(tmp, "broken@.service").write_text(broken)
        r = proc.run(["systemd-analyze", "verify", "--man=no", "broken@office.service"], cwd=tmp, timeout=60)
        checks.check("verify-rejects-a-broken-unit", r.returncode != 0,
                     "systemd-analyze accepted a relative ExecStart")
        # Hardening: systemd's own exposure score (0 = locked down, 10 = exposed; 4.9 before issue 15, 2.2
        # after) stays below 3.0, and the settings the gateway depends on are there.
        r = proc.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", "isthmus@office.service"],
                     cwd=tmp, timeout=60)
        m = re.search(r"Overall exposure level for isthmus@office\.service: (\d+\.\d+)", r.stdout + r.stderr)
        score = float(m.group(1)) if m else None
        checks.check("security-exposure-below-3", score is not None and score < 3.0,
                     f"exposure {score}: {(r.stdout + r.stderr).strip()[-200:]}", detail=f"exposure {score}")
    lines = text.splitlines()
    for setting in ("LimitCORE=0", "NoNewPrivileges=yes", "ProtectSystem=strict", "DevicePolicy=closed",
                    "DeviceAllow=/dev/net/tun rw", "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service",
                    "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW",
                    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK"):
        checks.check(f"unit-has-{setting.split('=')[0]}", setting in lines, f"{setting} missing")
    checks.check("reload-is-sighup", "ExecReload=/bin/kill -HUP $MAINPID" in lines, "ExecReload must send SIGHUP")
    checks.check("stop-is-sigterm", "KillSignal=SIGTERM" in lines, "KillSignal must be SIGTERM")
    checks.check("checks-before-start", "ExecStartPre=/usr/local/sbin/isthmus check /etc/isthmus/%i.yaml" in lines,
                 "ExecStartPre must run isthmus check")
    checks.check("runs-the-instance-config",
                 any(line.startswith("ExecStart=/usr/local/sbin/isthmus run /etc/isthmus/%i.yaml ") for line in lines),
                 "ExecStart must run /etc/isthmus/%i.yaml")
    # The unit's commands exist as written: `isthmus check` and `isthmus run --help` answer.
    r = proc.run([isthmus_bin, "check", "examples/office.yaml"], cwd=str(REPO), timeout=60)
    checks.check("isthmus-check-runs", r.returncode == 0, "isthmus check examples/office.yaml failed")
    r = proc.run([isthmus_bin, "run", "--help"], timeout=60)
    checks.check("run-help-documents-sighup", "SIGHUP" in r.stdout + r.stderr,
                 "isthmus run --help does not mention SIGHUP")


def test_install(checks, isthmus_bin):
    """scripts/install into a staging root (DESTDIR) with the binary under test: the binary where the unit
    runs it, the unit, /etc/isthmus/ mode 0700 and the route protocol's name."""
    prereq.require(checks, tools=["install"], isthmus=isthmus_bin, root=False)
    with tempfile.TemporaryDirectory(prefix="ist-install-") as root:
        r = proc.run([str(REPO / "scripts" / "install"), "--binary", isthmus_bin], cwd=str(REPO), timeout=60,
                     env={**os.environ, "DESTDIR": root})
        checks.require("install-runs", r.returncode == 0, (r.stdout + r.stderr).strip()[-300:])
        binary = Path(root, "usr/local/sbin/isthmus")
        checks.check("binary-installed", binary.is_file() and os.access(binary, os.X_OK), f"{binary} missing")
        unit = Path(root, "etc/systemd/system/isthmus@.service")
        checks.check("unit-installed-runs-that-binary", unit.is_file() and
                     "ExecStart=/usr/local/sbin/isthmus run /etc/isthmus/%i.yaml" in unit.read_text(),
                     f"{unit} missing or not running /usr/local/sbin/isthmus")
        etc = Path(root, "etc/isthmus")
        checks.check("config-folder-0700", etc.is_dir() and (etc.stat().st_mode & 0o777) == 0o700,
                     f"{etc} mode {oct(etc.stat().st_mode & 0o777) if etc.exists() else 'missing'}")
        protos = Path(root, "etc/iproute2/rt_protos.d/isthmus.conf")
        checks.check("route-protocol-named", protos.is_file() and protos.read_text().split() == ["73", "isthmus"],
                     f"{protos}: {protos.read_text() if protos.exists() else 'missing'}")
        r = proc.run([str(binary), "check", str(REPO / "examples" / "cloud.yaml")], timeout=60)
        checks.check("installed-binary-checks-a-config", r.returncode == 0, (r.stdout + r.stderr).strip()[-200:])
