"""A client-chosen SASL authorization identity never reaches the backend
(security issue #8, item 1).

The oracle is Dovecot's own master-user passdb (auth_master_user_separator):
an auth_http service rewrites every login to "<user>*master" with the master
password, as ISPs running nginx's auth_http with Dovecot do. Dovecot logs in
whoever the PLAIN authzid names when one is sent, so a forwarded client
authzid would open someone else's mailbox. Who got logged in is read from
Dovecot's log ("Login: user=<...>") and from the mailbox contents (alice has
3 messages, bob 2, carol 1).

Rules (RFC 4616 §2 lets a server refuse any authzid it does not allow):
  - an authzid that is neither empty nor the authcid is refused with the
    protocol's authentication failure before any lookup;
  - after a lookup rewrites the login, the backend gets exactly the lookup's
    user and password;
  - mailgate's log names the identity used at the backend.
"""
import base64
import os
import re

import pytest

from harness import Dovecot, default_config, wait_until
from harness.clients import RawClient
from test_routing_lookups import AuthService

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
PASSWORDS = {ALICE: "alice-pw", BOB: "bob-pw", CAROL: "carol-pw"}
MASTER = "master"
MASTER_PW = "master-secret"
COUNTS = {ALICE: 3, BOB: 2, CAROL: 1}

# How a client logs in with SASL PLAIN, per listener.
KINDS = ["imap-sasl-ir", "imap-continuation", "pop3", "smtp", "bridge"]
LISTENER = {"imap-sasl-ir": "imaps", "imap-continuation": "imaps", "pop3": "pop3s",
            "smtp": "submissions", "bridge": "pop3s-bridge"}


@pytest.fixture(scope="module")
def master_dovecot(workroot):
    d = Dovecot(os.path.join(workroot, "dovecot-master"), users=dict(PASSWORDS),
                master_users={MASTER: MASTER_PW})
    d.start()
    for user, n in COUNTS.items():
        for i in range(n):
            d.add_message(user, ("From: x@example.org\r\nSubject: %s %d\r\n\r\nbody\r\n"
                                 % (user, i)).encode())
    yield d
    d.stop()
    d.cleanup()


@pytest.fixture
def auth():
    s = AuthService()
    yield s
    s.close()


def answer_master(auth, dovecot, kind, to_user=None):
    """OK to the harness Dovecot, logging in as "<user>*master" where <user>
    is `to_user` or the Auth-User the service was asked about."""
    port = {"imap": dovecot.imap_port, "smtp": dovecot.submission_port,
            "pop3": dovecot.imap_port if kind == "bridge" else dovecot.pop3_port}

    def answer(h):
        user = to_user or h["Auth-User"]
        return 200, [("Auth-Status", "OK"), ("Auth-Server", "127.0.0.1"),
                     ("Auth-Port", str(port[h["Auth-Protocol"]])),
                     ("Auth-User", user + "*" + MASTER), ("Auth-Pass", MASTER_PW)], 0
    auth.answer = answer


@pytest.fixture
def gate(mailgate_factory, master_dovecot, certs, auth):
    cfg = default_config(master_dovecot, certs)
    cfg["routes"]["default"] = {"type": "http", "url": auth.url(), "cache_ttl_s": 0,
                                "timeout_ms": 2000}
    return mailgate_factory(config=cfg)


def plain(authzid, authcid, password):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, password)).encode()).decode()


def sasl_plain_login(mg, certs, kind, b64):
    """Logs in with AUTHENTICATE/AUTH PLAIN; returns (ok, messages in INBOX or
    None for SMTP)."""
    with RawClient.connect(mg, LISTENER[kind], certs) as c:
        c.readline()  # greeting
        if kind.startswith("imap"):
            if kind == "imap-sasl-ir":
                c.send("a AUTHENTICATE PLAIN %s\r\n" % b64)
            else:
                c.send("a AUTHENTICATE PLAIN\r\n")
                assert c.readline().startswith(b"+")
                c.send(b64 + "\r\n")
            reply = c.read_tagged("a")[-1]
            if not reply.startswith(b"a OK"):
                assert reply.startswith(b"a NO"), reply
                return False, None
            c.send("b SELECT INBOX\r\n")
            lines = c.read_tagged("b")
            exists = [int(m.group(1)) for m in (re.match(rb"\* (\d+) EXISTS", x) for x in lines) if m]
            return True, exists[0]
        if kind in ("pop3", "bridge"):
            c.send("AUTH PLAIN %s\r\n" % b64)
            reply = c.readline()
            if not reply.startswith(b"+OK"):
                assert reply.startswith(b"-ERR"), reply
                return False, None
            c.send("STAT\r\n")
            stat = c.readline()
            assert stat.startswith(b"+OK"), stat
            c.send("QUIT\r\n")
            return True, int(stat.split()[1])
        c.send("EHLO client.test\r\n")
        c.read_smtp_reply()
        c.send("AUTH PLAIN %s\r\n" % b64)
        reply = c.read_smtp_reply()[-1]
        if not reply.startswith(b"235"):
            assert reply.startswith(b"535"), reply
            return False, None
        c.send("QUIT\r\n")
        return True, None


def dovecot_logins_since(dovecot, offset):
    """Users Dovecot logged in after log offset `offset`."""
    return re.findall(r"-login: Info: Login: user=<([^>]*)>", dovecot.log_text()[offset:])


def mailgate_login_users(mg):
    return re.findall(r"event=login .*?user=(\S+) .*?result=ok", mg.log_text())


@pytest.mark.parametrize("kind", KINDS)
def test_foreign_authzid_is_refused_before_any_lookup(gate, master_dovecot, certs, auth, kind):
    # alice proves she is alice and asks to act as bob: refused, the auth
    # service is never asked, and Dovecot logs nobody in.
    answer_master(auth, master_dovecot, kind)
    mark = len(master_dovecot.log_text())
    ok, count = sasl_plain_login(gate, certs, kind, plain(BOB, ALICE, PASSWORDS[ALICE]))
    assert (ok, count) == (False, None), "logged in (INBOX of %s messages)" % count
    assert auth.requests == []
    assert dovecot_logins_since(master_dovecot, mark) == []


@pytest.mark.parametrize("kind", KINDS)
def test_authzid_equal_to_authcid_logs_in(gate, master_dovecot, certs, auth, kind):
    answer_master(auth, master_dovecot, kind)
    mark = len(master_dovecot.log_text())
    ok, count = sasl_plain_login(gate, certs, kind, plain(ALICE, ALICE, PASSWORDS[ALICE]))
    assert ok
    assert count in (None, COUNTS[ALICE])
    wait_until(lambda: dovecot_logins_since(master_dovecot, mark) == [ALICE], timeout=5)
    # The log names the identity used at the backend.
    wait_until(lambda: mailgate_login_users(gate) == [ALICE + "*" + MASTER], timeout=5)


@pytest.mark.parametrize("kind", KINDS)
def test_backend_gets_exactly_the_lookups_user(gate, master_dovecot, certs, auth, kind):
    # The service sends every login to carol's mailbox: the client's own
    # authzid (alice, equal to its authcid) must not travel along and win
    # over the lookup's user at the backend.
    answer_master(auth, master_dovecot, kind, to_user=CAROL)
    mark = len(master_dovecot.log_text())
    ok, count = sasl_plain_login(gate, certs, kind, plain(ALICE, ALICE, PASSWORDS[ALICE]))
    assert ok
    assert count in (None, COUNTS[CAROL])
    wait_until(lambda: dovecot_logins_since(master_dovecot, mark) == [CAROL], timeout=5)
    wait_until(lambda: mailgate_login_users(gate) == [CAROL + "*" + MASTER], timeout=5)


def test_plain_login_command_is_unaffected(gate, master_dovecot, certs, auth):
    answer_master(auth, master_dovecot, "imap")
    mark = len(master_dovecot.log_text())
    with RawClient.connect(gate, "imaps", certs) as c:
        c.readline()
        c.send('a LOGIN "%s" "%s"\r\n' % (ALICE, PASSWORDS[ALICE]))
        assert c.read_tagged("a")[-1].startswith(b"a OK")
        c.send("b SELECT INBOX\r\n")
        assert b"* %d EXISTS\r\n" % COUNTS[ALICE] in c.read_tagged("b")
    wait_until(lambda: dovecot_logins_since(master_dovecot, mark) == [ALICE], timeout=5)
