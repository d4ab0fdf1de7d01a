"""`isthmus lab up|status|down` end to end (formerly scripts/interop/lab-isthmus): the seed's two sites in
network namespaces, two Isthmus gateways, a ping from the office host to the cloud VM, and a `lab down` that
leaves nothing behind, also after a gateway was killed with SIGKILL and after a half-done `up`; then `lab up
--static` (the IKEv1 gateways of examples/office.yaml and cloud.yaml) with its ping, and `lab down`.

Unlike the bash script (which used the lab's defaults, namespaces ist-lab-* and /run/isthmus-lab, so two runs
at once collided), the lab runs with a prefix and a state folder of its own (`--prefix il<pid><n>-
--state-dir /run/ist-lab-<pid><n>`), so concurrent runs do not meet. Check names are the bash script's."""
import json
import os
import re
import signal
import time

from harness import netns, prereq, proc
from harness.config import EXAMPLES
from harness.scene import unique_short


def alive(pid):
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def runs_gateway(pid, binary):
    """Whether PID is `BINARY run ...` (the lab starts its gateways with its own executable, whatever its name)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return len(argv) > 1 and os.path.basename(argv[0].decode(errors="replace")) == os.path.basename(binary) \
        and argv[1] == b"run"


def test_lab(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip"], isthmus=isthmus_bin, tun=True)
    short = unique_short("il")
    prefix, state_dir = f"{short}-", f"/run/ist-lab-{short[2:]}"
    state_path = os.path.join(state_dir, "state.json")

    def lab(name, *args):
        """`isthmus lab ARGS --prefix P --state-dir D` (bounded); its output is kept as NAME.out."""
        r = scene.run([isthmus_bin, "lab", *args, "--prefix", prefix, "--state-dir", state_dir], timeout=90,
                      cwd=str(EXAMPLES.parent))
        r.out = r.stdout + r.stderr
        scene.write(f"{name}.out", r.out)
        return r

    scene.on_teardown(lambda: proc.run([isthmus_bin, "lab", "down", "--prefix", prefix, "--state-dir", state_dir],
                                       timeout=60))
    examples = ["--examples", str(EXAMPLES)]

    def state_pids(name=None):
        try:
            with open(state_path) as f:
                gws = json.load(f).get("gateways") or []
        except (OSError, ValueError):
            return []
        return [g["pid"] for g in gws if g.get("pid") and (name is None or g.get("name") == name)]

    def check_clean(name, pids):
        left = netns.namespaces_named(prefix)
        checks.check(f"{name}-no-namespaces-left", not left, f"still there: {' '.join(left)}")
        running = [str(p) for p in pids if alive(p)]
        checks.check(f"{name}-no-gateway-processes-left", not running, f"pids still running: {' '.join(running)}")
        checks.check(f"{name}-state-directory-removed", not os.path.exists(state_dir), f"{state_dir} still exists")

    # ---------------------------------------------------------------- clean slate
    r = lab("down0", "down")
    checks.check("down-before-start", r.returncode == 0, f"exit {r.returncode}")
    checks.require("clean-slate", not netns.namespaces_named(prefix) and not os.path.exists(state_dir),
                   "lab leftovers remain after lab down")

    # ---------------------------------------------------------------- up
    r = lab("up1", "up", *examples)
    checks.check("up-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-500:]}")
    summary = " ".join(line for line in r.out.splitlines() if "packet loss" in line) or "no ping summary"
    checks.check("up-ping-summary-0%-loss", " 0% packet loss" in r.out and "3 packets transmitted, 3 received" in r.out,
                 summary)
    checks.check("up-prints-both-statuses", re.search(r"^=== office gateway", r.out, re.M)
                 and re.search(r"^=== cloud gateway", r.out, re.M) and r.out.count("IKE SA established") >= 2,
                 "expected both gateways' status with an established IKE SA")
    n = len(netns.namespaces_named(prefix))
    checks.check("up-four-namespaces", n == 4, f"{n} namespaces named {prefix}*")
    pids1 = state_pids()
    good = [p for p in pids1 if alive(p) and runs_gateway(p, isthmus_bin)]
    checks.check("up-state-file-two-gateway-pids", len(pids1) == 2 and len(good) == 2, f"pids '{pids1}'",
                 detail=" ".join(map(str, pids1)))
    missing = [f for f in ("state.json", "office.sock", "cloud.sock", "office.log", "cloud.log")
               if not os.path.exists(os.path.join(state_dir, f))]
    checks.check("up-state-directory", not missing, f"missing in {state_dir}: {' '.join(missing)}")
    links = proc.run(["ip", "-o", "link", "show"], timeout=20).stdout
    bad = re.findall(rf": ({re.escape(prefix)}[^:@]*|oh0|wan0|lan0|vm0)[:@]", links)
    checks.check("root-namespace-untouched", not bad, f"lab links in the root namespace: {bad}")

    # A second `up` refuses while a lab exists.
    r = lab("up2", "up", *examples)
    if r.returncode == 0:
        checks.fail("second-up-refused", "exit 0")
    else:
        checks.check("second-up-refused", "already exists" in r.out, f"no clear message: {r.out[-300:]}")

    # ---------------------------------------------------------------- status
    r = lab("status1", "status")
    checks.check("status-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")
    checks.check("status-ping-0%-loss", " 0% packet loss" in r.out,
                 " ".join(line for line in r.out.splitlines() if "packet loss" in line))
    checks.check("status-esp-counted", re.search(r"ESP packets out [1-9][0-9]* / in [1-9]", r.out),
                 "no ESP packets counted by the data plane")

    # ---------------------------------------------------------------- down
    r = lab("down1", "down")
    checks.check("down-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")
    check_clean("down", pids1)
    checks.check("down-stopped-gateways", "stopped" in r.out, r.out[-300:])
    r = lab("status2", "status")
    if r.returncode == 0:
        checks.fail("status-without-lab", "exit 0")
    else:
        checks.ok("status-without-lab-exit-1")

    # ---------------------------------------------------------------- crash: a gateway killed with SIGKILL
    r = lab("up3", "up", *examples)
    checks.check("crash-up-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")
    pids3 = state_pids()
    office = (state_pids("office") or [None])[0]
    if office:
        try:
            os.kill(office, signal.SIGKILL)     # a gateway this test's `lab up` started
        except ProcessLookupError:
            pass
        proc.wait_for(lambda: not alive(office), 5, interval=0.1)
        checks.check("crash-kill-office-gateway", not alive(office), f"pid {office} survived SIGKILL",
                     detail=f"pid {office}")
    else:
        checks.fail("crash-kill-office-gateway", f"no office pid in {state_path}")
    r = lab("status3", "status")
    checks.check("crash-status-reports-failure", r.returncode != 0, "exit 0 with a dead gateway")
    r = lab("down3", "down")
    checks.check("crash-down-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")
    check_clean("crash", pids3)

    # ---------------------------------------------------------------- half-done up: leftovers without a state file
    leftovers = netns.Topology(prefix)
    scene.on_teardown(leftovers.delete)
    try:
        leftovers.namespace("oh")
        leftovers.namespace("zz")
    except netns.NetnsError as e:
        checks.fail("half-done-setup", f"cannot create namespaces: {e}")
    r = lab("up4", "up", *examples)
    if r.returncode == 0:
        checks.fail("half-done-up-refused", "exit 0 with leftover namespaces")
    else:
        checks.check("half-done-up-refused", "lab down" in r.out, f"no hint: {r.out[-300:]}")
    r = lab("down4", "down")
    checks.check("half-done-down-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")
    check_clean("half-done", [])

    # ---------------------------------------------------------------- the seed's static gateways (IKEv1)
    r = lab("up6", "up", "--static", *examples)
    checks.check("static-up-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-500:]}")
    checks.check("static-up-ping-0%-loss", "3 packets transmitted, 3 received" in r.out,
                 " ".join(line for line in r.out.splitlines() if "packet loss" in line) or "no ping summary")
    checks.check("static-up-ikev1-established-on-both",
                 r.out.count("static, IKEv1") >= 2 and r.out.count("IKE SA established") >= 2,
                 "expected both gateways' IKEv1 SA established")
    pids6 = state_pids()
    r = lab("down6", "down")
    checks.check("static-down-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")
    check_clean("static", pids6)

    # ---------------------------------------------------------------- idempotent
    r = lab("down5", "down")
    checks.check("down-again-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.out[-300:]}")


def test_lab_soak(scene, checks, isthmus_bin):
    """The seed's examples agree with each other: `lab up --static` (IKEv1, examples/office.yaml and cloud.yaml)
    and `lab up` (IKEv2, the -dynamic examples) run side by side for SOAK seconds (120) with no error-level line in
    any gateway's log, the static cloud initiating once as well (it once proposed its gateway subnet, which the
    office refused in every Quick Mode), then a ping still crosses both."""
    prereq.require(checks, tools=["ip", "ping"], isthmus=isthmus_bin, tun=True)
    soak = int(os.environ.get("SOAK", "120"))
    labs = {}
    for kind in ("static", "dynamic"):
        short = unique_short("is")
        labs[kind] = (f"{short}-", f"/run/ist-lab-{short[2:]}")

    def lab(kind, *args):
        prefix, state_dir = labs[kind]
        r = scene.run([isthmus_bin, "lab", *args, "--prefix", prefix, "--state-dir", state_dir], timeout=90,
                      cwd=str(EXAMPLES.parent))
        r.out = r.stdout + r.stderr
        scene.write(f"{kind}-{args[0]}.out", r.out)
        return r

    for kind in labs:
        scene.on_teardown(lambda kind=kind: lab(kind, "down"))
    for kind in labs:
        r = lab(kind, "up", *(["--static"] if kind == "static" else []), "--examples", str(EXAMPLES))
        checks.require(f"{kind}-up", r.returncode == 0 and "3 packets transmitted, 3 received" in r.out,
                       f"exit {r.returncode}: {r.out[-400:]}")
    # The static cloud initiates once too (`down`, then `up`): it proposes its prefixes in its own Quick Modes.
    prefix, state_dir = labs["static"]
    for verb in ("down", "up"):
        r = proc.run(["ip", "netns", "exec", f"{prefix}cld", isthmus_bin, verb, "cloud-office", "--control",
                      os.path.join(state_dir, "cloud.sock")], timeout=30)
        checks.check(f"static-cloud-{verb}", r.returncode == 0, (r.stdout + r.stderr).strip()[-200:])
        time.sleep(2)
    time.sleep(soak)
    for kind, (prefix, state_dir) in labs.items():
        for gateway in ("office", "cloud"):
            path = os.path.join(state_dir, f"{gateway}.log")
            try:
                with open(path, errors="replace") as f:
                    errors = [line.strip() for line in f if " error " in line]
            except OSError as e:
                errors = [f"cannot read {path}: {e}"]
            checks.check(f"{kind}-{gateway}-no-error-lines-after-{soak}s", not errors, " | ".join(errors[:3]))
        r = lab(kind, "status")
        checks.check(f"{kind}-ping-after-{soak}s", "3 packets transmitted, 3 received" in r.out,
                     r.out[-300:])
    for kind in labs:
        r = lab(kind, "down")
        checks.check(f"{kind}-down", r.returncode == 0, r.out[-300:])
