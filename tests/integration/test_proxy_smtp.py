"""SMTP submission proxy mode (docs/architecture.md §2.1): submissions and submission + STARTTLS,
relayed to Dovecot's submission service, which relays to the test sink."""
import base64
import smtplib
import uuid

import pytest

from harness import USERS, closed_port, set_backend, wait_until
from harness.clients import RawClient, smtp_client

ALICE = "alice@example.com"
SMTP_LISTENERS = ["submissions", "submission-starttls"]


def make_message(tag, size=0):
    mid = "<%s-%s@example.com>" % (tag, uuid.uuid4().hex)
    body = "Hello from %s.\r\n" % tag + ("y" * 70 + "\r\n") * (size // 72)
    return mid, ("From: %s\r\nTo: rcpt@example.org\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n%s"
                 % (ALICE, tag, mid, body)).encode()


def wait_relayed(dovecot, mid):
    def find():
        for m in dovecot.relay_messages():
            if mid.encode() in m.data:
                return m
        return None
    return wait_until(find, timeout=15, what="message %s at the sink" % mid)


@pytest.mark.parametrize("listener", SMTP_LISTENERS)
def test_send_message(mailgate, dovecot, certs, listener):
    s = smtp_client(mailgate, listener, certs)
    assert s.has_extn("auth")
    s.login(ALICE, USERS[ALICE])
    mid, msg = make_message(listener)
    refused = s.sendmail(ALICE, ["rcpt@example.org"], msg)
    assert refused == {}
    s.quit()
    m = wait_relayed(dovecot, mid)
    assert m.mail_from == ALICE
    assert m.rcpt_tos == ["rcpt@example.org"]
    assert m.data.endswith(msg.split(b"\r\n\r\n", 1)[1])


def test_send_1mb_message(mailgate, dovecot, certs):
    s = smtp_client(mailgate, "submissions", certs, timeout=60)
    s.login(ALICE, USERS[ALICE])
    mid, msg = make_message("big", size=1024 * 1024)
    assert s.sendmail(ALICE, ["rcpt@example.org"], msg) == {}
    s.quit()
    m = wait_relayed(dovecot, mid)
    assert msg.split(b"\r\n\r\n", 1)[1] in m.data


@pytest.mark.parametrize("listener", SMTP_LISTENERS)
def test_wrong_password_then_retry(mailgate, certs, listener):
    s = smtp_client(mailgate, listener, certs)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login(ALICE, "wrong-password")
    assert e.value.smtp_code == 535
    s.login(ALICE, USERS[ALICE])
    s.quit()


def test_ehlo_before_starttls(mailgate, certs):
    with RawClient.connect(mailgate, "submission-starttls", certs) as r:
        assert r.readline().startswith(b"220")
        r.send(b"EHLO client.test\r\n")
        lines = r.read_smtp_reply()
        assert lines[0].startswith(b"250")
        assert any(b"STARTTLS" in line for line in lines)
        r.send(b"AUTH PLAIN " + base64.b64encode(
            b"\0" + ALICE.encode() + b"\0" + USERS[ALICE].encode()) + b"\r\n")
        answer = r.read_smtp_reply()[-1]
        assert answer[:1] == b"5", answer      # 530/538: must issue STARTTLS first
        r.send(b"NOOP\r\n")
        assert r.read_smtp_reply()[-1].startswith(b"250")
        r.send(b"RSET\r\n")
        assert r.read_smtp_reply()[-1].startswith(b"250")
        r.send(b"QUIT\r\n")
        assert r.read_smtp_reply()[-1].startswith(b"221")


def test_starttls_injection_discarded(mailgate, certs):
    with RawClient.connect(mailgate, "submission-starttls", certs) as r:
        assert r.readline().startswith(b"220")
        r.send(b"EHLO client.test\r\n")
        r.read_smtp_reply()
        r.send(b"STARTTLS\r\nNOOP\r\n")
        assert r.read_smtp_reply()[-1].startswith(b"220")
        r.buf += r.read_available(0.3)
        assert r.buf == b"", "cleartext after STARTTLS 220: %r" % r.buf
        try:
            r.upgrade(certs)
        except (OSError, EOFError) as e:   # contract: discard the plaintext, keep serving
            pytest.fail("TLS handshake after pipelined STARTTLS failed: %r" % e)
        injected = r.read_available(0.7)
        assert injected == b"", "server answered the injected NOOP: %r" % injected
        r.send(b"EHLO client.test\r\n")
        lines = r.read_smtp_reply()
        assert lines[0].startswith(b"250")
        assert any(b"AUTH" in line for line in lines)
        assert not any(b"STARTTLS" in line for line in lines)


def test_auth_plain_initial_response(mailgate, dovecot, certs):
    with RawClient.connect(mailgate, "submissions", certs) as r:
        assert r.readline().startswith(b"220")
        r.send(b"EHLO client.test\r\n")
        r.read_smtp_reply()
        r.send(b"AUTH PLAIN " + base64.b64encode(
            b"\0" + ALICE.encode() + b"\0" + USERS[ALICE].encode()) + b"\r\n")
        answer = r.read_smtp_reply()[-1]
        assert answer.startswith(b"235"), answer


def test_backend_down_454(mailgate_factory, certs):
    mg = mailgate_factory(modify=lambda cfg: set_backend(
        cfg, imap=closed_port(), pop3=closed_port(), smtp=closed_port()))
    for listener in SMTP_LISTENERS:
        s = smtp_client(mg, listener, certs)
        with pytest.raises(smtplib.SMTPException) as e:
            s.login(ALICE, USERS[ALICE])
        err = e.value
        code = getattr(err, "smtp_code", None)
        text = getattr(err, "smtp_error", b"")
        if code is None and hasattr(err, "args") and err.args:   # smtplib wraps per mechanism
            code, text = getattr(err.args[0], "smtp_code", None), str(err)
        assert code == 454 or "454" in str(err), repr(err)
        assert b"4.7.0" in (text if isinstance(text, bytes) else text.encode()) or "4.7.0" in str(err)
        s.close()


def test_bad_input_parallel_client_served(mailgate, dovecot, certs):
    good = smtp_client(mailgate, "submissions", certs)
    with RawClient.connect(mailgate, "submissions", certs) as r:
        r.readline()
        r.send(b"\xff\xfe garbage\r\n")
        assert r.read_smtp_reply()[-1][:1] == b"5"
        closed = False
        try:
            r.send(b"EHLO " + b"x" * 100_000 + b"\r\n")
            assert r.read_smtp_reply()[-1][:1] in (b"4", b"5")
            for _ in range(50):
                r.send(b"FROB\r\n")
                assert r.read_smtp_reply()[-1][:1] in (b"4", b"5")
        except (EOFError, ConnectionError, OSError):
            closed = True
        assert closed, "SMTP connection survived 50 bad commands"
    good.login(ALICE, USERS[ALICE])
    mid, msg = make_message("parallel")
    assert good.sendmail(ALICE, ["rcpt@example.org"], msg) == {}
    good.quit()
    wait_relayed(dovecot, mid)
