"""The runner's state and the rekey stages of test_ikev2_strongswan.py (IKEv2 against strongSwan): `Run` (one
case's daemons, both sides' snapshots, log tails), `settle` (poll both sides until a rekey's checks pass),
`forced_rekeys` (strongSwan rekeys the CHILD SA, then the IKE SA) and `timer_rekey` (Isthmus's own CHILD SA rekey
on its lifetime timer). Checks are named `CASE.NAME`, as the bash script's."""
import re
import time

from . import proc
from .checks import log
from .config import WAIT
from .ikev2_checks import child_rekey_seconds, ist_summary, rekeyed_checks
from .isthmus import ike_sas

SS_CONN, SS_CHILD = "s2s", "net"    # strongSwan's connection and CHILD SA names


# ----------------------------------------------------------------------------- the runner's state
class Run:
    """One case's daemons and the snapshots and log tails its checks use."""

    def __init__(self, case, scene, checks):
        self.case, self.scene, self.checks = case, scene, checks
        self.ss = None
        self.gw = None

    def since(self, t0):
        return f"{time.monotonic() - t0:.2f} s"

    def alive(self):
        return all(p is not None and p.alive for p in (self.gw, self.ss))

    def snapshot(self, label):
        """Both sides' view, kept as LABEL.sas.txt and LABEL.status.json (Scene.snapshot)."""
        return self.scene.snapshot(label, self.ss, self.gw)

    def ss_ready(self):
        return self.ss.ready(SS_CONN)

    def ist_ready(self):
        return any(s.get("state") == "established" and s.get("childSAs")
                   for s in ike_sas(self.gw.status(), self.case.conn))

    def ist_established(self, status):
        return any(s.get("state") == "established" for s in ike_sas(status, self.case.conn))

    def charon_count(self, pattern):
        return len(re.findall(pattern, self.ss.log_text()))

    def summary(self, status):
        for line in ist_summary(status, self.case.conn):
            log("    " + line)

    def tails(self):
        """The end of both daemons' logs (without vici chatter), on stderr: shown for a failing test."""
        for p in (self.gw, self.ss):
            if p is None:
                continue
            lines = [x for x in (p.log_text().splitlines()) if "vici client" not in x]
            log(f"----- last 25 lines of {p.log_path} (without vici chatter)")
            for line in lines[-25:]:
                log("    " + line)
        log(f"----- (case folder: {self.scene.workdir})")


# ----------------------------------------------------------------------------- rekeys
def settle(run, label, kind, before, limit):
    """Polls both sides until the `rekeyed` checks of KIND (child|ike) against BEFORE all pass, at most LIMIT
    seconds; then records them as CASE.LABEL.* (after a timeout: the last poll's verdicts, reasons prefixed
    `after LIMITs:`). The last poll's snapshots are LABEL.sas.txt / LABEL.status.json, its verdicts LABEL.txt."""
    case, checks = run.case, run.checks
    last = []
    t0 = time.monotonic()

    def poll():
        if not run.alive():
            return False
        now = run.snapshot(label)
        last[:] = rekeyed_checks(kind, *before, *now, ss_conn=SS_CONN, ist_conn=case.conn)
        run.scene.write(f"{label}.txt", "".join(f"ok {n}\n" if ok else f"bad {n} {why}\n" for n, ok, why in last),
                        mode=0o644)
        return all(ok for _, ok, _ in last)

    if proc.wait_for(poll, limit, abort=lambda: not run.alive()):
        log(f"{case.name}: {label} settled on both sides, {run.since(t0)} into the wait")
        for line in run.ss.swanctl("--list-sas").stdout.splitlines():
            log("    " + line)
        run.summary(run.gw.status())
        checks.extend(f"{case.name}.{label}", last)
        return True
    results = [(n, ok, why if ok else f"after {limit}s: {why}") for n, ok, why in last] or \
        [("settled", False, "no snapshot could be taken (a daemon exited?)")]
    checks.extend(f"{case.name}.{label}", results)
    run.summary(run.gw.status() if run.gw.alive else {})
    run.tails()
    return False


def forced_rekeys(run):
    """strongSwan rekeys the CHILD SA, then the IKE SA (swanctl --rekey, no reauth)."""
    N, checks, ss, scene = run.case.name, run.checks, run.ss, run.scene
    before = run.snapshot("before-child-rekey")
    r = ss.rekey(child=SS_CHILD)
    scene.write("rekey-child.req.txt", r.stdout + r.stderr, mode=0o644)
    if checks.check(f"{N}.ss-rekey-child-requested",
                    r.returncode == 0 and "rekey completed successfully" in r.stdout + r.stderr,
                    f"swanctl --rekey --child net: {' '.join((r.stdout + r.stderr).splitlines()[-2:])}"):
        settle(run, "child-rekey", "child", before, WAIT)
        checks.check(f"{N}.child-rekey-by-strongswan",
                     run.charon_count(r"generating CREATE_CHILD_SA request.*N\(REKEY_SA\)") > 0,
                     "charon never logged 'generating CREATE_CHILD_SA request ... N(REKEY_SA)'")
    before = run.snapshot("before-ike-rekey")
    r = ss.rekey(ike=SS_CONN)
    scene.write("rekey-ike.req.txt", r.stdout + r.stderr, mode=0o644)
    if checks.check(f"{N}.ss-rekey-ike-requested",
                    r.returncode == 0 and "rekey completed successfully" in r.stdout + r.stderr,
                    f"swanctl --rekey --ike s2s: {' '.join((r.stdout + r.stderr).splitlines()[-2:])}"):
        settle(run, "ike-rekey", "ike", before, WAIT)


def timer_rekey(run):
    """Waits for Isthmus's own lifetime-driven CHILD SA rekey (lifetime.esp 2m: status rekeyInSeconds + WAIT)."""
    N, checks = run.case.name, run.checks
    before = run.snapshot("before-timer-rekey")
    seconds = child_rekey_seconds(before[1], run.case.conn)
    if not checks.check(f"{N}.isthmus-child-rekey-scheduled", seconds is not None and seconds <= 120,
                        f"Isthmus's status shows no CHILD SA rekeyInSeconds <= 120 (lifetime.esp 2m): '{seconds}'",
                        detail=f"in {seconds} s"):
        return
    limit = seconds + WAIT
    log(f"{N}: Isthmus will rekey its CHILD SA in {seconds} s (status rekeyInSeconds); waiting up to {limit} s")
    pattern = r"parsed CREATE_CHILD_SA request.*N\(REKEY_SA\)"
    n0 = run.charon_count(pattern)
    settle(run, "timer-child-rekey", "child", before, limit)
    checks.check(f"{N}.child-rekey-by-isthmus", run.charon_count(pattern) > n0,
                 "charon never logged 'parsed CREATE_CHILD_SA request ... N(REKEY_SA)' (Isthmus did not start the rekey)")
