"""Shared keys never leak (formerly scripts/interop/secrets-isthmus): the whole lab (`isthmus lab up`, both
the dynamic IKEv2 pair with an inline key and the static IKEv1 pair with a key file) runs with recognisable
random keys and the gateways logging at trace level; every command a user runs against it is exercised
(status, events, logs, logs --follow, metrics, the dashboard's pages, /api answers and /events, reload, key
rotate + a deliberate key mismatch, down/up, check, export --no-key, lab status/down), and every output, log file and metrics scrape is searched for each key as
text, hex and base64. The outputs that must show the key (`key show`, `key rotate`, `export` with the key) are
checked to contain it, so the search is shown to work. Check names are the bash script's."""
import base64
import json
import os
import shutil
import time


from harness import prereq, proc
from harness.config import EXAMPLES
from harness.scene import unique_short

MODES = ["dynamic", "static"]


def canary(kind):
    return f"IsthmusCanary{kind}{os.urandom(12).hex()}"


def forms(key):
    """The key as text, as lowercase and uppercase hex of its bytes, and as base64 (with and without padding)."""
    k = key.encode()
    b64 = base64.b64encode(k).decode()
    return [key, k.hex(), k.hex().upper(), b64, b64.rstrip("=")]


def test_secrets(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "curl"], isthmus=isthmus_bin, tun=True)
    short = unique_short("is")
    prefix, state_dir = f"{short}-", f"/run/isthmus-secrets-{short[2:]}"
    out_dir, intended_dir, ex = scene.path("out"), scene.path("intended"), scene.path("examples")
    for d in (out_dir, intended_dir, ex):
        d.mkdir()

    def labcmd(*args):
        return proc.run([isthmus_bin, "lab", *args, "--prefix", prefix, "--state-dir", state_dir], timeout=90)
    scene.on_teardown(lambda: labcmd("down"))

    key_dynamic, key_static = canary("D"), canary("S")
    keys = [key_dynamic, key_static]
    for f in EXAMPLES.glob("*.yaml"):
        shutil.copy(f, ex / f.name)
        os.chmod(ex / f.name, 0o600)  # they hold keys: `run` refuses them readable by others
    demo = "isthmus-demo-key-change-me-0123456789"
    for name in ("office-dynamic.yaml", "cloud-dynamic.yaml"):
        (ex / name).write_text((ex / name).read_text().replace(demo, key_dynamic))
    # The static pair reads its key from a file beside each configuration (mode 0600, as `key rotate` writes it).
    for side in ("office", "cloud"):
        (ex / f"{side}.key").write_text(key_static + "\n")
        os.chmod(ex / f"{side}.key", 0o600)
        (ex / f"{side}.yaml").write_text((ex / f"{side}.yaml").read_text().replace(
            f"shared_key: {demo}", f"shared_key: file:{side}.key"))
    checks.require("canary-keys-in-place",
                   key_dynamic in (ex / "office-dynamic.yaml").read_text()
                   and key_dynamic in (ex / "cloud-dynamic.yaml").read_text()
                   and "file:office.key" in (ex / "office.yaml").read_text()
                   and "file:cloud.key" in (ex / "cloud.yaml").read_text(),
                   "the example files did not take the keys")

    def save(folder, name, r):
        (folder / name).write_text(r.stdout + r.stderr)
        return r

    def run(name, argv, ns=None, timeout=60):
        """The command's output (stdout and stderr) into out/NAME: every output that must not contain a key."""
        return save(out_dir, name, proc.run(argv, ns=ns, timeout=timeout))

    def intended(name, argv):
        """The same into intended/NAME: outputs whose job is to show a key."""
        return save(intended_dir, name, proc.run(argv, timeout=60))

    def one_lab(mode):
        flag = ["--static"] if mode == "static" else []
        office_yaml = ex / ("office.yaml" if mode == "static" else "office-dynamic.yaml")
        cloud_yaml = ex / ("cloud.yaml" if mode == "static" else "cloud-dynamic.yaml")
        conn_o = "office-cloud"
        o, c = f"{state_dir}/office.sock", f"{state_dir}/cloud.sock"
        r = save(out_dir, f"{mode}-lab-up", labcmd("up", *flag, "--examples", ex, "--log-level", "trace"))
        if not checks.check(f"{mode}-lab-up", r.returncode == 0, " ".join((r.stdout + r.stderr).splitlines()[-3:])):
            return
        state = json.loads(open(f"{state_dir}/state.json").read())
        ns_o = next(g["namespace"] for g in state["gateways"] if g["name"] == "office")
        ns_c = next(g["namespace"] for g in state["gateways"] if g["name"] == "cloud")

        def ist(*args):
            return [isthmus_bin, *map(str, args)]

        # What an operator looks at.
        save(out_dir, f"{mode}-lab-status", labcmd("status"))
        for side, sock in (("o", o), ("c", c)):
            for verb, extra in (("status", []), ("status-json", ["--json"]), ("events", []),
                                ("events-json", ["--json"]), ("logs", []), ("logs-json", ["--json"]),
                                ("reload", []), ("reload-json", ["--json"])):
                run(f"{mode}-{verb}-{side}", ist(verb.split("-")[0], *extra, "--control", sock))
        # A follower while the connection goes down and up again (and restarts with the key).
        follower = scene.start(["timeout", "12", isthmus_bin, "logs", "--follow", "--json", "--control", o],
                               f"{mode}-follower")
        time.sleep(0.5)
        run(f"{mode}-down", ist("down", conn_o, "--control", o))
        time.sleep(1)
        run(f"{mode}-up", ist("up", conn_o, "--control", o))

        def child_sas():
            r = proc.run(ist("status", "--json", "--control", o), timeout=20)
            try:
                return len(json.loads(r.stdout).get("childSAs") or [])
            except ValueError:
                return 0
        proc.wait_for(lambda: child_sas() >= 1, 10)
        r = run(f"{mode}-ping", ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.4"], ns=state["officeHost"])
        checks.check(f"{mode}-tunnel-up-again", r.returncode == 0, "no ping after down/up")
        for side, ns in (("o", ns_o), ("c", ns_c)):
            r = run(f"{mode}-metrics-{side}", ["curl", "-sS", "--max-time", "5", "http://127.0.0.1:9469/metrics"],
                    ns=ns, timeout=10)
            checks.check(f"{mode}-metrics-scraped-{side}",
                         r.returncode == 0 and any(line.startswith("isthmus_ike_sas") for line in r.stdout.splitlines()),
                         " ".join((r.stdout + r.stderr).splitlines()[:2]))

        def dashboard(tag):
            """Everything the dashboard serves (its page, script, every /api answer, 2 s of /events) on both sides."""
            for side, ns, conn in (("o", ns_o, "office-cloud"), ("c", ns_c, "cloud-office")):
                for name, path in (("page", "/"), ("script", "/app.js"), ("model", "/api/model"),
                                   ("status", "/api/status"), ("session", "/api/session"), ("events", "/api/events"),
                                   ("diagnose", "/api/diagnose"), ("traffic", f"/api/connections/{conn}/traffic"),
                                   ("conn-events", f"/api/events?connection={conn}"),
                                   ("conn-diagnose", f"/api/diagnose?connection={conn}")):
                    run(f"{mode}-dashboard-{tag}-{name}-{side}",
                        ["curl", "-sS", "--max-time", "5", "http://127.0.0.1:8080" + path], ns=ns, timeout=10)
                run(f"{mode}-dashboard-{tag}-stream-{side}",
                    ["curl", "-sSN", "--max-time", "2", "http://127.0.0.1:8080/events"], ns=ns, timeout=10)
            model = (out_dir / f"{mode}-dashboard-{tag}-model-o").read_text()
            stream = (out_dir / f"{mode}-dashboard-{tag}-stream-c").read_text()
            checks.check(f"{mode}-dashboard-{tag}-scraped", '"sharedKey"' in model and "event: status" in stream,
                         f"model {model[:120]!r}, stream {stream[:120]!r}")
        dashboard("up")

        # The key's own commands show it (on purpose), which proves the search below can find it.
        intended(f"{mode}-key-show", ist("key", "show", conn_o, "--config", office_yaml))
        intended(f"{mode}-export-with-key", ist("export", conn_o, "--device", "strongswan", "--config", office_yaml))
        for device in ("strongswan", "libreswan", "netgear-fvs318n"):
            run(f"{mode}-export-no-key-{device}",
                ist("export", conn_o, "--device", device, "--no-key", "--config", office_yaml))
        run(f"{mode}-check-office", ist("check", office_yaml))
        run(f"{mode}-check-cloud", ist("check", cloud_yaml))

        if mode == "static":
            # Rotation: the new key is printed once (on purpose); the running office still has the old one.
            # Reloading takes the new key; a new negotiation then fails against the cloud (a key mismatch),
            # whose reports must not name either key.
            r = intended(f"{mode}-key-rotate", ist("key", "rotate", conn_o, "--config", office_yaml))
            rotated = (ex / "office.key").read_text().replace("\n", "")
            keys.append(rotated)
            checks.check(f"{mode}-key-rotated", rotated in r.stdout + r.stderr and rotated != key_static,
                         "no new key in the key file")
            run(f"{mode}-status-after-rotate", ist("status", "--json", "--control", o))
            r = run(f"{mode}-reload-rotated", ist("reload", "--control", o))
            checks.check(f"{mode}-reload-takes-rotated-key", "new shared key" in r.stdout + r.stderr,
                         " ".join((r.stdout + r.stderr).splitlines()[:3]))
            run(f"{mode}-down-mismatch", ist("down", conn_o, "--control", o))
            time.sleep(1)
            run(f"{mode}-up-mismatch", ist("up", conn_o, "--control", o))

            def auth_failed():
                # IKEv1: the responder (cloud) finds message 5 undecryptable; the initiator only sees retransmits.
                r = proc.run(ist("logs", "--json", "--control", c), timeout=20)
                for line in r.stdout.splitlines():
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e.get("kind") == "authentication-failed":
                        return str((e.get("details") or {}).get("reason"))
                return None
            seen = proc.wait_for(auth_failed, 15)
            checks.check(f"{mode}-key-mismatch-reported-by-cloud", seen, "no authentication-failed event within 15 s",
                         detail=seen)
            run(f"{mode}-logs-mismatch-o", ist("logs", "--control", o))
            run(f"{mode}-logs-mismatch-c", ist("logs", "--json", "--control", c))
            run(f"{mode}-status-mismatch-c", ist("status", "--json", "--control", c))
            run(f"{mode}-metrics-mismatch-o", ["curl", "-sS", "--max-time", "5", "http://127.0.0.1:9469/metrics"],
                ns=ns_o, timeout=10)
            dashboard("mismatch")
        if follower.wait(20) is None:
            follower.stop()
        follow = follower.output()
        (out_dir / f"{mode}-logs-follow-o").write_text(follow)
        checks.check(f"{mode}-follower-saw-events", follow.count('"kind"') >= 2, " ".join(follow.splitlines()[:3]))
        # The gateways' own logs (trace level), kept before `lab down` removes the state folder.
        lines = 0
        for side in ("office", "cloud"):
            shutil.copy(f"{state_dir}/{side}.log", out_dir / f"{mode}-gateway-{side}.log")
            lines += len((out_dir / f"{mode}-gateway-{side}.log").read_text(errors="replace").splitlines())
        checks.check(f"{mode}-trace-logs-written", lines >= 50, f"only {lines} lines", detail=f"{lines} lines")
        r = save(out_dir, f"{mode}-lab-down", labcmd("down"))
        checks.check(f"{mode}-lab-down", r.returncode == 0, f"exit {r.returncode}")

    for mode in MODES:
        one_lab(mode)

    # ---------------------------------------------------------------- the search
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    checks.check("outputs-collected", len(files) >= 60, f"only {len(files)} files", detail=f"{len(files)} files")
    leaks = []
    contents = {p.name: p.read_bytes() for p in files}
    for key in keys:
        for form in forms(key):
            found = [name for name, data in contents.items() if form.encode() in data]
            if found:
                leaks.append(f"[{form} in: {' '.join(found)}]")
    checks.check("no-key-in-any-output", not leaks, " ".join(leaks),
                 detail=f"{len(keys)} keys x 5 forms, {len(files)} outputs")
    # The search does find a key where one is meant to be.
    def shows(name, key):
        p = intended_dir / name
        return p.exists() and key in p.read_text(errors="replace")
    checks.check("search-finds-keys-where-intended",
                 shows("dynamic-key-show", key_dynamic) and shows("dynamic-export-with-key", key_dynamic)
                 and shows("static-key-show", key_static), "key show / export did not print the key")


