"""dist/ (formerly scripts/check-dist): the systemd unit parses (`systemd-analyze verify`, with ExecStart
pointing at the binary under test), reloads with SIGHUP, stops with SIGTERM and runs `isthmus check` before
starting. No root needed. Check names are the bash script's."""
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
        Path(tmp, "isthmus@.service").write_text(text.replace("/usr/local/bin/isthmus", isthmus_bin))
        r = proc.run(["systemd-analyze", "verify", "--man=no", "isthmus@office.service"], cwd=tmp, timeout=60)
        output = (r.stdout + r.stderr).strip()
        checks.check("systemd-analyze-verify", r.returncode == 0 and not output, " ".join(output.splitlines()[:5]))
        # The check itself can fail: a unit with a relative ExecStart is refused.
        broken = re.sub(r"^ExecStart=.*$", "ExecStart=isthmus-relative run",
                        text.replace("/usr/local/bin/isthmus", isthmus_bin), flags=re.M)
        Path(tmp, "broken@.service").write_text(broken)
        r = proc.run(["systemd-analyze", "verify", "--man=no", "broken@office.service"], cwd=tmp, timeout=60)
        checks.check("verify-rejects-a-broken-unit", r.returncode != 0,
                     "systemd-analyze accepted a relative ExecStart")
    lines = text.splitlines()
    checks.check("reload-is-sighup", "ExecReload=/bin/kill -HUP $MAINPID" in lines, "ExecReload must send SIGHUP")
    checks.check("stop-is-sigterm", "KillSignal=SIGTERM" in lines, "KillSignal must be SIGTERM")
    checks.check("checks-before-start", "ExecStartPre=/usr/local/bin/isthmus check /etc/isthmus/%i.yaml" in lines,
                 "ExecStartPre must run isthmus check")
    checks.check("runs-the-instance-config",
                 any(line.startswith("ExecStart=/usr/local/bin/isthmus run /etc/isthmus/%i.yaml ") for line in lines),
                 "ExecStart must run /etc/isthmus/%i.yaml")
    # The unit's commands exist as written: `isthmus check` and `isthmus run --help` answer.
    r = proc.run([isthmus_bin, "check", "examples/office.yaml"], cwd=str(REPO), timeout=60)
    checks.check("isthmus-check-runs", r.returncode == 0, "isthmus check examples/office.yaml failed")
    r = proc.run([isthmus_bin, "run", "--help"], timeout=60)
    checks.check("run-help-documents-sighup", "SIGHUP" in r.stdout + r.stderr,
                 "isthmus run --help does not mention SIGHUP")
