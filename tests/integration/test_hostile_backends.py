"""Backends that misbehave (security issue #8, items 4 and 5), played by
in-process fake servers: a real Dovecot cannot be made to send endless EHLO
or CAPA lines, untagged floods, FETCH items in an unusual order or an
RFC822.SIZE past 64 bits.

Item 4: every backend reply is capped. Past a cap the client gets the
protocol's temporary error (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP], SMTP
454 4.7.0), mailgate closes the connection to that backend while the backend
is still sending, and the daemon's resident memory (VmRSS) stays flat.

Item 5: the bridge binds every body to the UID of its own FETCH response, and
refuses an overflowing RFC822.SIZE instead of wrapping the STAT total.

    MAILGATE_BUILD_DIR=build /usr/bin/python3 -m pytest tests/integration/test_hostile_backends.py -q
"""
import base64
import poplib
import socket
import threading
import time

import pytest

from harness import set_backend
from harness.util import sanitizer_build
from harness.clients import RawClient, pop3_client

# Growth allowed (VmRSS and its peak VmHWM) while one hostile login runs. The unfixed daemon grew by
# hundreds of MB in the same time (the floods below are limited to
# FLOOD_BYTES so a regression does not take the machine down).
MAX_GROWTH_KB = 5 * 1024
if sanitizer_build():  # ASan's quarantine and shadow memory make RSS meaningless;
    MAX_GROWTH_KB = float("inf")  # the protocol answers are still checked
FLOOD_BYTES = 150 * 1024 * 1024
FLOOD_SECONDS = 8


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, pid))


class FakeBackend:
    """A line-oriented TCP server on 127.0.0.1; each connection runs in its
    own thread. `greeting` is sent on connect (health probes read only that);
    `on_line(conn, line)` answers each line the client sends and may flood.
    """

    def __init__(self, greeting, on_line):
        self.greeting = greeting
        self.on_line = on_line
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.floods = []  # one dict per flood: bytes sent, closed_by_peer
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        try:
            conn.sendall(self.greeting)
            while not self.stopping:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    line = line.rstrip(b"\r")
                    self.lines.append(line)
                    if self.on_line(self, conn, line) is False:
                        return
        except OSError:
            return
        finally:
            conn.close()

    def flood(self, conn, make_chunk):
        """Sends make_chunk(i) for i = 0, 1, ... until mailgate closes the
        connection, FLOOD_BYTES are sent or FLOOD_SECONDS pass."""
        record = {"bytes": 0, "closed_by_peer": False}
        self.floods.append(record)
        deadline = time.monotonic() + FLOOD_SECONDS
        i = 0
        try:
            while record["bytes"] < FLOOD_BYTES and time.monotonic() < deadline and not self.stopping:
                data = make_chunk(i)
                conn.sendall(data)
                record["bytes"] += len(data)
                i += 1
        except OSError:
            record["closed_by_peer"] = True
        return False  # this connection is done

    def wait_flood_closed(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.floods and self.floods[-1]["closed_by_peer"]:
                return self.floods[-1]
            time.sleep(0.05)
        raise AssertionError("mailgate did not close the flooding backend connection: %r" % self.floods)

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def fakes():
    made = []

    def make(greeting, on_line):
        f = FakeBackend(greeting, on_line)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def lines_of(n, prefix, width=1000):
    return b"".join(prefix(i) + b"A" * width + b"\r\n" for i in range(n))


def measure(mg, certs, listener, action):
    """Growth of VmRSS and of its peak VmHWM over `action()`. A TLS connection to the listener
    goes first, so that TLS and allocator warm-up does not count."""
    warm = RawClient.connect(mg, listener, certs)
    warm.readline()
    warm.close()
    time.sleep(0.3)
    before, peak_before = status_kb(mg.pid, "VmRSS"), status_kb(mg.pid, "VmHWM")
    result = action()
    time.sleep(0.3)
    after, peak_after = status_kb(mg.pid, "VmRSS"), status_kb(mg.pid, "VmHWM")
    # VmHWM (the peak) also catches memory held during the flood and freed
    # once the backend went away.
    print("VmRSS %d -> %d kB (%+d), VmHWM %d -> %d kB (%+d)"
          % (before, after, after - before, peak_before, peak_after, peak_after - peak_before))
    return result, max(after - before, peak_after - peak_before)


# ---- SMTP: endless "250-" EHLO continuations ---------------------------------

def test_smtp_endless_ehlo_is_refused_with_454(mailgate_factory, certs, fakes):
    def on_line(fake, conn, line):
        if line.upper().startswith(b"EHLO"):
            conn.sendall(b"250-fake.example.org\r\n")
            return fake.flood(conn, lambda i: lines_of(64, lambda k: b"250-X-FLOOD-%d-%d " % (i, k)))
        conn.sendall(b"502 5.5.2 what\r\n")
    fake = fakes(b"220 fake.example.org ESMTP\r\n", on_line)
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, smtp=fake.port))

    def login():
        c = RawClient.connect(mg, "submissions", certs)
        assert c.read_smtp_reply()[-1].startswith(b"220")
        c.send("EHLO client.test\r\n")
        c.read_smtp_reply()
        c.send("AUTH PLAIN %s\r\n" % base64.b64encode(b"\0alice@example.com\0alice-pw").decode())
        answer = c.read_smtp_reply()[-1]
        c.close()
        return answer
    answer, growth = measure(mg, certs, "submissions", login)
    assert answer.startswith(b"454 4.7.0"), answer
    flood = fake.wait_flood_closed()
    assert flood["bytes"] < FLOOD_BYTES
    assert growth < MAX_GROWTH_KB, "VmRSS grew by %d kB" % growth


# ---- POP3: an endless CAPA list ----------------------------------------------

def test_pop3_endless_capa_is_refused_with_sys_temp(mailgate_factory, certs, fakes):
    def on_line(fake, conn, line):
        if line.upper() == b"CAPA":
            conn.sendall(b"+OK\r\n")
            return fake.flood(conn, lambda i: lines_of(64, lambda k: b"X-FLOOD-%d-%d " % (i, k)))
        conn.sendall(b"-ERR what\r\n")
    fake = fakes(b"+OK fake POP3 ready.\r\n", on_line)
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, pop3=fake.port))

    def login():
        c = pop3_client(mg, "pop3s", certs)
        c.user("alice@example.com")
        with pytest.raises(poplib.error_proto) as e:
            c.pass_("alice-pw")
        c.close()
        return e.value.args[0]
    answer, growth = measure(mg, certs, "pop3s", login)
    assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
    flood = fake.wait_flood_closed()
    assert flood["bytes"] < FLOOD_BYTES
    assert growth < MAX_GROWTH_KB, "VmRSS grew by %d kB" % growth


# ---- IMAP proxy: untagged data for ever before the tagged answer -------------

def test_imap_endless_untagged_is_refused_with_unavailable(mailgate_factory, certs, fakes):
    def on_line(fake, conn, line):
        tag, _, cmd = line.partition(b" ")
        if cmd.upper().startswith(b"AUTHENTICATE") or cmd.upper().startswith(b"LOGIN"):
            return fake.flood(conn, lambda i: lines_of(64, lambda k: b"* OK still thinking %d-%d " % (i, k)))
        if cmd.upper().startswith(b"CAPABILITY"):
            conn.sendall(b"* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
        else:
            conn.sendall(tag + b" OK done\r\n")
    fake = fakes(b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] fake ready\r\n", on_line)
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, imap=fake.port))

    def login():
        c = RawClient.connect(mg, "imaps", certs)
        c.readline()
        c.send("a LOGIN alice@example.com alice-pw\r\n")
        answer = c.read_tagged("a")[-1]
        c.close()
        return answer
    started = time.monotonic()
    answer, growth = measure(mg, certs, "imaps", login)
    assert answer.startswith(b"a NO [UNAVAILABLE]"), answer
    assert time.monotonic() - started < FLOOD_SECONDS  # not only when the backend gives up
    flood = fake.wait_flood_closed()
    assert flood["bytes"] < FLOOD_BYTES
    assert growth < MAX_GROWTH_KB, "VmRSS grew by %d kB" % growth


# ---- Bridge: a fake IMAP server behind the POP3 bridge -----------------------

BRIDGE_CAPS = b"IMAP4rev1 SASL-IR AUTH=PLAIN UIDPLUS MOVE ID"


def bridge_backend(fakes, fetch_all, fetch_one=None):
    """A fake IMAP server good enough for the bridge's login and snapshot;
    `fetch_all(fake, conn, tag)` answers "UID FETCH 1:*", `fetch_one(fake,
    conn, tag, uid)` a one-message body fetch."""
    def on_line(fake, conn, line):
        tag, _, cmd = line.partition(b" ")
        up = cmd.upper()
        if up.startswith(b"AUTHENTICATE") or up.startswith(b"LOGIN"):
            conn.sendall(tag + b" OK [CAPABILITY " + BRIDGE_CAPS + b"] Logged in\r\n")
        elif up.startswith(b"CAPABILITY"):
            conn.sendall(b"* CAPABILITY " + BRIDGE_CAPS + b"\r\n" + tag + b" OK done\r\n")
        elif up.startswith(b"SELECT"):
            conn.sendall(b"* 2 EXISTS\r\n* OK [PERMANENTFLAGS (\\Seen \\Deleted \\*)] x\r\n"
                         b"* OK [UIDVALIDITY 7] x\r\n" + tag + b" OK [READ-WRITE] selected\r\n")
        elif up.startswith(b"UID FETCH 1:*"):
            return fetch_all(fake, conn, tag)
        elif up.startswith(b"UID FETCH ") and fetch_one is not None:
            return fetch_one(fake, conn, tag, int(up.split()[2]))
        elif up.startswith(b"LOGOUT"):
            conn.sendall(b"* BYE bye\r\n" + tag + b" OK bye\r\n")
            return False
        else:
            conn.sendall(tag + b" OK done\r\n")
    return fakes(b"* OK [CAPABILITY " + BRIDGE_CAPS + b"] fake ready\r\n", on_line)


def bridge_login(mg, certs):
    c = pop3_client(mg, "pop3s-bridge", certs)
    c.user("alice@example.com")
    return c, c.pass_("alice-pw")


def test_bridge_untagged_literal_flood_is_refused_with_sys_temp(mailgate_factory, certs, fakes):
    junk = b"j" * (1 << 20)

    def fetch_all(fake, conn, tag):
        return fake.flood(conn, lambda i: b"* 1 FETCH (UID 1 X-JUNK {%d}\r\n%s)\r\n" % (len(junk), junk))
    fake = bridge_backend(fakes, fetch_all)
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, imap=fake.port))

    def login():
        with pytest.raises(poplib.error_proto) as e:
            bridge_login(mg, certs)
        return e.value.args[0]
    answer, growth = measure(mg, certs, "pop3s-bridge", login)
    assert answer.startswith(b"-ERR [SYS/TEMP]"), answer
    flood = fake.wait_flood_closed()
    assert flood["bytes"] < FLOOD_BYTES
    assert growth < MAX_GROWTH_KB, "VmRSS grew by %d kB" % growth


MSG1 = b"Subject: one\r\n\r\nfirst message\r\n"
MSG2 = b"Subject: two\r\n\r\nsecond message, not the first\r\n"


def test_bridge_binds_each_body_to_its_own_uid(mailgate_factory, certs, fakes):
    # RFC 9051 §7.5.2: FETCH items come in any order. This backend puts UID
    # after BODY[] and answers a body fetch with the other message first.
    def fetch_all(fake, conn, tag):
        conn.sendall(b"* 1 FETCH (RFC822.SIZE %d FLAGS () UID 1)\r\n"
                     b"* 2 FETCH (FLAGS () UID 2 RFC822.SIZE %d)\r\n" % (len(MSG1), len(MSG2)) +
                     tag + b" OK done\r\n")

    def fetch_one(fake, conn, tag, uid):
        other, mine = (MSG2, MSG1) if uid == 1 else (MSG1, MSG2)
        conn.sendall(b"* %d FETCH (BODY[] {%d}\r\n%s UID %d)\r\n" % (3 - uid, len(other), other, 3 - uid) +
                     b"* %d FETCH (BODY[] {%d}\r\n%s UID %d)\r\n" % (uid, len(mine), mine, uid) +
                     tag + b" OK done\r\n")
    fake = bridge_backend(fakes, fetch_all, fetch_one)
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, imap=fake.port))
    c, answer = bridge_login(mg, certs)
    assert answer.startswith(b"+OK"), answer
    assert c.stat() == (2, len(MSG1) + len(MSG2))
    assert b"\r\n".join(c.retr(1)[1]) + b"\r\n" == MSG1
    assert b"\r\n".join(c.retr(2)[1]) + b"\r\n" == MSG2
    c.quit()


def test_bridge_refuses_overflowing_rfc822_size(mailgate_factory, certs, fakes):
    # 2^64-1 + 318 wrapped to a STAT of "+OK 2 317" before the fix.
    def fetch_all(fake, conn, tag):
        conn.sendall(b"* 1 FETCH (UID 1 RFC822.SIZE 18446744073709551615 FLAGS ())\r\n"
                     b"* 2 FETCH (UID 2 RFC822.SIZE 318 FLAGS ())\r\n" + tag + b" OK done\r\n")
    fake = bridge_backend(fakes, fetch_all)
    mg = mailgate_factory(modify=lambda cfg: set_backend(cfg, imap=fake.port))
    stat = None
    with pytest.raises(poplib.error_proto) as e:
        c, _ = bridge_login(mg, certs)
        stat = c.stat()  # only reached when the login wrongly succeeds
    assert e.value.args[0].startswith(b"-ERR [SYS/TEMP]"), (e.value.args[0], stat)
