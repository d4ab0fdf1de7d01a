"""Fixtures of the interop tests (see README.md): checks, scene, isthmus_bin; and the reporting of
named checks (every FAIL line of a scenario becomes its failure; every check is listed before pytest's summary)."""
import os
import sys
import tempfile

import pytest

sys.dont_write_bytecode = True    # nothing is written into the repository (run with python3 -B as well)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import config  # noqa: E402
from harness.checks import Aborted, Checks  # noqa: E402
from harness.scene import Scene, interrupt_on_signals, keep_or_remove, unique_short  # noqa: E402

_all_checks = []        # (nodeid, Checks) in the order the tests ran


def pytest_configure(config):
    interrupt_on_signals()


@pytest.fixture(scope="session")
def isthmus_bin():
    """The isthmus binary under test: ISTHMUS, else `swift build --show-bin-path`/isthmus (never built here)."""
    return config.isthmus_binary()


@pytest.fixture
def checks(request):
    """The scenario's named checks (harness.checks.Checks): check/require/ok/fail/extend."""
    c = Checks(request.node.nodeid)
    request.node._interop_checks = c
    _all_checks.append((request.node.nodeid, c))
    return c


@pytest.fixture
def scene(request, checks, isthmus_bin):
    """A Scene: namespaces named PREFIX-*, processes, gateways, peers, captures; all removed at teardown. Its
    scratch directory (/tmp/ist-<test>-*) is removed after a pass, kept after a failure (KEEP=1: always)."""
    short = unique_short()
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    workdir = tempfile.mkdtemp(prefix=f"ist-{name}-", dir="/tmp")
    s = Scene(f"{short}-", short, workdir, isthmus_bin, checks)
    yield s
    s.close()
    failed = getattr(request.node, "_interop_failed", True)
    keep_or_remove(workdir, failed, config.KEEP, config.ARTIFACTS, name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call":
        return
    c = getattr(item, "_interop_checks", None)
    if c is None:
        item._interop_failed = rep.failed
        return
    fails = c.failures
    rep.user_properties.append(("checks", c.summary()))
    if call.excinfo is not None and call.excinfo.errisinstance(Aborted):
        rep.outcome = "failed"
        rep.longrepr = "\n".join(f.line() for f in fails) + f"\n(scenario ended early: {call.excinfo.value})" \
            + f"\n{c.summary()}"
    elif fails and rep.passed:
        rep.outcome = "failed"
        rep.longrepr = "\n".join(f.line() for f in fails) + f"\n{c.summary()}"
    elif fails:
        rep.sections.append(("failed checks", "\n".join(f.line() for f in fails)))
    item._interop_failed = rep.failed


def pytest_terminal_summary(terminalreporter):
    if not _all_checks:
        return
    tr = terminalreporter
    tr.section("interop checks")
    total_pass = total_fail = 0
    for nodeid, c in _all_checks:
        tr.write_line(f"{nodeid}: {c.summary()}")
        for r in c.results:
            tr.write_line(f"    {r.line()}")
        total_pass += len(c.passes)
        total_fail += len(c.failures)
    tr.write_line(f"checks: {total_pass} passed, {total_fail} failed")
