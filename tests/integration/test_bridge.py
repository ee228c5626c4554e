"""The POP3 bridge (docs/architecture.md §2.3) against a real Dovecot, with Dovecot's own
POP3 as the oracle for bytes and a second, direct IMAP client (imaplib) on the
same mailbox to check what the bridge did (or did not) write.

    /usr/bin/python3 -m pytest tests/integration/test_bridge.py -q
"""
import base64
import os
import random
import re
import socket
import subprocess
import time

import pytest

from harness.clients import RawClient, pop3_client
from harness.config import listener
from harness.util import sanitizer_build

BRIDGE = "pop3s-bridge"


def msg(subject, body, eol=b"\r\n", final_eol=True):
    head = [b"From: sender@example.org", b"To: someone@example.com",
            b"Subject: " + subject.encode(), b"Message-ID: <" + subject.encode() + b"@t>"]
    lines = head + [b""] + body
    data = eol.join(lines)
    return data + eol if final_eol else data


def corpus():
    rnd = random.Random(1939)
    attachment = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024)))
    return [
        msg("plain", [b"Hello.", b"Two lines."]),
        msg("dots", [b".leading dot", b"..two dots", b".", b"a. b", b"...", b"end"]),
        msg("long-lines", [b"x" * 5000, b"y" * 998, b"z" * 20000]),
        msg("eight-bit", [bytes(range(0x80, 0x100)), "Grüße, ça va? Ωμέγα".encode(), b"\xff\xfe"]),
        msg("no-final-crlf", [b"first", b"last line without end"], final_eol=False),
        msg("lf-only", [b"stored with bare LF", b".dot", b"end"], eol=b"\n"),
        msg("no-body", [], final_eol=True)[:-2],  # header only, no empty line
        msg("attachment", [b"Content-Type: application/octet-stream", b""]
            + attachment.replace(b"\n", b"\r\n").split(b"\r\n")),
    ]


class Pop3Raw:
    """Byte-exact POP3: multi-line answers are returned with stuffing and
    terminator as the server sent them."""

    def __init__(self, sock):
        self.c = RawClient(sock)

    @classmethod
    def bridge(cls, mg, certs):
        c = RawClient.connect(mg, BRIDGE, certs)
        p = cls.__new__(cls)
        p.c = c
        return p

    @classmethod
    def dovecot(cls, dovecot):
        return cls(socket.create_connection(("127.0.0.1", dovecot.pop3_port), timeout=15))

    def line(self):
        return self.c.readline()

    def cmd(self, text):
        self.c.send(text + "\r\n")
        return self.line()

    def multi(self, text):
        first = self.cmd(text)
        if not first.startswith(b"+OK"):
            return first, None
        body = bytearray()
        while True:
            line = self.c.readline()
            if line == b".\r\n":
                return first, bytes(body) + b".\r\n"
            body += line

    def login(self, user, password):
        greeting = self.line()
        assert greeting.startswith(b"+OK"), greeting
        assert self.cmd("USER " + user).startswith(b"+OK")
        return self.cmd("PASS " + password)

    def close(self):
        self.c.close()


def bridge_login(mg, certs, user, password):
    p = Pop3Raw.bridge(mg, certs)
    r = p.login(user, password)
    assert r.startswith(b"+OK"), r
    return p


def flags_by_uid(dovecot, user, password):
    imap = dovecot.imap(user, password)
    imap.select("INBOX")
    typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
    imap.logout()
    out = {}
    for item in data:
        if not item:
            continue
        text = item.decode() if isinstance(item, bytes) else item[0].decode()
        m = re.search(r"UID (\d+)", text)
        f = re.search(r"FLAGS \(([^)]*)\)", text)
        if m:
            # \Recent belongs to the IMAP session that looks, not to the message.
            out[int(m.group(1))] = (set(f.group(1).split()) if f else set()) - {"\\Recent"}
    return out


def uidvalidity(dovecot, user, password):
    imap = dovecot.imap(user, password)
    typ, data = imap.status("INBOX", "(UIDVALIDITY)")
    imap.logout()
    return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))


@pytest.fixture(scope="module")
def bridge_mg(mailgate):
    return mailgate


@pytest.fixture
def new_user(new_user):
    # harness.Dovecot.add_user moves the passwd file's mtime by 1 s from the
    # write time; two users added within one second can leave the mtime
    # unchanged and Dovecot then does not see the second. Space them out.
    def make(*args, **kwargs):
        time.sleep(1.1)
        return new_user(*args, **kwargs)
    return make


def test_bytes_equal_dovecot_pop3(bridge_mg, dovecot, certs, new_user):
    user, pw = new_user(corpus(), prefix="corpus")
    b = bridge_login(bridge_mg, certs, user, pw)
    d = Pop3Raw.dovecot(dovecot)
    assert d.login(user, pw).startswith(b"+OK")
    n = len(corpus())
    # STAT, LIST, UIDL: the same lines.
    assert b.cmd("STAT") == d.cmd("STAT")
    assert b.multi("LIST") == d.multi("LIST")
    bu, du = b.multi("UIDL"), d.multi("UIDL")
    assert bu[1] == du[1]
    # %08x%08x of (UID, UIDVALIDITY), lower-case: checked against the real thing.
    v = uidvalidity(dovecot, user, pw)
    assert ("1 %08x%08x\r\n" % (1, v)).encode() in du[1]
    for i in range(1, n + 1):
        assert b.cmd("LIST %d" % i) == d.cmd("LIST %d" % i)
        assert b.cmd("UIDL %d" % i) == d.cmd("UIDL %d" % i)
        br, dr = b.multi("RETR %d" % i), d.multi("RETR %d" % i)
        assert br[0] == dr[0], i
        assert br[1] == dr[1], "RETR %d differs" % i
        for lines in (0, 1, 3, 100000):
            bt, dt = b.multi("TOP %d %d" % (i, lines)), d.multi("TOP %d %d" % (i, lines))
            assert bt == dt, "TOP %d %d differs" % (i, lines)
    # Errors, worded alike.
    for bad in ("RETR 0", "RETR %d" % (n + 1), "RETR x", "LIST 1x", "TOP 1", "TOP 1 x"):
        assert b.cmd(bad)[:4] == d.cmd(bad)[:4] == b"-ERR", bad
    assert b.cmd("QUIT").startswith(b"+OK")
    d.cmd("QUIT")
    b.close()
    d.close()


def test_dele_all_hides_and_devices_are_separate(bridge_mg, dovecot, certs, new_user):
    user, pw = new_user(corpus()[:4], prefix="dele")
    before = flags_by_uid(dovecot, user, pw)
    pop = pop3_client(bridge_mg, BRIDGE, certs)
    pop.user(user)
    pop.pass_(pw)
    count, _ = pop.stat()
    assert count == 4
    pop.retr(1)
    for i in range(1, count + 1):
        pop.dele(i)
    assert pop.quit().startswith(b"+OK")
    after = flags_by_uid(dovecot, user, pw)
    assert set(after) == set(before), "every message is still visible to IMAP"
    for uid, flags in after.items():
        assert "\\Deleted" not in flags
        assert "$POP3Deleted" in flags
    assert "\\Seen" in after[min(after)]          # RETR marks \Seen at QUIT
    assert "\\Seen" not in after[max(after)]       # DELE alone does not
    # This device sees nothing now; so does Dovecot's own POP3 (same keyword).
    pop = pop3_client(bridge_mg, BRIDGE, certs)
    pop.user(user)
    pop.pass_(pw)
    assert pop.stat()[0] == 0
    pop.quit()
    d = Pop3Raw.dovecot(dovecot)
    d.login(user, pw)
    assert d.cmd("STAT").startswith(b"+OK 0 ")
    d.cmd("QUIT")
    # Another device sees all, and hides them for itself only.
    pop = pop3_client(bridge_mg, BRIDGE, certs)
    pop.user(user + "#phone")
    pop.pass_(pw)
    assert pop.stat()[0] == 4
    pop.dele(2)
    pop.quit()
    after = flags_by_uid(dovecot, user, pw)
    assert sum("$POP3Deleted.phone" in f for f in after.values()) == 1
    pop = pop3_client(bridge_mg, BRIDGE, certs)
    pop.user(user + "#Phone")
    pop.pass_(pw)
    assert pop.stat()[0] == 3
    pop.quit()


def test_fetchmail_without_keep_deletes_nothing(bridge_mg, dovecot, certs, new_user, tmp_path):
    if not os.path.exists("/usr/bin/fetchmail"):
        pytest.skip("fetchmail not installed")
    user, pw = new_user(corpus()[:3], prefix="fetchmail")
    host, port = bridge_mg.address(BRIDGE)
    out = tmp_path / "mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        'poll %s protocol pop3 port %d user "%s" password "%s" ssl sslcertck sslcertfile "%s" '
        'sslcertpath "%s" mda "/bin/sh -c \'cat >> %s\'"\n'
        % ("localhost", port, user, pw, certs.ca_cert, os.path.dirname(certs.ca_cert), out))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nosyslog", "-v", "--idfile", str(tmp_path / "ids"),
                        "--pidfile", str(tmp_path / "pid")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_bytes().count(b"Message-ID: <") == 3
    assert "flushed" in r.stdout or "deleted" in r.stdout.lower() or "DELE" in r.stdout
    flags = flags_by_uid(dovecot, user, pw)
    assert len(flags) == 3
    assert all("$POP3Deleted" in f and "\\Deleted" not in f for f in flags.values())


def test_expunge_policy_spares_imap_deleted_message(mailgate_factory, dovecot, certs, new_user):
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "expunge", "mark_seen": True}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user(corpus()[:3], prefix="expunge")
    imap = dovecot.imap(user, pw)
    imap.select("INBOX")
    imap.uid("STORE", "3", "+FLAGS", "(\\Deleted)")  # flagged by an IMAP device, not expunged
    imap.logout()
    p = bridge_login(mg, certs, user, pw)
    assert p.cmd("STAT").startswith(b"+OK 3 ")
    assert p.cmd("DELE 1").startswith(b"+OK")
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    flags = flags_by_uid(dovecot, user, pw)
    assert set(flags) == {2, 3}
    assert "\\Deleted" in flags[3]


def test_move_policy_creates_folder(mailgate_factory, dovecot, certs, new_user):
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "move", "move_to": "POP3-Archive"}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user(corpus()[:3], prefix="move")
    p = bridge_login(mg, certs, user, pw)
    assert p.cmd("DELE 2").startswith(b"+OK")
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    assert set(flags_by_uid(dovecot, user, pw)) == {1, 3}
    imap = dovecot.imap(user, pw)
    typ, data = imap.select("POP3-Archive")
    assert typ == "OK" and int(data[0]) == 1
    imap.logout()


def test_dropped_connection_commits_nothing(bridge_mg, dovecot, certs, new_user):
    user, pw = new_user(corpus()[:3], prefix="drop")
    before = flags_by_uid(dovecot, user, pw)
    p = bridge_login(bridge_mg, certs, user, pw)
    p.multi("RETR 1")
    for i in (1, 2, 3):
        assert p.cmd("DELE %d" % i).startswith(b"+OK")
    p.close()  # no QUIT
    time.sleep(0.5)
    assert flags_by_uid(dovecot, user, pw) == before
    p = bridge_login(bridge_mg, certs, user, pw)  # and the lock is gone
    assert p.cmd("STAT").startswith(b"+OK 3 ")
    assert p.cmd("DELE 1").startswith(b"+OK")
    assert p.cmd("RSET").startswith(b"+OK")
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    after = flags_by_uid(dovecot, user, pw)
    assert all("$POP3Deleted" not in f for f in after.values())


def test_message_expunged_mid_session(bridge_mg, dovecot, certs, new_user):
    user, pw = new_user(corpus()[:3], prefix="gone")
    p = bridge_login(bridge_mg, certs, user, pw)
    assert p.cmd("STAT").startswith(b"+OK 3 ")
    imap = dovecot.imap(user, pw)
    imap.select("INBOX")
    imap.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    imap.logout()
    r = p.cmd("RETR 2")
    assert r.startswith(b"-ERR"), r
    assert p.cmd("TOP 2 0").startswith(b"-ERR")
    first, body = p.multi("RETR 3")
    assert first.startswith(b"+OK") and b"Subject: long-lines" in body
    assert p.cmd("DELE 2").startswith(b"+OK")  # still numbered; nothing to write for it
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    flags = flags_by_uid(dovecot, user, pw)
    assert set(flags) == {1, 3}


def test_in_use_per_user_and_device(bridge_mg, dovecot, certs, new_user):
    user, pw = new_user(corpus()[:1], prefix="inuse")
    a = bridge_login(bridge_mg, certs, user, pw)
    b = Pop3Raw.bridge(bridge_mg, certs)
    r = b.login(user, pw)
    assert r.startswith(b"-ERR [IN-USE]"), r
    b.close()
    c = bridge_login(bridge_mg, certs, user + "#laptop", pw)  # another device is fine
    assert c.cmd("QUIT").startswith(b"+OK")
    assert a.cmd("QUIT").startswith(b"+OK")
    a.close()
    d = bridge_login(bridge_mg, certs, user, pw)
    assert d.cmd("QUIT").startswith(b"+OK")


def test_pipelined_commands(bridge_mg, dovecot, certs, new_user):
    user, pw = new_user(corpus()[:2], prefix="pipe")
    p = Pop3Raw.bridge(bridge_mg, certs)
    assert p.line().startswith(b"+OK")
    p.c.send("USER %s\r\nPASS %s\r\nSTAT\r\nRETR 1\r\nTOP 2 0\r\nNOOP\r\nCAPA\r\nQUIT\r\n" % (user, pw))
    assert p.line().startswith(b"+OK")  # USER
    assert p.line().startswith(b"+OK")  # PASS
    assert p.line().startswith(b"+OK 2 ")
    first = p.line()
    assert first.startswith(b"+OK") and first.endswith(b"octets\r\n")
    lines = p.c.read_until(lambda l: l == b".\r\n")
    assert b"Subject: plain\r\n" in b"".join(lines)
    assert p.line() == b"+OK\r\n"
    lines = p.c.read_until(lambda l: l == b".\r\n")
    assert lines[-2] == b"\r\n" and b"Subject: dots\r\n" in b"".join(lines)
    assert p.line() == b"+OK\r\n"  # NOOP
    capa = p.c.read_until(lambda l: l == b".\r\n")
    assert b"UIDL\r\n" in capa and b"PIPELINING\r\n" in capa and b"USER\r\n" not in capa
    assert p.line().startswith(b"+OK Logging out")
    p.close()


def test_unknown_user_and_bad_device(bridge_mg, certs):
    p = Pop3Raw.bridge(bridge_mg, certs)
    assert p.login("alice@example.com", "wrong").startswith(b"-ERR")
    p.close()
    p = Pop3Raw.bridge(bridge_mg, certs)
    r = p.login("alice@example.com#bad device!", "alice-pw")
    assert r.startswith(b"-ERR"), r
    p.close()


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.skipif(sanitizer_build(), reason="RSS is not meaningful under AddressSanitizer")
def test_50mb_message_streams_with_bounded_memory(bridge_mg, dovecot, certs, new_user):
    import hashlib
    line = b"0123456789" * 7 + b"abcdef\r\n"  # 78 octets
    big = msg("huge", [b"Content-Type: text/plain", b""]) + line * (50 * 1024 * 1024 // len(line))
    user, pw = new_user([big], prefix="huge")
    base = _rss_kb(bridge_mg.pid)
    p = bridge_login(bridge_mg, certs, user, pw)
    p.c.send("RETR 1\r\n")
    first = p.line()
    assert first.startswith(b"+OK")
    time.sleep(2)  # a client that does not read: the bridge must stop reading Dovecot
    stalled = _rss_kb(bridge_mg.pid)
    h = hashlib.sha256()
    total = 0
    while True:
        chunk = p.line()
        if chunk == b".\r\n":
            break
        h.update(chunk)
        total += len(chunk)
    peak = max(stalled, _rss_kb(bridge_mg.pid))
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    # Compare with Dovecot's own POP3.
    d = Pop3Raw.dovecot(dovecot)
    d.login(user, pw)
    dfirst, dbody = d.multi("RETR 1")
    d.cmd("QUIT")
    d.close()
    assert first == dfirst
    assert total == len(dbody) - 3
    assert h.hexdigest() == hashlib.sha256(dbody[:-3]).hexdigest()
    print("bridge RSS: base %d kB, stalled +%d kB, peak +%d kB" % (base, stalled - base, peak - base))
    # Held whole it would be 50 MB (and more for the stuffed copy).
    assert stalled - base < 20 * 1024, "RSS grew %d kB while the client stalled" % (stalled - base)
    assert peak - base < 30 * 1024, "RSS grew %d kB" % (peak - base)


def test_mark_seen_false_and_top_never_marks(mailgate_factory, dovecot, certs, new_user):
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "hide", "mark_seen": False}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user(corpus()[:2], prefix="noseen")
    p = bridge_login(mg, certs, user, pw)
    p.multi("RETR 1")
    p.multi("TOP 2 5")
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    assert all("\\Seen" not in f for f in flags_by_uid(dovecot, user, pw).values())
    # With the default (mark_seen: true), TOP still never marks.
    user, pw = new_user(corpus()[:2], prefix="seen")
    p = bridge_login(mailgate_factory(), certs, user, pw)
    p.multi("TOP 1 0")
    p.multi("RETR 2")
    assert p.cmd("RSET").startswith(b"+OK")  # RSET never clears flags
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    flags = flags_by_uid(dovecot, user, pw)
    assert "\\Seen" not in flags[1] and "\\Seen" in flags[2]


def test_max_age_days_window(mailgate_factory, dovecot, certs, new_user):
    def modify(cfg):
        listener(cfg, BRIDGE)["bridge"] = {"on_delete": "hide", "max_age_days": 7}
    mg = mailgate_factory(modify=modify)
    user, pw = new_user((), prefix="recent")
    now = time.time()
    dovecot.add_message(user, msg("old", [b"old"]), mtime=now - 30 * 86400)
    dovecot.add_message(user, msg("new", [b"new"]), mtime=now - 86400)
    p = bridge_login(mg, certs, user, pw)
    assert p.cmd("STAT").startswith(b"+OK 1 ")
    first, body = p.multi("RETR 1")
    assert b"Subject: new" in body
    p.cmd("QUIT")
    p.close()
