"""An Isthmus gateway: `isthmus run` in a namespace from a YAML configuration, and its command line verbs."""
import json
import os
import signal
from pathlib import Path

from . import proc
from .checks import log
from .config import WAIT


class Isthmus:
    """`isthmus run CONFIG --control SOCK [--tun T] [--passive] [--metrics A] --log-level L` in namespace NS.

    status() is `isthmus status --json` parsed ({} when it fails); wait_for(pred) polls it. Every CLI verb runs
    inside the gateway's namespace against its control socket, bounded."""

    def __init__(self, binary, ns, config, workdir, name="isthmus", tun=None, passive=False, metrics=None,
                 log_level="info", log_format=None, extra_args=()):
        self.binary = str(binary)
        self.ns = ns                                  # a netns.Namespace
        self.name = name
        self.workdir = Path(workdir)
        self.config = Path(config)
        self.control = str(self.workdir / f"{name}.sock")
        self.log_path = self.workdir / f"{name}.log"
        self.tun, self.passive, self.metrics = tun, passive, metrics
        self.log_level, self.log_format, self.extra_args = log_level, log_format, list(extra_args)
        self.process = None

    # ------------------------------------------------------------------ life cycle
    def argv(self):
        a = [self.binary, "run", str(self.config), "--control", self.control]
        if self.tun:
            a += ["--tun", self.tun]
        if self.passive:
            a += ["--passive"]
        if self.metrics:
            a += ["--metrics", self.metrics]
        if self.log_format:
            a += ["--log-format", self.log_format]
        a += ["--log-level", self.log_level] + self.extra_args
        return a

    def start(self, wait=True, timeout=WAIT):
        """Starts the daemon; with WAIT, returns once its control socket answers (raises RuntimeError when it
        does not within TIMEOUT seconds or the daemon exited)."""
        self.process = proc.start(self.argv(), self.log_path, ns=self.ns.name, name=self.name)
        if wait and not self.wait_ready(timeout):
            raise RuntimeError(f"{self.name}: control socket did not answer within {timeout}s "
                               f"({'exit status %s' % self.process.returncode if not self.alive else 'still running'}); "
                               f"log tail: {self.log_tail(5)}")
        return self

    def wait_ready(self, timeout=WAIT):
        return proc.wait_for(lambda: os.path.exists(self.control) and self.cli("status", "--json").returncode == 0,
                             timeout, abort=lambda: not self.alive)

    @property
    def pid(self):
        return self.process.pid if self.process else None

    @property
    def alive(self):
        return self.process is not None and self.process.alive

    def send_signal(self, sig):
        self.process.send_signal(sig)

    def wait_exit(self, timeout):
        """The exit status once the daemon exited within TIMEOUT seconds, else None."""
        return self.process.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """SIG (TERM), up to TIMEOUT seconds, then SIGKILL. Returns the exit status."""
        return self.process.stop(sig, timeout) if self.process else None

    # ------------------------------------------------------------------ command line
    def cli(self, *args, timeout=60, control=True, input=None):
        """`isthmus ARGS [--control SOCK]` in the gateway's namespace; a CompletedProcess (never raises)."""
        argv = [self.binary, *map(str, args)] + (["--control", self.control] if control else [])
        return proc.run(argv, ns=self.ns.name, timeout=timeout, input=input)

    def status(self):
        r = self.cli("status", "--json", timeout=20)
        if r.returncode != 0:
            return {}
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {}

    def wait_for(self, predicate, timeout=WAIT, interval=0.2):
        """Polls status() until PREDICATE(status) is true: returns that status, or None after TIMEOUT seconds
        (or at once when the daemon exited)."""
        return proc.wait_for(lambda: (lambda s: s if s and predicate(s) else None)(self.status()), timeout,
                             interval=interval, abort=lambda: not self.alive)

    def wait_child_sa(self, timeout=WAIT):
        """Until status lists at least one CHILD SA (the bash scripts' wait_child)."""
        return self.wait_for(lambda s: len(s.get("childSAs") or []) >= 1, timeout)

    def reload(self, json_output=False):
        return self.cli("reload", *(["--json"] if json_output else []))

    def up(self, conn):
        return self.cli("up", conn)

    def down(self, conn):
        return self.cli("down", conn)

    def events(self):
        r = self.cli("events", "--json")
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {}

    # ------------------------------------------------------------------ the log
    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=20):
        return " | ".join(self.log_text().splitlines()[-n:])

    def crashed(self):
        """Lines of its log that say it crashed (fatal error, crash, assertion), as the bash scripts grepped."""
        return [line for line in self.log_text().splitlines()
                if any(w in line.lower() for w in ("fatal error", "crash", "assertion"))]

    def dump_log(self, n=20):
        log(f"{self.name} log ({self.log_path}), last {n} lines:")
        for line in self.log_text().splitlines()[-n:]:
            log("    " + line)


def child_sas(status):
    return status.get("childSAs") or []


def ike_sas(status, conn=None):
    """Every IKE SA of CONN (every connection when None) in a status."""
    return [sa for c in status.get("connections") or [] if conn is None or c.get("name") == conn
            for sa in c.get("ikeSAs") or []]


def dataplane(status, key, default=0):
    value = (status.get("dataplane") or {}).get(key)
    return default if value is None else value


def drops(status, *reasons):
    d = (status.get("dataplane") or {}).get("drops") or {}
    return sum(d.get(r) or 0 for r in reasons)
