"""auth_http compatibility, side by side: the same logins go through nginx's
mail proxy (nginx-light + libnginx-mod-mail, `auth_http` pointing at a Python
service in this test) and through mailgate (an `http` route pointing at the
same service). The service records every request and answers from a script
(one answer per request, in order; the same script for both proxies).

Compared, scenario by scenario and request by request:
  * the auth_http request: request line, header NAMES in ORDER, header VALUES
    — identical, except for the short, commented list in `expected_mailgate`;
  * what the client sees: the error answer (IMAP tagged NO, POP3 -ERR, SMTP
    reply), whether a second attempt is possible, and a success (OK/+OK/235).

Everything is implicit TLS on loopback: nginx `listen ... ssl` servers with
the harness certificate, mailgate's imaps/pop3s/submissions listeners. OK
answers send both proxies to the harness Dovecot's plain ports.

This test found two differences against Debian 12's nginx 1.22.1, both
fixed in mailgate since: the `Auth-SSL-Protocol`/`Auth-SSL-Cipher` headers
(nginx >= 1.21) were missing, and an error answer without `Auth-Wait` did not
close the connection as nginx does.

Debug: MAILGATE_COMPAT_DUMP=/tmp/compat.json writes everything both saw.
"""
import base64
import http.server
import json
import os
import socket
import socketserver
import ssl
import threading
import time

import pytest

from harness import USERS, Mailgate, default_config, only_listeners
from harness import nginx as nginx_mod
from harness.clients import RawClient

pytestmark = pytest.mark.skipif(
    not nginx_mod.available(),
    reason="nginx or its mail module is not installed (scripts/install-deps.sh: "
           "nginx-light libnginx-mod-mail)")

ALICE = "alice@example.com"
ALICE_PW = USERS[ALICE]

# Logins with everything nginx escapes (space, %, control bytes) and what it
# passes through as is (8-bit UTF-8, DEL, quotes, backslash, +, &, =).
ODD_USER = 'j\u00fcrgen m%25ller "x\\y"@example.com'
ODD_PASS = 'p w%d \u00e4\u20ac+&=;\'"'
ODD_USER_CTL = "tab\tuser ctl\x01 del\x7f@\u00e9xample.com"
ODD_PASS_CTL = "pa\tss\x7f w%0 \u00df"


# --- the auth_http service ------------------------------------------------------

class AuthService:
    """Records each request (line + headers in order, raw bytes decoded as
    latin-1 so 8-bit values survive) and answers from `self.script`."""

    def __init__(self, backends):
        self.requests = []
        self.script = []
        self.backends = backends   # protocol -> Dovecot port
        self.lock = threading.Lock()
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                headers = list(self.headers.items())
                with service.lock:
                    service.requests.append({"line": self.requestline, "headers": headers})
                    answer = service.script.pop(0) if service.script else None
                status, hs = service.render(answer, dict(headers))
                self.send_response_only(status)
                for k, v in hs:
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def render(self, answer, h):
        if answer is None:   # not scripted: the test fails on the count anyway
            return 200, [("Auth-Status", "Unexpected request"), ("Auth-Wait", "1")]
        if answer == "OK":
            return 200, [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                         ("Auth-Port", str(self.backends[h.get("Auth-Protocol")]))]
        return 200, list(answer)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def err(text, wait=None, code=None):
    hs = [("Auth-Status", text)]
    if code:
        hs.append(("Auth-Error-Code", code))
    if wait is not None:
        hs.append(("Auth-Wait", str(wait)))
    return hs


# --- the two proxies ------------------------------------------------------------

@pytest.fixture(scope="module")
def setup(dovecot, certs, workroot):
    auth = AuthService({"imap": dovecot.imap_port, "pop3": dovecot.pop3_port,
                        "smtp": dovecot.submission_port})
    ng = nginx_mod.NginxMail(
        os.path.join(workroot, "nginx-compat"), certs,
        auth_url="127.0.0.1:%d/auth?x=1" % auth.port,
        servers=[("imaps", "imap"), ("pop3s", "pop3"), ("submissions", "smtp")],
        # nginx's defaults, spelled out; xclient off: Dovecot's submission
        # would not take nginx's XCLIENT LOGIN as a login anyway, and the
        # client's view (235) is the same.
        mail_extra="    imap_auth plain;\n    pop3_auth plain;\n"
                   "    smtp_auth login plain;\n    xclient off;\n")
    cfg = default_config(dovecot, certs)
    only_listeners(cfg, "imaps", "pop3s", "submissions")
    cfg["routes"]["default"] = {"type": "http", "url": "http://127.0.0.1:%d/auth?x=1" % auth.port,
                                "cache_ttl_s": 0, "timeout_ms": 3000}
    mg = Mailgate(cfg, os.path.join(workroot, "mailgate-nginx-compat"))
    try:
        ng.start()
        mg.start()
        yield {"auth": auth, "nginx": ng, "mailgate": mg, "certs": certs}
    finally:
        ng.stop()
        try:
            mg.stop()
        finally:
            auth.close()


# --- raw clients ----------------------------------------------------------------

# (TLS version, cipher) of every client connection of the current run, as the
# client negotiated it: the oracle for nginx's Auth-SSL-Protocol/-Cipher.
NEGOTIATED = []


def connect(target, name, certs):
    host, port = target.address(name)
    c = RawClient(socket.create_connection((host, port), timeout=10)).upgrade(certs)
    NEGOTIATED.append((c.sock.version(), c.sock.cipher()[0]))
    return c


def closed_by_server(c, wait=1.0):
    """True when the server closes the connection within `wait` seconds."""
    c.sock.settimeout(wait)
    try:
        while True:
            chunk = c.sock.recv(4096)
            if not chunk:
                return True
            c.buf += chunk
    except socket.timeout:
        return False
    except (ssl.SSLError, OSError):
        return True
    finally:
        c.sock.settimeout(10)


def b64(*parts):
    return base64.b64encode(b"\0".join(p.encode() for p in parts)).decode()


def imap_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text(b):
    return b.decode("utf-8", "replace").rstrip("\r\n")


def timed(fn, *args):
    """[reply, "waited" when it took >= 0.9 s: Auth-Wait 1 was honoured]."""
    t0 = time.monotonic()
    r = fn(*args)
    return [r, "waited" if time.monotonic() - t0 >= 0.9 else "at once"]


class Imap:
    def __init__(self, target, certs):
        self.c = connect(target, "imaps", certs)
        self.c.readline()
        self.n = 0

    def _tagged(self):
        return text(self.c.read_tagged(self.tag)[-1])

    def _next(self):
        self.n += 1
        self.tag = "a%d" % self.n
        return self.tag

    def login(self, user, pw):
        self.c.send(("%s LOGIN %s %s\r\n" % (self._next(), imap_quote(user), imap_quote(pw))).encode())
        return self._tagged()

    def authenticate_plain(self, user, pw):
        self.c.send(("%s AUTHENTICATE PLAIN\r\n" % self._next()).encode())
        cont = self.c.readline()
        assert cont.startswith(b"+"), cont
        self.c.send((b64("", user, pw) + "\r\n").encode())
        return self._tagged()

    def logged_in(self, reply):
        """A success, reduced to what both must show: a tagged OK, then the
        mailbox of the user (alice has 3 seed messages)."""
        if not reply.startswith(self.tag + " OK"):
            return reply
        self.c.send(("%s SELECT INBOX\r\n" % self._next()).encode())
        lines = [text(x) for x in self.c.read_tagged(self.tag)]
        exists = [x.split()[1] for x in lines if x.endswith(" EXISTS")]
        return "OK, INBOX %s" % exists


class Pop3:
    def __init__(self, target, certs):
        self.c = connect(target, "pop3s", certs)
        self.c.readline()

    def user_pass(self, user, pw):
        self.c.send(("USER %s\r\n" % user).encode())
        r = self.c.readline()
        assert r.startswith(b"+OK"), r
        self.c.send(("PASS %s\r\n" % pw).encode())
        return text(self.c.readline())

    def auth_plain(self, user, pw):
        self.c.send(b"AUTH PLAIN\r\n")
        cont = self.c.readline()
        assert cont.startswith(b"+"), cont
        self.c.send((b64("", user, pw) + "\r\n").encode())
        return text(self.c.readline())

    def logged_in(self, reply):
        if not reply.startswith("+OK"):
            return reply
        self.c.send(b"STAT\r\n")
        return "OK, STAT %s" % text(self.c.readline()).split()[:2]


class Smtp:
    def __init__(self, target, certs):
        self.c = connect(target, "submissions", certs)
        self.c.read_smtp_reply()
        self.c.send(b"EHLO client.test\r\n")
        self.c.read_smtp_reply()

    def reply(self):
        return text(self.c.read_smtp_reply()[-1])

    def auth_plain(self, user, pw):
        self.c.send(("AUTH PLAIN %s\r\n" % b64("", user, pw)).encode())
        return self.reply()

    def auth_login(self, user, pw):
        self.c.send(b"AUTH LOGIN\r\n")
        r = self.reply()
        assert r.startswith("334 "), r
        self.c.send((base64.b64encode(user.encode()).decode() + "\r\n").encode())
        r = self.reply()
        assert r.startswith("334 "), r
        self.c.send((base64.b64encode(pw.encode()).decode() + "\r\n").encode())
        return self.reply()

    def logged_in(self, reply):
        # nginx says "235 2.0.0 OK" itself, mailgate relays Dovecot's 235:
        # the code is what both must show.
        return "OK, 235" if reply.startswith("235 ") else reply


# --- scenarios: (name, script, run(target, certs) -> what the client saw) -------
# An error with Auth-Wait lets the client try again on the same connection
# (Auth-Login-Attempt 2); an error without it ends the session in nginx.

def imap_login_ok(t, certs):
    c = Imap(t, certs)
    return [c.logged_in(c.login(ALICE, ALICE_PW))]


def imap_login_retry(t, certs):
    c = Imap(t, certs)
    first = timed(c.login, ODD_USER, ODD_PASS)
    return [first, c.logged_in(c.login(ALICE, ALICE_PW))]


def imap_authenticate_retry(t, certs):
    c = Imap(t, certs)
    first = timed(c.authenticate_plain, ODD_USER_CTL, ODD_PASS_CTL)
    return [first, c.logged_in(c.authenticate_plain(ALICE, ALICE_PW))]


def imap_error_no_wait(t, certs):
    c = Imap(t, certs)
    return [c.login(ODD_USER, ODD_PASS), "closed" if closed_by_server(c.c) else "open"]


def pop3_user_pass_ok(t, certs):
    c = Pop3(t, certs)
    return [c.logged_in(c.user_pass(ALICE, ALICE_PW))]


def pop3_user_pass_retry(t, certs):
    c = Pop3(t, certs)
    first = timed(c.user_pass, ODD_USER, ODD_PASS)
    return [first, c.logged_in(c.user_pass(ALICE, ALICE_PW))]


def pop3_auth_plain_retry(t, certs):
    c = Pop3(t, certs)
    first = timed(c.auth_plain, ODD_USER_CTL, ODD_PASS_CTL)
    return [first, c.logged_in(c.auth_plain(ALICE, ALICE_PW))]


def pop3_error_no_wait(t, certs):
    c = Pop3(t, certs)
    return [c.user_pass(ODD_USER, ODD_PASS), "closed" if closed_by_server(c.c) else "open"]


def smtp_plain_ok(t, certs):
    c = Smtp(t, certs)
    return [c.logged_in(c.auth_plain(ALICE, ALICE_PW))]


def smtp_plain_then_login(t, certs):
    c = Smtp(t, certs)
    first = timed(c.auth_plain, ODD_USER_CTL, ODD_PASS_CTL)
    return [first, c.logged_in(c.auth_login(ALICE, ALICE_PW))]


def smtp_login_then_plain(t, certs):
    c = Smtp(t, certs)
    first = timed(c.auth_login, ODD_USER, ODD_PASS)
    return [first, c.logged_in(c.auth_plain(ALICE, ALICE_PW))]


def smtp_temp_code_no_wait(t, certs):
    c = Smtp(t, certs)
    return [c.auth_plain(ODD_USER, ODD_PASS), "closed" if closed_by_server(c.c) else "open"]


SCENARIOS = [
    ("imap LOGIN ok", imap_login_ok, ["OK"]),
    ("imap LOGIN error+wait, LOGIN ok", imap_login_retry,
     [err("Invalid login", wait=1), "OK"]),
    ("imap AUTHENTICATE PLAIN error+wait, again ok", imap_authenticate_retry,
     [err("Go away now", wait=1), "OK"]),
    ("imap error without Auth-Wait", imap_error_no_wait, [err("Invalid login")]),
    ("pop3 USER/PASS ok", pop3_user_pass_ok, ["OK"]),
    ("pop3 USER/PASS error+wait, again ok", pop3_user_pass_retry,
     [err("Invalid login", wait=1), "OK"]),
    ("pop3 AUTH PLAIN error+wait, again ok", pop3_auth_plain_retry,
     [err("Go away now", wait=1), "OK"]),
    ("pop3 error without Auth-Wait", pop3_error_no_wait, [err("Invalid login")]),
    ("smtp AUTH PLAIN ok", smtp_plain_ok, ["OK"]),
    ("smtp AUTH PLAIN error code+wait, AUTH LOGIN ok", smtp_plain_then_login,
     [err("Bad credentials", wait=1, code="535 5.7.8"), "OK"]),
    ("smtp AUTH LOGIN error (default code)+wait, AUTH PLAIN ok", smtp_login_then_plain,
     [err("Invalid login", wait=1), "OK"]),
    ("smtp 4xx Auth-Error-Code without Auth-Wait", smtp_temp_code_no_wait,
     [err("Try later", code="451 4.3.0")]),
]
NAMES = [s[0] for s in SCENARIOS]
SCRIPTS = {name: script for name, _, script in SCENARIOS}


def run(setup, which, fn, script):
    auth = setup["auth"]
    with auth.lock:
        auth.script = list(script)
        n0 = len(auth.requests)
    NEGOTIATED.clear()
    seen = fn(setup[which], setup["certs"])
    with auth.lock:
        reqs = auth.requests[n0:]
        left = list(auth.script)
    return {"requests": reqs, "seen": seen, "unused_answers": left,
            "tls": list(NEGOTIATED)}


@pytest.fixture(scope="module")
def observed(setup):
    """Every scenario once through nginx, then once through mailgate."""
    out = {}
    for name, fn, script in SCENARIOS:
        out[name] = {which: run(setup, which, fn, script) for which in ("nginx", "mailgate")}
    if os.environ.get("MAILGATE_COMPAT_DUMP"):   # a file to write everything seen to
        with open(os.environ["MAILGATE_COMPAT_DUMP"], "w") as f:
            json.dump(out, f, indent=1)
    return out


# --- the comparison of requests ---------------------------------------------------

def normalize(headers, tls):
    """Values that legitimately depend on the proxy's TLS stack, checked
    against what the client itself negotiated on that connection and then
    compared by name and position only:
      Auth-SSL-Protocol / Auth-SSL-Cipher (nginx >= 1.21: SSL_get_version /
      SSL_get_cipher_name of the client connection). nginx (OpenSSL) and
      mailgate (BoringSSL) may pick different TLS 1.3 suites for the same
      client, so the value is compared with the client's view, not across
      the proxies."""
    versions = {v for v, _ in tls}
    ciphers = {c for _, c in tls}
    out = []
    for name, value in headers:
        if name == "Auth-SSL-Protocol":
            assert value in versions, (name, value, versions)
            value = "<this connection's TLS version>"
        elif name == "Auth-SSL-Cipher":
            assert value in ciphers, (name, value, ciphers)
            value = "<this connection's cipher>"
        out.append((name, value))
    return out


# Expected differences in the requests: none. Host is the URL's host without
# port in both, Client-IP the address without port in both, Client-Host
# "[UNAVAILABLE]" for SMTP in both (nginx has no resolver here), SMTP AUTH
# LOGIN is Auth-Method "plain" in both. Anything else that differs is a
# compatibility bug and fails below.


def describe(ng, mg):
    lines = []
    ng_names, mg_names = [n for n, _ in ng], [n for n, _ in mg]
    if ng_names != mg_names:
        lines.append("header names/order: nginx %s, mailgate %s" % (ng_names, mg_names))
        missing = [n for n in ng_names if n not in mg_names]
        extra = [n for n in mg_names if n not in ng_names]
        if missing:
            lines.append("  mailgate does not send: %s" % missing)
        if extra:
            lines.append("  mailgate sends, nginx does not: %s" % extra)
    ngd, mgd = dict(ng), dict(mg)
    for n in ngd:
        if n in mgd and ngd[n] != mgd[n]:
            lines.append("%s: nginx %r, mailgate %r" % (n, ngd[n], mgd[n]))
    return "\n".join(lines)


@pytest.mark.parametrize("scenario", NAMES)
def test_same_auth_http_requests(observed, scenario):
    ng, mg = observed[scenario]["nginx"], observed[scenario]["mailgate"]
    assert ng["unused_answers"] == [] and mg["unused_answers"] == [], \
        "not every scripted answer was asked for"
    assert len(mg["requests"]) == len(ng["requests"]) == len(SCRIPTS[scenario])
    problems = []
    for i, (a, b) in enumerate(zip(ng["requests"], mg["requests"]), 1):
        if a["line"] != b["line"]:
            problems.append("request %d line: nginx %r, mailgate %r" % (i, a["line"], b["line"]))
        na, nb = normalize(a["headers"], ng["tls"]), normalize(b["headers"], mg["tls"])
        if na != nb:
            problems.append("request %d:\n%s" % (i, describe(na, nb)))
    assert not problems, "\n".join(problems)


# --- the comparison of what the client sees ------------------------------------

def expected_client_view(nginx_seen):
    """What a mailgate client should see, given what an nginx client saw. The
    deliberate differences (both asserted in test_routing_lookups.py too):"""
    out = []
    for item in nginx_seen:
        reply, rest = (item[0], item[1:]) if isinstance(item, list) else (item, None)
        # POP3: mailgate adds the RFC 3206 response code [AUTH] to a refused
        # login (nginx: "-ERR <Auth-Status>"), so clients know the
        # credentials, not the server, failed. The text is the service's.
        if reply.startswith("-ERR ") and not reply.startswith("-ERR ["):
            reply = "-ERR [AUTH] " + reply[5:]
        # SMTP: a 4xx Auth-Error-Code makes the failure temporary, and
        # mailgate answers it with RFC 4954's 454 plus the service's enhanced
        # code and text (nginx relays "451 4.3.0 ..." verbatim).
        if reply[:1] == "4" and reply[3:4] == " ":
            reply = "454" + reply[3:]
        out.append([reply] + rest if rest is not None else reply)
    return out


@pytest.mark.parametrize("scenario", NAMES)
def test_same_client_view(observed, scenario):
    ng, mg = observed[scenario]["nginx"]["seen"], observed[scenario]["mailgate"]["seen"]
    assert mg == expected_client_view(ng), "nginx saw %r" % (ng,)
