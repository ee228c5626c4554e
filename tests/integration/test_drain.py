"""SIGTERM drain (docs/architecture.md §2.4): stop accepting at once, /readyz 503 while
/healthz stays 200 until exit, sessions may finish on their own up to
drain_timeout_s, then the rest get a protocol goodbye (* BYE, -ERR, 421) and
are closed; the process exits 0. A second SIGTERM ends the wait."""
import base64
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness.clients import RawClient


def http_status(url):
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except urllib.error.HTTPError as e:
        return e.code


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def open_session(kind, mg, certs, user, password):
    """A logged-in (or, for imap-prelogin, just greeted) session through mailgate.
    Returns (client, expected goodbye prefix)."""
    if kind in ("imap", "imap-prelogin"):
        r = RawClient.connect(mg, "imaps", certs, timeout=20)
        assert r.readline().startswith(b"* OK")
        if kind == "imap":
            r.send("a LOGIN %s %s\r\n" % (user, password))
            assert r.read_tagged("a")[-1].startswith(b"a OK")
            r.send(b"b SELECT INBOX\r\n")
            assert r.read_tagged("b")[-1].startswith(b"b OK")
        return r, b"* BYE"
    if kind in ("pop3", "pop3-bridge"):
        r = RawClient.connect(mg, "pop3s" if kind == "pop3" else "pop3s-bridge", certs, timeout=20)
        assert r.readline().startswith(b"+OK")
        r.send("USER %s\r\n" % user)
        assert r.readline().startswith(b"+OK")
        r.send("PASS %s\r\n" % password)
        assert r.readline().startswith(b"+OK")
        return r, b"-ERR"
    if kind == "smtp":
        r = RawClient.connect(mg, "submissions", certs, timeout=20)
        assert r.read_smtp_reply()[-1].startswith(b"220")
        r.send(b"EHLO client.test\r\n")
        assert r.read_smtp_reply()[-1].startswith(b"250")
        token = base64.b64encode(b"\0%s\0%s" % (user.encode(), password.encode())).decode()
        r.send("AUTH PLAIN %s\r\n" % token)
        assert r.read_smtp_reply()[-1].startswith(b"235")
        return r, b"421"
    raise ValueError(kind)


def read_to_eof(r):
    """Everything the server sends until it closes (EOF or TLS close)."""
    data = r.buf
    r.buf = b""
    while True:
        try:
            chunk = r.sock.recv(65536)
        except (ConnectionResetError, OSError) as e:
            if isinstance(e, socket.timeout):
                raise
            break
        if not chunk:
            break
        data += chunk
    return data


def drain_config(timeout_s):
    def modify(cfg):
        cfg["drain_timeout_s"] = timeout_s
    return modify


def test_session_that_finishes_on_its_own(mailgate_factory, certs, new_user):
    user, password = new_user(prefix="drain")
    mg = mailgate_factory(modify=drain_config(20))
    r, _ = open_session("imap", mg, certs, user, password)
    ports = [mg.port(entry["name"]) for entry in mg.config["listeners"]]
    assert http_status(mg.admin_url + "/readyz") == 200

    mg.signal(signal.SIGTERM)
    t0 = time.monotonic()
    # Not ready at once, still alive.
    while http_status(mg.admin_url + "/readyz") != 503:
        assert time.monotonic() - t0 < 0.5, "readyz still 200 after SIGTERM"
        time.sleep(0.02)
    assert http_status(mg.admin_url + "/healthz") == 200
    time.sleep(0.2)
    for port in ports:
        assert refused(port), "port %d still accepts while draining" % port
    metrics = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=2).read().decode()
    assert "\nmailgate_draining 1" in metrics

    # /healthz stays 200 for as long as the process lives.
    health = []
    stop = threading.Event()

    def poll():
        while not stop.is_set() and mg.proc.poll() is None:
            try:
                health.append(http_status(mg.admin_url + "/healthz"))
            except OSError:
                break  # the admin listener is gone with the process
            time.sleep(0.05)
    t = threading.Thread(target=poll)
    t.start()

    # The session keeps working meanwhile, then ends by itself.
    time.sleep(1.0)
    r.send(b"c NOOP\r\n")
    assert r.read_tagged("c")[-1].startswith(b"c OK")
    assert mg.proc.poll() is None
    r.send(b"d LOGOUT\r\n")
    assert r.read_tagged("d")[-1].startswith(b"d OK")
    t_done = time.monotonic()
    code = mg.wait_exit(timeout=10)
    t_exit = time.monotonic()
    stop.set()
    t.join()
    assert code == 0
    assert t_exit - t_done < 1.5, "exit %.2fs after the last session ended" % (t_exit - t_done)
    assert health and set(health) == {200}, health
    log = mg.log_text()
    assert "event=draining" in log and "event=drain_deadline" not in log


@pytest.mark.parametrize("kind", ["imap", "imap-prelogin", "pop3", "pop3-bridge", "smtp"])
def test_deadline_sends_goodbye(mailgate_factory, certs, new_user, kind):
    user, password = new_user(prefix="drain")
    mg = mailgate_factory(modify=drain_config(2))
    r, goodbye = open_session(kind, mg, certs, user, password)
    mg.signal(signal.SIGTERM)
    t0 = time.monotonic()
    r.sock.settimeout(10)
    first = r.sock.recv(65536)  # nothing may arrive before the deadline
    t_bye = time.monotonic() - t0
    data = first + read_to_eof(r)
    assert data.startswith(goodbye), data
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1, data
    assert 1.8 <= t_bye <= 3.5, "goodbye after %.2fs (drain_timeout_s=2)" % t_bye
    assert mg.wait_exit(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert "event=drain_deadline" in mg.log_text()


def test_all_protocols_at_once_and_one_finishing(mailgate_factory, certs, new_user):
    user, password = new_user(prefix="drain")
    mg = mailgate_factory(modify=drain_config(3))
    open_ = [open_session(k, mg, certs, user, password) for k in ("imap", "pop3", "smtp")]
    quitter, _ = open_session("pop3", mg, certs, user, password)
    mg.signal(signal.SIGTERM)
    t0 = time.monotonic()
    time.sleep(0.5)
    quitter.send(b"QUIT\r\n")
    assert quitter.readline().startswith(b"+OK")
    assert read_to_eof(quitter) == b""
    for r, goodbye in open_:
        data = read_to_eof(r)
        assert data.startswith(goodbye), data
    assert 2.8 <= time.monotonic() - t0 <= 5
    assert mg.wait_exit(timeout=10) == 0


def test_second_sigterm_ends_the_wait(mailgate_factory, certs, new_user):
    user, password = new_user(prefix="drain")
    mg = mailgate_factory(modify=drain_config(120))
    r, goodbye = open_session("imap", mg, certs, user, password)
    mg.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert mg.proc.poll() is None
    t0 = time.monotonic()
    mg.signal(signal.SIGTERM)
    data = read_to_eof(r)
    assert data.startswith(goodbye), data
    assert mg.wait_exit(timeout=10) == 0
    assert time.monotonic() - t0 < 2.0
    assert "event=drain_interrupted" in mg.log_text()


def test_late_signals_while_exiting_do_not_kill(mailgate_factory, certs, new_user):
    """SIGTERM/SIGHUP storms during the final flush still end in exit status 0."""
    user, password = new_user(prefix="drain")
    mg = mailgate_factory(modify=drain_config(1))
    sessions = [open_session("imap", mg, certs, user, password) for _ in range(3)]
    mg.signal(signal.SIGTERM)
    deadline = time.monotonic() + 8
    while mg.proc.poll() is None and time.monotonic() < deadline:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                mg.signal(sig)
            except ProcessLookupError:
                break
        time.sleep(0.01)
    assert mg.wait_exit(timeout=10) == 0
    for r, goodbye in sessions:
        assert read_to_eof(r).startswith(goodbye)


def test_idle_sessions_get_bye_at_once_commands_in_flight_are_not_cut(mailgate_factory, certs, new_user):
    """Issue 11: a rollout must not wait the drain deadline for IMAP IDLE
    sessions (they never end by themselves): they get * BYE at once, also
    when they enter IDLE after the drain began; a session that is not in
    IDLE keeps running until the deadline."""
    user, password = new_user(prefix="drainidle")
    mg = mailgate_factory(modify=drain_config(20))
    idle, _ = open_session("imap", mg, certs, user, password)
    idle.send(b"c IDLE\r\n")
    assert idle.readline().startswith(b"+ ")
    busy, _ = open_session("imap", mg, certs, user, password)
    late, _ = open_session("imap", mg, certs, user, password)
    mg.signal(signal.SIGTERM)
    t0 = time.monotonic()
    idle.sock.settimeout(5)
    data = read_to_eof(idle)
    assert data.startswith(b"* BYE"), data
    assert time.monotonic() - t0 < 2.5, "IDLE got its goodbye only after %.2fs" % (time.monotonic() - t0)
    # A session that enters IDLE during the drain gets it within a sweep.
    time.sleep(0.3)
    late.send(b"d IDLE\r\n")
    assert late.readline().startswith(b"+ ")
    t1 = time.monotonic()
    late.sock.settimeout(5)
    assert read_to_eof(late).startswith(b"* BYE")
    assert time.monotonic() - t1 < 2.5
    # The session that is not idling still works: commands run, nothing cut.
    busy.send(b"e NOOP\r\n")
    assert busy.read_tagged("e")[-1].startswith(b"e OK")
    busy.send(b"f IDLE\r\nDONE\r\n")
    tagged = busy.read_tagged("f")
    assert tagged[-1].startswith(b"f OK"), tagged
    busy.send(b"g LOGOUT\r\n")
    assert busy.read_tagged("g")[-1].startswith(b"g OK")
    assert mg.wait_exit(timeout=10) == 0
    assert time.monotonic() - t0 < 8, "the drain waited for sessions that were done"
