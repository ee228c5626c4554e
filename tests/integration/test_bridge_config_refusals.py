"""Bridge configuration that cannot work is refused early (issue 10 item 6):
a move_to the backend cannot create is refused at login with -ERR
[SYS/PERM] — never at QUIT, after the client deleted its copies — and a
mailbox keeps the deletions of at most bridge.max_devices devices.
(move_to "INBOX" is refused by --check-config: tests/unit/config.)

    /usr/bin/python3 -m pytest tests/integration/test_bridge_config_refusals.py -q
"""

import pytest

from harness.clients import RawClient
from harness.config import listener

BRIDGE = "pop3s-bridge"


def login(mg, certs, user, password):
    c = RawClient.connect(mg, BRIDGE, certs, timeout=20)
    assert c.readline().startswith(b"+OK")
    c.send("USER %s\r\nPASS %s\r\n" % (user, password))
    assert c.readline().startswith(b"+OK")
    return c, c.readline()


def session(mg, certs, user, password, commands):
    c, answer = login(mg, certs, user, password)
    assert answer.startswith(b"+OK"), answer
    for command in commands:
        c.send(command + "\r\n")
        assert c.readline().startswith(b"+OK"), command
    c.send("QUIT\r\n")
    assert c.readline().startswith(b"+OK")
    c.close()


def test_a_move_to_the_backend_cannot_create_is_refused_at_login(mailgate_factory, dovecot, certs, new_user):
    """Dovecot's maildir uses "." as separator and refuses "/" in names."""
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "move", "move_to": "Archive/POP3"}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user([b"Subject: keep me\r\n\r\nx\r\n"])
    c, answer = login(mg, certs, user, pw)
    assert answer.startswith(b"-ERR [SYS/PERM] The folder for deleted messages (move_to \"Archive/POP3\") "
                             b"cannot be created on the backend"), answer
    c.close()
    assert "reason=move_to_unusable" in mg.log_text()


def test_a_move_to_that_exists_or_can_be_created_logs_in(mailgate_factory, dovecot, certs, new_user):
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "move", "move_to": "POP3-Moved"}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user([b"Subject: one\r\n\r\nx\r\n", b"Subject: two\r\n\r\ny\r\n"])
    session(mg, certs, user, pw, ["DELE 1"])  # created at this login
    session(mg, certs, user, pw, ["DELE 1"])  # exists at this one
    imap = dovecot.imap(user, pw)
    typ, data = imap.select("POP3-Moved")
    assert typ == "OK" and int(data[0]) == 2
    imap.logout()


def test_devices_past_max_devices_are_refused(mailgate_factory, dovecot, certs, new_user):
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "hide", "max_devices": 2}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user([b"Subject: m%d\r\n\r\nx\r\n" % i for i in range(3)])
    session(mg, certs, user + "#phone", pw, ["DELE 1"])
    session(mg, certs, user + "#laptop", pw, ["DELE 2"])
    c, answer = login(mg, certs, user + "#tablet", pw)
    assert answer.startswith(b"-ERR [SYS/PERM] This mailbox already keeps deletions for 2 devices"), answer
    c.close()
    # The devices it knows still log in, and see their own view.
    c, answer = login(mg, certs, user + "#phone", pw)
    assert answer.startswith(b"+OK"), answer
    c.send("STAT\r\n")
    assert c.readline().startswith(b"+OK 2 ")
    c.send("QUIT\r\n")
    c.readline()
    c.close()
