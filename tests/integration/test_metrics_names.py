"""The metric names used by dashboards/mailgate.json and dashboards/alerts.yml are
a contract with proxy/admin/metrics.h: every one must be exported by a running
mailgate.

prometheus-cpp only prints `# TYPE` for a labelled family once it has a child,
so the test drives traffic that creates those children (logins ok/failed, a
failing backend, a TLS handshake error, a user-map lookup, a bridge session, a
reload), then scrapes /metrics from the admin address, compares names against
the `# TYPE` lines, and lints the scrape with `promtool check metrics`.

Families the traffic can only create once a feature exists are listed in NEEDS
with that feature. They are reported (warning) while missing; set
MAILGATE_METRICS_STRICT=1 to make them fail too.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest

from harness import USERS, clients
from harness.config import listener
from harness.util import closed_port, free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboards" / "mailgate.json"
ALERTS = ROOT / "dashboards" / "alerts.yml"
METRICS_H = ROOT / "proxy" / "admin" / "metrics.h"

# Family -> the feature its series need. The test's traffic exercises each of
# these; they show up once the daemon records them.
NEEDS = {
    "mailgate_backend_up": "needs pool health checks (pools.*.health.interval_s) reporting Metrics::backendUp",
    "mailgate_lookups_total": "needs route lookups (map route) reporting Metrics::lookup",
    "mailgate_lookup_seconds": "needs route lookups (map route) reporting Metrics::lookup",
    "mailgate_bridge_commands_total": "needs POP3 bridge mode reporting Metrics::bridgeCommand",
    "mailgate_protocol_errors_total": "needs pre-auth protocol error accounting "
                                      "(over-long line / unknown commands) reporting Metrics::protocolError",
}
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_NAME = re.compile(r"\b(mailgate_[a-z0-9_]+)\b")


def _contract_names():
    """Every family named in proxy/admin/metrics.h (the source of truth)."""
    return set(_NAME.findall(METRICS_H.read_text()))


def _base(name, families):
    for suf in _HISTOGRAM_SUFFIXES:
        if name.endswith(suf) and name[: -len(suf)] in families:
            return name[: -len(suf)]
    return name


def _referenced_names():
    """{family: [where]} for every mailgate_* name in the dashboard and alerts."""
    contract = _contract_names()
    refs = {}
    d = json.loads(DASHBOARD.read_text())
    texts = [("dashboard", json.dumps(d))]
    texts.append(("alerts", ALERTS.read_text()))
    for where, text in texts:
        for n in _NAME.findall(text):
            # strip histogram suffixes; `_count` etc. are only suffixes for histograms
            base = _base(n, contract)
            if base == n and n.endswith(_HISTOGRAM_SUFFIXES):
                base = n.rsplit("_", 1)[0]
            refs.setdefault(base, set()).add(where)
    return refs


def test_referenced_names_are_in_the_contract():
    contract = _contract_names()
    assert len(contract) >= 19, sorted(contract)
    refs = _referenced_names()
    unknown = sorted(set(refs) - contract)
    assert not unknown, f"dashboards/alerts use names metrics.h does not define: {unknown}"
    unused = sorted(contract - set(refs))
    assert not unused, f"metrics.h families with no panel or alert: {unused}"


# --------------------------------------------------------------------------
# Against a running daemon
# --------------------------------------------------------------------------
def _scrape(mg):
    with urllib.request.urlopen(mg.admin_url + "/metrics", timeout=10) as r:
        assert r.status == 200
        ctype = r.headers.get("Content-Type", "")
        return r.read().decode(), ctype


def _types(text):
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def _samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if m:
                out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out


def _with_metric_traffic_config(cfg, tmp):
    """The default harness config plus: a pool whose only backend is a closed port
    (connect failures, temp_failed, backend down), a `map` route (lookups), and
    bridge listeners with on_delete move/expunge."""
    local = cfg["pools"]["local"]
    cfg["pools"]["dead"] = {"servers": [{"host": "127.0.0.1", "imap": closed_port(),
                                         "pop3": closed_port(), "smtp": closed_port()}],
                            "health": {"interval_s": 1}}
    usermap = tmp / "users.json"
    usermap.write_text(json.dumps({"users": {u: {"pool": "local"} for u in USERS}}))
    cfg["routes"]["dead"] = {"type": "static", "pool": "dead"}
    cfg["routes"]["usermap"] = {"type": "map", "file": str(usermap)}
    base = listener(cfg, "imaps")
    host = base["address"].rsplit(":", 1)[0]
    for name, route, extra in (("imaps-dead", "dead", {}), ("imaps-map", "usermap", {})):
        cfg["listeners"].append(dict(base, name=name, route=route,
                                     address="%s:%d" % (host, free_port(host)), **extra))
    bridge = listener(cfg, "pop3s-bridge")
    for name, b in (("pop3s-move", {"on_delete": "move", "move_to": "Archive"}),
                    ("pop3s-expunge", {"on_delete": "expunge"})):
        cfg["listeners"].append(dict(bridge, name=name, bridge=b,
                                     address="%s:%d" % (host, free_port(host))))
    # A fleet whose Redis is unreachable: logins go on with local counts and
    # mailgate_cluster_fallbacks_total says so (docs/architecture.md §2.6).
    cfg["cluster"] = {"redis": {"address": "127.0.0.1:%d" % closed_port()}}
    assert local["servers"]
    return cfg


def _try(what, fn, notes):
    try:
        fn()
    except Exception as e:  # traffic for features that may not exist yet
        notes.append(f"{what}: {type(e).__name__}: {e}")


def _drive_traffic(mg, certs, new_user, dovecot, notes):
    user, pw = "alice@example.com", USERS["alice@example.com"]

    def imap_ok(listener_name):
        c = clients.imap_client(mg, listener_name, certs)
        c.login(user, pw)
        c.select("INBOX", readonly=True)
        c.fetch("1", "(RFC822.SIZE)")
        c.logout()

    def imap_bad_password():
        c = clients.imap_client(mg, "imaps", certs)
        try:
            c.login(user, "wrong-" + pw)
        except Exception:
            pass
        finally:
            try:
                c.logout()
            except Exception:
                pass

    def imap_dead_backend():
        c = clients.imap_client(mg, "imaps-dead", certs)
        try:
            c.login(user, pw)
        except Exception:
            pass
        finally:
            try:
                c.logout()
            except Exception:
                pass

    def tls_garbage():
        host, port = mg.address("imaps")
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4)
            s.settimeout(3)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass

    def protocol_errors():
        raw = clients.RawClient.connect(mg, "imap-starttls", certs)
        raw.readline()
        raw.send(b"a1 " + b"x" * 70000 + b"\r\n")
        raw.read_available(0.5)
        raw.close()
        raw = clients.RawClient.connect(mg, "imap-starttls", certs)
        raw.readline()
        for i in range(12):
            raw.send(b"b%d FROBNICATE\r\n" % i)
        raw.read_available(0.5)
        raw.close()

    def bridge(listener_name):
        login, password = new_user(messages=[b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)
                                             for i in (1, 2)], prefix="metrics")
        if listener_name == "pop3s-move":
            dovecot.doveadm("mailbox", "create", "-u", login, "Archive")
        p = clients.pop3_client(mg, listener_name, certs)
        p.user(login)
        p.pass_(password)
        p.list()
        p.uidl()
        p.retr(1)
        p.top(2, 0)
        p.dele(1)
        p.quit()

    imap_ok("imaps")
    _try("imap bad password", imap_bad_password, notes)
    _try("imap dead backend", imap_dead_backend, notes)
    _try("imap via map route", lambda: imap_ok("imaps-map"), notes)
    _try("tls garbage", tls_garbage, notes)
    _try("protocol errors", protocol_errors, notes)
    for name in ("pop3s-bridge", "pop3s-move", "pop3s-expunge"):
        _try(f"bridge {name}", lambda n=name: bridge(n), notes)
    _try("reload", mg.reload, notes)
    time.sleep(2.5)  # health checks (interval_s 1), reload


@pytest.fixture
def metrics_mailgate(mailgate_factory, tmp_path):
    return mailgate_factory(modify=lambda cfg: _with_metric_traffic_config(cfg, tmp_path))


def test_running_mailgate_exports_every_referenced_metric(metrics_mailgate, certs, new_user,
                                                          dovecot, tmp_path):
    mg = metrics_mailgate
    notes = []
    _drive_traffic(mg, certs, new_user, dovecot, notes)
    text, ctype = _scrape(mg)
    (tmp_path / "scrape.txt").write_text(text)
    types = _types(text)
    samples = _samples(text)

    # Labelled series the baseline traffic must have created.
    assert 'listener="imaps"' in " ".join(l for l, _ in samples.get("mailgate_connections_total", []))
    assert any('result="ok"' in l and 'protocol="imap"' in l
               for l, _ in samples.get("mailgate_logins_total", [])), samples.get("mailgate_logins_total")
    assert types.get("mailgate_backend_connect_seconds") == "histogram"
    assert types.get("mailgate_lookup_seconds", "histogram") == "histogram"

    refs = _referenced_names()
    missing = sorted(n for n in refs if n not in types)
    unexplained = [n for n in missing if n not in NEEDS]
    pending = {n: NEEDS[n] for n in missing if n in NEEDS}
    detail = "\n".join(notes) or "(all traffic steps ran)"
    assert not unexplained, (
        f"referenced by {', '.join(sorted(set().union(*(refs[n] for n in unexplained))))} "
        f"but not exported: {unexplained}\ntraffic notes:\n{detail}\nscrape: {tmp_path / 'scrape.txt'}")
    if pending:
        msg = "metrics not exported yet:\n" + "\n".join(f"  {n}: {why}" for n, why in pending.items())
        msg += "\ntraffic notes:\n" + detail
        if os.environ.get("MAILGATE_METRICS_STRICT") == "1":
            pytest.fail(msg)
        warnings.warn(msg)
    # Every exported mailgate family is in the contract (no stray names).
    stray = sorted(n for n in types if n.startswith("mailgate_") and n not in _contract_names())
    assert not stray, f"exported but not in metrics.h: {stray}"


def test_scrape_passes_promtool_check_metrics(metrics_mailgate, certs):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    mg = metrics_mailgate
    c = clients.imap_client(mg, "imaps", certs)
    c.login("alice@example.com", USERS["alice@example.com"])
    c.logout()
    text, ctype = _scrape(mg)
    assert ctype.startswith("text/plain"), ctype
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_health_and_readiness_endpoints(mailgate_factory):
    mg = mailgate_factory()
    with urllib.request.urlopen(mg.admin_url + "/healthz", timeout=10) as r:
        assert r.status == 200
    # The admin port opens before the workers run, and /readyz is 503 until
    # they do (the harness only waits for the ports): allow start-up to finish.
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(mg.admin_url + "/readyz", timeout=10) as r:
                assert r.status == 200
                return
        except urllib.error.HTTPError as e:
            if e.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
