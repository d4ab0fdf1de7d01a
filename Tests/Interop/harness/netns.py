"""Network namespaces and links, named with a per-test prefix and deleted by their creator only.

Links are created directly inside their namespaces (`ip link add NAME netns NS type veth peer name P netns NS2`),
so nothing ever appears in the root namespace. delete_all() (at exit, and in each scene's finalizer) removes
exactly the namespaces this run created."""
import atexit
import os

from . import proc
from .checks import log

_created = []       # namespace names this test run created and has not deleted


class NetnsError(Exception):
    pass


def _must(result, what):
    if result.returncode != 0:
        raise NetnsError(f"{what}: {(result.stderr or result.stdout).strip()[:300]}")
    return result


class Namespace:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return self.name

    def run(self, argv, timeout=60, input=None, env=None):
        """A command inside the namespace (bounded, see proc.run)."""
        return proc.run(argv, ns=self.name, timeout=timeout, input=input, env=env)

    def sh(self, script, timeout=60):
        return self.run(["sh", "-c", script], timeout=timeout)

    def ip(self, *args):
        """`ip -n NS ARGS`; raises NetnsError when it fails."""
        return _must(proc.run(["ip", "-n", self.name, *map(str, args)], timeout=20), f"ip -n {self.name} {' '.join(map(str, args))}")

    def sysctl(self, *pairs):
        """sysctl("net.ipv4.ip_forward=1", ...); raises NetnsError when it fails."""
        return _must(self.run(["sysctl", "-qw", *pairs], timeout=20), f"sysctl {' '.join(pairs)} in {self.name}")

    def addr(self, cidr, dev):
        self.ip("addr", "add", cidr, "dev", dev)

    def up(self, dev, *extra):
        self.ip("link", "set", dev, "up", *extra)

    def route(self, *args):
        self.ip("route", "add", *args)

    def tun(self, name, mtu=1400, routes=()):
        """A persistent TUN device (no PI header), up with MTU, and ROUTES (prefixes) into it."""
        self.ip("tuntap", "add", "dev", name, "mode", "tun")
        self.ip("link", "set", name, "up", "mtu", mtu)
        for prefix in routes:
            self.route(prefix, "dev", name)

    def ping(self, address, count=1, interval=None, wait=2, size=None, extra=(), timeout=None):
        argv = ["ping", "-c", count, "-W", wait]
        if interval is not None:
            argv += ["-i", interval]
        if size is not None:
            argv += ["-s", size]
        argv += list(extra) + [address]
        return self.run(argv, timeout=timeout or (count * (interval or 1) + wait + 10))


class Topology:
    """Namespaces named PREFIX + short name. delete() removes them (reverse order of creation)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.namespaces = []

    def namespace(self, short, sysctls=None):
        name = f"{self.prefix}{short}"
        _must(proc.run(["ip", "netns", "add", name], timeout=20), f"ip netns add {name}")
        _created.append(name)
        ns = Namespace(name)
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def veth(self, ns_a, name_a, ns_b, name_b):
        """A veth pair, NAME_A in NS_A and NAME_B in NS_B (both created inside their namespaces)."""
        _must(proc.run(["ip", "link", "add", name_a, "netns", str(ns_a), "type", "veth", "peer", "name", name_b,
                        "netns", str(ns_b)], timeout=20), f"veth {ns_a}/{name_a} - {ns_b}/{name_b}")

    def delete(self):
        for ns in self.namespaces[::-1]:
            delete_namespace(ns.name)
        self.namespaces = []


def delete_namespace(name):
    if name in _created:
        r = proc.run(["ip", "netns", "del", name], timeout=20)
        if r.returncode != 0 and os.path.exists(f"/run/netns/{name}"):
            log(f"could not delete namespace {name}: {r.stderr.strip()}")
        _created.remove(name)


def namespaces_named(prefix):
    """Every namespace on the machine whose name starts with PREFIX (read only)."""
    out = proc.run(["ip", "netns", "list"], timeout=20).stdout
    return [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0].startswith(prefix)]


def delete_all():
    proc.stop_all()          # processes first: a namespace lives on while a process is inside
    for name in list(_created)[::-1]:
        delete_namespace(name)


atexit.register(delete_all)
