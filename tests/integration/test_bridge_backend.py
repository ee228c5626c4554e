"""The bridge's IMAP connection to the backend: STARTTLS and implicit TLS
(verified against the test CA), the client's address forwarded with IMAP ID
(Dovecot logs it as rip=), and an unreachable backend.

    /usr/bin/python3 -m pytest tests/integration/test_bridge_backend.py -q
"""
import os
import time

import pytest

from harness import Dovecot, closed_port, set_backend
from harness.clients import RawClient

BRIDGE = "pop3s-bridge"


@pytest.fixture(scope="module")
def tls_dovecot(workroot, certs):
    d = Dovecot(os.path.join(workroot, "dovecot-tls"), users={"tina@example.com": "tina-pw"},
                ssl=True, cert=certs.cert, key=certs.key)
    d.start()
    d.add_message("tina@example.com", b"Subject: over tls\r\n\r\nhello\r\n")
    yield d
    d.stop()
    d.cleanup()


def pop3_session(mg, certs, user, password, source=None):
    c = RawClient.connect(mg, BRIDGE, certs, source=source)
    assert c.readline().startswith(b"+OK")
    c.send("USER %s\r\n" % user)
    assert c.readline().startswith(b"+OK")
    c.send("PASS %s\r\n" % password)
    return c, c.readline()


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_backend_tls(mailgate_factory, tls_dovecot, certs, mode):
    def modify(cfg):
        pool = cfg["pools"]["local"]
        pool["tls"] = mode
        pool["ca_file"] = certs.ca_cert
        pool["tls_server_name"] = "localhost"
        set_backend(cfg, imap=tls_dovecot.imaps_port if mode == "implicit" else tls_dovecot.imap_port)
    mg = mailgate_factory(modify=modify)
    c, answer = pop3_session(mg, certs, "tina@example.com", "tina-pw")
    assert answer.startswith(b"+OK"), answer
    c.send("RETR 1\r\n")
    lines = c.read_until(lambda l: l == b".\r\n")
    assert b"Subject: over tls\r\n" in b"".join(lines)
    c.send("QUIT\r\n")
    assert c.readline().startswith(b"+OK")
    c.close()
    time.sleep(0.3)
    assert "secured" in tls_dovecot.log_text() or "TLS" in tls_dovecot.log_text()


def test_backend_tls_verification_failure_is_temporary(mailgate_factory, tls_dovecot, certs, tmp_path):
    from harness import make_self_signed
    other_ca = str(tmp_path / "other.pem")
    make_self_signed(other_ca, str(tmp_path / "other.key"))

    def modify(cfg):
        pool = cfg["pools"]["local"]
        pool["tls"] = "implicit"
        pool["ca_file"] = other_ca
        set_backend(cfg, imap=tls_dovecot.imaps_port)
    mg = mailgate_factory(modify=modify)
    c, answer = pop3_session(mg, certs, "tina@example.com", "tina-pw")
    assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
    c.close()


def test_client_ip_forwarded_with_id(mailgate_factory, dovecot, certs):
    def modify(cfg):
        cfg["pools"]["local"]["client_ip"] = "id"
    mg = mailgate_factory(modify=modify)
    c, answer = pop3_session(mg, certs, "carol@example.com", "carol-pw", source="127.0.0.5")
    assert answer.startswith(b"+OK"), answer
    c.send("QUIT\r\n")
    c.readline()
    c.close()
    time.sleep(0.3)
    logins = [l for l in dovecot.log_text().splitlines()
              if "imap-login: Info: Login: user=<carol@example.com>" in l]
    assert logins and "rip=127.0.0.5" in logins[-1], logins[-1:]


def test_unreachable_backend(mailgate_factory, certs):
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, imap=closed_port()))
    c, answer = pop3_session(mg, certs, "alice@example.com", "alice-pw")
    assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
    c.close()
