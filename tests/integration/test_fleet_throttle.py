"""Failed-login throttling across a fleet of replicas (issue 13 items 2 and 5,
docs/architecture.md §2.6): three mailgate processes share one real
redis-server (cluster.redis) in front of the harness Dovecot.

- A guesser spread round-robin over the three is refused at the same total
  as against one process: with max_failed_logins_per_ip = N, the (N+1)th
  login fails even with the right password, and Dovecot never sees it.
- A right password after a few failures, under the limit, logs in.
- Redis stopped mid-run: logins go on with each process's own counts, the
  fallback is counted (mailgate_cluster_fallbacks_total{what="throttle"})
  and logged once per change of state, not per login; Redis restarted: the
  fleet's counts are used again.
- The latency a fleet count adds to a successful login is measured and
  printed (median of 50 logins with and without cluster.redis), not asserted.

Every test logs in from its own loopback source address (127.0.x.y), so the
per-address counts (and Dovecot's own auth penalty, which sees the address
mailgate forwards with ID) start from zero.
"""
import base64
import copy
import itertools
import os
import re
import statistics
import time
import urllib.request

import pytest

from harness import USERS, RedisServer, only_listeners
from harness.clients import RawClient
from harness.util import free_port, wait_until

pytestmark = pytest.mark.skipif(not RedisServer.available(), reason="redis-server is not installed")

ALICE = "alice@example.com"
_sources = itertools.count(1)
_prefixes = itertools.count(1)


def fresh_source():
    n = next(_sources) + (os.getpid() % 200) * 50
    return "127.0.%d.%d" % (100 + (n // 250) % 150, 1 + n % 250)


@pytest.fixture
def redis(workroot):
    r = RedisServer(os.path.join(workroot, "redis-%d" % next(_prefixes)))
    r.start()
    yield r
    r.stop()


def fleet_config(make_config, redis=None, per_ip=0, per_user=0, prefix=None):
    cfg = make_config()
    only_listeners(cfg, "imaps")
    cfg["workers"] = 2
    cfg["limits"].update({"max_failed_logins_per_ip": per_ip, "max_failed_logins_per_user": per_user,
                          "failed_login_window_s": 300,
                          # the contract is "delayed", not how long: keep the test short
                          "auth_failure_delay_ms": 1, "auth_failure_delay_max_ms": 20})
    if redis is not None:
        cfg["cluster"] = {"redis": {"address": redis.address,
                                    "key_prefix": prefix or "fleet%d-%d:" % (os.getpid(), next(_prefixes)),
                                    "command_timeout_ms": 250}}
    return cfg


def start_fleet(mailgate_factory, cfg, n=3):
    """`n` processes of one config, each on its own ports."""
    return [mailgate_factory(config=_with_fresh_ports(copy.deepcopy(cfg))) for _ in range(n)]


def _with_fresh_ports(cfg):
    for entry in cfg["listeners"]:
        host = entry["address"].rsplit(":", 1)[0]
        entry["address"] = "%s:%d" % (host, free_port(host))
    cfg["admin"]["address"] = "127.0.0.1:%d" % free_port()
    return cfg


def login(mg, certs, source, user, password):
    """One connection, one LOGIN: (ok, seconds from LOGIN to its answer)."""
    with RawClient.connect(mg, "imaps", certs, timeout=30, source=source) as c:
        c.readline()  # greeting
        started = time.monotonic()
        c.send(("a LOGIN \"%s\" \"%s\"\r\n" % (user, password)).encode())
        while True:
            line = c.readline()
            if line.startswith(b"a "):
                break
        took = time.monotonic() - started
        ok = line.startswith(b"a OK")
        if ok:
            c.send(b"b LOGOUT\r\n")
        return ok, took


def metric(mg, name, **labels):
    with urllib.request.urlopen(mg.admin_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^%s\{([^}]*)\} (\S+)$" % re.escape(name), line)
        if not m:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def guess_round_robin(mgs, certs, source, user, count, start=0):
    for i in range(count):
        ok, _ = login(mgs[(start + i) % len(mgs)], certs, source, user, "wrong-%d" % i)
        assert not ok


# --- the limit is the fleet's ------------------------------------------------

def test_the_fleet_refuses_the_guess_after_the_limit_as_one_process_does(
        mailgate_factory, make_config, redis, certs, dovecot):
    n = 4
    user, pw = ALICE, USERS[ALICE]
    totals = {}
    for what, mgs in (("one process", start_fleet(mailgate_factory, fleet_config(make_config, per_ip=n), 1)),
                      ("three replicas", start_fleet(mailgate_factory,
                                                     fleet_config(make_config, redis, per_ip=n), 3))):
        source = fresh_source()
        # N wrong passwords, spread round-robin: each is a real failure.
        guess_round_robin(mgs, certs, source, user, n)
        # The (N+1)th attempt fails wherever it lands, the right password too.
        refused = [not login(mg, certs, source, user, pw)[0] for mg in mgs]
        assert all(refused), (what, refused)
        assert sum(metric(mg, "mailgate_logins_total", result="throttled") for mg in mgs) == len(mgs)
        assert sum(metric(mg, "mailgate_logins_total", result="auth_failed") for mg in mgs) == n
        assert any("result=throttled" in mg.log_text() for mg in mgs)
        # Another address is not affected.
        assert login(mgs[0], certs, fresh_source(), user, pw)[0], what
        totals[what] = n
    assert totals["one process"] == totals["three replicas"]
    for mg in mgs:
        assert metric(mg, "mailgate_cluster_fallbacks_total") == 0
        # The series exist at 0 from the start (a rate() sees the first one).
        assert 'mailgate_cluster_fallbacks_total{reason="down",what="throttle"} 0' in \
            urllib.request.urlopen(mg.admin_url + "/metrics", timeout=10).read().decode()


def test_without_redis_each_replica_counts_alone(mailgate_factory, make_config, certs, dovecot):
    # The contrast: the same guesser against three processes without
    # cluster.redis gets N guesses per process.
    n = 2
    mgs = start_fleet(mailgate_factory, fleet_config(make_config, per_ip=n), 3)
    source = fresh_source()
    guess_round_robin(mgs, certs, source, ALICE, n)
    assert login(mgs[2], certs, source, ALICE, USERS[ALICE])[0]


def test_the_right_password_after_a_few_failures_logs_in(mailgate_factory, make_config, redis, certs, dovecot):
    n = 5
    mgs = start_fleet(mailgate_factory, fleet_config(make_config, redis, per_ip=n, per_user=n), 3)
    source = fresh_source()
    guess_round_robin(mgs, certs, source, ALICE, n - 1)
    ok, _ = login(mgs[(n - 1) % 3], certs, source, ALICE, USERS[ALICE])
    assert ok
    assert sum(metric(mg, "mailgate_logins_total", result="throttled") for mg in mgs) == 0


def pop3_login(mg, certs, source, user, password):
    with RawClient.connect(mg, "pop3s", certs, timeout=30, source=source) as c:
        assert c.readline().startswith(b"+OK")
        c.send(("USER %s\r\n" % user).encode())
        assert c.readline().startswith(b"+OK")
        c.send(("PASS %s\r\n" % password).encode())
        return c.readline()


def smtp_login(mg, certs, source, user, password):
    with RawClient.connect(mg, "submissions", certs, timeout=30, source=source) as c:
        assert c.readline().startswith(b"220")
        c.send(b"EHLO client.test\r\n")
        while not c.readline().startswith(b"250 "):
            pass
        token = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        c.send(("AUTH PLAIN %s\r\n" % token).encode())
        return c.readline()


def test_the_address_limit_holds_across_protocols_and_replicas(
        mailgate_factory, make_config, redis, certs, dovecot):
    # The counts are per address and per user, whatever the protocol: IMAP
    # guesses on one replica throttle POP3 and SMTP logins on the others,
    # each with its protocol's usual wrong-password answer.
    n = 2
    cfg = fleet_config(make_config, redis, per_ip=n)
    full = make_config()
    cfg["listeners"] += [l for l in full["listeners"] if l["name"] in ("pop3s", "submissions")]
    mgs = start_fleet(mailgate_factory, cfg, 3)
    source = fresh_source()
    assert pop3_login(mgs[1], certs, source, ALICE, USERS[ALICE]).startswith(b"+OK")
    guess_round_robin(mgs[:1], certs, source, ALICE, n)
    assert pop3_login(mgs[1], certs, source, ALICE, USERS[ALICE]).startswith(b"-ERR [AUTH]")
    assert smtp_login(mgs[2], certs, source, ALICE, USERS[ALICE]).startswith(b"535")
    assert metric(mgs[1], "mailgate_logins_total", protocol="pop3", result="throttled") == 1
    assert metric(mgs[2], "mailgate_logins_total", protocol="smtp", result="throttled") == 1


# --- Redis down: local counts, the fallback reported; Redis back: the fleet again

def test_redis_down_falls_back_to_local_counts_and_recovers(
        mailgate_factory, make_config, redis, certs, dovecot):
    n = 3
    prefix = "fallback%d:" % os.getpid()
    mgs = start_fleet(mailgate_factory, fleet_config(make_config, redis, per_ip=n, prefix=prefix), 3)
    user, pw = ALICE, USERS[ALICE]
    source = fresh_source()
    for mg in mgs:
        assert login(mg, certs, source, user, pw)[0]
    assert sum(metric(mg, "mailgate_cluster_fallbacks_total") for mg in mgs) == 0

    redis.stop()
    # Logins go on: the right password works on every replica.
    for mg in mgs:
        assert login(mg, certs, source, user, pw)[0]
    # Counts are local now: N failures on replica 0 throttle replica 0 only.
    for i in range(n):
        assert not login(mgs[0], certs, source, user, "wrong-%d" % i)[0]
    assert not login(mgs[0], certs, source, user, pw)[0]
    assert login(mgs[1], certs, source, user, pw)[0]
    fallbacks = [metric(mg, "mailgate_cluster_fallbacks_total", what="throttle") for mg in mgs]
    assert all(f > 0 for f in fallbacks), fallbacks
    assert metric(mgs[0], "mailgate_cluster_fallbacks_total", what="throttle", reason="down") > 0
    # One log line per change of state and worker, not one per login.
    lines = mgs[0].log_text().count("event=cluster_fallback ")
    assert 1 <= lines <= 2 * 2, mgs[0].log_text()[-3000:]
    assert fallbacks[0] > lines

    redis.start()  # the same port, empty (no persistence)
    for mg in mgs:
        wait_until(lambda: mg.log_text().count("event=redis_link_up") >= 4, timeout=15,
                   what="every worker's link up again")
    # Fleet counts again: replica 0's local failures do not count, a new
    # failure is in Redis, and the fallback metric stops rising.
    assert login(mgs[0], certs, source, user, pw)[0]
    before = [metric(mg, "mailgate_cluster_fallbacks_total") for mg in mgs]
    guess_round_robin(mgs, certs, source, user, n)
    assert int(redis.command("GET", prefix + "fail:addr:" + source)) == n
    assert all(not login(mg, certs, source, user, pw)[0] for mg in mgs)
    assert [metric(mg, "mailgate_cluster_fallbacks_total") for mg in mgs] == before
    assert "event=cluster_fallback_over" in mgs[0].log_text()


# --- what a fleet count costs a successful login -------------------------------

def test_login_latency_with_and_without_redis(mailgate_factory, make_config, redis, certs, dovecot, capsys):
    # Both processes run at once and take turns, so drift in Dovecot's or
    # the machine's speed falls on both alike.
    rounds = 50
    kinds = ("without cluster.redis", "with cluster.redis")
    mgs = {kinds[0]: start_fleet(mailgate_factory, fleet_config(make_config, per_ip=1000, per_user=1000), 1)[0],
           kinds[1]: start_fleet(mailgate_factory,
                                 fleet_config(make_config, redis, per_ip=1000, per_user=1000), 1)[0]}
    source = fresh_source()
    times = {k: [] for k in kinds}
    for k in kinds:
        assert login(mgs[k], certs, source, ALICE, USERS[ALICE])[0]  # warm up (the link, Dovecot's auth)
    for _ in range(rounds):
        for k in kinds:
            ok, took = login(mgs[k], certs, source, ALICE, USERS[ALICE])
            assert ok
            times[k].append(took)
    assert metric(mgs[kinds[1]], "mailgate_cluster_fallbacks_total") == 0, "not measured against Redis"
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    with capsys.disabled():
        print("\nlogin latency, median of %d successful IMAP logins (LOGIN to its OK, one MGET "
              "before routing): without cluster.redis %.2f ms, with %.2f ms, added %.2f ms"
              % (rounds, med[kinds[0]], med[kinds[1]], med[kinds[1]] - med[kinds[0]]))
