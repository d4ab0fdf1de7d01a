"""The web dashboard in a real browser: `isthmus lab up` (its own --prefix and --state-dir, as test_lab.py) starts
both gateways with `--dashboard 127.0.0.1:8080` inside their namespaces; Debian's chromium (headless) is driven by
its chromedriver, which runs inside the cloud gateway's namespace (`ip netns exec NS chromedriver`, started and
stopped by PID); selenium talks to it from this process, whose main thread enters that namespace (setns) only
while it drives the browser. Nothing is reached in the root namespace but its filesystem (the control sockets).

Checks: the diagram shows the virtual network (with its gateway subnet), the office site and the connection as
up; `isthmus down` turns the connection red within 2 s without a reload; the connection page shows the IKE and
CHILD SAs and a traffic chart with points after a ping; actions are refused (403) without the token and with a
wrong one, and work with it; the browser logs no error besides the refusals this test provokes; screenshots
(dashboard.png: the overview, dashboard-connection.png: the connection page) are kept in the scenario folder.
Then a second gateway (passive, IKE only, loopback ports of the cloud namespace, dashboard on 8081) whose local
and remote IDs hold markup and quotes: its connection page shows them as text, no element of them exists and
no script of them ran."""
import contextlib
import ctypes
import json
import os
import socket
import time

from harness import netns, prereq, proc
from harness.config import EXAMPLES
from harness.scene import unique_short

CLONE_NEWNET = 0x40000000
DASHBOARD = "http://127.0.0.1:8080"
CONNECTION = "cloud-office"
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
STALLED_READER = """
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.connect(("127.0.0.1", 8080))
s.sendall(b"GET /events HTTP/1.1\\r\\nHost: 127.0.0.1:8080\\r\\n\\r\\n")
print("connected, not reading", flush=True)
time.sleep(600)
"""
# A second gateway whose identities hold markup, as a peer's text could: its connection page must show them as
# text. Passive and IKE only, on the loopback of the cloud gateway's namespace: it sends nothing.
PROBE_DASHBOARD = "http://127.0.0.1:8081"
PROBE_REMOTE_ID = '"><img/src=x/onerror=window.__xss=1><script>window.__xss=2</script>'
PROBE_LOCAL_ID = "'><svg/onload=window.__xss=3>"
PROBE_CONFIG = f"""gateway:
  name: markup-probe
  kind: dynamic
  public_address: 127.0.0.1
site:
  prefixes: [10.99.1.0/24]
local_networks:
  - name: probe-site
    gateway_address: 127.0.0.2
    prefixes: [10.99.2.0/24]
connections:
  - name: markup-probe
    local_network: probe-site
    ike_version: 2
    shared_key: markup-probe-demo-key-0123456789
    local_id: '@{PROBE_LOCAL_ID.replace("'", "''")}'
    remote_id: '@{PROBE_REMOTE_ID}'
"""


@contextlib.contextmanager
def in_namespace(name):
    """This thread in network namespace NAME (its sockets are that namespace's), back to its own afterwards."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back failed")
    finally:
        os.close(target)
        os.close(own)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def selenium_problem():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return ["python3-selenium missing (scripts/setup installs it)"]
    return []


def test_dashboard(scene, checks, isthmus_bin):
    prereq.require(checks, tools=["ip", "chromium", "chromedriver"], isthmus=isthmus_bin, tun=True,
                   more=selenium_problem)
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    short = unique_short("id")
    prefix, state_dir = f"{short}-", f"/run/ist-lab-{short[2:]}"
    cloud_ns, office_host = f"{prefix}cld", f"{prefix}oh"
    cloud_sock = os.path.join(state_dir, "cloud.sock")

    def lab(name, *args, timeout=90):
        r = scene.run([isthmus_bin, "lab", *args, "--prefix", prefix, "--state-dir", state_dir], timeout=timeout,
                      cwd=str(EXAMPLES.parent))
        r.out = r.stdout + r.stderr
        scene.write(f"{name}.out", r.out)
        return r

    scene.on_teardown(lambda: proc.run([isthmus_bin, "lab", "down", "--prefix", prefix, "--state-dir", state_dir],
                                       timeout=60))
    r = lab("lab-up", "up", "--examples", str(EXAMPLES))
    checks.require("lab-up", r.returncode == 0, f"exit {r.returncode}: {r.out[-600:]}")
    checks.check("lab-up-prints-dashboard", "dashboard: http://127.0.0.1:8080/" in r.out and cloud_ns in r.out,
                 "no dashboard line in the lab's output")
    token_path = os.path.join(state_dir, "dashboard.token")
    mode = os.stat(token_path).st_mode & 0o777
    checks.check("token-file-0600", mode == 0o600, f"mode {oct(mode)}")
    with open(token_path) as f:
        token = f.read().strip()

    # The browser: chromedriver in the cloud gateway's namespace, chromium its child (same namespace).
    driver_port = 9515
    chromedriver = proc.start(["chromedriver", f"--port={driver_port}", "--allowed-ips=127.0.0.1"],
                              scene.path("chromedriver.log"), ns=cloud_ns, name="chromedriver")
    scene.on_teardown(chromedriver.stop)
    with in_namespace(cloud_ns):
        checks.require("chromedriver-listens", proc.wait_for(lambda: port_open(driver_port), 15),
                       "chromedriver did not listen within 15 s (see chromedriver.log)")
        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000",
                         "--force-device-scale-factor=1", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-default-apps",
                         "--hide-scrollbars", f"--user-data-dir={scene.path('chromium-profile')}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        browser = webdriver.Remote(command_executor=f"http://127.0.0.1:{driver_port}", options=options)
    scene.on_teardown(lambda: _quit(browser, cloud_ns))
    expected_refusals = []      # URLs this test has the page POST to without (or with a wrong) token

    def browse(fn):
        with in_namespace(cloud_ns):
            return fn()

    def wait_page(timeout=15):
        return proc.wait_for(lambda: browse(lambda: browser.execute_script(
            "return document.body.getAttribute('data-ready') === 'true'")), timeout)

    def link_state():
        return browse(lambda: browser.execute_script(
            "const l = document.getElementById('link-' + arguments[0]); return l && l.getAttribute('data-state');",
            CONNECTION))

    def post(path, with_token=None):
        """POST from the page (same origin), optionally with a bearer token: (status, body)."""
        return browse(lambda: browser.execute_async_script("""
            const [path, tok, done] = arguments;
            const headers = tok ? {Authorization: 'Bearer ' + tok} : {};
            fetch(path, {method: 'POST', headers}).then(async r => done([r.status, await r.text()]))
                .catch(e => done([0, String(e)]));""", path, with_token))

    # ---------------------------------------------------------------- overview: the diagram
    browse(lambda: browser.get(DASHBOARD + "/"))
    checks.require("overview-loads", wait_page(), "the page did not finish loading within 15 s")
    checks.check("diagram-connection-up", proc.wait_for(lambda: link_state() == "up", 10),
                 f"the connection's line is '{link_state()}', not up")
    text = browse(lambda: browser.find_element(By.ID, "diagram").text)
    for name, needle in (("virtual-network", "isthmus-vnet"), ("gateway-subnet", "Gateway subnet"),
                         ("vm-subnet", "10.0.1.0/24"), ("office-site", "office"), ("office-prefix", "192.168.1.0/24"),
                         ("gateway-address", "203.0.113.20"), ("office-gateway-address", "198.51.100.10")):
        checks.check(f"diagram-shows-{name}", needle in text, f"'{needle}' not in the diagram: {text!r}")
    sites = browse(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#diagram [data-site]")))
    vnet = browse(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#diagram .vnet .gateway-subnet")))
    checks.check("diagram-both-sites", sites == 1 and vnet == 1,
                 f"{sites} remote site(s) and {vnet} gateway subnet(s) drawn; expected 1 and 1")
    color = browse(lambda: browser.execute_script(
        "return getComputedStyle(document.getElementById('link-' + arguments[0])).stroke;", CONNECTION))
    checks.check("diagram-up-is-green", color == "rgb(16, 124, 16)", f"stroke {color}")
    secrets = browse(lambda: browser.page_source)
    checks.check("no-key-in-page", "isthmus-demo-key-change-me" not in secrets and token not in secrets,
                 "the pre-shared key or the dashboard token appears in the page")
    time.sleep(1.5)     # a traffic sample or two in the table
    browse(lambda: browser.save_screenshot(scene.path("dashboard.png")))
    checks.check("screenshot-overview", os.path.getsize(scene.path("dashboard.png")) > 10_000,
                 "dashboard.png is missing or tiny")

    # ---------------------------------------------------------------- read-only without the token
    disabled = browse(lambda: browser.execute_script(
        "return [...document.querySelectorAll('button[data-action]')].every(b => b.disabled);"))
    checks.check("read-only-buttons-disabled", disabled, "action buttons are enabled without the token")
    path = f"/api/connections/{CONNECTION}/down"
    status, body = post(path)
    expected_refusals.append(path)
    checks.check("action-without-token-403", status == 403, f"HTTP {status}: {body[:200]}")
    status, body = post(path, "not-the-token-0123456789")
    checks.check("action-wrong-token-403", status == 403, f"HTTP {status}: {body[:200]}")
    time.sleep(1.2)
    checks.check("refused-action-did-nothing", link_state() == "up", f"state {link_state()} after a refused down")

    # A page that never reads (a 1 KiB receive buffer, and it reads nothing) follows from here on: the daemon and
    # the browser's page must not notice it.
    stalled = proc.start(["python3", "-c", STALLED_READER], scene.path("stalled-reader.log"), ns=cloud_ns,
                         name="stalled-reader")
    scene.on_teardown(stalled.stop)

    # ---------------------------------------------------------------- `isthmus down`: red within 2 s, no reload
    browse(lambda: browser.execute_script("window.__noReload = 'still here';"))
    started = time.monotonic()
    r = scene.run([isthmus_bin, "down", CONNECTION, "--control", cloud_sock], timeout=20)
    checks.check("isthmus-down-exit-0", r.returncode == 0, f"exit {r.returncode}: {r.stdout}{r.stderr}")
    red = proc.wait_for(lambda: link_state() == "down", 2.0, interval=0.05)
    elapsed = time.monotonic() - started
    checks.check("down-red-within-2s", red, f"still '{link_state()}' after {elapsed:.2f} s",
                 detail=f"{elapsed:.2f} s")
    same = browse(lambda: browser.execute_script("return window.__noReload;"))
    checks.check("down-without-reload", same == "still here", "the page was reloaded")
    def stroke():
        return browse(lambda: browser.execute_script(
            "return getComputedStyle(document.getElementById('link-' + arguments[0])).stroke;", CONNECTION))
    # The colour fades in 0.3 s (a CSS transition).
    checks.check("diagram-down-is-red", proc.wait_for(lambda: stroke() == "rgb(209, 52, 56)", 2), f"stroke {stroke()}")

    # ---------------------------------------------------------------- unlock with the token, Connect
    browse(lambda: browser.get(f"{DASHBOARD}/connections/{CONNECTION}"))
    checks.require("connection-page-loads", wait_page(), "the connection page did not load within 15 s")

    def unlock():
        field = browser.find_element(By.ID, "token-input")
        field.send_keys(token)
        browser.find_element(By.ID, "unlock").click()
    browse(unlock)
    unlocked = proc.wait_for(lambda: browse(lambda: browser.execute_script(
        "return !!document.querySelector('.access.rw') && "
        "[...document.querySelectorAll('button[data-action]')].every(b => !b.disabled);")), 5)
    checks.check("token-unlocks-actions", unlocked, "the page did not unlock its actions with the token")
    browse(lambda: browser.find_element(
        By.CSS_SELECTOR, f"button[data-action='/api/connections/{CONNECTION}/up']").click())

    def page_state():
        return browse(lambda: browser.execute_script(
            "const p = document.querySelector('#conn-state .pill'); return p && p.getAttribute('data-state');"))
    checks.check("connect-with-token-brings-it-up", proc.wait_for(lambda: page_state() == "up", 30),
                 f"state '{page_state()}' 30 s after Connect")

    # ---------------------------------------------------------------- SAs and traffic after a ping
    rows = proc.wait_for(lambda: browse(lambda: browser.execute_script(
        "return [document.querySelectorAll('#sa-table tr.ike-sa').length,"
        " document.querySelectorAll('#sa-table tr.child-sa').length];")) >= [1, 1], 10)
    sa_text = browse(lambda: browser.find_element(By.ID, "sas").text)
    checks.check("connection-page-shows-sas", rows and "aes256gcm16" in sa_text and "established" in sa_text,
                 f"SA table: {sa_text[:300]!r}")
    ping = scene.run(["ip", "netns", "exec", office_host, "ping", "-c", "25", "-i", "0.2", "-W", "2", "10.0.1.4"],
                     timeout=30)
    checks.check("ping-through-tunnel", ping.returncode == 0, ping.stdout[-200:])
    points = 0

    def chart_points():
        nonlocal points
        points = int(browse(lambda: browser.execute_script(
            "return document.getElementById('traffic-chart').getAttribute('data-nonzero') || '0';")))
        return points > 0
    checks.check("traffic-chart-not-empty", proc.wait_for(chart_points, 5), "no non-zero point in the chart",
                 detail=f"{points} points")
    def verdict():
        return browse(lambda: browser.execute_script(
            "const c = document.getElementById('diagnosis-card'); const v = document.querySelector('#diagnosis .verdict');"
            " return c && !c.hidden && v ? v.textContent : '';"))
    checks.check("diagnosis-shown-healthy", proc.wait_for(lambda: "healthy" in verdict() or "up" in verdict(), 5),
                 f"verdict {verdict()!r}", detail=verdict()[:80])
    events = browse(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#timeline li.event")))
    checks.check("timeline-has-events", events >= 2, f"{events} events in the timeline")
    # The screenshot without the notices of the actions above (they go after 4 s).
    proc.wait_for(lambda: browse(lambda: not browser.find_elements(By.CSS_SELECTOR, "#toasts .toast")), 8)
    height = browse(lambda: browser.execute_script("return document.documentElement.scrollHeight;"))
    browse(lambda: browser.set_window_size(1440, min(2400, max(1000, int(height) + 140))))
    browse(lambda: browser.save_screenshot(scene.path("dashboard-connection.png")))
    browse(lambda: browser.set_window_size(1440, 1000))

    # ---------------------------------------------------------------- Disconnect with the token (confirmed)
    def disconnect():
        browser.find_element(By.CSS_SELECTOR, f"button[data-action='/api/connections/{CONNECTION}/down']").click()
        browser.switch_to.alert.accept()
    browse(disconnect)
    checks.check("disconnect-with-token", proc.wait_for(lambda: page_state() == "down", 5),
                 f"state '{page_state()}' 5 s after Disconnect")
    # The verdict follows (asked again 1.5 s after an event).
    checks.check("diagnosis-follows-down", proc.wait_for(lambda: verdict() and "up:" not in verdict(), 6),
                 f"verdict {verdict()!r}", detail=verdict()[:80])
    status, body = post(f"/api/connections/{CONNECTION}/up", token)
    checks.check("action-with-token-200", status == 200 and json.loads(body).get("ok") is True,
                 f"HTTP {status}: {body[:200]}")

    answer = scene.run(["ip", "netns", "exec", cloud_ns, "curl", "-s", "-m", "2", DASHBOARD + "/api/status"],
                       timeout=10)
    checks.check("stalled-page-harmless", stalled.alive and answer.returncode == 0 and '"states"' in answer.stdout,
                 "the page that never reads is gone, or the dashboard stopped answering")

    # ---------------------------------------------------------------- peer-supplied text renders inert
    probe_config = scene.path("markup-probe.yaml")
    scene.write("markup-probe.yaml", PROBE_CONFIG)
    probe = proc.start([isthmus_bin, "run", str(probe_config), "--passive", "--no-data-plane", "--ike-port", "15500",
                        "--nat-port", "15501", "--control", str(scene.path("markup-probe.sock")),
                        "--dashboard", "127.0.0.1:8081"], scene.path("markup-probe.log"), ns=cloud_ns,
                       name="markup-probe")
    scene.on_teardown(probe.stop)
    checks.require("markup-probe-listens", proc.wait_for(lambda: browse(lambda: port_open(8081)), 15),
                   "the probe gateway's dashboard did not listen within 15 s (see markup-probe.log)")
    browse(lambda: browser.get(PROBE_DASHBOARD + "/connections/markup-probe"))
    checks.require("markup-probe-page-loads", wait_page(), "the probe's connection page did not load within 15 s")
    ran, elements, shown = browse(lambda: browser.execute_script(
        "return [window.__xss !== undefined,"
        " document.querySelectorAll('img, script:not([src]), [onerror], [onload]').length,"
        " document.getElementById('main').textContent];"))
    checks.check("markup-is-text", PROBE_REMOTE_ID in shown and PROBE_LOCAL_ID in shown and not ran and elements == 0,
                 f"ran {ran}, {elements} injected element(s); identities shown: "
                 f"{PROBE_REMOTE_ID in shown} {PROBE_LOCAL_ID in shown}")

    # ---------------------------------------------------------------- no console errors
    log = browse(lambda: browser.get_log("browser"))
    scene.write("browser-console.json", json.dumps(log, indent=1) + "\n", mode=0o644)
    errors = [e for e in log if e.get("level") == "SEVERE"
              and not (" 403 " in e.get("message", "") or "403 (Forbidden)" in e.get("message", ""))]
    refusals = [e for e in log if e.get("level") == "SEVERE" and e not in errors]
    checks.check("no-console-errors", not errors, "; ".join(e.get("message", "")[:200] for e in errors))
    checks.check("console-only-provoked-refusals", all(any(p in e.get("message", "") for p in expected_refusals)
                                                       for e in refusals),
                 "; ".join(e.get("message", "")[:200] for e in refusals))
    left = netns.namespaces_named(prefix)
    checks.check("lab-namespaces-present", len(left) == 4, f"{left}")


def _quit(browser, namespace):
    with in_namespace(namespace):
        try:
            browser.quit()
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
