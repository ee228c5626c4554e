"""POP3 proxy mode (docs/architecture.md §2.1): pop3s and pop3 + STLS relayed to Dovecot's POP3."""
import poplib

import pytest

from conftest import SEED_MESSAGES
from harness import USERS, closed_port, set_backend
from harness.clients import RawClient, pop3_client

ALICE = "alice@example.com"
POP3_LISTENERS = ["pop3s", "pop3-starttls"]


def _direct_uidl(dovecot):
    p = poplib.POP3("127.0.0.1", dovecot.pop3_port, timeout=10)
    p.user(ALICE)
    p.pass_(USERS[ALICE])
    uidl = p.uidl()[1]
    p.quit()
    return uidl


@pytest.mark.parametrize("listener", POP3_LISTENERS)
def test_login_stat_uidl_retr(mailgate, dovecot, certs, listener):
    p = pop3_client(mailgate, listener, certs)
    assert p.user(ALICE).startswith(b"+OK")
    assert p.pass_(USERS[ALICE]).startswith(b"+OK")
    count, size = p.stat()
    assert count == len(SEED_MESSAGES[ALICE])
    assert p.uidl()[1] == _direct_uidl(dovecot)   # relayed: byte-identical to Dovecot's
    resp, lines, octets = p.retr(1)
    assert resp.startswith(b"+OK")
    assert b"\r\n".join(lines) + b"\r\n" == SEED_MESSAGES[ALICE][0]
    p.quit()


@pytest.mark.parametrize("listener", POP3_LISTENERS)
def test_wrong_password_then_retry(mailgate, certs, listener):
    p = pop3_client(mailgate, listener, certs)
    p.user(ALICE)
    with pytest.raises(poplib.error_proto):
        p.pass_("wrong-password")
    p.user(ALICE)
    assert p.pass_(USERS[ALICE]).startswith(b"+OK")
    assert p.stat()[0] == len(SEED_MESSAGES[ALICE])
    p.quit()


def test_capa_preauth(mailgate, certs):
    with RawClient.connect(mailgate, "pop3-starttls", certs) as r:
        assert r.readline().startswith(b"+OK")
        r.send(b"CAPA\r\n")
        lines = r.read_until(lambda line: line == b".\r\n")
        assert lines[0].startswith(b"+OK")
        assert b"STLS\r\n" in lines
        r.send(b"NOOP\r\n")
        assert r.readline().startswith((b"+OK", b"-ERR"))  # answered, either way
        r.send(b"QUIT\r\n")
        assert r.readline().startswith(b"+OK")


def test_plaintext_login_refused_before_stls(mailgate, certs):
    with RawClient.connect(mailgate, "pop3-starttls", certs) as r:
        assert r.readline().startswith(b"+OK")
        r.send(b"USER %s\r\n" % ALICE.encode())
        answer = r.readline()
        if answer.startswith(b"+OK"):
            r.send(b"PASS %s\r\n" % USERS[ALICE].encode())
            answer = r.readline()
        assert answer.startswith(b"-ERR"), answer
        r.send(b"STLS\r\n")
        assert r.readline().startswith(b"+OK")
        r.upgrade(certs)
        r.send(b"USER %s\r\nPASS %s\r\n" % (ALICE.encode(), USERS[ALICE].encode()))
        assert r.readline().startswith(b"+OK")
        assert r.readline().startswith(b"+OK")


def test_stls_injection_discarded(mailgate, certs):
    with RawClient.connect(mailgate, "pop3-starttls", certs) as r:
        assert r.readline().startswith(b"+OK")
        r.send(b"STLS\r\nCAPA\r\n")
        assert r.readline().startswith(b"+OK")
        r.buf += r.read_available(0.3)
        assert r.buf == b"", "cleartext after STLS +OK: %r" % r.buf
        try:
            r.upgrade(certs)
        except (OSError, EOFError) as e:   # contract: discard the plaintext, keep serving
            pytest.fail("TLS handshake after pipelined STARTTLS failed: %r" % e)
        injected = r.read_available(0.7)
        assert injected == b"", "server answered the injected CAPA: %r" % injected
        r.send(b"QUIT\r\n")
        assert r.readline().startswith(b"+OK")


def test_user_pass_pipelined(mailgate, certs):
    """Like mpop: USER and PASS in one write."""
    with RawClient.connect(mailgate, "pop3s", certs) as r:
        assert r.readline().startswith(b"+OK")
        r.send(b"USER %s\r\nPASS %s\r\nSTAT\r\n" % (ALICE.encode(), USERS[ALICE].encode()))
        assert r.readline().startswith(b"+OK")
        assert r.readline().startswith(b"+OK")
        stat = r.readline()
        assert stat.startswith(b"+OK %d " % len(SEED_MESSAGES[ALICE])), stat
        r.send(b"QUIT\r\n")
        assert r.readline().startswith(b"+OK")


def test_auth_plain(mailgate, certs):
    import base64
    cred = base64.b64encode(b"\0" + ALICE.encode() + b"\0" + USERS[ALICE].encode())
    with RawClient.connect(mailgate, "pop3s", certs) as r:
        r.readline()
        r.send(b"AUTH PLAIN " + cred + b"\r\n")
        assert r.readline().startswith(b"+OK")
        r.send(b"STAT\r\n")
        assert r.readline().startswith(b"+OK %d " % len(SEED_MESSAGES[ALICE]))


def test_backend_down_sys_temp(mailgate_factory, certs):
    mg = mailgate_factory(modify=lambda cfg: set_backend(
        cfg, imap=closed_port(), pop3=closed_port(), smtp=closed_port()))
    for listener in POP3_LISTENERS:
        with RawClient.connect(mg, listener, certs) as r:
            assert r.readline().startswith(b"+OK")
            if listener == "pop3-starttls":
                r.send(b"STLS\r\n")
                r.readline()
                r.upgrade(certs)
            r.send(b"USER %s\r\n" % ALICE.encode())
            assert r.readline().startswith(b"+OK")
            r.send(b"PASS %s\r\n" % USERS[ALICE].encode())
            answer = r.readline()
            assert answer.startswith(b"-ERR [SYS/TEMP]"), answer


def test_overlong_line_and_garbage(mailgate, certs):
    good = pop3_client(mailgate, "pop3s", certs)
    with RawClient.connect(mailgate, "pop3s", certs) as r:
        r.readline()
        r.send(b"\xff\xfe garbage\r\n")
        assert r.readline().startswith(b"-ERR")
        r.send(b"USER " + b"x" * 100_000 + b"\r\n")
        try:
            assert r.readline().startswith(b"-ERR")
        except (EOFError, OSError):
            pass
    with RawClient.connect(mailgate, "pop3s", certs) as r:
        r.readline()
        closed = False
        try:
            for _ in range(50):
                r.send(b"FROB\r\n")
                assert r.readline().startswith(b"-ERR")
        except (EOFError, ConnectionError, OSError):
            closed = True
        assert closed, "POP3 connection survived 50 bad commands"
    good.user(ALICE)
    assert good.pass_(USERS[ALICE]).startswith(b"+OK")
    good.quit()
