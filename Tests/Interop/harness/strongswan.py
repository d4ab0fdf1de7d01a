"""A strongSwan peer: Debian's charon with kernel-libipsec (ESP in userspace over its TUN ipsec0), a private
/run (bind-mounted in the mount namespace `ip netns exec` gives it), its own vici socket and log file; driven
with swanctl. Also the parser of `swanctl --list-sas --pretty` (formerly in scripts/lib/interop_ikev2.py)."""
import os
import signal
from pathlib import Path

from . import proc
from .config import WAIT

CHARON = "/usr/lib/ipsec/charon"

# filelog levels per group; the bash scripts' defaults differed by script (ikev2: ike/chd 4 so every derived key
# is in the log and a pcap can be decrypted; esp/ikev1: 2).
DEFAULT_LOG_LEVELS = {"default": 1, "ike": 2, "chd": 2, "cfg": 2, "net": 1, "enc": 1, "knl": 1}


class StrongSwan:
    """charon in namespace NS; its files in WORKDIR/NAME/ (strongswan.conf, run/, charon.vici, swanctl.conf) and
    its log in WORKDIR/NAME.log (charon.log when NAME is 'charon').

    charon_options: extra lines inside `charon { }` (e.g. "delete_rekeyed_delay = 1")."""

    def __init__(self, ns, workdir, name="charon", log_levels=None, charon_options=""):
        self.ns = ns
        self.name = name
        self.dir = Path(workdir) / f"{name}.d"
        self.run_dir = self.dir / "run"
        self.vici = self.dir / "charon.vici"
        self.conf = self.dir / "strongswan.conf"
        self.log_path = Path(workdir) / f"{name}.log"
        self.levels = dict(DEFAULT_LOG_LEVELS, **(log_levels or {}))
        self.charon_options = charon_options
        self.process = None

    def write_conf(self):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        levels = "\n".join(f"            {k} = {v}" for k, v in self.levels.items())
        self.conf.write_text(f"""# written by Tests/Interop/harness/strongswan.py
# kernel-libipsec (this kernel has no XFRM ESP) loaded before kernel-netlink so it is the IPsec backend:
# ESP in charon's userspace over TUN ipsec0, always UDP-encapsulated (it fakes a NAT).
charon {{
    load_modular = yes
    {self.charon_options}
    plugins {{
        include /etc/strongswan.d/charon/*.conf
        kernel-libipsec {{
            load = 10
        }}
        vici {{
            socket = unix://{self.vici}
        }}
    }}
    filelog {{
        interop {{
            path = {self.log_path}
            time_format = %H:%M:%S
            time_add_ms = yes
            ike_name = yes
            flush_line = yes
{levels}
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
}}
""")

    def start(self, timeout=WAIT):
        """Writes strongswan.conf and starts charon; returns once its vici socket exists (RuntimeError when it
        does not within TIMEOUT seconds or charon exited)."""
        self.write_conf()
        if self.vici.exists():
            self.vici.unlink()
        script = f"mount --bind '{self.run_dir}' /run && exec env STRONGSWAN_CONF='{self.conf}' {CHARON}"
        self.process = proc.start(["sh", "-c", script], Path(str(self.log_path) + ".stdout"), ns=self.ns.name,
                                  name=self.name)
        if not proc.wait_for(lambda: self.vici.is_socket(), timeout, interval=0.1, abort=lambda: not self.alive):
            raise RuntimeError(f"{self.name}: no vici socket within {timeout}s: {self.process.output()[-500:]}")
        return self

    @property
    def alive(self):
        return self.process is not None and self.process.alive

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        return self.process.stop(sig, timeout) if self.process else None

    # ------------------------------------------------------------------ swanctl
    def swanctl(self, *args, timeout=10):
        """`swanctl ARGS --uri unix://VICI` (bounded, CompletedProcess)."""
        return proc.run(["swanctl", *map(str, args), "--uri", f"unix://{self.vici}"], timeout=timeout)

    def load(self, swanctl_conf):
        """Writes SWANCTL_CONF (text) to NAME.d/swanctl.conf and loads it (`--load-all --file`)."""
        path = self.dir / "swanctl.conf"
        path.write_text(swanctl_conf)
        os.chmod(path, 0o600)
        return self.load_file(path)

    def load_file(self, path):
        return self.swanctl("--load-all", "--file", path, timeout=20)

    def initiate(self, child, ike=None, timeout=30):
        return self.swanctl("--initiate", "--child", child, *(["--ike", ike] if ike else []),
                            "--timeout", max(1, timeout - 5), timeout=timeout)

    def rekey(self, child=None, ike=None):
        return self.swanctl("--rekey", *(["--child", child] if child else []), *(["--ike", ike] if ike else []))

    def terminate(self, ike=None, child=None, timeout=20):
        return self.swanctl("--terminate", *(["--ike", ike] if ike else []), *(["--child", child] if child else []),
                            "--timeout", max(1, timeout - 5), timeout=timeout)

    def list_sas_pretty(self):
        return self.swanctl("--list-sas", "--pretty").stdout

    def list_sas(self, conn=None):
        """swanctl --list-sas, normalised (ss_normalise); only CONN's IKE SAs when given."""
        sas = ss_normalise(self.list_sas_pretty())
        return [sa for sa in sas if conn is None or sa["conn"] == conn]

    def ready(self, conn, version=None):
        """True when CONN has an ESTABLISHED IKE SA (of VERSION) with an INSTALLED CHILD SA."""
        return any(sa["state"] == "ESTABLISHED" and (version is None or sa["version"] == str(version))
                   and any(c["state"] == "INSTALLED" for c in sa["children"]) for sa in self.list_sas(conn))

    def wait_ready(self, conn, timeout=WAIT, version=None):
        return proc.wait_for(lambda: self.ready(conn, version), timeout, abort=lambda: not self.alive)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ----------------------------------------------------------------------------- swanctl --list-sas --pretty
def parse_pretty(text):
    """Parses `swanctl --list-sas --pretty` (vici messages printed one key per line) into a list of
    (message name, dict) pairs. Sections become dicts, lists become lists of strings."""
    messages = []
    stack = []          # open sections (dicts); stack[0] is the message body
    cur_list = None     # the list being filled, if any
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if cur_list is not None:
            if line == "]":
                cur_list = None
            else:
                cur_list.append(line)
            continue
        if line.endswith("{") and "=" not in line:
            name = line[:-1].strip()
            section = {}
            if not stack:
                messages.append((name, section))
            else:
                stack[-1][name] = section
            stack.append(section)
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        if "=" in line and stack:
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if value == "[":
                cur_list = []
                stack[-1][key] = cur_list
            else:
                stack[-1][key] = value
    return messages


def alg_text(sa, esp=False):
    """The algorithm line swanctl prints: ENCR-KEYSIZE/INTEG/PRF/DH (ESP: ENCR-KEYSIZE/INTEG[/DH])."""
    parts = []
    encr = sa.get("encr-alg")
    if encr:
        parts.append(encr + ("-" + sa["encr-keysize"] if sa.get("encr-keysize") else ""))
    if sa.get("integ-alg"):
        parts.append(sa["integ-alg"] + ("-" + sa["integ-keysize"] if sa.get("integ-keysize") else ""))
    if not esp and sa.get("prf-alg"):
        parts.append(sa["prf-alg"])
    if sa.get("dh-group"):
        parts.append(sa["dh-group"])
    if esp and sa.get("esn") == "1":
        parts.append("ESN")
    return "/".join(parts)


def ss_normalise(text):
    """`swanctl --list-sas --pretty` -> [{conn, uniqueid, version, state, initiator, local, remote, ispi, rspi,
    ike_alg, nat_fake, children: [{id, name, state, mode, protocol, encap, spi_in, spi_out, esp_alg, local_ts,
    remote_ts}]}]"""
    out = []
    for msg, body in parse_pretty(text):
        if msg != "list-sa event":
            continue
        for conn, sa in body.items():
            if not isinstance(sa, dict):
                continue
            children = []
            for cname, child in (sa.get("child-sas") or {}).items():
                if not isinstance(child, dict):
                    continue
                children.append({
                    "id": cname, "name": child.get("name"), "state": child.get("state"), "mode": child.get("mode"),
                    "protocol": child.get("protocol"), "encap": child.get("encap") == "yes",
                    "spi_in": (child.get("spi-in") or "").lower(), "spi_out": (child.get("spi-out") or "").lower(),
                    "esp_alg": alg_text(child, esp=True),
                    "local_ts": child.get("local-ts") or [], "remote_ts": child.get("remote-ts") or [],
                })
            out.append({
                "conn": conn, "uniqueid": sa.get("uniqueid"), "version": sa.get("version"), "state": sa.get("state"),
                "initiator": sa.get("initiator") == "yes",
                "local": f"{sa.get('local-host')}[{sa.get('local-port')}]",
                "remote": f"{sa.get('remote-host')}[{sa.get('remote-port')}]",
                "ispi": (sa.get("initiator-spi") or "").lower(), "rspi": (sa.get("responder-spi") or "").lower(),
                "ike_alg": alg_text(sa), "nat_fake": sa.get("nat-fake") == "yes",
                "children": children,
            })
    return out
