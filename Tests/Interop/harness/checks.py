"""Named checks: a scenario records PASS/FAIL results under the names the bash scripts used, and fails at the
end with every FAIL line (conftest.py turns the recorded failures into the test's failure)."""
import sys
import time
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""      # PASS: measurements, shown in parentheses; FAIL: the reason

    def line(self):
        if self.ok:
            return f"PASS {self.name}" + (f" ({self.detail})" if self.detail else "")
        return f"FAIL {self.name}: {self.detail}"


class Aborted(Exception):
    """Raised by Checks.require/abort: a check the rest of the scenario depends on failed (like `finish` in the
    bash scripts). The failure is already recorded; conftest reports it with the others."""


class Checks:
    def __init__(self, scenario=""):
        self.scenario = scenario
        self.results = []
        self.started = time.monotonic()

    # ------------------------------------------------------------------ recording
    def record(self, name, ok, detail=""):
        c = Check(name, bool(ok), str(detail))
        self.results.append(c)
        print(c.line(), flush=True)
        return c.ok

    def ok(self, name, detail=""):
        return self.record(name, True, detail)

    def fail(self, name, reason):
        return self.record(name, False, reason)

    def check(self, name, ok, reason="", detail=""):
        """Records NAME as PASS (with DETAIL) when OK is true, else FAIL with REASON; returns OK as a bool."""
        return self.record(name, True, detail) if ok else self.record(name, False, reason or "check failed")

    def require(self, name, ok, reason="", detail=""):
        """Like check(), but a failure ends the scenario (the remaining checks cannot run)."""
        if not self.check(name, ok, reason, detail):
            raise Aborted(f"{name}: {reason}")
        return True

    def abort(self, name, reason):
        self.fail(name, reason)
        raise Aborted(f"{name}: {reason}")

    def extend(self, prefix, results):
        """Records (name, ok, reason) tuples (from the *_checks modules) as PREFIX.name; returns all-ok."""
        ok = True
        for name, good, reason in results:
            ok = self.check(f"{prefix}.{name}" if prefix else name, good, reason) and ok
        return ok

    # ------------------------------------------------------------------ views
    @property
    def failures(self):
        return [c for c in self.results if not c.ok]

    @property
    def passes(self):
        return [c for c in self.results if c.ok]

    def names(self):
        return [c.name for c in self.results]

    def summary(self):
        return f"{len(self.passes)} passed, {len(self.failures)} failed"

    def report(self):
        return "\n".join(c.line() for c in self.results)


def log(*parts):
    """Progress on stderr (captured by pytest, shown for a failing test)."""
    print("#", *parts, file=sys.stderr, flush=True)
