"""Transitional: the strongSwan interop scripts not yet ported to this package run here as subprocesses, one
test per case (`scripts/interop/SCRIPT CASE`). Each PASS/FAIL line the script prints becomes a named check of
the test (same name), so the test fails with the script's FAIL lines. The wrapper's own checks are named
wrapper.*: the script ran to its end within BASH_TIMEOUT, its summary line matches its lines, exit status 0.
When a script is ported, its entries leave SCRIPTS (and the script is deleted).

Knobs passed through to the scripts: ISTHMUS (the binary), WAIT, KEEP, ARTIFACTS and every other variable of
the environment. BASH_TIMEOUT (default 1200) bounds one case."""
import os
import re
import shutil
import signal
import tempfile

import pytest

from harness import proc, prereq
from harness.config import REPO, env_int

# script -> its cases, in the order the script runs them by default (their documented letters in comments)
SCRIPTS = {
    "ikev2-strongswan": [            # a .. m
        "isthmus-init-gcm", "strongswan-init-gcm", "isthmus-init-cbc", "psk-mismatch",
        "strongswan-init-gcm-to-office", "crossed-initiation", "isthmus-init-aes128gcm",
        "strongswan-init-aes128gcm", "isthmus-init-cbc-modp2048", "strongswan-init-cbc-modp2048",
        "isthmus-init-ecp384", "strongswan-init-ecp384", "isthmus-timer-rekey"],
    "esp-strongswan": [              # a .. f
        "isthmus-init-aes128gcm", "strongswan-init-aes128gcm", "isthmus-init-aes256-sha256",
        "strongswan-init-aes256-sha256", "rekey-under-load", "volume-rekey"],
}
PARAMS = [pytest.param(script, case, id=f"{script}-{case}", marks=pytest.mark.bash_wrapper)
          for script, cases in SCRIPTS.items() for case in cases]
LINE = re.compile(r"^(PASS|FAIL) (\S+?)(?::? (.*))?$")
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def parse(output):
    """[(ok, name, detail)] of the PASS/FAIL lines, and the (passed, failed) of the summary line (or None)."""
    results, summary = [], None
    for line in output.splitlines():
        m = LINE.match(line)
        if m:
            ok = m.group(1) == "PASS"
            detail = (m.group(3) or "").strip()
            if ok and detail.startswith("(") and detail.endswith(")"):
                detail = detail[1:-1]
            results.append((ok, m.group(2), detail))
        m = SUMMARY.match(line)
        if m:
            summary = (int(m.group(1)), int(m.group(2)))
    return results, summary


@pytest.mark.parametrize("script,case", PARAMS)
def test_bash_script(script, case, checks, isthmus_bin):
    prereq.require(checks, tools=["bash"], isthmus=isthmus_bin, name="wrapper.prerequisites")
    path = REPO / "scripts" / "interop" / script
    checks.require("wrapper.script-present", path.is_file(), f"{path} missing")
    workdir = tempfile.mkdtemp(prefix=f"ist-bash-{script}-{case}-", dir="/tmp")
    env = dict(os.environ, ISTHMUS=isthmus_bin, PYTHONDONTWRITEBYTECODE="1")
    p = proc.start(["bash", str(path), case], os.path.join(workdir, "output.txt"), env=env, cwd=str(REPO),
                   name=script)
    limit = env_int("BASH_TIMEOUT", 1200)
    code = p.wait(limit)
    if code is None:   # bounded: the script's own trap cleans up on SIGTERM
        p.stop(signal.SIGTERM, timeout=60)
    else:
        p.stop()
    output = p.output()
    results, summary = parse(output)
    for ok, name, detail in results:
        checks.record(name, ok, detail)
    checks.check("wrapper.finished", code is not None, f"still running after {limit}s (BASH_TIMEOUT); stopped")
    checks.check("wrapper.summary-line", summary is not None and summary == (sum(r[0] for r in results),
                                                                       sum(not r[0] for r in results)),
                 f"no matching 'N passed, M failed' line (summary {summary}, {len(results)} check lines)")
    checks.check("wrapper.exit-status-0", code == 0, f"exit status {code}")
    checks.check("wrapper.some-checks-ran", len(results) > 1, "the script printed no checks")
    if checks.failures:
        print(f"# output of {script} {case} kept in {workdir}/output.txt")
        print("\n".join(output.splitlines()[-60:]))
    else:
        shutil.rmtree(workdir, ignore_errors=True)
