"""Scene: everything one scenario creates (namespaces, processes, gateways, strongSwan peers, captures) in one
place, torn down in reverse order by the `scene` fixture's finalizer (also after a failure or a signal)."""
import json
import os
import shutil
import signal
import string
from pathlib import Path

from . import netns, proc
from .capture import Capture
from .checks import log
from .config import ISTHMUS_LOG_LEVEL, WAIT
from .isthmus import Isthmus
from .strongswan import StrongSwan


_counter = [0]


def _letters(n):
    """0 -> a, 25 -> z, 26 -> ba, ...: letters only, so that the PID before them is never ambiguous."""
    out = ""
    while True:
        out = string.ascii_lowercase[n % 26] + out
        n //= 26
        if n == 0:
            return out


def unique_short(kind="it"):
    """A short name unique on this machine while this run lives: KIND + PID + letters ("it4711a"), at most
    2 + 7 + 2 characters for KIND of 2, so that interface names SHORT + 1-4 characters fit in 15."""
    _counter[0] += 1
    return f"{kind}{os.getpid()}{_letters(_counter[0] - 1)}"


class Scene:
    def __init__(self, prefix, short, workdir, isthmus_bin, checks):
        self.prefix = prefix          # namespace names: PREFIX + short name ("it4711a-")
        self.short = short            # for interface names (<= 15 characters): SHORT + 1-4 characters ("it4711a")
        self.workdir = Path(workdir)  # scratch directory of this scenario (outside the repository)
        self.isthmus_bin = isthmus_bin
        self.checks = checks
        self.topology = netns.Topology(prefix)
        self._teardown = []           # callables, run last-in first-out

    # ------------------------------------------------------------------ building blocks
    def namespace(self, short):
        return self.topology.namespace(short)

    def veth(self, ns_a, name_a, ns_b, name_b):
        self.topology.veth(ns_a, name_a, ns_b, name_b)

    def path(self, name):
        return self.workdir / name

    def write(self, name, text, mode=0o600):
        p = self.path(name)
        p.write_text(text)
        os.chmod(p, mode)
        return p

    def isthmus(self, ns, config, name="isthmus", start=True, wait=True, log_level=None, **options):
        """An Isthmus gateway in NS running CONFIG (a path, copied to NAME.yaml mode 0600 when others may read it, or
        YAML text written to NAME.yaml), started unless
        START is false. OPTIONS: tun=, passive=, metrics=, log_format=, extra_args=. Stopped at teardown."""
        if isinstance(config, str) and "\n" in config:
            config = self.write(f"{name}.yaml", config)
        elif os.stat(config).st_mode & 0o077:
            # A file of the repository (0644): `isthmus run` refuses a key others may read; run a 0600 copy.
            config = self.write(f"{name}.yaml", Path(config).read_text())
        gw = Isthmus(self.isthmus_bin, ns, config, self.workdir, name=name,
                     log_level=log_level or ISTHMUS_LOG_LEVEL or "info", **options)
        self._teardown.append(gw.stop)
        if start:
            gw.start(wait=wait)
        return gw

    def strongswan(self, ns, name="charon", start=True, **options):
        """A strongSwan peer (charon) in NS; OPTIONS: log_levels=, charon_options=. Stopped at teardown."""
        ss = StrongSwan(ns, self.workdir, name=name, **options)
        self._teardown.append(ss.stop)
        if start:
            ss.start()
        return ss

    def capture(self, ns, iface, name="wire", bpf="udp port 500 or udp port 4500"):
        """tcpdump on NS/IFACE into NAME.pcap, started; stopped (SIGINT) at teardown."""
        cap = Capture(ns, iface, self.path(f"{name}.pcap"), bpf)
        self._teardown.append(cap.stop)
        return cap.start()

    def start(self, argv, name, ns=None, **kw):
        """Any other background process (output in NAME.log); stopped (SIGTERM, then SIGKILL) at teardown."""
        p = proc.start(argv, self.path(f"{name}.log"), ns=ns.name if ns is not None else None, name=name, **kw)
        self._teardown.append(p.stop)
        return p

    def two_sites(self, tuns=True, ipv6_loopback_in_cloud=False, check="topology"):
        """The standard four namespaces (harness.sites), recorded as the check CHECK; a failure ends the scenario."""
        from .sites import two_sites
        try:
            sites = two_sites(self, tuns=tuns, ipv6_loopback_in_cloud=ipv6_loopback_in_cloud)
        except netns.NetnsError as e:
            self.checks.abort(check, str(e))
        self.checks.ok(check)
        return sites

    def snapshot(self, label, ss, gw):
        """strongSwan's and Isthmus's view of their SAs, kept as LABEL.sas.txt (swanctl --list-sas --pretty) and
        LABEL.status.json; returns (ss_normalise'd SAs, status). A missing peer or a dead gateway gives empty ones."""
        from .strongswan import ss_normalise
        pretty = ss.list_sas_pretty() if ss else ""
        status = gw.status() if gw and gw.alive else {}
        self.write(f"{label}.sas.txt", pretty, mode=0o644)
        self.write(f"{label}.status.json", json.dumps(status, indent=1) + "\n", mode=0o644)
        return ss_normalise(pretty), status

    def on_teardown(self, fn):
        self._teardown.append(fn)

    def run(self, argv, ns=None, timeout=60, **kw):
        return proc.run(argv, ns=ns.name if ns is not None else None, timeout=timeout, **kw)

    # ------------------------------------------------------------------ teardown
    def close(self):
        while self._teardown:
            fn = self._teardown.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - every other step still runs
                log(f"teardown step {fn} failed: {e}")
        self.topology.delete()


def interrupt_on_signals():
    """SIGTERM and SIGHUP end the run like Ctrl-C: pytest then runs every finalizer (processes stopped,
    namespaces deleted) and prints its summary."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


def keep_or_remove(workdir, failed, keep, artifacts, name):
    """Scratch directory: removed after a passing scenario unless KEEP; kept (and named) after a failure;
    copied to ARTIFACTS/NAME when ARTIFACTS is set."""
    if artifacts:
        try:
            shutil.copytree(workdir, Path(artifacts) / name, dirs_exist_ok=True, ignore_dangling_symlinks=True,
                            ignore=shutil.ignore_patterns("*.sock", "*.vici"))
        except OSError as e:
            log(f"could not copy {workdir} to {artifacts}: {e}")
    if failed or keep:
        log(f"scratch directory kept: {workdir}")
        return True
    shutil.rmtree(workdir, ignore_errors=True)
    return False


__all__ = ["Scene", "interrupt_on_signals", "keep_or_remove", "unique_short", "WAIT"]
