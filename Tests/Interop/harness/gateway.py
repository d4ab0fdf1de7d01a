"""What the gateway tests read of a namespace and of a gateway: links, routes (ours are proto 73), a
connection's data path in `status`, error-level log lines."""
import json

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


def self_plumbed_pair(scene, sites, checks, wrap_office=None):
    """The examples' route-based gateways (office-dynamic.yaml, cloud-dynamic.yaml) in SITES without --tun, each
    plumbing its own interface; returns (office, cloud, configs) once both have a CHILD SA (else the scenario
    ends: `child-sa-established`). WRAP_OFFICE(argv) -> argv runs the office gateway under another command."""
    from .config import EXAMPLES, WAIT
    configs = {side: scene.write(f"{side}.yaml", (EXAMPLES / f"{side}-dynamic.yaml").read_text())
               for side in ("office", "cloud")}
    cloud = scene.isthmus(sites.cld, configs["cloud"], name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, configs["office"], name="office", start=False)
    if wrap_office:
        plain = office.argv
        office.argv = lambda: wrap_office(plain())
    office.start(wait=False)
    if not (office.wait_child_sa(timeout=WAIT * 2) and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT * 2}s")
    checks.ok("child-sa-established")
    return office, cloud, configs
