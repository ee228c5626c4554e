"""Reload metrics as an operator's dashboard and alerts read them
(dashboards/alerts.yml, docs/runbooks.md#mailgateconfigreloadfailed):

- mailgate_config_last_reload_success_timestamp_seconds is the time of the
  first load right after start (a 0 there reads as "last reload 56 years ago");
- both mailgate_config_reloads_total{result="ok"} and {result="error"} exist
  from start at 0, so `increase(...{result="error"}[15m])` sees the first failed
  reload as 0 -> 1 (a series that first appears at 1 has no increase at all).
"""
import copy
import re
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
