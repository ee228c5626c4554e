"""Routing lookups (docs/architecture.md §2.2): `http` routes speaking nginx's auth_http
protocol against a real HTTP service, and `map` routes with a user map file
that changes while mailgate runs. Real Dovecot behind, real stdlib clients."""
import http.server
import imaplib
import json
import os
import poplib
import smtplib
import socketserver
import threading
import time
import urllib.request

import pytest

from harness import USERS, closed_port, wait_until
from harness.clients import imap_client, pop3_client, smtp_client

ALICE = "alice@example.com"
BOB = "bob@example.com"


class AuthService:
    """An nginx auth_http service: records every request (request line and
    headers in order) and answers with `self.answer(headers) -> (status,
    [(name, value)], delay_s)`."""

    def __init__(self):
        self.requests = []
        self.answer = lambda h: (200, [("Auth-Status", "Invalid login")], 0)
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                service.requests.append({"line": self.requestline,
                                         "headers": list(self.headers.items())})
                status, headers, delay = service.answer(dict(self.headers.items()))
                if delay:
                    time.sleep(delay)
                self.send_response_only(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/auth?x=1"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def ok_to(self, dovecot, **extra):
        """Answer OK, pointing each protocol at the harness Dovecot."""
        ports = {"imap": dovecot.imap_port, "pop3": dovecot.pop3_port,
                 "smtp": dovecot.submission_port}

        def answer(h):
            hs = [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                  ("Auth-Port", str(ports[h["Auth-Protocol"]]))]
            hs += list(extra.items())
            return 200, hs, 0
        self.answer = answer

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def auth():
    s = AuthService()
    yield s
    s.close()


def http_route(auth, url=None, ttl=0, timeout_ms=1000):
    def modify(cfg):
        cfg["routes"]["default"] = {"type": "http", "url": url or auth.url(),
                                    "cache_ttl_s": ttl, "timeout_ms": timeout_ms}
    return modify


# --- http: OK answers, exact request headers --------------------------------

EXPECTED_PROTOCOL = {"imaps": "imap", "imap-starttls": "imap", "pop3s": "pop3",
                     "pop3-starttls": "pop3", "submissions": "smtp",
                     "submission-starttls": "smtp"}


def login(mg, listener, certs, user, password):
    proto = EXPECTED_PROTOCOL[listener]
    if proto == "imap":
        c = imap_client(mg, listener, certs)
        c.login(user, password)
        typ, data = c.select("INBOX")
        c.logout()
        return int(data[0])
    if proto == "pop3":
        c = pop3_client(mg, listener, certs)
        c.user(user)
        c.pass_(password)
        n = c.stat()[0]
        c.quit()
        return n
    c = smtp_client(mg, listener, certs)
    c.login(user, password)
    c.quit()
    return None


@pytest.mark.parametrize("listener", sorted(EXPECTED_PROTOCOL))
def test_http_ok_and_exact_nginx_request(mailgate_factory, dovecot, certs, auth, listener):
    auth.ok_to(dovecot)
    mg = mailgate_factory(modify=http_route(auth))
    login(mg, listener, certs, ALICE, USERS[ALICE])
    assert len(auth.requests) == 1
    req = auth.requests[0]
    assert req["line"] == "GET /auth?x=1 HTTP/1.0"
    proto = EXPECTED_PROTOCOL[listener]
    expected = [("Host", "127.0.0.1"), ("Auth-Method", "plain"), ("Auth-User", ALICE),
                ("Auth-Pass", "alice-pw"), ("Auth-Protocol", proto),
                ("Auth-Login-Attempt", "1"), ("Client-IP", "127.0.0.1")]
    if proto == "smtp":
        expected.append(("Client-Host", "[UNAVAILABLE]"))
    expected.append(("Auth-SSL", "on"))  # every harness listener is TLS before auth
    # nginx 1.21+ follows Auth-SSL with the client's protocol and cipher.
    assert req["headers"][:-2] == expected
    (pname, pvalue), (cname, cvalue) = req["headers"][-2:]
    assert (pname, pvalue) == ("Auth-SSL-Protocol", "TLSv1.3")
    assert cname == "Auth-SSL-Cipher" and cvalue.startswith("TLS_"), cvalue


def test_http_escapes_user_and_password_like_nginx(mailgate_factory, dovecot, certs, auth):
    # With Auth-Wait the client may try again on the same connection (without
    # it nginx, and mailgate, close after the error).
    auth.answer = lambda h: (200, [("Auth-Status", "Invalid login"), ("Auth-Wait", "1")], 0)
    mg = mailgate_factory(modify=http_route(auth))
    c = imap_client(mg, "imaps", certs)
    with pytest.raises(imaplib.IMAP4.error):
        c.login('"a b%c"', 'p w%d')  # imaplib quotes the password itself
    # The second attempt on the same connection counts up.
    with pytest.raises(imaplib.IMAP4.error):
        c.login("x", "y")
    c.logout()
    h = dict(auth.requests[0]["headers"])
    assert h["Auth-User"] == "a%20b%25c"
    assert h["Auth-Pass"] == "p%20w%25d"
    assert dict(auth.requests[1]["headers"])["Auth-Login-Attempt"] == "2"


def test_http_rewrites_backend_login(mailgate_factory, dovecot, certs, auth):
    auth.ok_to(dovecot, **{"Auth-User": BOB, "Auth-Pass": USERS[BOB]})
    mg = mailgate_factory(modify=http_route(auth))
    # bob has 2 seed messages, alice 3: the rewrite decides whose mailbox opens.
    assert login(mg, "imaps", certs, "robert", "anything") == 2
    assert login(mg, "pop3s", certs, "robert", "anything") == 2


# --- http: errors -----------------------------------------------------------

def test_http_error_text_and_auth_wait(mailgate_factory, dovecot, certs, auth):
    auth.answer = lambda h: (200, [("Auth-Status", "Go away now"), ("Auth-Wait", "1")], 0)
    mg = mailgate_factory(modify=http_route(auth))
    c = imap_client(mg, "imaps", certs)
    t0 = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(ALICE, USERS[ALICE])
    took = time.monotonic() - t0
    assert "Go away now" in str(e.value)
    assert 1.0 <= took < 3.0, took
    p = pop3_client(mg, "pop3s", certs)
    p.user(ALICE)
    t0 = time.monotonic()
    with pytest.raises(poplib.error_proto) as e:
        p.pass_(USERS[ALICE])
    assert time.monotonic() - t0 >= 1.0
    assert str(e.value) == str(b"-ERR [AUTH] Go away now")


def smtp_plain_login(s, user, password):
    """One AUTH PLAIN, no fallback: smtplib's login() would try AUTH LOGIN
    next on a connection the server has already closed."""
    s.ehlo_or_helo_if_needed()
    s.user, s.password = user, password
    return s.auth("PLAIN", s.auth_plain)


def test_http_smtp_error_code(mailgate_factory, dovecot, certs, auth):
    auth.answer = lambda h: (200, [("Auth-Status", "Bad credentials"),
                                   ("Auth-Error-Code", "535 5.7.8")], 0)
    mg = mailgate_factory(modify=http_route(auth))
    s = smtp_client(mg, "submissions", certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtp_plain_login(s, ALICE, USERS[ALICE])
    assert e.value.smtp_code == 535
    assert e.value.smtp_error == b"5.7.8 Bad credentials"
    # An error without Auth-Wait ends the connection, as in nginx.
    with pytest.raises(smtplib.SMTPServerDisconnected):
        s.noop()
    # Without a code: nginx's default 535 5.7.0. A 4xx code is temporary.
    auth.answer = lambda h: (200, [("Auth-Status", "Try later"),
                                   ("Auth-Error-Code", "451 4.3.0")], 0)
    s = smtp_client(mg, "submissions", certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtp_plain_login(s, ALICE, USERS[ALICE])
    assert e.value.smtp_code == 454
    assert e.value.smtp_error == b"4.3.0 Try later"
    auth.answer = lambda h: (200, [("Auth-Status", "No")], 0)
    s = smtp_client(mg, "submissions", certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtp_plain_login(s, ALICE, USERS[ALICE])
    assert (e.value.smtp_code, e.value.smtp_error) == (535, b"5.7.0 No")


def assert_temporary_everywhere(mg, certs, max_seconds):
    c = imap_client(mg, "imaps", certs)
    t0 = time.monotonic()
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(ALICE, USERS[ALICE])
    assert "[UNAVAILABLE]" in str(e.value)
    assert time.monotonic() - t0 < max_seconds
    p = pop3_client(mg, "pop3s", certs)
    p.user(ALICE)
    with pytest.raises(poplib.error_proto) as e:
        p.pass_(USERS[ALICE])
    assert str(e.value).startswith("b'-ERR [SYS/TEMP]")
    s = smtp_client(mg, "submissions", certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login(ALICE, USERS[ALICE])
    assert e.value.smtp_code == 454


def test_http_500_is_temporary(mailgate_factory, dovecot, certs, auth):
    auth.answer = lambda h: (500, [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                                   ("Auth-Port", str(dovecot.imap_port))], 0)
    mg = mailgate_factory(modify=http_route(auth))
    assert_temporary_everywhere(mg, certs, 2.0)


def test_http_garbage_is_temporary(mailgate_factory, dovecot, certs, auth):
    auth.answer = lambda h: (200, [("Auth-Status", "OK"), ("Auth-Server", "not-an-ip"),
                                   ("Auth-Port", "143")], 0)
    mg = mailgate_factory(modify=http_route(auth))
    assert_temporary_everywhere(mg, certs, 2.0)


def test_http_slow_service_times_out_fast(mailgate_factory, dovecot, certs, auth):
    auth.ok_to(dovecot)
    ok = auth.answer
    auth.answer = lambda h: (ok(h)[0], ok(h)[1], 3)
    mg = mailgate_factory(modify=http_route(auth, timeout_ms=300))
    assert_temporary_everywhere(mg, certs, 1.5)


def test_http_service_down_is_temporary(mailgate_factory, dovecot, certs):
    mg = mailgate_factory(modify=lambda cfg: cfg["routes"].__setitem__(
        "default", {"type": "http", "url": "http://127.0.0.1:%d/" % closed_port(),
                    "timeout_ms": 2000}))
    assert_temporary_everywhere(mg, certs, 1.0)


# --- http: cache ------------------------------------------------------------

def test_http_cache(mailgate_factory, dovecot, certs, auth):
    ok = {"imap": dovecot.imap_port, "pop3": dovecot.pop3_port}

    def answer(h):
        if h["Auth-Pass"] != USERS[ALICE]:
            return 200, [("Auth-Status", "Invalid login")], 0
        return 200, [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                     ("Auth-Port", str(ok[h["Auth-Protocol"]]))], 0
    auth.answer = answer
    mg = mailgate_factory(modify=http_route(auth, ttl=30))
    login(mg, "imaps", certs, ALICE, USERS[ALICE])
    login(mg, "imaps", certs, ALICE, USERS[ALICE])
    login(mg, "imap-starttls", certs, ALICE, USERS[ALICE])
    assert len(auth.requests) == 1
    # Another protocol is another key.
    login(mg, "pop3s", certs, ALICE, USERS[ALICE])
    assert len(auth.requests) == 2
    # A wrong password is never answered from the cache, and failures are not cached.
    for _ in range(2):
        c = imap_client(mg, "imaps", certs)
        with pytest.raises(imaplib.IMAP4.error):
            c.login(ALICE, "wrong")
        with pytest.raises(imaplib.IMAP4.abort):  # closed after the error, as nginx does
            c.noop()
    assert len(auth.requests) == 4
    with urllib.request.urlopen(mg.admin_url + "/metrics") as r:
        metrics = r.read().decode()
    assert 'mailgate_lookups_total{result="cache_hit",type="http"} 2' in metrics
    assert 'mailgate_lookups_total{result="rejected",type="http"} 2' in metrics


# --- map routes -------------------------------------------------------------

def write_map(path, users):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"users": users}, f)
    os.replace(tmp, path)


def map_route(path, dovecot):
    def modify(cfg):
        cfg["routes"]["default"] = {"type": "map", "file": path}
        cfg["pools"]["dead"] = {"servers": [{"host": "127.0.0.1", "imap": closed_port(),
                                             "pop3": closed_port(), "smtp": closed_port()}]}
    return modify


def imap_outcome(mg, certs, user):
    c = imap_client(mg, "imaps", certs)
    try:
        c.login(user, USERS[user])
        c.logout()
        return "ok"
    except imaplib.IMAP4.error as e:
        text = str(e)
        return "temp" if "UNAVAILABLE" in text else "auth" if "AUTHENTICATIONFAILED" in text else text


def test_map_route(mailgate_factory, dovecot, certs, tmp_path):
    path = str(tmp_path / "users.json")
    write_map(path, {
        "Alice@Example.com": {"pool": "local"},
        BOB: {"host": "127.0.0.1", "imap": dovecot.imap_port, "pop3": dovecot.pop3_port},
        "carol@example.com": {"pool": "dead"},
    })
    mg = mailgate_factory(modify=map_route(path, dovecot))
    assert imap_outcome(mg, certs, ALICE) == "ok"          # -> pool (case-insensitive key)
    assert imap_outcome(mg, certs, BOB) == "ok"            # -> host
    assert imap_outcome(mg, certs, "carol@example.com") == "temp"  # -> the dead pool
    c = imap_client(mg, "imaps", certs)
    with pytest.raises(imaplib.IMAP4.error) as e:          # not in the map
        c.login("nobody@example.com", "x")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    # bob's entry serves no smtp
    s = smtp_client(mg, "submissions", certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login(BOB, USERS[BOB])
    assert e.value.smtp_code == 535
    # Bridge: the device suffix is not part of the map key.
    p = pop3_client(mg, "pop3s-bridge", certs)
    p.user(BOB + "#phone")
    p.pass_(USERS[BOB])
    assert p.stat()[0] == 2
    p.quit()


def test_map_file_reloaded_without_restart(mailgate_factory, dovecot, certs, tmp_path):
    path = str(tmp_path / "users.json")
    write_map(path, {ALICE: {"pool": "local"}})
    mg = mailgate_factory(modify=map_route(path, dovecot))
    pid = mg.pid
    assert imap_outcome(mg, certs, ALICE) == "ok"
    assert imap_outcome(mg, certs, BOB) == "auth"
    write_map(path, {ALICE: {"pool": "dead"}, BOB: {"pool": "local"}})
    # Checked at most every 2 s, on a lookup; each login here is one.
    wait_until(lambda: imap_outcome(mg, certs, BOB) == "ok", timeout=8, interval=0.5,
               what="the new map")
    assert imap_outcome(mg, certs, ALICE) == "temp"
    # A broken file keeps the previous map and says so in the log.
    with open(path, "w") as f:
        f.write('{"users": {"alice@example.com": {"pool": ')
    _login_until_logged(mg, certs, "user_map_reload_failed")
    assert "user_map_reload_failed" in mg.log_text()
    assert imap_outcome(mg, certs, BOB) == "ok"
    assert imap_outcome(mg, certs, ALICE) == "temp"
    assert mg.pid == pid


def _login_until_logged(mg, certs, event):
    """Logins trigger the change check: keep logging in until it ran."""
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and event not in mg.log_text():
        imap_outcome(mg, certs, BOB)
        time.sleep(0.3)
