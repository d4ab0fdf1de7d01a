"""The Prometheus text exposition format (version 0.0.4): sample values and a format check."""
import re

MISSING = "missing"


def value(text, series):
    """The sample value (an int) of one exact series `name{labels}` in TEXT, or MISSING."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, number = line.rpartition(" ")
        if name == series:
            return int(float(number))
    return MISSING


def at_least(v, n):
    return v != MISSING and v >= n


def samples(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def format_errors(text, prefix="isthmus_"):
    """Every line a TYPE/HELP comment or `name{label="value",...} number`, every sample after the TYPE of its
    family, no family typed twice, label values escaped, names with PREFIX. Returns the problems found."""
    name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    sample = re.compile(rf"^({name})(?:\{{(?:{label}(?:,{label})*)?,?\}})? (\S+)(?: -?\d+)?$")
    typed, current, errors = set(), None, []
    for number, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not re.fullmatch(name, parts[2]) or parts[3] not in (
                    "counter", "gauge", "histogram", "summary", "untyped"):
                errors.append(f"{number}: bad TYPE line {line!r}")
            elif parts[2] in typed:
                errors.append(f"{number}: family {parts[2]} typed twice")
            typed.add(parts[2])
            current = parts[2]
            continue
        if line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            errors.append(f"{number}: not a sample {line!r}")
            continue
        family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        if m.group(1) != current and family != current:
            errors.append(f"{number}: sample {m.group(1)} outside its family (current {current})")
        try:
            float(m.group(2))
        except ValueError:
            errors.append(f"{number}: value {m.group(2)!r} is not a number")
        if not m.group(1).startswith(prefix):
            errors.append(f"{number}: {m.group(1)} lacks the {prefix} prefix")
    return errors


def scrape(ns, url, path, timeout=5):
    """GET URL with curl inside namespace NS into PATH (headers into PATH.headers). Returns (ok, text,
    headers, error): ok when the HTTP status is 200."""
    from . import proc
    r = proc.run(["curl", "-sS", "-m", timeout, "-D", f"{path}.headers", "-o", path, "-w", "%{http_code}", url],
                 ns=ns.name, timeout=timeout + 10)

    def read(p):
        try:
            with open(p, errors="replace") as f:
                return f.read()
        except OSError:
            return ""
    return r.stdout.strip() == "200", read(path), read(f"{path}.headers"), r.stderr.strip()
