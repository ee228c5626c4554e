"""Pre-login limits against real clients and a real Dovecot (security issue
#8, items 2 and 6): a per-connection command budget, "*" cancels counted as
bad commands, NUL bytes in credentials refused, and every IMAP command
answered by its tag or by "* BYE" and a close, never by silence. Whatever
Dovecot's own imap-login accepts (a long ID) passes mailgate too."""
import base64
import os
import socket
import ssl
import time

import pytest

from harness import USERS, Mailgate, default_config
from harness.clients import RawClient

ALICE = "alice@example.com"


def b64(raw):
    return base64.b64encode(raw).decode()


def long_id(size):
    """An RFC 2971 ID of many short pairs, `size` bytes long or a little more."""
    pairs, i = [], 0
    while sum(len(p) + 1 for p in pairs) < size:
        pairs.append('"x-key-%d" "%s"' % (i, "v" * 20))
        i += 1
    return "a ID (" + " ".join(pairs) + ")\r\n"


def read_to_eof(c, limit=5.0):
    """Everything until the server closes; fails if it does not within `limit` s."""
    c.sock.settimeout(limit)
    data = c.buf
    c.buf = b""
    while True:
        chunk = c.sock.recv(65536)
        if not chunk:
            return data
        data += chunk


# --- IMAP: long ID and oversized commands ------------------------------------

def test_long_id_passes_as_it_does_against_dovecot(mailgate, dovecot, certs):
    cmd = long_id(40000).encode()
    # Dovecot itself accepts it ...
    with socket.create_connection((dovecot.host, dovecot.imap_port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(cmd)
        line = f.readline()
        while line.startswith(b"* "):
            line = f.readline()
        assert line.startswith(b"a OK"), line
    # ... so mailgate does too, and the login goes on.
    with RawClient.connect(mailgate, "imaps", certs, timeout=10) as c:
        c.readline()
        c.send(cmd)
        assert c.read_tagged("a")[-1].startswith(b"a OK")
        c.send('b LOGIN "%s" "%s"\r\n' % (ALICE, USERS[ALICE]))
        assert c.read_tagged("b")[-1].startswith(b"b OK")


def test_oversized_command_gets_its_tagged_answer_at_once(mailgate, certs):
    with RawClient.connect(mailgate, "imaps", certs, timeout=5) as c:
        c.readline()
        started = time.monotonic()
        c.send("a1 NOOP " + "x" * 20000 + "\r\n")
        assert c.readline() == b"a1 BAD [TOOBIG] Command line too long\r\n"
        assert time.monotonic() - started < 3
        c.send("b NOOP\r\n")
        assert c.readline().startswith(b"b OK")
        # Past what any command may take, the tag is lost with the discarded
        # bytes: a goodbye and a close instead of silence.
        # mailgate may close while the client is still sending the rest of the
        # line; without a lingering close the client's kernel can then drop the
        # goodbye on the reset. What must never happen is silence until the
        # login timeout: the connection ends at once, with the goodbye when it
        # is still readable.
        started = time.monotonic()
        try:
            c.send("c NOOP " + "x" * 100000 + "\r\n")
            rest = read_to_eof(c)
        except (ssl.SSLError, ConnectionError, OSError):
            rest = None
        assert time.monotonic() - started < 3
        assert rest in (None, b"", b"* BYE [TOOBIG] Command line too long\r\n"), rest


# --- the pre-login command budget --------------------------------------------

GOODBYE = {"imaps": b"* BYE Too many commands without logging in\r\n",
           "pop3s": b"-ERR Too many commands without logging in.\r\n",
           "submissions": b"421 4.7.0 Too many commands without authentication\r\n"}
NOOP = {"imaps": "t NOOP\r\n", "pop3s": "NOOP\r\n", "submissions": "NOOP\r\n"}


@pytest.fixture(scope="module")
def budget_gate(dovecot, certs, workroot):
    cfg = default_config(dovecot, certs)
    cfg["limits"]["max_prelogin_commands"] = 12
    mg = Mailgate(cfg, os.path.join(workroot, "mailgate-budget"))
    mg.start()
    yield mg
    mg.stop()


@pytest.mark.parametrize("listener", sorted(GOODBYE))
def test_prelogin_command_budget(budget_gate, certs, listener):
    with RawClient.connect(budget_gate, listener, certs, timeout=5) as c:
        c.readline()
        for _ in range(12):
            c.send(NOOP[listener])
            reply = c.readline()
            assert not reply.startswith((b"* BYE", b"-ERR", b"421")), reply
        c.send(NOOP[listener])
        assert read_to_eof(c) == GOODBYE[listener]


@pytest.mark.parametrize("listener", sorted(GOODBYE))
def test_default_budget_lets_a_chatty_client_log_in(mailgate, certs, listener):
    # 60 pre-login commands, then a login: far more than any real client sends.
    with RawClient.connect(mailgate, listener, certs, timeout=10) as c:
        c.readline()
        c.send(NOOP[listener] * 60)
        for _ in range(60):
            reply = c.readline()
            assert not reply.startswith((b"* BYE", b"-ERR", b"421")), reply
        if listener == "imaps":
            c.send('a LOGIN "%s" "%s"\r\n' % (ALICE, USERS[ALICE]))
            assert c.read_tagged("a")[-1].startswith(b"a OK")
        elif listener == "pop3s":
            c.send("USER %s\r\nPASS %s\r\n" % (ALICE, USERS[ALICE]))
            assert c.readline().startswith(b"+OK")
            assert c.readline().startswith(b"+OK")
        else:
            c.send("EHLO c\r\n")
            c.read_smtp_reply()
            c.send("AUTH PLAIN %s\r\n" % b64(b"\0%s\0%s" % (ALICE.encode(), USERS[ALICE].encode())))
            assert c.read_smtp_reply()[-1].startswith(b"235")


# --- "*" cancels and NUL bytes ------------------------------------------------

@pytest.mark.parametrize("listener", ["pop3s", "submissions"])
def test_cancelled_auth_counts_toward_the_bad_command_limit(mailgate, certs, listener):
    with RawClient.connect(mailgate, listener, certs, timeout=5) as c:
        c.readline()
        if listener == "submissions":
            c.send("EHLO c\r\n")
            c.read_smtp_reply()
        closed_after = None
        for i in range(60):
            try:
                c.send("AUTH PLAIN\r\n")
                c.readline()  # "+ " / "334 "
                c.send("*\r\n")
                reply = c.readline()
            except (EOFError, OSError):
                closed_after = i
                break
            if reply.startswith((b"-ERR Too many", b"421")):
                closed_after = i
                break
        # limits.max_bad_commands is 10 by default.
        assert closed_after is not None and closed_after <= 10, closed_after


def test_nul_in_pop3_user_and_pass_is_refused(mailgate, certs):
    with RawClient.connect(mailgate, "pop3s", certs, timeout=5) as c:
        c.readline()
        c.send(b"USER " + ALICE.encode() + b"\0bob\r\n")
        assert c.readline() == b"-ERR Invalid user name.\r\n"
        c.send(b"USER " + ALICE.encode() + b"\r\nPASS " + USERS[ALICE].encode() + b"\0x\r\n")
        assert c.readline() == b"+OK\r\n"
        assert c.readline() == b"-ERR Invalid password.\r\n"
        c.send("AUTH LOGIN %s\r\n" % b64(ALICE.encode() + b"\0bob"))
        assert c.readline().startswith(b"-ERR [AUTH]")


def test_nul_in_smtp_auth_is_refused(mailgate, certs):
    # Refused by mailgate itself: no login is tried at the backend (which
    # would log a login line with the backend's answer).
    logins_before = mailgate.log_text().count("event=login ")
    with RawClient.connect(mailgate, "submissions", certs, timeout=5) as c:
        c.readline()
        c.send("EHLO c\r\n")
        c.read_smtp_reply()
        c.send("AUTH LOGIN %s\r\n" % b64(ALICE.encode()))
        assert c.readline().startswith(b"334")
        c.send(b64(USERS[ALICE].encode() + b"\0x") + "\r\n")
        assert c.readline().startswith(b"535 5.7.8")
        c.send("AUTH LOGIN %s\r\n" % b64(ALICE.encode() + b"\0bob"))
        assert c.readline().startswith(b"535 5.7.8")
        c.send("QUIT\r\n")
        assert c.readline().startswith(b"221")
    assert mailgate.log_text().count("event=login ") == logins_before
