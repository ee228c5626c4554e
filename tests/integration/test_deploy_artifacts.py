"""Checks of the deployment artifacts: deploy/ (Dockerfile, Helm chart, systemd
unit, container config) and dashboards/ (Grafana dashboard, alert rules).

Helm itself is not available here, so this file carries a small renderer for the
subset of Go templates + Sprig that the chart uses (if/else/with/range/define/
include, pipelines, and the functions in FUNCS). The chart must stay within that
subset; an unknown function or construct fails the test loudly.

Run: /usr/bin/python3 -m pytest tests/integration/test_deploy_artifacts.py
Binary: $MAILGATE_BUILD_DIR/mailgate or build/mailgate (for --check-config).
"""
import base64
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.util import sanitizer_build

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mailgate"
DASHBOARD = ROOT / "dashboards" / "mailgate.json"
ALERTS = ROOT / "dashboards" / "alerts.yml"
UNIT = ROOT / "deploy" / "systemd" / "mailgate.service"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKER_CONFIG = ROOT / "deploy" / "docker" / "mailgate.json"

# Values that make the default chart renderable (the chart requires a certificate
# unless tls.existingSecret is set).
TEST_TLS = {"cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}


# --------------------------------------------------------------------------
# A minimal Go text/template renderer (the Helm subset this chart uses).
# --------------------------------------------------------------------------
class RenderError(Exception):
    pass


class _Missing:
    """Go's missing map key: prints as nothing in Helm, is falsy."""

    def __bool__(self):
        return False

    def __repr__(self):
        return "<missing>"


MISSING = _Missing()


def _truthy(v):
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, str, list, dict, tuple)):
        return bool(v)
    return True


def _to_str(v):
    if v is None or v is MISSING:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise RenderError(f"printing a {type(v).__name__} as text: {v!r}")
    return str(v)


def _to_yaml(v):
    if v is MISSING or v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def _indent(n, s):
    pad = " " * int(n)
    return "\n".join(pad + line for line in _to_str(s).split("\n"))


def _required(msg, v):
    if v is None or v is MISSING or v == "":
        raise RenderError(f"required: {msg}")
    return v


def _index(container, *keys):
    for k in keys:
        if container is None or container is MISSING:
            return MISSING
        if isinstance(container, dict):
            container = container.get(k, MISSING)
        elif isinstance(container, list):
            container = container[int(k)]
        else:
            raise RenderError(f"index of {type(container).__name__}")
    return container


def _and(*args):
    for a in args:
        if not _truthy(a):
            return a
    return args[-1]


def _or(*args):
    for a in args:
        if _truthy(a):
            return a
    return args[-1]


def _go_printf(fmt, *args):
    return re.sub(r"%[sdv]", "%s", fmt) % tuple(_to_str(a) for a in args)


FUNCS = {
    "default": lambda d, v=MISSING: v if _truthy(v) else d,
    "quote": lambda v: json.dumps(_to_str(v)),
    "toYaml": _to_yaml,
    "toJson": lambda v: json.dumps(v, sort_keys=True, separators=(",", ":")),
    "toPrettyJson": lambda v: json.dumps(v, sort_keys=True, indent=2),
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "sha256sum": lambda s: hashlib.sha256(_to_str(s).encode()).hexdigest(),
    "b64enc": lambda s: base64.b64encode(_to_str(s).encode()).decode(),
    "trunc": lambda n, s: _to_str(s)[: int(n)],
    "trimSuffix": lambda suf, s: _to_str(s)[: -len(suf)] if suf and _to_str(s).endswith(suf) else _to_str(s),
    "printf": _go_printf,
    "print": lambda *a: "".join(_to_str(x) for x in a),
    "required": _required,
    "add": lambda *a: sum(int(x) for x in a),
    "int": lambda v: int(v),
    "regexReplaceAll": lambda rx, s, repl: re.sub(rx, repl, _to_str(s)),
    "replace": lambda old, new, s: _to_str(s).replace(_to_str(old), _to_str(new)),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "not": lambda v: not _truthy(v),
    "and": _and,
    "or": _or,
    "index": _index,
}

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`) |
    (?P<num>-?\d+(?:\.\d+)?) |
    (?P<op>:=|\(|\)|\||,|=) |
    (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*) |
    (?P<field>(?:\.[A-Za-z0-9_]+)+|\.) |
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
)""", re.X)


def _tokenize(expr):
    pos, out = 0, []
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise RenderError(f"cannot tokenize {expr[pos:]!r} in {expr!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return out


def _parse_template(text):
    """Returns a list of nodes: ("text", s) | ("action", expr) |
    ("if", [(cond, body)...], else_body) | ("with"/"range", expr, body, else) |
    ("define", name, body)."""
    pieces = []
    pos = 0
    for m in _ACTION.finditer(text):
        pieces.append(["text", text[pos:m.start()]])
        pieces.append(["act", m.group(2).strip(), bool(m.group(1)), bool(m.group(3))])
        pos = m.end()
    pieces.append(["text", text[pos:]])
    for i, p in enumerate(pieces):  # whitespace trimming
        if p[0] == "act":
            if p[2] and i > 0:
                pieces[i - 1][1] = pieces[i - 1][1].rstrip()
            if p[3] and i + 1 < len(pieces):
                pieces[i + 1][1] = pieces[i + 1][1].lstrip()
    it = iter(pieces)

    def block(stop):
        body = []
        for p in it:
            if p[0] == "text":
                if p[1]:
                    body.append(("text", p[1]))
                continue
            a = p[1]
            if a.startswith("/*"):
                continue
            word = a.split(None, 1)[0] if a else ""
            rest = a[len(word):].strip()
            if word in ("end", "else"):
                if word not in stop:
                    raise RenderError(f"unexpected {{{{{a}}}}}")
                return body, a
            if word == "if":
                branches, else_body = [], []
                cond = rest
                while True:
                    b, term = block(("end", "else"))
                    branches.append((cond, b))
                    if term == "end":
                        break
                    if term.startswith("else if"):
                        cond = term[len("else if"):].strip()
                        continue
                    else_body, _ = block(("end",))
                    break
                body.append(("if", branches, else_body))
            elif word in ("with", "range"):
                b, term = block(("end", "else"))
                e = []
                if term != "end":
                    e, _ = block(("end",))
                body.append((word, rest, b, e))
            elif word == "define":
                name = json.loads(rest)
                b, _ = block(("end",))
                body.append(("define", name, b))
            elif word in ("block", "template", "break", "continue"):
                raise RenderError(f"construct not supported by the test renderer: {a}")
            else:
                body.append(("action", a))
        if stop:
            raise RenderError(f"missing {{{{end}}}} (wanted {stop})")
        return body, None

    nodes, _ = block(())
    return nodes


class Renderer:
    def __init__(self, chart_dir, values, release="rel", namespace="mail"):
        self.chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
        self.root = {
            "Values": values,
            "Chart": {"Name": self.chart["name"], "Version": self.chart["version"],
                      "AppVersion": self.chart.get("appVersion", "")},
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
            # .Files.Get NAME: a file of the chart, as text (not rendered).
            "Files": {"Get": lambda name: (chart_dir / name).read_text()},
        }
        self.defines = {}
        self.templates = {}
        for path in sorted((chart_dir / "templates").iterdir()):
            nodes = _parse_template(path.read_text())
            for n in nodes:
                if n[0] == "define":
                    self.defines[n[1]] = n[2]
            if path.suffix in (".yaml", ".yml", ".txt"):
                self.templates[path.name] = nodes

    def render(self, name):
        out = []
        self._exec(self.templates[name], self.root, {"$": self.root}, out)
        return "".join(out)

    # -- execution
    def _exec(self, nodes, dot, vars_, out):
        for n in nodes:
            kind = n[0]
            if kind == "text":
                out.append(n[1])
            elif kind == "define":
                pass
            elif kind == "action":
                v = self._pipeline(n[1], dot, vars_)
                if v is not None:
                    out.append(_to_str(v))
            elif kind == "if":
                for cond, body in n[1]:
                    if _truthy(self._pipeline(cond, dot, vars_)):
                        self._exec(body, dot, dict(vars_), out)
                        break
                else:
                    self._exec(n[2], dot, dict(vars_), out)
            elif kind == "with":
                v = self._pipeline(n[1], dot, vars_)
                if _truthy(v):
                    self._exec(n[2], v, dict(vars_), out)
                else:
                    self._exec(n[3], dot, dict(vars_), out)
            elif kind == "range":
                m = re.match(r"^(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=\s*(.*)$", n[1], re.S)
                names = [x for x in (m.group(1), m.group(2)) if x] if m else []
                v = self._pipeline(m.group(3) if m else n[1], dot, vars_)
                items = (sorted(v.items()) if isinstance(v, dict)
                         else list(enumerate(v)) if isinstance(v, list) else [])
                if not items:
                    self._exec(n[3], dot, dict(vars_), out)
                for k, item in items:
                    scope = dict(vars_)
                    if len(names) == 1:
                        scope[names[0]] = item
                    elif len(names) == 2:
                        scope[names[0]], scope[names[1]] = k, item
                    self._exec(n[2], item, scope, out)
            else:
                raise RenderError(f"node {kind}")

    def _pipeline(self, expr, dot, vars_):
        toks = _tokenize(expr)
        assign = None
        if len(toks) > 2 and toks[0][0] == "var" and toks[1] == ("op", ":="):
            assign, toks = toks[0][1], toks[2:]
        val, pos = self._pipe(toks, 0, dot, vars_)
        if pos != len(toks):
            raise RenderError(f"trailing tokens in {expr!r}")
        if assign:
            vars_[assign] = val
            return None
        return val

    def _pipe(self, toks, pos, dot, vars_):
        val, pos, first = None, pos, True
        while True:
            val, pos = self._command(toks, pos, dot, vars_, None if first else val, not first)
            first = False
            if pos < len(toks) and toks[pos] == ("op", "|"):
                pos += 1
                continue
            return val, pos

    def _command(self, toks, pos, dot, vars_, piped, has_piped):
        operands = []
        while pos < len(toks) and toks[pos] not in (("op", "|"), ("op", ")")):
            kind, text = toks[pos]
            if kind == "op" and text == "(":
                v, pos = self._pipe(toks, pos + 1, dot, vars_)
                if pos >= len(toks) or toks[pos] != ("op", ")"):
                    raise RenderError("unbalanced parenthesis")
                operands.append(("val", v))
                pos += 1
                continue
            operands.append((kind, text))
            pos += 1
        if not operands:
            raise RenderError("empty command")
        head = operands[0]
        if head[0] in ("field", "var") and head[1].endswith(".Get"):  # .Files.Get "name"
            fn = self._operand(head, dot, vars_)
            if not callable(fn):
                raise RenderError(f"{head[1]} is not a method")
            args = [self._operand(o, dot, vars_) for o in operands[1:]]
            if has_piped:
                args.append(piped)
            return fn(*args), pos
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            args = [self._operand(o, dot, vars_) for o in operands[1:]]
            if has_piped:
                args.append(piped)
            return self._call(head[1], args, dot), pos
        if len(operands) != 1 or has_piped:
            raise RenderError(f"cannot apply arguments to {head}")
        return self._operand(head, dot, vars_), pos

    def _call(self, name, args, dot):
        if name == "include":
            tpl, ctx = args
            if tpl not in self.defines:
                raise RenderError(f"include of undefined template {tpl!r}")
            out = []
            self._exec(self.defines[tpl], ctx, {"$": self.root}, out)
            return "".join(out)
        if name not in FUNCS:
            raise RenderError(f"function {name!r} not supported by the test renderer")
        return FUNCS[name](*args)

    def _operand(self, op, dot, vars_):
        kind, text = op
        if kind == "val":
            return text
        if kind == "str":
            return json.loads(text) if text.startswith('"') else text[1:-1]
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[text]
        if kind == "field":
            return dot if text == "." else _walk(dot, text[1:].split("."))
        if kind == "var":
            name, *path = text.split(".")
            if name not in vars_:
                raise RenderError(f"undefined variable {name}")
            return _walk(vars_[name], path)
        raise RenderError(f"operand {op}")


def _walk(v, path):
    for p in path:
        if isinstance(v, dict):
            v = v.get(p, MISSING)
        elif v is None or v is MISSING:
            return MISSING
        else:
            raise RenderError(f"field {p} of {type(v).__name__}")
    return v


def _merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def render_chart(overrides=None):
    """{template name: [parsed YAML documents]} plus NOTES.txt text."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values = _merge(values, overrides or {})
    r = Renderer(CHART, values)
    docs = {}
    for name in r.templates:
        text = r.render(name)
        if name.endswith(".txt"):
            docs[name] = text
            continue
        try:
            parsed = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            raise AssertionError(f"{name} renders to invalid YAML: {e}\n---\n{text}") from e
        docs[name] = parsed
    return docs


def _by_kind(docs):
    out = {}
    for name, ds in docs.items():
        if isinstance(ds, str):
            continue
        for d in ds:
            out.setdefault(d["kind"], []).append(d)
    return out


# --------------------------------------------------------------------------
# Helm chart
# --------------------------------------------------------------------------
def test_chart_yaml_and_values_parse():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "mailgate"
    assert re.match(r"^\d+\.\d+\.\d+", chart["version"])
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert isinstance(values, dict) and "config" in values


def _leaf_paths(v, prefix=()):
    if isinstance(v, dict) and v:
        for k, sub in v.items():
            yield from _leaf_paths(sub, prefix + (k,))
    else:
        yield prefix


def test_every_value_is_used_by_a_template():
    """Every key path in values.yaml is referenced as .Values.<path>, or lies under
    a referenced prefix that a template consumes whole (toYaml, toJson,
    toPrettyJson, with, range, index)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    text = "\n".join(p.read_text() for p in (CHART / "templates").iterdir())
    refs = set(re.findall(r"\.Values((?:\.[A-Za-z0-9_]+)+)", text))
    refs = {tuple(r[1:].split(".")) for r in refs}
    whole = set()
    for m in re.finditer(r"\{\{-?\s*(.*?)\s*-?\}\}", text, re.S):
        action = m.group(1)
        for r in re.findall(r"\.Values((?:\.[A-Za-z0-9_]+)+)", action):
            path = tuple(r[1:].split("."))
            if re.search(r"\b(toYaml|toJson|toPrettyJson|index)\b", action) or \
               re.match(r"^(with|range)\b", action):
                whole.add(path)
    unused = []
    for path in _leaf_paths(values):
        if path in refs:
            continue
        if any(path[:i] in whole for i in range(1, len(path))):
            continue
        unused.append(".".join(path))
    assert not unused, f"values.yaml keys no template uses: {unused}"
    # And the converse: templates reference no value that values.yaml lacks.
    missing = [".".join(r) for r in refs if _walk(values, list(r)) is MISSING]
    assert not missing, f"templates use values missing from values.yaml: {missing}"


def test_templates_render_to_valid_kubernetes_objects():
    docs = render_chart({"tls": TEST_TLS})
    kinds = _by_kind(docs)
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"):
        assert kind in kinds, f"default render lacks a {kind}: {sorted(kinds)}"
    for ds in docs.values():
        if isinstance(ds, str):
            continue
        for d in ds:
            assert d.get("apiVersion") and d.get("kind"), d
            assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", d["metadata"]["name"]), d["metadata"]
            assert len(d["metadata"]["name"]) <= 63
    assert "HorizontalPodAutoscaler" not in kinds and "ServiceMonitor" not in kinds
    notes = docs["NOTES.txt"]
    assert "rel-mailgate" in notes and "<no value>" not in notes


def test_default_render_requires_a_certificate():
    with pytest.raises(RenderError, match="tls.cert"):
        render_chart()
    kinds = _by_kind(render_chart({"tls": {"existingSecret": "mail-example-com-tls"}}))
    assert "Secret" not in kinds
    dep = kinds["Deployment"][0]
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == "mail-example-com-tls"


def test_deployment_contract():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    kinds = _by_kind(render_chart({"tls": TEST_TLS}))
    dep = kinds["Deployment"][0]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    cfg = values["config"]
    # one container port per listener, numbered like the listener's address
    for l in cfg["listeners"]:
        assert ports[l["name"][:15]] == int(l["address"].rsplit(":", 1)[1])
        assert ports[l["name"][:15]] >= 1024, "container listeners must be unprivileged"
    assert cfg["admin"]["address"] == "0.0.0.0:9925"
    assert ports["admin"] == 9925
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    drain = cfg["drain_timeout_s"]
    assert pod["terminationGracePeriodSeconds"] >= drain + values["preStopSleepSeconds"] + 5
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", ann["checksum/config"])
    assert re.fullmatch(r"[0-9a-f]{64}", ann["checksum/tls"])
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["args"] == ["--config", "/etc/mailgate/mailgate.json"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/etc/mailgate/mailgate.json", "/etc/mailgate/tls"} <= mounts
    for cert in cfg["tls"]["certificates"]:
        assert cert["cert"].startswith("/etc/mailgate/tls/")
        assert cert["key"].startswith("/etc/mailgate/tls/")
    # a config change rolls the pods: the checksum follows .Values.config
    changed = copy.deepcopy(cfg)
    changed["drain_timeout_s"] = drain + 1
    dep2 = _by_kind(render_chart({"tls": TEST_TLS, "config": changed}))["Deployment"][0]
    assert dep2["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != ann["checksum/config"]
    assert dep2["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == \
        pod["terminationGracePeriodSeconds"] + 1
    # ConfigMap carries exactly .Values.config as JSON
    cm = kinds["ConfigMap"][0]
    assert json.loads(cm["data"]["mailgate.json"]) == cfg


def test_service_contract():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    kinds = _by_kind(render_chart({"tls": TEST_TLS}))
    services = {s["metadata"]["name"]: s for s in kinds["Service"]}
    mail = services["rel-mailgate"]
    admin = services["rel-mailgate-admin"]
    assert mail["spec"]["type"] == "LoadBalancer"
    assert mail["spec"]["externalTrafficPolicy"] == "Local"
    got = {p["name"]: p["port"] for p in mail["spec"]["ports"]}
    assert got == {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110,
                   "submissions": 465, "submission": 587}
    assert all(p["targetPort"] == p["name"] for p in mail["spec"]["ports"])
    assert "admin" not in got, "the admin port must not be on the mail Service"
    assert admin["spec"]["type"] == "ClusterIP"
    assert admin["spec"]["ports"][0]["targetPort"] == "admin"
    # ClusterIP: no externalTrafficPolicy (the API server rejects it)
    cip = _by_kind(render_chart({"tls": TEST_TLS, "service": {"type": "ClusterIP"}}))
    mail = [s for s in cip["Service"] if s["metadata"]["name"] == "rel-mailgate"][0]
    assert "externalTrafficPolicy" not in mail["spec"]
    assert values["service"]["ports"].keys() <= {l["name"] for l in values["config"]["listeners"]}


def test_optional_objects():
    kinds = _by_kind(render_chart({
        "tls": TEST_TLS,
        "autoscaling": {"enabled": True},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        "podDisruptionBudget": {"enabled": False},
        "podAnnotations": {"reloader.stakater.com/auto": "true"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
    }))
    hpa = kinds["HorizontalPodAutoscaler"][0]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rel-mailgate"
    assert "replicas" not in kinds["Deployment"][0]["spec"]
    sm = kinds["ServiceMonitor"][0]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus"
    assert sm["spec"]["endpoints"][0]["port"] == "admin"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    # the ServiceMonitor selects the admin Service, and only it
    sel = sm["spec"]["selector"]["matchLabels"]
    matching = [s for s in kinds["Service"]
                if all(s["metadata"]["labels"].get(k) == v for k, v in sel.items())]
    assert [s["metadata"]["name"] for s in matching] == ["rel-mailgate-admin"]
    assert "PodDisruptionBudget" not in kinds
    tmpl = kinds["Deployment"][0]["spec"]["template"]
    assert tmpl["metadata"]["annotations"]["reloader.stakater.com/auto"] == "true"
    assert tmpl["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}


# --------------------------------------------------------------------------
# mailgate --check-config on the shipped configs
# --------------------------------------------------------------------------
def _binary():
    build = Path(os.environ.get("MAILGATE_BUILD_DIR", ROOT / "build"))
    b = build / "mailgate"
    if not b.exists():
        pytest.skip(f"{b} not built")
    return b


def _write_certs(tmp):
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    if shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=mail.example.com", "-keyout", str(key),
                        "-out", str(cert)], check=True, capture_output=True)
    else:
        cert.write_text(TEST_TLS["cert"])
        key.write_text(TEST_TLS["key"])
    return cert, key


def _with_local_certs(cfg, tmp):
    cfg = copy.deepcopy(cfg)
    cert, key = _write_certs(tmp)
    for c in cfg["tls"]["certificates"]:
        c["cert"], c["key"] = str(cert), str(key)
    return cfg


def _check_config(cfg, tmp, name="mailgate.json"):
    path = tmp / name
    path.write_text(json.dumps(cfg, indent=2))
    return subprocess.run([str(_binary()), "--check-config", str(path)],
                          capture_output=True, text=True, timeout=30)


def _shipped_configs():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return {"helm values.config": values["config"],
            "deploy/docker/mailgate.json": json.loads(DOCKER_CONFIG.read_text())}


def _invalid_variant(cfg):
    cfg = copy.deepcopy(cfg)
    cfg["listeners"][1]["tls"] = "sometimes"
    return cfg, "$.listeners[1].tls"


def test_check_config_rejects_an_invalid_config_with_json_paths(tmp_path):
    """The contract: non-zero exit and the JSON path of the error. (Also what keeps
    the next test from passing against a binary that accepts anything.)"""
    cfg, path = _invalid_variant(_with_local_certs(_shipped_configs()["helm values.config"], tmp_path))
    r = _check_config(cfg, tmp_path, "bad.json")
    assert r.returncode != 0, "--check-config accepted listeners[1].tls = 'sometimes'"
    assert path in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("which", ["helm values.config", "deploy/docker/mailgate.json"])
def test_shipped_config_passes_check_config(which, tmp_path):
    cfg = _shipped_configs()[which]
    assert isinstance(cfg.get("drain_timeout_s"), int)
    assert cfg["admin"]["address"] == "0.0.0.0:9925"
    local = _with_local_certs(cfg, tmp_path)
    r = _check_config(local, tmp_path)
    assert r.returncode == 0, f"{which}: --check-config failed:\n{r.stdout}{r.stderr}"
    bad, path = _invalid_variant(local)
    r = _check_config(bad, tmp_path, "bad.json")
    assert r.returncode != 0 and path in r.stdout + r.stderr, \
        f"the binary does not validate (accepted a bad {path}), so the pass above means nothing"


# --------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------
def _dockerfile_stages():
    stages, cur = {}, None
    for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines():
        m = re.match(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", line.strip(), re.I)
        if m:
            cur = m.group(1) or str(len(stages))
            stages[cur] = []
        elif cur and line.strip() and not line.strip().startswith("#"):
            stages[cur].append(line.strip())
    return stages


def _apt_packages(lines):
    pkgs = []
    for l in lines:
        m = re.search(r"apt-get install (.*?)(?:&&|$)", l)
        if m:
            pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def test_dockerfile_structure():
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG DEBIAN_IMAGE=debian:bookworm", text, re.M)
    stages = _dockerfile_stages()
    assert list(stages) == ["build", "runtime"]
    build, runtime = stages["build"], stages["runtime"]
    build_pkgs = _apt_packages(build)
    for p in ("cmake", "ninja-build", "g++", "pkg-config", "libuv1-dev",
              "android-libboringssl-dev", "nlohmann-json3-dev", "prometheus-cpp-dev",
              "libhttp-parser-dev"):
        assert p in build_pkgs, p
    assert "libgtest-dev" not in build_pkgs, "the image builds no tests: no GoogleTest"
    assert any("-DMAILGATE_TESTS=OFF" in l for l in build)
    run_pkgs = _apt_packages(runtime)
    assert not [p for p in run_pkgs if p.endswith("-dev")], run_pkgs
    assert "android-libboringssl" in run_pkgs
    rt = "\n".join(runtime)
    assert "COPY --from=build /src/build/mailgate /usr/local/bin/mailgate" in rt
    assert re.search(r"^USER\s+(?!0|root)", rt, re.M)
    assert 'ENTRYPOINT ["mailgate"]' in rt
    assert 'CMD ["--config", "/etc/mailgate/mailgate.json"]' in rt
    exposed = {int(p) for l in runtime if l.startswith("EXPOSE") for p in l.split()[1:]}
    cfg = json.loads(DOCKER_CONFIG.read_text())
    want = {int(l["address"].rsplit(":", 1)[1]) for l in cfg["listeners"]}
    want.add(int(cfg["admin"]["address"].rsplit(":", 1)[1]))
    assert exposed == want
    assert all(p >= 1024 for p in exposed)


def test_dockerfile_base_image_labels_and_context():
    """The base image is a build argument used by both stages, the image carries
    OCI labels, and neither the demo's state nor its private key can reach the
    image: sources are copied by name, and the ignore files exclude them."""
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms == ["${DEBIAN_IMAGE}", "${DEBIAN_IMAGE}"], froms
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"', text))
    for key in ("title", "description", "version", "revision", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    copies = [l for stage in _dockerfile_stages().values() for l in stage if l.startswith("COPY")]
    for c in copies:
        srcs = c.split()[1:-1]
        srcs = [s for s in srcs if not s.startswith("--")]
        assert "." not in srcs and "./" not in srcs, f"copies the whole context: {c}"
        assert not any(s.startswith((".demo", "config/demo")) for s in srcs), c
    for ignore in (ROOT / ".dockerignore", ROOT / "deploy" / "Dockerfile.dockerignore"):
        entries = {l.strip() for l in ignore.read_text().splitlines()
                   if l.strip() and not l.startswith("#")}
        assert {".demo", "config/demo", ".git", "**/*.key", "**/*.pem"} <= entries, (ignore, entries)


def _deps_closure(pkgs):
    """Installed packages reachable from pkgs through Depends/Pre-Depends."""
    seen, pending = set(), list(pkgs)
    while pending:
        p = pending.pop()
        if p in seen:
            continue
        seen.add(p)
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p],
                           capture_output=True, text=True)
        for alt in r.stdout.split(","):
            for name in alt.split("|"):
                name = re.sub(r"\(.*?\)|:any|\s", "", name)
                if name:
                    pending.append(name)
    return seen


@pytest.mark.skipif(sanitizer_build(),
                    reason="a sanitizer build also links libasan/libubsan, which no release image carries")
def test_runtime_stage_provides_every_shared_library_of_the_binary():
    """Every library `ldd build/mailgate` resolves comes from a package the runtime
    stage installs (or its dependencies, or the base image's libc/libstdc++)."""
    if not shutil.which("dpkg-query") or not shutil.which("ldd"):
        pytest.skip("needs dpkg-query and ldd")
    binary = _binary()
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    assert "not found" not in ldd, ldd
    libs = re.findall(r"=>\s+(/\S+)", ldd)
    allowed = _deps_closure(_apt_packages(_dockerfile_stages()["runtime"]) +
                            ["libc6", "libgcc-s1", "libstdc++6"])
    problems = []
    for lib in libs:
        real = os.path.realpath(lib)
        owner = None
        for candidate in (lib, real, re.sub(r"^/lib/", "/usr/lib/", real)):
            r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0]
                break
        if owner not in allowed:
            problems.append(f"{lib} (package {owner})")
    assert not problems, f"runtime stage does not install: {problems}"
    if "/android/" in ldd:  # BoringSSL resolved through the RUNPATH
        assert re.search(r"libssl\.so\.0 => /usr/lib/x86_64-linux-gnu/android/", ldd)


# --------------------------------------------------------------------------
# systemd
# --------------------------------------------------------------------------
def test_systemd_unit():
    text = UNIT.read_text()
    kv = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            kv.setdefault(k.strip(), []).append(v.strip())
    assert any(re.search(r"kill -HUP \$MAINPID", v) for v in kv["ExecReload"])
    assert kv["ExecStartPre"] == ["/usr/local/bin/mailgate --check-config /etc/mailgate/mailgate.json"]
    assert kv["KillSignal"] == ["SIGTERM"]
    assert kv["Type"] in (["simple"], ["notify"])
    assert kv["NoNewPrivileges"] == ["yes"]
    assert kv["ProtectSystem"] == ["strict"]
    assert kv["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert kv["LimitNOFILE"] == ["65536"]
    # Documentation= names only what the install rules put there (test_packaging.py
    # checks the installed paths).
    docs = kv["Documentation"][0].split()
    assert "man:mailgate(8)" in docs
    installed = {"/usr/share/doc/mailgate/README.md": ROOT / "README.md",
                 "/usr/share/doc/mailgate/runbooks.md": ROOT / "docs" / "runbooks.md"}
    for d in docs:
        if d.startswith("file://"):
            assert d[len("file://"):] in installed and installed[d[len("file://"):]].is_file(), d
    stop = int(kv["TimeoutStopSec"][0].rstrip("s"))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert stop > values["config"]["drain_timeout_s"], "TimeoutStopSec must exceed the drain deadline"


def test_systemd_analyze_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    # Verify with an executable that exists here, so only real unit errors remain.
    exe = shutil.which("true")
    unit = tmp_path / "mailgate.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/mailgate", exe))
    # Documentation=man:mailgate(8) is checked with `man`: give it the page the
    # package installs (docs/mailgate.8, or a stand-in while the repository has
    # none) and the doc files, as the install rules lay them out.
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    page = ROOT / "docs" / "mailgate.8"
    (man8 / "mailgate.8").write_text(page.read_text() if page.exists() else
                                     ".TH MAILGATE 8\n.SH NAME\nmailgate \\- mail protocol gateway\n")
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)],
                       capture_output=True, text=True, timeout=60, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "mailgate.service" not in out, out


# --------------------------------------------------------------------------
# dashboards
# --------------------------------------------------------------------------
def _panels(d):
    for p in d.get("panels", []):
        yield p
        yield from _panels(p)


def test_dashboard_is_importable_grafana_json():
    d = json.loads(DASHBOARD.read_text())
    assert d["schemaVersion"] >= 36
    assert d["title"] and d["uid"]
    inputs = {i["name"]: i for i in d.get("__inputs", [])}
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert {"instance", "listener"} <= variables.keys()
    graph = [p for p in _panels(d) if p.get("type") != "row"]
    assert len(graph) >= 12
    ids = [p["id"] for p in _panels(d)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in graph:
        assert p.get("targets"), f"panel {p.get('title')} has no targets"
        for t in p["targets"]:
            assert t.get("expr"), p["title"]
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]
        assert p["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert {"x", "y", "w", "h"} <= p["gridPos"].keys()
    exprs = " ".join(t["expr"] for p in graph for t in p["targets"])
    assert "histogram_quantile(0.99" in exprs and "mailgate_backend_connect_seconds_bucket" in exprs


def test_alert_rules_pass_promtool():
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    r = subprocess.run([promtool, "check", "rules", str(ALERTS)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    rules = yaml.safe_load(ALERTS.read_text())
    names = {rule["alert"] for g in rules["groups"] for rule in g["rules"] if "alert" in rule}
    for want in ("MailgateDown", "MailgateBackendDown", "MailgatePoolAllBackendsDown",
                 "MailgateLoginFailureSpike", "MailgateTLSHandshakeErrors",
                 "MailgateConfigReloadFailed", "MailgateDrainingTooLong"):
        assert want in names, want
    for g in rules["groups"]:
        for rule in g["rules"]:
            if "alert" in rule:
                assert rule["labels"].get("severity") in ("critical", "warning", "info"), rule
                assert rule["annotations"].get("summary"), rule["alert"]


def test_alert_rules_unit_tests_pass_promtool():
    """dashboards/alerts_test.yml: promtool unit tests of the alert expressions."""
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    tests = ROOT / "dashboards" / "alerts_test.yml"
    r = subprocess.run([promtool, "test", "rules", str(tests)], cwd=tests.parent,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def _dashboard_exprs():
    d = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in _panels(d) for t in p.get("targets", [])]
    exprs += [a["expr"] for a in d["annotations"]["list"] if a.get("expr")]
    return exprs


def _grafana_to_promql(expr):
    for var, repl in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h")):
        expr = expr.replace(var, repl)
    return re.sub(r"\$\{?[A-Za-z_]+\}?", ".*", expr)


def test_dashboard_expressions_are_valid_promql(tmp_path):
    """Every panel/annotation query parses (promtool, as recording rules after
    substituting Grafana's variables)."""
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr{i}", "expr": _grafana_to_promql(e)}
        for i, e in enumerate(_dashboard_exprs())]}]}
    f = tmp_path / "dashboard_rules.yml"
    f.write_text(yaml.safe_dump(rules))
    r = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def _alert_rules():
    rules = yaml.safe_load(ALERTS.read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def _markdown_anchors(path):
    """GitHub-style anchors of the headings of a Markdown file."""
    anchors = set()
    for line in path.read_text().splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(a)
    return anchors


def test_every_alert_has_a_runbook_in_docs():
    runbooks = ROOT / "docs" / "runbooks.md"
    anchors = _markdown_anchors(runbooks)
    for rule in _alert_rules():
        url = rule["annotations"].get("runbook_url", "")
        assert url.startswith("https://example.invalid/mailgate/docs/runbooks.md#"), (rule["alert"], url)
        anchor = url.split("#", 1)[1]
        assert anchor == rule["alert"].lower(), url
        assert anchor in anchors, f"{rule['alert']}: docs/runbooks.md has no section #{anchor}"


# --------------------------------------------------------------------------
# Helm chart: schema, examples, ServiceAccount, extra volumes, labels, spread,
# PrometheusRule and dashboard ConfigMap
# --------------------------------------------------------------------------
SCHEMA = CHART / "values.schema.json"
EXAMPLES = sorted((CHART / "examples").glob("*.yaml"))


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_values_and_examples_match_the_schema():
    v = _validator()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    errors = [e.message for e in v.iter_errors(values)]
    assert not errors, errors
    assert EXAMPLES, "deploy/helm/mailgate/examples/ has no values files"
    for ex in EXAMPLES:
        merged = _merge(values, yaml.safe_load(ex.read_text()))
        errors = [f"{list(e.path)}: {e.message}" for e in v.iter_errors(merged)]
        assert not errors, (ex.name, errors)


@pytest.mark.parametrize("bad", [
    {"extraVolume": []},                                    # typo of extraVolumes
    {"replicaCount": "2"},
    {"service": {"type": "Loadbalancer"}},
    {"config": {"listeners": [{"name": "imaps", "protocol": "imap4", "address": "0.0.0.0:10993"}]}},
    {"extraVolumeMounts": [{"name": "x"}]},                 # no mountPath
    {"prometheusRule": {"runbookBaseUrl": "docs/"}},
])
def test_schema_rejects_mistakes(bad):
    v = _validator()
    values = _merge(yaml.safe_load((CHART / "values.yaml").read_text()), bad)
    assert list(v.iter_errors(values)), f"schema accepted {bad}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_render(example):
    over = yaml.safe_load(example.read_text())
    if not over.get("tls", {}).get("existingSecret"):
        over = _merge(over, {"tls": TEST_TLS})
    docs = render_chart(over)
    kinds = _by_kind(docs)
    assert "Deployment" in kinds
    for ds in docs.values():
        if not isinstance(ds, str):
            for d in ds:
                assert d.get("apiVersion") and d.get("kind"), d


def test_extra_volumes_are_mounted():
    ex = yaml.safe_load((CHART / "examples" / "user-map-backend-ca.yaml").read_text())
    dep = _by_kind(render_chart(ex))["Deployment"][0]
    pod = dep["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["user-map"]["configMap"]["name"] == "mailgate-users"
    assert vols["backend-ca"]["secret"]["secretName"] == "dovecot-ca"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["user-map"]["mountPath"] == "/etc/mailgate/map"
    assert mounts["backend-ca"]["mountPath"] == "/etc/mailgate/backend-ca"
    # what the config points at lies under those mounts
    cfg = json.loads(_by_kind(render_chart(ex))["ConfigMap"][0]["data"]["mailgate.json"])
    assert cfg["routes"]["users"]["file"].startswith("/etc/mailgate/map/")
    assert cfg["pools"]["a"]["ca_file"].startswith("/etc/mailgate/backend-ca/")


def test_service_account_without_token():
    kinds = _by_kind(render_chart({"tls": TEST_TLS}))
    (sa,) = kinds["ServiceAccount"]
    assert sa["automountServiceAccountToken"] is False
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"] == "rel-mailgate"
    assert pod["automountServiceAccountToken"] is False
    kinds = _by_kind(render_chart({"tls": TEST_TLS, "serviceAccount": {"create": False}}))
    assert "ServiceAccount" not in kinds
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default" and pod["automountServiceAccountToken"] is False


def test_pods_carry_the_full_recommended_labels():
    kinds = _by_kind(render_chart({"tls": TEST_TLS, "podLabels": {"team": "mail"}}))
    dep = kinds["Deployment"][0]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": "mailgate",
        "app.kubernetes.io/instance": "rel",
        "app.kubernetes.io/version": "0.1.0",
        "app.kubernetes.io/component": "gateway",
        "app.kubernetes.io/part-of": "mailgate",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": "mailgate-0.1.0",
        "team": "mail",
    }
    sel = dep["spec"]["selector"]["matchLabels"]
    assert sel.items() <= labels.items()
    # the mail Service selects only pods (the selector ignores version/chart labels,
    # which change on upgrade)
    mail = [s for s in kinds["Service"] if s["metadata"]["name"] == "rel-mailgate"][0]
    assert mail["spec"]["selector"] == sel


def test_default_topology_spread_across_nodes():
    pod = _by_kind(render_chart({"tls": TEST_TLS}))["Deployment"][0]["spec"]["template"]["spec"]
    (c,) = pod["topologySpreadConstraints"]
    assert c["topologyKey"] == "kubernetes.io/hostname"
    assert c["whenUnsatisfiable"] == "ScheduleAnyway"
    assert c["maxSkew"] == 1
    assert c["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "mailgate",
                                                 "app.kubernetes.io/instance": "rel"}
    own = [{"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"a": "b"}}}]
    pod = _by_kind(render_chart({"tls": TEST_TLS, "topologySpreadConstraints": own}))[
        "Deployment"][0]["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"] == own
    pod = _by_kind(render_chart({"tls": TEST_TLS, "defaultTopologySpread": {"enabled": False}}))[
        "Deployment"][0]["spec"]["template"]["spec"]
    assert "topologySpreadConstraints" not in pod


def test_chart_files_are_the_dashboards():
    """The chart cannot read outside its folder: files/ holds copies that must
    stay equal to dashboards/."""
    assert (CHART / "files" / "alerts.yml").read_text() == ALERTS.read_text()
    assert (CHART / "files" / "mailgate.json").read_text() == DASHBOARD.read_text()


def test_prometheus_rule_is_alerts_yml():
    kinds = _by_kind(render_chart({"tls": TEST_TLS}))
    assert "PrometheusRule" not in kinds
    base = "https://runbooks.example.net/mailgate/"
    kinds = _by_kind(render_chart({"tls": TEST_TLS, "prometheusRule": {
        "enabled": True, "labels": {"release": "kube-prometheus"}, "runbookBaseUrl": base}}))
    (rule,) = kinds["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
    want = yaml.safe_load(ALERTS.read_text())["groups"]
    got = rule["spec"]["groups"]
    assert [r.get("alert") for g in got for r in g["rules"]] == [r.get("alert") for g in want for r in g["rules"]]
    for g_got, g_want in zip(got, want):
        for r_got, r_want in zip(g_got["rules"], g_want["rules"]):
            assert r_got["expr"] == r_want["expr"]
            assert r_got["annotations"]["summary"] == r_want["annotations"]["summary"]
            assert r_got["annotations"]["runbook_url"] == \
                r_want["annotations"]["runbook_url"].replace("https://example.invalid/mailgate/", base)


def test_dashboard_configmap_for_the_grafana_sidecar():
    kinds = _by_kind(render_chart({"tls": TEST_TLS}))
    assert [c["metadata"]["name"] for c in kinds["ConfigMap"]] == ["rel-mailgate"]
    kinds = _by_kind(render_chart({"tls": TEST_TLS, "grafanaDashboard": {
        "enabled": True, "annotations": {"grafana_folder": "Mail"}}}))
    cm = [c for c in kinds["ConfigMap"] if c["metadata"]["name"] == "rel-mailgate-dashboard"][0]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Mail"}
    assert json.loads(cm["data"]["mailgate.json"]) == json.loads(DASHBOARD.read_text())
