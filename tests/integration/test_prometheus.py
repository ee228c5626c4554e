"""A real Prometheus (Debian's `prometheus`) scrapes mailgate's admin listener
every second; its query API must show the logins we drove, and `promtool
check metrics` must accept a /metrics scrape."""
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from harness import free_port
from harness.clients import imap_client, pop3_client, smtp_client

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(PROMETHEUS) and os.path.exists(PROMTOOL)),
    reason="Debian package prometheus not installed (scripts/install-deps.sh)")


def _get(url, timeout=2):
    return urllib.request.urlopen(url, timeout=timeout).read()


class Prometheus:
    def __init__(self, workdir, target):
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: mailgate\n    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                if b"Ready" in _get(self.url + "/-/ready"):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("prometheus did not become ready:\n" + self.log_text()[-3000:])
            time.sleep(0.1)

    def log_text(self):
        with open(os.path.join(self.dir, "prometheus.log"), errors="replace") as f:
            return f.read()

    def query(self, q):
        body = json.loads(_get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q})))
        assert body["status"] == "success", body
        return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("instance", "job"))):
                float(r["value"][1]) for r in body["data"]["result"]}

    def wait_for(self, q, predicate, timeout=12):
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(q)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError("%s: %r\n%s" % (q, result, self.log_text()[-1500:]))
            time.sleep(0.25)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_real_prometheus_scrapes_logins(mailgate_factory, certs, new_user):
    user, password = new_user(prefix="prom")
    mg = mailgate_factory()
    host, port = mg.admin_address
    prom = Prometheus(mg.workdir, "%s:%d" % (host, port))
    try:
        # The target is up and scraped before anything happened.
        prom.wait_for('up{job="mailgate"}', lambda r: list(r.values()) == [1.0])
        # The harness's readiness probes already connected once to each listener.
        conns0 = prom.query('sum by (listener) (mailgate_connections_total)')
        for _ in range(3):
            c = imap_client(mg, "imaps", certs)
            c.login(user, password)
            c.logout()
        p = pop3_client(mg, "pop3s", certs)
        p.user(user)
        p.pass_(password)
        p.quit()
        s = smtp_client(mg, "submissions", certs)
        s.login(user, password)
        s.quit()
        for _ in range(2):
            c = imap_client(mg, "imap-starttls", certs)
            try:
                c.login(user, "wrong-" + password)
            except Exception:
                pass
            c.logout()

        want = {
            (("__name__", "mailgate_logins_total"), ("protocol", "imap"), ("result", "ok")): 3.0,
            (("__name__", "mailgate_logins_total"), ("protocol", "imap"), ("result", "auth_failed")): 2.0,
            (("__name__", "mailgate_logins_total"), ("protocol", "pop3"), ("result", "ok")): 1.0,
            (("__name__", "mailgate_logins_total"), ("protocol", "smtp"), ("result", "ok")): 1.0,
        }
        got = prom.wait_for("mailgate_logins_total",
                            lambda r: all(r.get(k) == v for k, v in want.items()))
        assert sum(got.values()) == sum(want.values()), got  # nothing else counted
        conns = prom.query('sum by (listener) (mailgate_connections_total)')
        delta = {k[0][1]: v - conns0.get(k, 0.0) for k, v in conns.items()}
        assert delta == {"imaps": 3.0, "imap-starttls": 2.0, "pop3s": 1.0, "submissions": 1.0,
                         "pop3-starttls": 0.0, "pop3s-bridge": 0.0,
                         "submission-starttls": 0.0}, (conns0, conns)
        active = prom.wait_for("sum(mailgate_connections_active)", lambda r: list(r.values()) == [0.0])
        assert active
        tls = prom.query('sum by (result) (mailgate_tls_handshakes_total{listener="imaps"})')
        assert tls.get((("result", "ok"),)) == 3.0, tls
        assert prom.query("mailgate_draining") == {(("__name__", "mailgate_draining"),): 0.0}
        relayed = prom.query('sum(mailgate_relay_bytes_total{protocol="imap"})')
        assert list(relayed.values())[0] > 0
    finally:
        prom.stop()

    # promtool lints the exposition format (names, HELP/TYPE, units, counters' _total).
    text = _get(mg.admin_url + "/metrics")
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                          timeout=20)
    assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
