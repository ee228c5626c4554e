"""Pools with two real Dovecot members (docs/architecture.md §2.2): users spread by
consistent hashing and stay put; a stopped member's users fail over to the
other one (passively at once, or by the active check), mailgate_backend_up
follows, and a restarted member takes its users back. A black-holed member
(connect times out) costs one timeout at most once with passive marking.
A pool with no healthy member answers the temporary error at once.

Each member holds a marker message per user ("Subject: member A/B"), so a
client sees which member served it. Measured times are printed (-s shows).
"""
import os
import re
import socket
import threading
import time
import urllib.request

import pytest

from harness import Dovecot, free_port, only_listeners, wait_until
from harness.util import port_open
from harness.clients import RawClient, imap_client, pop3_client

POOL_USERS = {"pool%02d@example.com" % i: "pool-pw-%d" % i for i in range(16)}


def _member(workroot, name):
    d = Dovecot(os.path.join(workroot, "pool-" + name), users=dict(POOL_USERS),
                imap_port=free_port(), pop3_port=free_port(),
                submission_port=free_port(), sink_port=free_port())
    d.start()
    for user in POOL_USERS:
        d.add_message(user, ("From: a@example.org\r\nSubject: member %s\r\n\r\nhi\r\n" % name).encode())
    d.name = name
    return d


@pytest.fixture(scope="module")
def members(workroot):
    a, b = _member(workroot, "A"), _member(workroot, "B")
    yield {"A": a, "B": b}
    for d in (a, b):
        d.stop()
        d.cleanup()


def pool_config(make_config, members, interval_s=1, timeout_ms=500, connect_timeout_ms=2000,
                servers=None):
    cfg = make_config()
    only_listeners(cfg, "imaps", "pop3s")
    cfg["pools"]["local"]["servers"] = servers or [
        {"host": "127.0.0.1", "imap": d.imap_port, "pop3": d.pop3_port, "smtp": d.submission_port}
        for d in members.values()]
    cfg["pools"]["local"]["health"] = {"interval_s": interval_s, "timeout_ms": timeout_ms}
    cfg["limits"]["backend_connect_timeout_ms"] = connect_timeout_ms
    return cfg


def served_by(mg, certs, user):
    """Log in over IMAP through mailgate; the member's name, and seconds taken."""
    t0 = time.monotonic()
    c = imap_client(mg, "imaps", certs)
    try:
        c.login(user, POOL_USERS[user])
        elapsed = time.monotonic() - t0
        c.select("INBOX", readonly=True)
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subject = data[0][1].decode()
        c.logout()
    finally:
        try:
            c.shutdown()
        except Exception:
            pass
    m = re.search(r"member (\w)", subject)
    assert m, subject
    return m.group(1), elapsed


def backend_up(mg, port):
    """mailgate_backend_up for 127.0.0.1:port in pool local: 1, 0 or None."""
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith("mailgate_backend_up{") and 'backend="127.0.0.1:%d"' % port in line \
                and 'pool="local"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


def login_imap_raw(mg, certs, user, password):
    """The tagged answer to LOGIN, and seconds from sending it."""
    with RawClient.connect(mg, "imaps", certs, timeout=20) as r:
        r.readline()
        t0 = time.monotonic()
        r.send(b"a LOGIN %s %s\r\n" % (user.encode(), password.encode()))
        answer = r.read_tagged("a")[-1]
        return answer, time.monotonic() - t0


def test_users_spread_and_stay(mailgate_factory, make_config, members, certs):
    mg = mailgate_factory(pool_config(make_config, members))
    first = {u: served_by(mg, certs, u)[0] for u in POOL_USERS}
    assert set(first.values()) == {"A", "B"}, first
    for u in POOL_USERS:
        assert served_by(mg, certs, u)[0] == first[u], u
    # POP3 is spread by the same ring over the members' POP3 ports, and a
    # user lands on one member for good (the marker is one message either way).
    for u in list(POOL_USERS)[:4]:
        p = pop3_client(mg, "pop3s", certs)
        p.user(u)
        p.pass_(POOL_USERS[u])
        assert p.stat()[0] == 1
        p.quit()
    wait_until(lambda: backend_up(mg, members["A"].imap_port) == 1, what="metric A up")
    assert backend_up(mg, members["B"].imap_port) == 1
    assert backend_up(mg, members["B"].pop3_port) == 1


def _failover_round(mg, certs, members, victim_name, passive):
    victim = members[victim_name]
    survivor_name = "B" if victim_name == "A" else "A"
    placement = {u: served_by(mg, certs, u)[0] for u in POOL_USERS}
    victims = [u for u, m in placement.items() if m == victim_name]
    others = [u for u, m in placement.items() if m != victim_name]
    assert victims and others
    wait_until(lambda: backend_up(mg, victim.imap_port) == 1, what="victim up")

    # Stop in the background and note when the port stops accepting: that is
    # when the member is really gone (Dovecot takes a second or more to exit).
    t_stop = time.monotonic()
    stopper = threading.Thread(target=victim.stop)
    stopper.start()
    wait_until(lambda: not port_open(victim.imap_port, timeout=0.2), timeout=15, interval=0.05,
               what="member port closed")
    t_closed = time.monotonic()
    if not passive:
        wait_until(lambda: backend_up(mg, victim.imap_port) == 0, timeout=10, interval=0.02,
                   what="active check marks the member down")
        t_detected = time.monotonic()
    stopper.join()
    result = {"stop_s": time.monotonic() - t_stop, "port_closed_after_s": t_closed - t_stop}
    if passive:
        # Checks are an hour apart: only the failed connect can mark it down.
        assert backend_up(mg, victim.imap_port) == 1
        who, first = served_by(mg, certs, victims[0])
        assert who == survivor_name
        result["first_login_after_stop_s"] = first
        # Marked down at once by that session.
        assert backend_up(mg, victim.imap_port) == 0
    else:
        result["active_detect_after_port_closed_s"] = t_detected - t_closed
        who, first = served_by(mg, certs, victims[0])
        assert who == survivor_name
        result["first_login_after_detect_s"] = first
    times = []
    for u in victims:
        who, t = served_by(mg, certs, u)
        assert who == survivor_name, u
        times.append(t)
    result["victim_users_login_max_s"] = max(times)
    for u in others:
        assert served_by(mg, certs, u)[0] == placement[u], u  # nobody else moved

    # Back: the member is re-checked every second while down.
    victim.start()
    t0 = time.monotonic()
    wait_until(lambda: backend_up(mg, victim.imap_port) == 1, timeout=15, interval=0.05,
               what="member back up") if not passive else None
    if not passive:
        result["recovery_after_restart_s"] = time.monotonic() - t0
    else:
        # Passive-only config: the one-second re-check of a down member still
        # runs (it was marked down), so it comes back without any login.
        wait_until(lambda: backend_up(mg, victim.imap_port) == 1, timeout=15, interval=0.05,
                   what="member back up (re-check of a down member)")
        result["recovery_after_restart_s"] = time.monotonic() - t0
    for u in victims:
        assert served_by(mg, certs, u)[0] == victim_name, u
    return result


def test_failover_passive_marking(mailgate_factory, make_config, members, certs):
    mg = mailgate_factory(pool_config(make_config, members, interval_s=3600))
    r = _failover_round(mg, certs, members, "A", passive=True)
    print("\nfailover (member stopped, passive marking):", r)
    assert r["first_login_after_stop_s"] < 1.0
    assert r["victim_users_login_max_s"] < 1.0


def test_failover_active_checks(mailgate_factory, make_config, members, certs):
    mg = mailgate_factory(pool_config(make_config, members, interval_s=1, timeout_ms=500))
    r = _failover_round(mg, certs, members, "B", passive=False)
    print("\nfailover (member stopped, active checks every 1 s):", r)
    # One interval (1 s) plus a tick, at most.
    assert r["active_detect_after_port_closed_s"] < 1.5
    assert r["victim_users_login_max_s"] < 1.5  # no connect timeout was waited for
    assert r["recovery_after_restart_s"] < 5


class BlackHole:
    """A listener whose accept queue is full: further SYNs are dropped, so a
    connect neither succeeds nor fails until the client gives up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(s)
        time.sleep(0.2)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", self.port))
            self.works = False
        except (socket.timeout, OSError):
            self.works = True
        finally:
            probe.close()

    def close(self):
        for s in self.fillers:
            s.close()
        self.sock.close()


def test_black_holed_member(mailgate_factory, make_config, members, certs):
    hole = BlackHole()
    try:
        if not hole.works:
            pytest.skip("cannot make a black-holed loopback port here")
        live = members["A"] if members["A"].running else members["B"]
        servers = [{"host": "127.0.0.1", "imap": hole.port},
                   {"host": "127.0.0.1", "imap": live.imap_port, "pop3": live.pop3_port}]
        # Passive only: the first user of the hole waits one connect timeout,
        # later ones do not wait at all.
        mg = mailgate_factory(pool_config(make_config, members, interval_s=3600,
                                          connect_timeout_ms=1000, servers=servers))
        # Find users whose first choice is the hole: they are the ones that
        # take a timeout (or, after marking, none).
        timings = []
        for u in POOL_USERS:
            answer, t = login_imap_raw(mg, certs, u, POOL_USERS[u])
            assert answer.startswith(b"a OK"), answer
            timings.append((u, t))
        slow = [(u, t) for u, t in timings if t > 0.8]
        print("\nblack hole, passive marking: logins slower than 0.8 s:", slow,
              "max of the rest: %.3f s" % max(t for u, t in timings if t <= 0.8))
        assert len(slow) == 1, timings  # only the first user sent to the hole
        assert backend_up(mg, hole.port) == 0
        mg.stop()

        # Active checks only matter here: the hole is marked down before any
        # user arrives (timeout_ms 300, re-checked every second while down).
        mg2 = mailgate_factory(pool_config(make_config, members, interval_s=1, timeout_ms=300,
                                           connect_timeout_ms=1000, servers=servers))
        t0 = time.monotonic()
        wait_until(lambda: backend_up(mg2, hole.port) == 0, timeout=5, interval=0.02,
                   what="hole marked down by the active check")
        print("black hole, active check: marked down %.3f s after start" % (time.monotonic() - t0))
        for u in POOL_USERS:
            answer, t = login_imap_raw(mg2, certs, u, POOL_USERS[u])
            assert answer.startswith(b"a OK") and t < 0.8, (u, answer, t)
    finally:
        hole.close()


def test_all_members_down_is_temporary_at_once(mailgate_factory, make_config, members, certs):
    hole = BlackHole()
    try:
        if not hole.works:
            pytest.skip("cannot make a black-holed loopback port here")
        dead = free_port()
        servers = [{"host": "127.0.0.1", "imap": hole.port, "pop3": dead}]
        mg = mailgate_factory(pool_config(make_config, members, interval_s=1, timeout_ms=300,
                                          connect_timeout_ms=3000, servers=servers))
        wait_until(lambda: backend_up(mg, hole.port) == 0, timeout=5, what="hole down")
        user = next(iter(POOL_USERS))
        answer, t = login_imap_raw(mg, certs, user, POOL_USERS[user])
        assert answer.startswith(b"a NO [UNAVAILABLE]"), answer
        print("\nall members down: IMAP temporary error after %.3f s "
              "(connect timeout is 3 s)" % t)
        # Well under the connect timeout: no connect was even tried.
        assert t < 1.0
        wait_until(lambda: backend_up(mg, dead) == 0, timeout=5, what="pop3 member down")
        with RawClient.connect(mg, "pop3s", certs) as r:
            r.readline()
            r.send(b"USER %s\r\n" % user.encode())
            r.readline()
            t0 = time.monotonic()
            r.send(b"PASS %s\r\n" % POOL_USERS[user].encode())
            line = r.readline()
            assert line.startswith(b"-ERR [SYS/TEMP]"), line
            assert time.monotonic() - t0 < 1.0
    finally:
        hole.close()
