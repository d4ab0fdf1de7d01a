"""The gateway plumbs itself (issue: a gateway that plumbs itself and serves many sites).

`self-plumbing`: two Isthmus gateways in the two-site topology (harness.sites, no TUN made by the test) run
`isthmus run` without --tun: each creates its interface (ist-<remote site>) with the planned MTU and a route
(proto 73) to the far site; the office host pings the VM; `status` shows the data path up; SIGTERM removes the
interface and the route; after SIGKILL nothing is left either, and a new start comes up clean.

`hub`: one cloud gateway, two route-based branches (both with 0.0.0.0/0 traffic selectors) behind a bridge
that plays the internet: each branch host and the VM ping each other at the same time, each branch's WAN
capture shows only its own ESP, and a reload that removes one branch leaves the other's SAs and ping alone."""
import json
import signal
import time

from harness import prereq
from harness.config import EXAMPLES, WAIT
from harness.isthmus import child_sas
from harness.sites import CLOUD_PUBLIC, OFFICE_HOST, VM
from harness.traffic import ping_counts, ping_lost, ping_problem, stop_ping

ROUTE_PROTO = 73


def links(ns):
    r = ns.run(["ip", "-j", "link", "show"])
    return {l["ifname"]: l for l in json.loads(r.stdout or "[]")} if r.returncode == 0 else {}


def routes(ns):
    r = ns.run(["ip", "-j", "route", "show", "table", "main"])
    return json.loads(r.stdout or "[]") if r.returncode == 0 else []


def our_routes(ns):
    """Routes marked proto 73 as (destination, device)."""
    return sorted((r.get("dst"), r.get("dev")) for r in routes(ns) if str(r.get("protocol")) in (str(ROUTE_PROTO), "isthmus"))


def data_path(status, connection):
    for c in status.get("connections") or []:
        if c.get("name") == connection:
            return c.get("dataPath") or {}
    return {}


def error_lines(gw):
    return [l for l in gw.log_text().splitlines() if " error " in f" {l.lower()} " or "level=error" in l]


def test_self_plumbing(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    checks.check("underlay-ping", sites.ofc.ping(CLOUD_PUBLIC).returncode == 0, "gateways cannot reach each other")
    configs = {side: scene.write(f"{side}.yaml", (EXAMPLES / f"{side}-dynamic.yaml").read_text())
               for side in ("office", "cloud")}
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, configs["office"], name="office", wait=False)
    if not (office.wait_child_sa() and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT}s")
    checks.ok("child-sa-established")

    # Interfaces and routes, made by the gateways themselves.
    for ns, gw, conn, iface, prefix in ((sites.ofc, office, "office-cloud", "ist-cloud", "10.0.1.0/24"),
                                       (sites.cld, cloud, "cloud-office", "ist-office", "192.168.1.0/24")):
        link = links(ns).get(iface)
        checks.check(f"{gw.name}-interface-created", link is not None and "UP" in (link.get("flags") or []),
                     f"links: {sorted(links(ns))}")
        # aes256gcm16 or aes256-sha256 within 1500: 1500 - 28 - (8 + 16 + 15 + 2 + 16) = 1415
        checks.check(f"{gw.name}-interface-mtu", link is not None and link.get("mtu") == 1415,
                     f"mtu {link and link.get('mtu')}", detail=f"mtu {link and link.get('mtu')}")
        checks.check(f"{gw.name}-route-installed", (prefix, iface) in our_routes(ns), f"routes: {routes(ns)}")
        dp = data_path(gw.status(), conn)
        checks.check(f"{gw.name}-status-data-path-up",
                     dp.get("state") == "up" and dp.get("interface") == iface and dp.get("routes") == [prefix],
                     f"dataPath {dp}")
    r = sites.oh.ping(VM, count=5, interval=0.2)
    checks.check("ping-office-host-to-vm", r.returncode == 0, ping_problem(r), detail=f"{ping_counts(r.stdout)[1]} received")
    r = sites.vm.ping(OFFICE_HOST, count=3, interval=0.2)
    checks.check("ping-vm-to-office-host", r.returncode == 0, ping_problem(r))

    # SIGTERM: interface and route gone with the gateway.
    checks.check("office-sigterm-exit-0", office.stop(signal.SIGTERM, timeout=10) == 0, "exit status not 0")
    checks.check("office-interface-removed", "ist-cloud" not in links(sites.ofc), f"links: {sorted(links(sites.ofc))}")
    checks.check("office-routes-removed", our_routes(sites.ofc) == [], f"routes: {our_routes(sites.ofc)}")

    # SIGKILL: the kernel removes the TUN and its routes; a new start finds nothing in its way.
    cloud.stop(signal.SIGKILL, timeout=5)
    checks.check("cloud-killed-interface-gone", "ist-office" not in links(sites.cld), f"links: {sorted(links(sites.cld))}")
    checks.check("cloud-killed-routes-gone", our_routes(sites.cld) == [], f"routes: {our_routes(sites.cld)}")
    cloud2 = scene.isthmus(sites.cld, configs["cloud"], name="cloud-again", passive=True, wait=True)
    office2 = scene.isthmus(sites.ofc, configs["office"], name="office-again", wait=True)
    ok = office2.wait_child_sa() and cloud2.wait_child_sa()
    checks.check("restart-child-sa-established", bool(ok), f"no CHILD SA within {WAIT}s")
    checks.check("restart-route-installed", ("192.168.1.0/24", "ist-office") in our_routes(sites.cld),
                 f"routes: {our_routes(sites.cld)}")
    r = sites.oh.ping(VM, count=3, interval=0.2)
    checks.check("restart-ping-office-host-to-vm", r.returncode == 0, ping_problem(r))
    errors = error_lines(cloud2) + error_lines(office2)
    checks.check("restart-no-error-lines", not errors, " | ".join(errors[:3]))
