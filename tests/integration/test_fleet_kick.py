"""Kicking a user off the fleet (issue 13 item 4, docs/architecture.md §2.6):
three mailgate processes share one real redis-server (cluster.redis) in front
of the harness Dovecot.

- `mailgate kick --config FILE USER` on one replica's config: an IMAP client
  in IDLE for that user on each replica gets `* BYE` within about a second
  and its connection closes; another user's session stays up; the kicked
  user can log in again afterwards.
- POST /kick on the admin listener (admin.kick_token_file): 401 without the
  bearer token or with a wrong one, 200 with it, and the user's session ends.
"""
import copy
import itertools
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import RedisServer, only_listeners
from harness.clients import RawClient
from harness.util import free_port, mailgate_binary, wait_until

pytestmark = pytest.mark.skipif(not RedisServer.available(), reason="redis-server is not installed")

_ids = itertools.count(1)


@pytest.fixture
def redis(workroot):
    r = RedisServer(os.path.join(workroot, "redis-kick-%d" % next(_ids)))
    r.start()
    yield r
    r.stop()


def fleet(mailgate_factory, make_config, redis, n=3, token_file=None):
    cfg = make_config()
    only_listeners(cfg, "imaps")
    cfg["cluster"] = {"redis": {"address": redis.address,
                                "key_prefix": "kick%d-%d:" % (os.getpid(), next(_ids))}}
    if token_file:
        cfg["admin"]["kick_token_file"] = token_file
    out = []
    for _ in range(n):
        c = copy.deepcopy(cfg)
        for entry in c["listeners"]:
            host = entry["address"].rsplit(":", 1)[0]
            entry["address"] = "%s:%d" % (host, free_port(host))
        c["admin"]["address"] = "127.0.0.1:%d" % free_port()
        out.append(mailgate_factory(config=c))
    # Each worker subscribes on its own link: wait until every replica's
    # workers (2 each) listen on the channel before kicking.
    channel = cfg["cluster"]["redis"]["key_prefix"] + "kick"
    wait_until(lambda: _subscribers(redis, channel) >= 2 * n, timeout=10)
    return out


def _subscribers(redis, channel):
    reply = redis.command("PUBSUB", "NUMSUB", channel)
    return int(reply[1])


def idle(mg, user, password):
    c = RawClient.connect(mg, "imaps", timeout=10)
    c.readline()  # greeting
    c.send('a LOGIN "%s" "%s"\r\n' % (user, password))
    assert c.read_tagged("a")[-1].startswith(b"a OK"), user
    c.send("b SELECT INBOX\r\n")
    assert c.read_tagged("b")[-1].startswith(b"b OK")
    c.send("c IDLE\r\n")
    assert c.read_until(lambda l: l.startswith(b"+"))[-1].startswith(b"+ idling")
    return c


def assert_kicked(c, within=1.5):
    c.sock.settimeout(within)
    start = time.monotonic()
    lines = c.read_until(lambda l: l.startswith(b"* BYE"))
    assert time.monotonic() - start < within, lines
    with pytest.raises(EOFError):
        while True:
            c.readline()


def assert_still_up(c):
    assert c.read_available(wait=0.3) == b""
    c.send("DONE\r\n")
    assert c.read_tagged("c")[-1].startswith(b"c OK")
    c.send("d NOOP\r\n")
    assert c.read_tagged("d")[-1].startswith(b"d OK")


def test_kick_command_ends_the_users_sessions_on_every_replica(mailgate_factory, make_config, redis, new_user):
    replicas = fleet(mailgate_factory, make_config, redis)
    victim, vpw = new_user(prefix="kicked")
    other, opw = new_user(prefix="kept")
    idlers = [idle(mg, victim, vpw) for mg in replicas]
    bystander = idle(replicas[0], other, opw)

    # Another case than the login: the compare is case-insensitive.
    out = subprocess.run([mailgate_binary(), "kick", "--config", replicas[1].config_path, victim.upper()],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    for c in idlers:
        assert_kicked(c)
        c.close()
    for mg in replicas:
        mg.wait_for_log("event=session_kicked", timeout=5)
        assert "session_kicked" in mg.log_text() and victim in mg.log_text()
        metrics = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
        assert "mailgate_kicked_sessions_total 1" in metrics, metrics

    assert_still_up(bystander)
    bystander.close()
    # Kicked is not banned: a new login works.
    again = idle(replicas[2], victim, vpw)
    assert_still_up(again)
    again.close()


def test_admin_kick_endpoint(mailgate_factory, make_config, redis, new_user, workroot):
    token_file = os.path.join(workroot, "kick-token-%d" % next(_ids))
    with open(token_file, "w") as f:
        f.write("t0ken-%d\n" % os.getpid())
    token = "t0ken-%d" % os.getpid()
    replicas = fleet(mailgate_factory, make_config, redis, n=2, token_file=token_file)
    victim, vpw = new_user(prefix="kicked")
    idlers = [idle(mg, victim, vpw) for mg in replicas]

    def post(headers):
        req = urllib.request.Request(replicas[0].admin_url + "/kick?user=" + victim, method="POST",
                                     headers=headers, data=b"")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert post({}) == 401
    assert post({"Authorization": "Bearer wrong"}) == 401
    for c in idlers:
        assert c.read_available(wait=0.2) == b""
    assert post({"Authorization": "Bearer " + token}) == 200
    for c in idlers:  # this replica's and, through Redis, the other's
        assert_kicked(c)
        c.close()


def test_admin_kick_is_off_by_default(mailgate_factory, make_config):
    cfg = make_config()
    only_listeners(cfg, "imaps")
    mg = mailgate_factory(config=cfg)
    req = urllib.request.Request(mg.admin_url + "/kick?user=x", method="POST", data=b"",
                                 headers={"Authorization": "Bearer x"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 404
