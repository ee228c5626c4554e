"""OAuth logins end to end (docs/architecture.md §2.1: XOAUTH2/OAUTHBEARER passed through).

A second Dovecot validates tokens with its `oauth2` passdb against a small
tokeninfo server in this module (Dovecot 2.3: `tokeninfo_url` + token, the
answer's `email` must equal the login user). mailgate routes by the user named
inside the token: `domain` route, `oauth.test` -> that Dovecot, the rest ->
the harness's password Dovecot. The tokeninfo server records every token it
is asked about: the oracle that mailgate passed the token through unchanged.

Size: Dovecot's login processes take at most 8192 bytes of base64 for a SASL
response (`LOGIN_MAX_AUTH_BUF_SIZE`, a compile-time constant in
src/login-common/client-common.h; SASL-IR and continuation alike): an XOAUTH2
token above about 6 kB cannot reach a Dovecot backend, whatever the proxy.
mailgate itself takes a 10 kB token (its limit is `limits.max_line_bytes`);
what the client then sees from a Dovecot backend is pinned down below.
"""
import base64
import http.server
import imaplib
import json
import os
import poplib
import smtplib
import socket
import threading

import pytest

from harness import Dovecot, Mailgate, default_config, only_listeners
from harness.clients import RawClient, client_context

DOMAIN = "oauth.test"
USERS = {"dan@%s" % DOMAIN: "unused-pw-1", "erin@%s" % DOMAIN: "unused-pw-2"}
LARGEST_DOVECOT_TOKEN = 6000     # base64 of the XOAUTH2 response stays < 8192
TEN_KB = 10 * 1024


class TokenInfo:
    """tokeninfo endpoint: GET /tokeninfo?access_token=T -> {"email": user}
    for a known token, 401 {"error": "invalid_token"} otherwise."""

    def __init__(self):
        self.tokens = {}
        self.seen = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                token = self.path.split("access_token=", 1)[1] if "access_token=" in self.path else ""
                outer.seen.append(token)
                user = outer.tokens.get(token)
                if user:
                    code, body = 200, {"email": user, "scope": "mail"}
                else:
                    code, body = 401, {"error": "invalid_token"}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def issue(self, user, size=64, tag="t"):
        token = (tag + "-" + user.split("@")[0] + "-").ljust(size, "x")[:size]
        self.tokens[token] = user
        return token

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tokeninfo():
    t = TokenInfo()
    yield t
    t.close()


@pytest.fixture(scope="module")
def oauth_dovecot(workroot, tokeninfo):
    workdir = os.path.join(workroot, "dovecot-oauth")
    os.makedirs(workdir, exist_ok=True)
    ext = os.path.join(workdir, "dovecot-oauth2.conf.ext")
    with open(ext, "w") as f:
        f.write("tokeninfo_url = http://127.0.0.1:%d/tokeninfo?access_token=\n"
                "username_attribute = email\n" % tokeninfo.port)
    os.chmod(ext, 0o644)
    # The later auth_mechanisms line wins over the harness's "plain login".
    extra = ("auth_mechanisms = plain login xoauth2 oauthbearer\n"
             "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
             "  args = %s\n}\n" % ext)
    d = Dovecot(workdir, users=dict(USERS), extra_config=extra)
    d.start()
    yield d
    d.stop()
    d.cleanup()


@pytest.fixture(scope="module")
def omg(dovecot, oauth_dovecot, certs, workroot):
    cfg = default_config(dovecot, certs)
    only_listeners(cfg, "imaps", "pop3s", "submissions")
    cfg["pools"]["oauth"] = {"servers": [{"host": "127.0.0.1",
                                          "imap": oauth_dovecot.imap_port,
                                          "pop3": oauth_dovecot.pop3_port,
                                          "smtp": oauth_dovecot.submission_port}]}
    cfg["routes"]["default"] = {"type": "domain", "domains": {DOMAIN: "oauth"},
                                "default": "local"}
    # Room for a 10 kB token in one line (base64 + command ~ 14 kB).
    cfg["limits"]["max_line_bytes"] = 32768
    mg = Mailgate(cfg, os.path.join(workroot, "mailgate-oauth"))
    mg.start()
    yield mg
    mg.stop()


def xoauth2(user, token):
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)


def oauthbearer(user, token, port):
    # RFC 7628 §3.1: gs2 header, then kvpairs separated by %x01.
    return "n,a=%s,\x01host=localhost\x01port=%d\x01auth=Bearer %s\x01\x01" % (user, port, token)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def imap(mg, certs):
    host, port = mg.address("imaps")
    return imaplib.IMAP4_SSL(host, port, ssl_context=client_context(certs), timeout=15)


def pop3(mg, certs):
    host, port = mg.address("pop3s")
    return poplib.POP3_SSL(host, port, context=client_context(certs), timeout=15)


def smtp(mg, certs):
    host, port = mg.address("submissions")
    c = smtplib.SMTP_SSL(host, port, context=client_context(certs), timeout=15)
    c.ehlo("client.test")
    return c


def dovecot_login_lines(d, user, proto):
    return [line for line in d.log_text().splitlines()
            if "%s-login:" % proto in line and "Login: user=<%s>" % user in line]


@pytest.mark.parametrize("size", [64, LARGEST_DOVECOT_TOKEN])
def test_imap_xoauth2(omg, oauth_dovecot, tokeninfo, certs, size):
    user = "dan@" + DOMAIN
    token = tokeninfo.issue(user, size, tag="imap")
    c = imap(omg, certs)
    assert "AUTH=XOAUTH2" in c.capabilities and "AUTH=OAUTHBEARER" in c.capabilities
    typ, _ = c.authenticate("XOAUTH2", lambda _: xoauth2(user, token).encode())
    assert typ == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    assert token in tokeninfo.seen          # byte-exact through mailgate
    assert any("method=XOAUTH2" in l for l in dovecot_login_lines(oauth_dovecot, user, "imap"))


def test_imap_oauthbearer_sasl_ir(omg, oauth_dovecot, tokeninfo, certs):
    """SASL-IR (RFC 4959): the response on the AUTHENTICATE line itself."""
    user = "erin@" + DOMAIN
    token = tokeninfo.issue(user, LARGEST_DOVECOT_TOKEN - 100, tag="bearer")
    c = imap(omg, certs)
    typ, data = c._simple_command("AUTHENTICATE", "OAUTHBEARER",
                                  b64(oauthbearer(user, token, omg.address("imaps")[1])))
    assert typ == "OK", data
    c.state = "AUTH"
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    assert token in tokeninfo.seen
    assert any("method=OAUTHBEARER" in l
               for l in dovecot_login_lines(oauth_dovecot, user, "imap"))


@pytest.mark.parametrize("size", [64, LARGEST_DOVECOT_TOKEN])
def test_pop3_xoauth2(omg, oauth_dovecot, tokeninfo, certs, size):
    user = "dan@" + DOMAIN
    token = tokeninfo.issue(user, size, tag="pop3")
    c = pop3(omg, certs)
    assert c._shortcmd("AUTH XOAUTH2 " + b64(xoauth2(user, token))).startswith(b"+OK")
    assert c.stat()[0] >= 0
    c.quit()
    assert token in tokeninfo.seen
    assert dovecot_login_lines(oauth_dovecot, user, "pop3")


@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_smtp_oauth(omg, oauth_dovecot, tokeninfo, certs, mech):
    user = "erin@" + DOMAIN
    token = tokeninfo.issue(user, LARGEST_DOVECOT_TOKEN - 100, tag="smtp" + mech)
    port = omg.address("submissions")[1]
    raw = xoauth2(user, token) if mech == "XOAUTH2" else oauthbearer(user, token, port)
    c = smtp(omg, certs)
    assert mech in c.esmtp_features.get("auth", "").upper()
    code, _ = c.docmd("AUTH", "%s %s" % (mech, b64(raw)))
    assert code == 235
    c.sendmail(user, ["someone@example.org"], "Subject: oauth\r\n\r\nhi\r\n")
    c.quit()
    assert token in tokeninfo.seen
    assert dovecot_login_lines(oauth_dovecot, user, "submission")


def test_password_users_still_route_to_the_other_backend(omg, certs):
    c = imap(omg, certs)
    c.login("alice@example.com", "alice-pw")
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def direct_challenge(d, proto, mech, raw):
    """The error challenge Dovecot itself sends for a bad token (the oracle
    for "relayed exactly as the backend sent it"), as base64 text."""
    port = {"imap": d.imap_port, "pop3": d.pop3_port, "smtp": d.submission_port}[proto]
    with RawClient(socket.create_connection(("127.0.0.1", port), timeout=10)) as c:
        if proto == "imap":
            c.readline()
            c.send("d1 AUTHENTICATE %s %s\r\n" % (mech, b64(raw)))
            prefix = b"+ "
        elif proto == "pop3":
            c.readline()
            c.send("AUTH %s %s\r\n" % (mech, b64(raw)))
            prefix = b"+ "
        else:
            c.read_smtp_reply()
            c.send("EHLO client.test\r\n")
            c.read_smtp_reply()
            c.send("AUTH %s %s\r\n" % (mech, b64(raw)))
            prefix = b"334 "
        line = c.readline()
        assert line.startswith(prefix), line
        return line[len(prefix):].rstrip(b"\r\n").decode()


def assert_error_json(challenge_b64):
    """RFC 7628 §3.2.2: the challenge is base64 of a JSON object with "status"."""
    doc = json.loads(base64.b64decode(challenge_b64, validate=True))
    assert "status" in doc, doc
    return doc


def test_rejected_token_imap_gets_the_backend_challenge(omg, oauth_dovecot, tokeninfo, certs):
    """RFC 7628 §3.2.2: Dovecot answers a bad token with `+ <base64 JSON>`;
    mailgate replays that continuation to the client unchanged, takes the
    client's dummy response and then sends the tagged NO. imaplib hands the
    decoded challenge to the authenticator, as Thunderbird's code does."""
    user = "dan@" + DOMAIN
    expected = direct_challenge(oauth_dovecot, "imap", "XOAUTH2", xoauth2(user, "direct-bad-token"))
    doc = assert_error_json(expected)
    c = imap(omg, certs)
    challenges = []

    def answer(challenge):
        challenges.append(challenge)
        return xoauth2(user, "not-a-valid-token").encode() if len(challenges) == 1 else b""

    with pytest.raises(imaplib.IMAP4.error) as err:
        c.authenticate("XOAUTH2", answer)
    assert challenges[0] == b""                        # mailgate's own "+ " for the response
    assert len(challenges) == 2 and json.loads(challenges[1]) == doc
    assert "[AUTHENTICATIONFAILED]" in str(err.value)
    assert "not-a-valid-token" in tokeninfo.seen
    # The session goes on: a good token works on the same connection.
    token = tokeninfo.issue(user, 64, tag="retry")
    assert c.authenticate("XOAUTH2", lambda _: xoauth2(user, token).encode())[0] == "OK"
    c.logout()


def test_rejected_token_imap_raw_continuation(omg, oauth_dovecot, tokeninfo, certs):
    """Byte level, OAUTHBEARER with SASL-IR: `+ <the backend's base64>`, the
    client's `AQ==` (RFC 7628 §3.2.3), then `NO [AUTHENTICATIONFAILED]`; a
    `*` as the answer gets the same NO. Then a good token logs in."""
    user = "erin@" + DOMAIN
    port = omg.address("imaps")[1]
    expected = direct_challenge(oauth_dovecot, "imap", "OAUTHBEARER", oauthbearer(user, "bad", port))
    with RawClient.connect(omg, "imaps", certs) as c:
        c.readline()
        for tag, dummy in (("a1", "AQ=="), ("a2", "*")):
            c.send("%s AUTHENTICATE OAUTHBEARER %s\r\n" % (tag, b64(oauthbearer(user, "bad-" + tag, port))))
            line = c.readline()
            assert line == b"+ " + expected.encode() + b"\r\n", line
            assert_error_json(expected)
            c.send(dummy + "\r\n")
            assert c.readline().startswith(tag.encode() + b" NO [AUTHENTICATIONFAILED]")
        token = tokeninfo.issue(user, 64, tag="rawretry")
        c.send("a3 AUTHENTICATE OAUTHBEARER %s\r\n" % b64(oauthbearer(user, token, port)))
        assert c.read_tagged("a3")[-1].startswith(b"a3 OK")


def test_rejected_token_pop3_gets_the_backend_challenge(omg, oauth_dovecot, tokeninfo, certs):
    """POP3 (RFC 5034 framing): `+ <base64 JSON>`, the client's empty
    response, then `-ERR [AUTH]`; a good token then logs in."""
    user = "dan@" + DOMAIN
    expected = direct_challenge(oauth_dovecot, "pop3", "XOAUTH2", xoauth2(user, "direct-bad-token"))
    assert_error_json(expected)
    c = pop3(omg, certs)
    resp = c._shortcmd("AUTH XOAUTH2 " + b64(xoauth2(user, "bad-pop3-token")))
    assert resp == b"+ " + expected.encode(), resp
    with pytest.raises(poplib.error_proto) as err:
        c._shortcmd("")
    assert err.value.args[0].startswith(b"-ERR [AUTH]"), err.value
    token = tokeninfo.issue(user, 64, tag="pop3retry")
    assert c._shortcmd("AUTH XOAUTH2 " + b64(xoauth2(user, token))).startswith(b"+OK")
    assert c.stat()[0] >= 0
    c.quit()


@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_rejected_token_smtp_gets_the_backend_challenge(omg, oauth_dovecot, tokeninfo, certs, mech):
    """SMTP (RFC 4954 framing): `334 <base64 JSON>`, the client's dummy
    response, then `535 5.7.8`; a good token then logs in."""
    user = "erin@" + DOMAIN
    port = omg.address("submissions")[1]
    creds = (lambda t: xoauth2(user, t)) if mech == "XOAUTH2" else (lambda t: oauthbearer(user, t, port))
    expected = direct_challenge(oauth_dovecot, "smtp", mech, creds("direct-bad-token"))
    assert_error_json(expected)
    s = smtp(omg, certs)
    code, text = s.docmd("AUTH", "%s %s" % (mech, b64(creds("bad-smtp-token"))))
    assert (code, text) == (334, expected.encode())
    code, text = s.docmd("AQ==" if mech == "OAUTHBEARER" else "")
    assert code == 535 and text.startswith(b"5.7.8"), (code, text)
    token = tokeninfo.issue(user, 64, tag="smtpretry" + mech)
    assert s.docmd("AUTH", "%s %s" % (mech, b64(creds(token))))[0] == 235
    s.quit()


def test_rejected_password_gets_no_challenge(omg, certs):
    """Only OAuth logins ever see a challenge: a wrong password over AUTH
    PLAIN is answered at once."""
    s = smtp(omg, certs)
    code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice@example.com\0wrong").decode())
    assert code == 535
    s.quit()


def test_ten_kb_token_accepted_by_mailgate(omg, tokeninfo, certs):
    """mailgate reads a 10 kB token (limits.max_line_bytes), routes it by the
    user inside it and hands it to the backend. A Dovecot backend closes the
    connection ("Authentication response too large", see the module doc),
    which the client sees as a temporary failure, never a protocol error."""
    user = "dan@" + DOMAIN
    token = tokeninfo.issue(user, TEN_KB, tag="ten")
    c = imap(omg, certs)
    with pytest.raises(imaplib.IMAP4.error) as err:
        c.authenticate("XOAUTH2", lambda _: xoauth2(user, token).encode())
    assert "[UNAVAILABLE]" in str(err.value), err.value
    assert c.noop()[0] == "OK"               # the session is still usable
    c.logout()
    log = omg.log_text()
    assert "user=dan@%s" % DOMAIN in log and token not in log   # never a token in logs
