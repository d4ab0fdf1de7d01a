"""Processes this test run started, stopped by PID only; bounded commands; bounded polling.

Every background process goes through start() and is recorded, so that stop_all() (at exit, after a signal,
and in each scene's finalizer) ends exactly the processes this run started and nothing else."""
import atexit
import os
import signal
import subprocess
import time

from .checks import log

_live = {}          # pid -> Process, started by this test run and not yet reaped


class Process:
    """A background process (stdout and stderr into LOG_PATH)."""

    def __init__(self, argv, log_path, ns=None, env=None, cwd=None, name=None):
        self.argv = [str(a) for a in argv]
        self.ns = ns
        self.log_path = str(log_path)
        self.name = name or os.path.basename(self.argv[0])
        full = (["ip", "netns", "exec", ns] if ns else []) + self.argv
        self._log = open(self.log_path, "ab", buffering=0)
        # `ip netns exec` execs the command, so the PID is the command's own.
        self.popen = subprocess.Popen(full, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, cwd=cwd)
        self.pid = self.popen.pid
        _live[self.pid] = self

    @property
    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def send_signal(self, sig):
        if self.alive:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """The exit status, or None when still running after TIMEOUT seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """SIG (TERM), up to TIMEOUT seconds, then SIGKILL; returns the exit status (negative: a signal)."""
        if self.alive:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=10)
        _live.pop(self.pid, None)
        try:
            self._log.close()
        except OSError:
            pass
        return self.popen.returncode

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def start(argv, log_path, ns=None, env=None, cwd=None, name=None):
    return Process(argv, log_path, ns=ns, env=env, cwd=cwd, name=name)


def run(argv, ns=None, timeout=60, input=None, env=None, cwd=None):
    """Runs ARGV (in namespace NS) to completion, at most TIMEOUT seconds (then killed: returncode 124, like
    timeout(1)). Returns a CompletedProcess with text stdout and stderr; never raises for the command's sake."""
    full = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in argv]
    try:
        return subprocess.run(full, capture_output=True, text=True, errors="replace", timeout=timeout, input=input,
                              env=env, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return subprocess.CompletedProcess(full, 124, text(e.stdout), text(e.stderr) + f"\n(timed out after {timeout}s)")
    except OSError as e:
        return subprocess.CompletedProcess(full, 127, "", str(e))


def wait_for(predicate, timeout, interval=0.25, abort=None):
    """Polls PREDICATE every INTERVAL seconds until it returns something true (returned) or TIMEOUT seconds
    passed (None). ABORT, when given, is polled too: once it returns true the wait ends early (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if abort is not None and abort():
            return None
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def stop_all():
    for p in list(_live.values())[::-1]:
        try:
            p.stop(timeout=3)
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            log(f"could not stop pid {p.pid}: {e}")


atexit.register(stop_all)
