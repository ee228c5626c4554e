"""The bridge's (user, device) lock across a fleet (issue 13 items 3 and 5,
docs/architecture.md §2.6): a Redis lease with an owner token and a TTL.

- A second POP3 session of one device on another replica gets [IN-USE];
  once the first QUITs, the device logs in there.
- A replica killed while holding the lease loses it after the TTL.
- Redis stopped: hide listeners go on with this process's lock alone (the
  fallback is counted); expunge listeners refuse with a temporary error
  rather than risk a double commit. Redis back: leases again.

    /usr/bin/python3 -m pytest tests/integration/test_fleet_bridge_lease.py -q
"""
import copy
import itertools
import os
import time
import urllib.request

import pytest

from harness import RedisServer, only_listeners
from harness.clients import RawClient
from harness.config import listener
from harness.util import free_port, wait_until

pytestmark = pytest.mark.skipif(not RedisServer.available(), reason="redis-server is not installed")

BRIDGE = "pop3s-bridge"
_ids = itertools.count(1)


@pytest.fixture
def redis(workroot):
    r = RedisServer(os.path.join(workroot, "redis-lease-%d" % next(_ids)))
    r.start()
    yield r
    r.stop()


def fleet(mailgate_factory, make_config, redis, n=2, on_delete="hide"):
    cfg = make_config()
    only_listeners(cfg, BRIDGE)
    listener(cfg, BRIDGE)["bridge"] = {"on_delete": on_delete}
    cfg["cluster"] = {"redis": {"address": redis.address, "key_prefix": "lease%d-%d:" % (os.getpid(), next(_ids)),
                                "command_timeout_ms": 250},
                      "bridge_lease_ttl_s": 5}
    out = []
    for _ in range(n):
        c = copy.deepcopy(cfg)
        for entry in c["listeners"]:
            entry["address"] = "127.0.0.1:%d" % free_port()
        c["admin"]["address"] = "127.0.0.1:%d" % free_port()
        out.append(mailgate_factory(config=c))
    for mg in out:  # every worker's link
        wait_until(lambda: mg.log_text().count("event=redis_link_up") >= cfg["workers"],
                   timeout=10, what="the Redis links up")
    return out


def login(mg, certs, user, password):
    c = RawClient.connect(mg, BRIDGE, certs, timeout=20)
    assert c.readline().startswith(b"+OK")
    c.send("USER %s\r\nPASS %s\r\n" % (user, password))
    assert c.readline().startswith(b"+OK")
    return c, c.readline()


def quit_(c):
    c.send("QUIT\r\n")
    assert c.readline().startswith(b"+OK")
    c.close()


def fallbacks(mg):
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("mailgate_cluster_fallbacks_total{") and 'what="bridge_lease"' in l)


def test_a_device_in_use_on_one_replica_is_in_use_on_another(mailgate_factory, make_config, redis, certs,
                                                             new_user):
    a, b = fleet(mailgate_factory, make_config, redis)
    user, pw = new_user([b"Subject: one\r\n\r\nx\r\n"])
    first, answer = login(a, certs, user + "#phone", pw)
    assert answer.startswith(b"+OK"), answer
    second, answer = login(b, certs, user + "#phone", pw)
    assert answer.startswith(b"-ERR [IN-USE]"), answer
    second.close()
    # Another device of the same user is not locked out.
    other, answer = login(b, certs, user + "#laptop", pw)
    assert answer.startswith(b"+OK"), answer
    quit_(other)
    quit_(first)
    again, answer = login(b, certs, user + "#phone", pw)
    assert answer.startswith(b"+OK"), answer
    quit_(again)


def test_a_replica_that_dies_holding_the_lease_loses_it_after_the_ttl(mailgate_factory, make_config, redis,
                                                                      certs, new_user):
    a, b = fleet(mailgate_factory, make_config, redis)
    user, pw = new_user([b"Subject: one\r\n\r\nx\r\n"])
    held, answer = login(a, certs, user, pw)
    assert answer.startswith(b"+OK"), answer
    a.kill()  # SIGKILL: no release, the lease stays in Redis until its TTL
    held.close()
    refused, answer = login(b, certs, user, pw)
    assert answer.startswith(b"-ERR [IN-USE]"), answer
    refused.close()
    killed_at = time.monotonic()

    def logs_in():
        c, answer = login(b, certs, user, pw)
        if answer.startswith(b"+OK"):
            quit_(c)
            return True
        c.close()
        return False
    wait_until(logs_in, timeout=15, interval=0.5, what="the lease expired")
    assert time.monotonic() - killed_at < 10


def test_redis_down_hide_goes_on_with_the_local_lock(mailgate_factory, make_config, redis, certs, new_user):
    (mg,) = fleet(mailgate_factory, make_config, redis, n=1)
    user, pw = new_user([b"Subject: one\r\n\r\nx\r\n"])
    redis.stop()
    before = fallbacks(mg)
    c, answer = login(mg, certs, user, pw)
    assert answer.startswith(b"+OK"), answer
    # The process's own lock still holds within this replica.
    d, answer2 = login(mg, certs, user, pw)
    assert answer2.startswith(b"-ERR [IN-USE]"), answer2
    d.close()
    quit_(c)
    assert fallbacks(mg) > before
    assert "event=bridge_lease_fallback" in mg.log_text()
    redis.start()
    wait_until(lambda: mg.log_text().split("event=bridge_lease_fallback")[-1].count("event=redis_link_up") >= 2,
               timeout=15, what="the Redis links back")
    after = fallbacks(mg)
    c, answer = login(mg, certs, user, pw)
    assert answer.startswith(b"+OK"), answer
    quit_(c)
    assert fallbacks(mg) == after, "with Redis back the lease is taken in Redis again"


def test_redis_down_expunge_refuses_with_a_temporary_error(mailgate_factory, make_config, redis, certs,
                                                           new_user):
    (mg,) = fleet(mailgate_factory, make_config, redis, n=1, on_delete="expunge")
    user, pw = new_user([b"Subject: one\r\n\r\nx\r\n"])
    redis.stop()
    c, answer = login(mg, certs, user, pw)
    assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
    c.close()
