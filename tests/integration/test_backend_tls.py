"""TLS from mailgate to the backend, per pool (docs/configuration.md `tls`, `ca_file`,
`insecure_skip_verify`, `tls_server_name`), in proxy mode for IMAP, POP3 and
SMTP against a Dovecot with ssl = yes.

Fail-closed contract: a certificate that does not verify (wrong CA, wrong
name), a backend that does not offer STARTTLS, or an IMAP backend that
greets with PREAUTH (so STARTTLS can never happen) gives the client the
protocol's temporary error, and the backend never sees the credentials in
clear (no login line in Dovecot's log, no password at the fake server).
"""
import os
import socket
import threading
import time

import pytest

from harness import Dovecot, make_self_signed, only_listeners, set_backend
from harness.clients import RawClient

TINA, TINA_PW = "tina@example.com", "tina-pw"
LISTENER = {"imap": "imaps", "pop3": "pop3s", "smtp": "submissions"}
TEMP = {"imap": b"a NO [UNAVAILABLE]", "pop3": b"-ERR [SYS/TEMP]", "smtp": b"454"}
LOGIN_SERVICE = {"imap": "imap-login", "pop3": "pop3-login", "smtp": "submission-login"}


@pytest.fixture(scope="module")
def tls_dovecot(workroot, certs):
    d = Dovecot(os.path.join(workroot, "dovecot-backend-tls"), users={TINA: TINA_PW},
                ssl=True, cert=certs.cert, key=certs.key)
    d.start()
    d.add_message(TINA, b"Subject: over tls\r\n\r\nhello\r\n")
    yield d
    d.stop()
    d.cleanup()


def ports(d, mode):
    if mode == "implicit":
        return dict(imap=d.imaps_port, pop3=d.pop3s_port, smtp=d.submissions_port)
    return dict(imap=d.imap_port, pop3=d.pop3_port, smtp=d.submission_port)


def tls_config(cfg, backend, mode, **pool_keys):
    only_listeners(cfg, *LISTENER.values())
    set_backend(cfg, **ports(backend, mode))
    pool = cfg["pools"]["local"]
    pool["tls"] = mode
    pool.update(pool_keys)
    return cfg


def login(mg, certs, protocol, user, password):
    """Log in through mailgate with a raw client; the final answer line."""
    with RawClient.connect(mg, LISTENER[protocol], certs, timeout=20) as r:
        r.readline() if protocol != "smtp" else r.read_smtp_reply()
        if protocol == "imap":
            r.send(b"a LOGIN %s %s\r\n" % (user.encode(), password.encode()))
            return r.read_tagged("a")[-1]
        if protocol == "pop3":
            r.send(b"USER %s\r\n" % user.encode())
            r.readline()
            r.send(b"PASS %s\r\n" % password.encode())
            return r.readline()
        import base64
        r.send(b"EHLO client.test\r\n")
        r.read_smtp_reply()
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        r.send(b"AUTH PLAIN " + token + b"\r\n")
        return r.read_smtp_reply()[-1]


def ok(protocol, answer):
    return answer.startswith({"imap": b"a OK", "pop3": b"+OK", "smtp": b"235"}[protocol])


def login_lines(d, protocol, user):
    return [line for line in d.log_text().splitlines()
            if "%s: Info: Login: user=<%s>" % (LOGIN_SERVICE[protocol], user) in line]


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
@pytest.mark.parametrize("name", ["default", "localhost"])
def test_tls_with_ca(mailgate_factory, make_config, tls_dovecot, certs, protocol, mode, name):
    # "default": verified against the member's host, 127.0.0.1 (IP SAN).
    extra = {} if name == "default" else {"tls_server_name": name}
    mg = mailgate_factory(tls_config(make_config(), tls_dovecot, mode, ca_file=certs.ca_cert, **extra))
    before = len(login_lines(tls_dovecot, protocol, TINA))
    answer = login(mg, certs, protocol, TINA, TINA_PW)
    assert ok(protocol, answer), answer
    time.sleep(0.2)
    lines = login_lines(tls_dovecot, protocol, TINA)
    assert len(lines) > before
    assert ", TLS" in lines[-1], lines[-1]  # Dovecot saw the login over TLS


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
@pytest.mark.parametrize("what", ["wrong_ca", "wrong_name"])
def test_unverified_backend_is_temporary(mailgate_factory, make_config, tls_dovecot, certs,
                                         tmp_path, protocol, mode, what):
    if what == "wrong_ca":
        other = str(tmp_path / "other-ca.pem")
        make_self_signed(other, str(tmp_path / "other-ca.key"))
        keys = {"ca_file": other}
    else:
        keys = {"ca_file": certs.ca_cert, "tls_server_name": "wrong.example.com"}
    mg = mailgate_factory(tls_config(make_config(), tls_dovecot, mode, **keys))
    before = len(login_lines(tls_dovecot, protocol, TINA))
    t0 = time.monotonic()
    answer = login(mg, certs, protocol, TINA, TINA_PW)
    assert answer.startswith(TEMP[protocol]), answer
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    assert len(login_lines(tls_dovecot, protocol, TINA)) == before, "backend saw a login"


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_insecure_skip_verify_connects(mailgate_factory, make_config, tls_dovecot, certs,
                                       tmp_path, protocol, mode):
    other = str(tmp_path / "other-ca.pem")
    make_self_signed(other, str(tmp_path / "other-ca.key"))
    # A CA that would not verify, and a wrong name: both ignored.
    mg = mailgate_factory(tls_config(make_config(), tls_dovecot, mode, ca_file=other,
                                     tls_server_name="wrong.example.com",
                                     insecure_skip_verify=True))
    answer = login(mg, certs, protocol, TINA, TINA_PW)
    assert ok(protocol, answer), answer
    time.sleep(0.2)
    assert ", TLS" in login_lines(tls_dovecot, protocol, TINA)[-1]


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_starttls_not_offered_fails_closed(mailgate_factory, make_config, dovecot, certs,
                                           new_user, protocol):
    """The session Dovecot runs ssl = no: it offers no STARTTLS/STLS."""
    user, pw = new_user(prefix="nostarttls")
    cfg = make_config()
    only_listeners(cfg, *LISTENER.values())
    cfg["pools"]["local"].update({"tls": "starttls", "ca_file": certs.ca_cert})
    mg = mailgate_factory(cfg)
    answer = login(mg, certs, protocol, user, pw)
    assert answer.startswith(TEMP[protocol]), answer
    time.sleep(0.2)
    assert "user=<%s>" % user not in dovecot.log_text(), "credentials reached the backend"


class PreauthServer:
    """An IMAP 'backend' that greets the first connection (mailgate's health
    check) with * OK and every later one with PREAUTH; records what it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            greeting = b"* OK ready\r\n" if self.connections == 1 else \
                b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in already\r\n"
            threading.Thread(target=self.talk, args=(c, greeting), daemon=True).start()

    def talk(self, c, greeting):
        c.settimeout(3)
        try:
            c.sendall(greeting)
            while True:
                data = c.recv(4096)
                if not data:
                    break
                self.received += data
                if b"STARTTLS" in data.upper():
                    c.sendall(b"s BAD already authenticated\r\n")
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stopped = True
        self.sock.close()


@pytest.mark.parametrize("mode", ["starttls", "none"])
def test_imap_preauth_backend_fails_closed(mailgate_factory, make_config, certs, mode):
    fake = PreauthServer()
    try:
        cfg = make_config()
        only_listeners(cfg, "imaps")
        set_backend(cfg, imap=fake.port)
        cfg["pools"]["local"].update({"tls": mode, "health": {"interval_s": 3600}})
        if mode != "none":
            cfg["pools"]["local"]["ca_file"] = certs.ca_cert
        mg = mailgate_factory(cfg)
        # Let the one health check (the * OK greeting) happen first.
        deadline = time.monotonic() + 5
        while fake.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        answer = login(mg, certs, "imap", "alice@example.com", "secret-preauth-pw")
        assert answer.startswith(b"a NO [UNAVAILABLE]"), answer
        assert fake.connections >= 2, "the login never reached the fake backend"
        time.sleep(0.2)
        assert b"secret-preauth-pw" not in fake.received, fake.received
    finally:
        fake.close()
