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
