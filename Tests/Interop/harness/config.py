"""Knobs (environment variables, as the bash scripts had them) and paths."""
import os
import subprocess
from pathlib import Path

INTEROP = Path(__file__).resolve().parent.parent          # Tests/Interop
REPO = INTEROP.parent.parent                              # the repository
EXAMPLES = REPO / "examples"


def env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


WAIT = env_int("WAIT", 20)                       # seconds any single wait may take
KEEP = os.environ.get("KEEP", "") not in ("", "0")  # keep scratch directories also when everything passed
ARTIFACTS = os.environ.get("ARTIFACTS") or None  # copy every scenario's folder there
ISTHMUS_LOG_LEVEL = os.environ.get("ISTHMUS_LOG_LEVEL") or None


def isthmus_binary():
    """ISTHMUS, else `swift build --show-bin-path`/isthmus of the repository (nothing is built)."""
    given = os.environ.get("ISTHMUS")
    if given:
        return str(Path(given).resolve())
    try:
        out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO, capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 0 and out.stdout.strip():
            return str(Path(out.stdout.strip()) / "isthmus")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return str(REPO / ".build" / "debug" / "isthmus")
