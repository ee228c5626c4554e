"""Reload metrics as an operator's dashboard and alerts read them
(dashboards/alerts.yml, docs/runbooks.md#mailgateconfigreloadfailed):

- mailgate_config_last_reload_success_timestamp_seconds is the time of the
  first load right after start (a 0 there reads as "last reload 56 years ago");
- both mailgate_config_reloads_total{result="ok"} and {result="error"} exist
  from start at 0, so `increase(...{result="error"}[15m])` sees the first failed
  reload as 0 -> 1 (a series that first appears at 1 has no increase at all).
- mailgate_tls_certificate_expiry_timestamp_seconds{listener,certificate} is
  the certificate's notAfter for every TLS listener, replaced by a successful
  reload (MailgateCertificateExpiresSoon).
"""
import copy
import re
import ssl
import subprocess
import time
import urllib.request

from test_reload import reload


def _scrape(mg):
    return urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()


def _sample(text, series):
    """The value of one exact series line, or None when the series is absent."""
    m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
    return float(m.group(1)) if m else None


OK = 'mailgate_config_reloads_total{result="ok"}'
ERROR = 'mailgate_config_reloads_total{result="error"}'
LAST = "mailgate_config_last_reload_success_timestamp_seconds"


def test_reload_series_exist_from_start_and_timestamp_is_the_first_load(mailgate_factory):
    before = time.time()
    mg = mailgate_factory()
    after = time.time()
    text = _scrape(mg)
    assert _sample(text, OK) == 0, "the ok series must exist at 0 from start\n" + text
    assert _sample(text, ERROR) == 0, "the error series must exist at 0 from start\n" + text
    last = _sample(text, LAST)
    assert last is not None and before - 1 <= last <= after + 1, \
        "last-success timestamp %r is not the first load (between %f and %f)" % (last, before, after)


def test_first_failed_reload_counts_from_zero_and_keeps_the_timestamp(mailgate_factory):
    mg = mailgate_factory()
    cfg = copy.deepcopy(mg.config)
    first = _sample(_scrape(mg), LAST)
    with open(mg.config_path, "w") as f:
        f.write('{"listeners": [')
    reload(mg, ok=False)
    text = _scrape(mg)
    assert _sample(text, ERROR) == 1
    assert _sample(text, OK) == 0
    assert _sample(text, LAST) == first, "a failed reload must not move the last-success time"
    time.sleep(1.1)
    reload(mg, cfg)
    text = _scrape(mg)
    assert _sample(text, OK) == 1
    assert _sample(text, LAST) > first


EXPIRY = "mailgate_tls_certificate_expiry_timestamp_seconds"


def _expiries(text):
    """{(listener, certificate): value} of the certificate expiry series."""
    out = {}
    for labels, value in re.findall(r"^%s\{([^}]*)\} (\S+)$" % EXPIRY, text, re.M):
        d = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        out[(d["listener"], d["certificate"])] = float(value)
    return out


def test_certificate_expiry_per_tls_listener_follows_reload(mailgate_factory):
    mg = mailgate_factory()
    cfg = copy.deepcopy(mg.config)
    cert = cfg["tls"]["certificates"][0]["cert"]
    end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", cert],
                         capture_output=True, text=True, check=True).stdout.strip()
    not_after = ssl.cert_time_to_seconds(end.split("=", 1)[1])
    tls_listeners = {l["name"] for l in cfg["listeners"] if l.get("tls", "none") != "none"}
    assert len(tls_listeners) >= 2
    got = _expiries(_scrape(mg))
    assert got == {(name, cert): not_after for name in tls_listeners}, got

    # A listener removed by a reload leaves no stale series.
    gone = sorted(tls_listeners)[0]
    cfg["listeners"] = [l for l in cfg["listeners"] if l["name"] != gone]
    reload(mg, cfg)
    got = _expiries(_scrape(mg))
    assert got == {(name, cert): not_after for name in tls_listeners - {gone}}, got
