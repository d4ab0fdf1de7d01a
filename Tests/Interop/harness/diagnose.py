"""`isthmus diagnose` as the wire tests read it: the JSON contract's key sets, the verdict of one connection, and
the checks one misconfiguration's verdict must pass (the cause named, a fix with the expected YAML key or command,
evidence with times, the human output naming the cause)."""
import json
import os
import time

from . import proc

# The contract (docs: `isthmus diagnose --json`): exactly these keys, optional ones may be absent or null.
TOP_KEYS = {"gateway", "connections"}
CONNECTION_KEYS = {"connection", "state", "healthy", "summary", "findings"}
FINDING_KEYS = {"cause", "severity", "summary", "explanation", "evidence", "fixes", "details"}
EVIDENCE_KEYS, EVIDENCE_OPTIONAL = {"source", "name", "time", "text"}, {"time"}
FIX_KEYS, FIX_OPTIONAL = {"side", "text", "yaml", "command", "device"}, {"yaml", "command", "device"}
CAUSES = {"proposal-mismatch", "authentication-failed", "traffic-selector-mismatch", "peer-unreachable",
          "nat-udp4500-blocked", "flapping", "lifetime-mismatch", "mtu", "acl-denied", "data-path-down",
          "key-file-changed", "dpd-timeout"}
# WIRE_ONLY=1: only the wire's checks (for a binary without `diagnose`: the scenarios themselves).
WIRE_ONLY = os.environ.get("WIRE_ONLY") == "1"
STATES, SEVERITIES, SOURCES, SIDES = ({"up", "connecting", "down"}, {"error", "warning", "notice"},
                                      {"event", "counter", "config", "status"}, {"local", "peer"})


def diagnose_json(gw, conn=None):
    """`isthmus diagnose [CONN] --json` of gateway GW: (parsed document or None, CompletedProcess)."""
    r = gw.cli("diagnose", *([conn] if conn else []), "--json", timeout=30)
    try:
        return json.loads(r.stdout), r
    except ValueError:
        return None, r


def diagnose_text(gw, conn=None):
    """`isthmus diagnose [CONN]` (the human output) of gateway GW: a CompletedProcess."""
    return gw.cli("diagnose", *([conn] if conn else []), timeout=30)


def verdict(document, conn):
    """CONN's ConnectionDiagnosis in a diagnose document (None when absent)."""
    return next((c for c in (document or {}).get("connections") or [] if c.get("connection") == conn), None)


def causes(diagnosis):
    return [f.get("cause") for f in (diagnosis or {}).get("findings") or []]


def finding(diagnosis, cause):
    return next((f for f in (diagnosis or {}).get("findings") or [] if f.get("cause") == cause), None)


def _keys_problem(what, obj, keys, optional=frozenset()):
    if not isinstance(obj, dict):
        return f"{what} is not an object: {str(obj)[:80]}"
    have = set(obj)
    missing, extra = keys - optional - have, have - keys
    if missing or extra:
        return f"{what}: missing {sorted(missing)}, unexpected {sorted(extra)}"
    return None


def key_problems(document):
    """Every place where DOCUMENT's keys or enumerated values differ from the contract (empty: it matches)."""
    out = []
    p = _keys_problem("document", document, TOP_KEYS)
    if p:
        return [p]
    if not isinstance(document.get("gateway"), str):
        out.append("gateway is not a string")
    for c in document.get("connections") or []:
        name = c.get("connection") if isinstance(c, dict) else "?"
        p = _keys_problem(f"connection {name}", c, CONNECTION_KEYS)
        if p:
            out.append(p)
            continue
        if c["state"] not in STATES:
            out.append(f"connection {name}: state {c['state']!r}")
        if not isinstance(c["healthy"], bool) or not isinstance(c["summary"], str) or "\n" in c["summary"]:
            out.append(f"connection {name}: healthy {c['healthy']!r} / summary {c['summary']!r}")
        for f in c.get("findings") or []:
            cause = f.get("cause") if isinstance(f, dict) else "?"
            where = f"{name}/{cause}"
            p = _keys_problem(f"finding {where}", f, FINDING_KEYS)
            if p:
                out.append(p)
                continue
            if cause not in CAUSES:
                out.append(f"finding {where}: cause not in the contract")
            if f["severity"] not in SEVERITIES:
                out.append(f"finding {where}: severity {f['severity']!r}")
            if not isinstance(f["details"], dict) or not all(isinstance(v, str) for v in f["details"].values()):
                out.append(f"finding {where}: details not a string map")
            for e in f.get("evidence") or []:
                p = _keys_problem(f"evidence of {where}", e, EVIDENCE_KEYS, EVIDENCE_OPTIONAL)
                if p or e.get("source") not in SOURCES:
                    out.append(p or f"evidence of {where}: source {e.get('source')!r}")
            for x in f.get("fixes") or []:
                p = _keys_problem(f"fix of {where}", x, FIX_KEYS, FIX_OPTIONAL)
                if p or x.get("side") not in SIDES:
                    out.append(p or f"fix of {where}: side {x.get('side')!r}")
    return out


def wait_cause(gw, conn, cause, timeout):
    """Polls `isthmus diagnose CONN --json` until CAUSE is among CONN's findings: (document, seconds waited) or
    (the last document, None) after TIMEOUT seconds."""
    t0 = time.monotonic()
    last = [None]

    def probe():
        doc, _ = diagnose_json(gw, conn)
        last[0] = doc
        return cause in causes(verdict(doc, conn))
    ok = proc.wait_for(probe, timeout, interval=1.0, abort=lambda: not gw.alive)
    return last[0], (time.monotonic() - t0 if ok else None)


def fix_text(fix):
    return " | ".join(str(fix.get(k)) for k in ("side", "yaml", "command", "device", "text") if fix.get(k))


def verdict_checks(checks, name, gw, conn, cause, fix_any=(), peer_device=None, timed=True, timeout=20,
                   explain_any=(), explain_all=(), fix_in_text=False):
    """The checks of one misconfiguration's verdict, named NAME.diagnose-*: CAUSE among CONN's findings (polled up
    to TIMEOUT s), the JSON keys exactly the contract's, a fix whose yaml or command (or text, with FIX_IN_TEXT)
    holds one of FIX_ANY, a peer fix for PEER_DEVICE when given, evidence (with an event time when TIMED), the
    summary, explanation or details holding one of EXPLAIN_ANY and all of EXPLAIN_ALL, and the human output naming
    the cause. Returns the finding (None when absent)."""
    if WIRE_ONLY:
        return None
    doc, waited = wait_cause(gw, conn, cause, timeout)
    diag = verdict(doc, conn)
    got = causes(diag)
    if not checks.check(f"{name}.diagnose-names-{cause}", waited is not None,
                        f"after {timeout}s {conn}'s findings are {got} (state {(diag or {}).get('state')}, "
                        f"summary {(diag or {}).get('summary')!r})" if doc else
                        f"no JSON from isthmus diagnose: {_cli_tail(gw, conn)}",
                        detail=f"after {waited or 0:.1f} s; findings {got}"):
        return None
    problems = key_problems(doc)
    checks.check(f"{name}.diagnose-json-keys-stable", not problems, "; ".join(problems[:4]))
    f = finding(diag, cause)
    checks.check(f"{name}.diagnose-not-healthy", diag.get("healthy") is False and diag.get("state") in STATES,
                 f"healthy {diag.get('healthy')}, state {diag.get('state')}", detail=diag.get("summary", ""))
    fixes = f.get("fixes") or []
    fields = ("yaml", "command", "text") if fix_in_text else ("yaml", "command")
    hit = [x for x in fixes if any(k in (x.get(f) or "") for k in fix_any for f in fields)]
    checks.check(f"{name}.diagnose-fix", bool(hit) if fix_any else bool(fixes),
                 f"no fix with one of {list(fix_any)} in {'/'.join(fields)}: {[fix_text(x) for x in fixes]}",
                 detail=fix_text(hit[0] if hit else fixes[0]) if (hit or fixes) else "")
    if peer_device:
        peer = [x for x in fixes if x.get("side") == "peer" and x.get("device") == peer_device]
        checks.check(f"{name}.diagnose-peer-fix-{peer_device}", bool(peer),
                     f"no peer fix for {peer_device}: {[fix_text(x) for x in fixes]}",
                     detail=fix_text(peer[0]) if peer else "")
    evidence = f.get("evidence") or []
    stamped = [e for e in evidence if e.get("time")]
    checks.check(f"{name}.diagnose-evidence", bool(evidence) and (bool(stamped) or not timed),
                 f"evidence {evidence[:3]}",
                 detail=f"{len(evidence)} items, {len(stamped)} with times; first: "
                        f"{(stamped or evidence)[0].get('time') if evidence else ''} "
                        f"{(stamped or evidence)[0].get('text', '')[:100] if evidence else ''}")
    if explain_any or explain_all:
        text = f"{f.get('summary', '')} {f.get('explanation', '')} {json.dumps(f.get('details') or {})}".lower()
        ok = (not explain_any or any(k.lower() in text for k in explain_any)) and all(
            k.lower() in text for k in explain_all)
        checks.check(f"{name}.diagnose-explains", ok,
                     f"summary/explanation/details lack {'any of ' + str(list(explain_any)) if explain_any else ''}"
                     f"{' all of ' + str(list(explain_all)) if explain_all else ''}: {text[:300]!r}",
                     detail=f.get("summary", ""))
    r = diagnose_text(gw, conn)
    human = r.stdout + r.stderr
    checks.check(f"{name}.diagnose-human-names-cause", cause in human or (f.get("summary") or "\0") in human,
                 f"exit {r.returncode}: {human.strip()[:300]!r}")
    return f


def healthy_checks(checks, name, gw, conn, timeout=20):
    """A healthy connection's verdict: healthy true, no findings, a one-line summary; keys as the contract's."""
    if WIRE_ONLY:
        return None
    def probe():
        doc, _ = diagnose_json(gw, conn)
        d = verdict(doc, conn)
        return (doc, d) if d and d.get("healthy") is True and not d.get("findings") else None
    got = proc.wait_for(probe, timeout, interval=1.0, abort=lambda: not gw.alive)
    if not got:
        doc, _ = diagnose_json(gw, conn)
        d = verdict(doc, conn)
        checks.fail(f"{name}.diagnose-healthy", f"{conn}: healthy {(d or {}).get('healthy')}, findings "
                    f"{causes(d)}, summary {(d or {}).get('summary')!r}" if doc else
                    f"no JSON from isthmus diagnose: {_cli_tail(gw, conn)}")
        return None
    doc, d = got
    summary = d.get("summary") or ""
    checks.ok(f"{name}.diagnose-healthy", detail=summary)
    checks.check(f"{name}.diagnose-one-line-summary", summary and "\n" not in summary and d.get("state") == "up",
                 f"state {d.get('state')}, summary {summary!r}")
    problems = key_problems(doc)
    checks.check(f"{name}.diagnose-json-keys-stable", not problems, "; ".join(problems[:4]))
    r = diagnose_text(gw, conn)
    checks.check(f"{name}.diagnose-human-says-healthy", r.returncode == 0 and summary in r.stdout,
                 f"exit {r.returncode}: {(r.stdout + r.stderr).strip()[:300]!r}")
    return d


def _cli_tail(gw, conn):
    _, r = diagnose_json(gw, conn)
    return f"exit {r.returncode}: {(r.stdout + r.stderr).strip()[-200:]!r}"


def has_diagnose(binary):
    """True when BINARY has the `diagnose` subcommand (or WIRE_ONLY is set)."""
    if WIRE_ONLY:
        return True
    r = proc.run([binary, "diagnose", "--help"], timeout=20)
    return r.returncode == 0 and "diagnose" in (r.stdout + r.stderr)
