"""Prerequisites: a missing one is a FAIL of the check `prerequisites` (and ends the scenario), never a skip."""
import os
import shutil

from .checks import Checks


def require(checks: Checks, tools=(), isthmus=None, tun=False, root=True, files=(), name="prerequisites", more=None):
    """MORE: a callable returning further problems (strings), called only when the binary is there."""
    problems = []
    if root and os.geteuid() != 0:
        problems.append("must run as root (network namespaces, TUN)")
    problems += [f"{t} not found" for t in tools if shutil.which(t) is None]
    problems += [f"{f} missing" for f in files if not os.path.exists(f)]
    if tun and not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun missing")
    if isthmus is not None and not os.access(isthmus, os.X_OK):
        problems.append(f"isthmus binary {isthmus} not executable (build it, or give ISTHMUS=path)")
    elif more is not None:
        problems += list(more())
    return checks.require(name, not problems, "; ".join(problems))
