"""The seed's endpoint ACLs on the wire (examples/cloud.yaml and office.yaml): who in the office reaches which
service of the VM, with per-rule counters and denial events."""
import time

from harness import prereq
from harness.config import EXAMPLES, WAIT
from harness.sites import VM
from harness.traffic import ping_problem


SERVER = """
import socket, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"hello from %d\\n" % port); c.close()
for p in (22, 443):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
threading.Event().wait()
"""


def tcp_hello(ns, source, address, port, timeout=3):
    """Connects from SOURCE to ADDRESS:PORT inside NS and returns what the server said ('' when it could not)."""
    code = ("import socket,sys\n"
            f"s=socket.socket(); s.settimeout({timeout}); s.bind(('{source}', 0))\n"
            f"try:\n s.connect(('{address}', {port})); print(s.recv(100).decode().strip())\n"
            "except OSError as e:\n print('')")
    r = ns.run(["python3", "-c", code], timeout=timeout + 10)
    return r.stdout.strip()


def acl_hits(status, endpoint, rule):
    for row in status.get("acl") or []:
        if row.get("endpoint") == endpoint and row.get("rule") == rule:
            return row.get("hits", 0)
    return None


def test_seed_acls(scene, checks, isthmus_bin):
    """The seed's endpoint ACLs (examples/cloud.yaml, static gateways as examples/office.yaml): the admin
    workstation 192.168.1.10 reaches the VM's TCP 22, 192.168.1.11 does not and reaches 443; counters and
    events show both decisions."""
    prereq.require(checks, tools=["ip", "ping", "python3"], isthmus=isthmus_bin, tun=True)
    sites = scene.two_sites(tuns=False)
    sites.oh.addr("192.168.1.11/24", "oh0")
    scene.start(["python3", "-c", SERVER], "vm-servers", ns=sites.vm)
    cloud = scene.isthmus(sites.cld, EXAMPLES / "cloud.yaml", name="cloud", passive=True, wait=False)
    office = scene.isthmus(sites.ofc, EXAMPLES / "office.yaml", name="office", wait=False)
    if not (office.wait_child_sa() and cloud.wait_child_sa()):
        office.dump_log(); cloud.dump_log()
        checks.abort("child-sa-established", f"no CHILD SA within {WAIT}s")
    checks.ok("child-sa-established")
    time.sleep(0.5)
    said = tcp_hello(sites.oh, "192.168.1.10", VM, 22)
    checks.check("admin-workstation-reaches-ssh", said == "hello from 22", f"got {said!r}")
    said = tcp_hello(sites.oh, "192.168.1.11", VM, 22)
    checks.check("other-office-host-denied-ssh", said == "", f"got {said!r}")
    said = tcp_hello(sites.oh, "192.168.1.11", VM, 443)
    checks.check("other-office-host-reaches-https", said == "hello from 443", f"got {said!r}")
    r = sites.oh.ping(VM, count=2, interval=0.2)
    checks.check("unlisted-ping-passes", r.returncode == 0, ping_problem(r))

    s = cloud.wait_for(lambda s: (acl_hits(s, "vm-ssh", "2") or 0) >= 1 and (acl_hits(s, "vm-web", "1") or 0) >= 1,
                       timeout=5) or cloud.status()
    permit, deny, web = acl_hits(s, "vm-ssh", "1"), acl_hits(s, "vm-ssh", "2"), acl_hits(s, "vm-web", "1")
    checks.check("status-counts-both-decisions", (permit or 0) >= 1 and (deny or 0) >= 1 and (web or 0) >= 1,
                 f"vm-ssh rule 1 {permit}, rule 2 {deny}, vm-web rule 1 {web}",
                 detail=f"vm-ssh permit {permit}, deny {deny}; vm-web permit {web}")
    denials = [e for e in (cloud.events().get("events") or []) if e.get("kind") == "acl-denied"]
    named = [e for e in denials if (e.get("details") or {}).get("endpoint") == "vm-ssh"
             and (e.get("details") or {}).get("source") == "192.168.1.11"
             and (e.get("details") or {}).get("rule") == "2"]
    checks.check("denial-event-names-rule-and-source", bool(named), f"{len(denials)} acl-denied events: {denials[:1]}",
                 detail=(named[0].get("message") if named else ""))
    checks.check("denial-event-under-the-connection", bool(named) and named[0].get("connection") == "cloud-office",
                 f"connection {named[0].get('connection') if named else None}")
