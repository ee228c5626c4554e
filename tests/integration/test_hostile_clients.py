"""Clients that pipeline commands and never read the answers, against the real
daemon and Dovecot. mailgate must stop reading such a client while its output
queue is above the high watermark (before login, and in the bridge after
login), so its memory stays bounded, is given back when the connections
close, and other users keep being served meanwhile.

The daemon's memory is its resident set (VmRSS in /proc/PID/status), read
before, during and after the hostile connections.

    /usr/bin/python3 -m pytest tests/integration/test_hostile_clients.py -q -s
"""
import socket
import ssl
import threading
import time

import pytest

from harness.clients import client_context, imap_client, pop3_client, smtp_client
from harness.config import listener, only_listeners
from harness.util import sanitizer_build

HOSTILE_CONNECTIONS = 4
# Bytes of commands each pre-login client tries to send. Read in full, they
# ask for tens of MB of answers per connection.
PIPELINE_BYTES = 2 * 1024 * 1024
# What a hostile connection may cost: the output queue up to the high
# watermark plus bookkeeping, with room for allocator noise.
BUDGET_KB_PER_CONNECTION = 1024

BRIDGE = "pop3s-bridge"
BRIDGE_MESSAGES = 3000
BRIDGE_UIDLS = 500  # each answer lists all BRIDGE_MESSAGES


def hostile_gate(cfg, *names):
    """Only these listeners, and the pre-login command budget at its maximum:
    these tests show that the output-queue watermarks bound memory, which the
    budget (limits.max_prelogin_commands, tested in test_prelogin_limits.py)
    would otherwise hide by closing the connection first."""
    cfg["limits"]["max_prelogin_commands"] = 100000
    return only_listeners(cfg, *names)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def settled_rss_kb(pid, wait=3.0):
    """The RSS once it stops falling (closed connections finish closing on
    later loop turns), at most `wait` seconds."""
    deadline = time.monotonic() + wait
    last = rss_kb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = rss_kb(pid)
        if now >= last:
            return now
        last = now
    return last


def peak_rss_kb(pid, wait=5.0):
    """The RSS once it stops rising (the daemon may still be working through
    what it read), at most `wait` seconds."""
    deadline = time.monotonic() + wait
    last = rss_kb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kb(pid)
        if now <= last:
            return last
        last = now
    return last


class HostileClient:
    """One connection with tiny socket buffers (so the kernel absorbs almost
    nothing of what mailgate answers) that sends a stream of commands from a
    thread and never reads."""

    def __init__(self, mg, name, certs, tls):
        host, port = mg.address(name)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        raw.settimeout(15)
        raw.connect((host, port))
        self.sock = client_context(certs).wrap_socket(raw, server_hostname="localhost") if tls else raw
        self.sent = 0
        self.stalled = False
        self.thread = None

    def read_line(self):
        """Setup only (the bridge login): one line, byte by byte."""
        out = b""
        while not out.endswith(b"\n"):
            b = self.sock.recv(1)
            if not b:
                raise EOFError("closed after %r" % out)
            out += b
        return out

    def blast(self, command, total):
        chunk = command * max(1, 16384 // len(command))
        # A server that stops reading makes sendall block: the timeout ends
        # the thread, and that is the expected outcome.
        self.sock.settimeout(2)

        def run():
            try:
                while self.sent < total:
                    self.sock.sendall(chunk)
                    self.sent += len(chunk)
            except (socket.timeout, ssl.SSLError, OSError):
                self.stalled = True

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait(self, timeout=120):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "hostile sender still running after %ds" % timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def read_mail(mg, certs):
    """A normal user: IMAP login, fetch a message, logout."""
    c = imap_client(mg, "imaps", certs, timeout=20)
    c.login("alice@example.com", "alice-pw")
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK" and int(data[0]) >= 1
    typ, data = c.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK" and b"seed message" in data[0][1]
    c.logout()


def same_protocol_login(mg, name, certs):
    """A normal user on the listener the hostile clients use."""
    proto = listener(mg.config, name)["protocol"]
    if proto == "imap":
        c = imap_client(mg, name, certs, timeout=20)
        c.login("alice@example.com", "alice-pw")
        assert c.select("INBOX", readonly=True)[0] == "OK"
        c.logout()
    elif proto == "pop3":
        c = pop3_client(mg, name, certs, timeout=20)
        c.user("alice@example.com")
        c.pass_("alice-pw")
        assert b"seed message" in b"".join(c.retr(1)[1])
        c.quit()
    else:
        c = smtp_client(mg, name, certs, timeout=20)
        c.login("alice@example.com", "alice-pw")
        assert c.noop()[0] == 250
        c.quit()


def measure(mg, certs, connect_hostiles, blast, normal_session):
    """Hostile connections set up (TLS done, logged in for the bridge), the
    baseline, then their pipelines, a normal session meanwhile, close;
    returns (before, during, after, hostiles), RSS in kB. What a connection
    costs anyway (a TLS session, a bridge snapshot) is in the baseline: the
    growth measured is what pipelining without reading costs."""
    # Warm up both workers (TLS contexts, per-thread arenas and buffers) so
    # the baseline is a daemon that has served sessions already.
    for _ in range(4):
        normal_session()
    hostiles = connect_hostiles()
    before = settled_rss_kb(mg.pid)
    try:
        for h in hostiles:
            blast(h)
        for h in hostiles:
            h.wait()
        during = peak_rss_kb(mg.pid)
        normal_session()
        during = max(during, rss_kb(mg.pid))
    finally:
        for h in hostiles:
            h.close()
    time.sleep(0.5)
    after = settled_rss_kb(mg.pid)
    assert mg.running
    return before, during, after, hostiles


def check_budget(label, before, during, after, n):
    print("\n%s: VmRSS before %d kB, during %d kB (+%d), after close %d kB (+%d), %d connections"
          % (label, before, during, during - before, after, after - before, n))
    budget = BUDGET_KB_PER_CONNECTION * n
    assert during - before < budget, \
        "%s: RSS grew by %d kB with %d hostile connections (budget %d kB)" % (label, during - before, n, budget)
    assert after - before < budget, \
        "%s: %d kB not returned after the connections closed" % (label, after - before)


PRELOGIN = [
    ("imaps", True, b"a CAPABILITY\r\n"),
    ("imap-starttls", False, b"a CAPABILITY\r\n"),
    ("pop3s", True, b"CAPA\r\n"),
    ("pop3-starttls", False, b"CAPA\r\n"),
    ("submissions", True, b"EHLO x\r\n"),
    ("submission-starttls", False, b"EHLO x\r\n"),
]


@pytest.mark.skipif(sanitizer_build(), reason="RSS is not meaningful under AddressSanitizer (quarantine, shadow memory)")
@pytest.mark.parametrize("name,tls,command", PRELOGIN, ids=[p[0] for p in PRELOGIN])
def test_prelogin_pipeline_without_reading_is_bounded(mailgate_factory, certs, name, tls, command):
    mg = mailgate_factory(modify=lambda cfg: hostile_gate(cfg, "imaps", name))

    def connect_hostiles():
        return [HostileClient(mg, name, certs, tls) for _ in range(HOSTILE_CONNECTIONS)]

    def normal():
        read_mail(mg, certs)
        if name != "imaps":
            same_protocol_login(mg, name, certs)

    before, during, after, hs = measure(mg, certs, connect_hostiles,
                                        lambda h: h.blast(command, PIPELINE_BYTES), normal)
    check_budget(name, before, during, after, len(hs))
    # The point of the test: the clients were stopped, not served in full.
    assert all(h.stalled for h in hs), [h.sent for h in hs]


@pytest.mark.skipif(sanitizer_build(), reason="RSS is not meaningful under AddressSanitizer (quarantine, shadow memory)")
def test_bridge_pipelined_uidl_without_reading_is_bounded(mailgate_factory, dovecot, certs, new_user):
    body = b"".join(b"line %d of a small message\r\n" % i for i in range(4))
    user, password = new_user(
        [b"From: a@example.org\r\nSubject: m%d\r\n\r\n" % i + body for i in range(BRIDGE_MESSAGES)])
    mg = mailgate_factory(modify=lambda cfg: hostile_gate(cfg, "imaps", BRIDGE))

    def bridge_login(device):
        h = HostileClient(mg, BRIDGE, certs, True)
        assert h.read_line().startswith(b"+OK")
        h.sock.sendall(b"USER %s#%s\r\nPASS %s\r\n" % (user.encode(), device.encode(), password.encode()))
        assert h.read_line().startswith(b"+OK")  # USER
        answer = h.read_line()
        assert answer.startswith(b"+OK") and b"%d messages" % BRIDGE_MESSAGES in answer, answer
        return h

    def connect_hostiles():
        return [bridge_login("hostile%d" % i) for i in range(2)]

    normals = iter(range(1000))

    def normal():
        read_mail(mg, certs)
        # The same mailbox through the bridge, as another device.
        c = pop3_client(mg, BRIDGE, certs, timeout=60)
        c.user("%s#normal%d" % (user, next(normals)))
        c.pass_(password)
        assert len(c.uidl()[1]) == BRIDGE_MESSAGES
        assert b"line 3 of a small message" in b"".join(c.retr(BRIDGE_MESSAGES)[1])
        c.quit()

    before, during, after, hs = measure(mg, certs, connect_hostiles,
                                        lambda h: h.blast(b"UIDL\r\n", BRIDGE_UIDLS * 6), normal)
    check_budget("bridge UIDL", before, during, after, len(hs))


RELAY = [("imaps", b"a CAPABILITY\r\n"), ("pop3s", b"CAPA\r\n")]


@pytest.mark.skipif(sanitizer_build(), reason="RSS is not meaningful under AddressSanitizer (quarantine, shadow memory)")
@pytest.mark.parametrize("name,command", RELAY, ids=[r[0] for r in RELAY])
def test_relay_pipeline_without_reading_is_bounded(mailgate_factory, certs, new_user, name, command):
    """After login the relay holds the same line: neither the backend nor
    the client is read while the client's queue is full, and the client is
    not read while the backend's is."""
    user, password = new_user([b"Subject: relay\r\n\r\nhello\r\n"])
    mg = mailgate_factory(modify=lambda cfg: hostile_gate(cfg, "imaps", name))

    def login():
        h = HostileClient(mg, name, certs, True)
        assert h.read_line()[:3] in (b"* O", b"+OK")
        if name == "imaps":
            h.sock.sendall(b"a LOGIN %s %s\r\n" % (user.encode(), password.encode()))
            while True:
                line = h.read_line()
                if line.startswith(b"a "):
                    assert line.startswith(b"a OK"), line
                    break
        else:
            h.sock.sendall(b"USER %s\r\nPASS %s\r\n" % (user.encode(), password.encode()))
            assert h.read_line().startswith(b"+OK")
            assert h.read_line().startswith(b"+OK")
        return h

    def connect_hostiles():
        return [login() for _ in range(HOSTILE_CONNECTIONS)]

    def normal():
        read_mail(mg, certs)
        if name != "imaps":
            same_protocol_login(mg, name, certs)

    before, during, after, hs = measure(mg, certs, connect_hostiles,
                                        lambda h: h.blast(command, PIPELINE_BYTES), normal)
    # Whether a sender stalls here depends on how much Dovecot and the
    # kernel buffers between us absorb (tests/unit/proxy/server/relay_test.cc checks
    # the relay's own reading); mailgate's memory is what is measured.
    check_budget("relay " + name, before, during, after, len(hs))


def test_starttls_behind_a_held_pipeline_still_discards_injection(mailgate_factory, certs):
    """A STARTTLS that waits behind thousands of pipelined commands (held
    while the client did not read) still drops the plaintext pipelined
    behind it (RFC 2595 §3.1): nothing of it is answered after the upgrade."""
    from harness.clients import RawClient
    mg = mailgate_factory(modify=lambda cfg: hostile_gate(cfg, "imap-starttls"))
    c = RawClient.connect(mg, "imap-starttls")
    assert c.readline().startswith(b"* OK")
    count = 30000
    payload = b"a CAPABILITY\r\n" * count + b"s STARTTLS\r\nx NOOP\r\n"
    sender = threading.Thread(target=c.sock.sendall, args=(payload,), daemon=True)
    sender.start()
    time.sleep(1.0)  # not reading: the server stops at the high watermark
    oks = 0
    while True:
        line = c.readline()
        if line.startswith(b"a OK"):
            oks += 1
        elif line.startswith(b"s "):
            assert line.startswith(b"s OK"), line
            break
        else:
            assert line.startswith(b"* CAPABILITY"), line
    sender.join(30)
    assert oks == count
    assert c.buf == b""
    c.upgrade(certs)
    c.send(b"t NOOP\r\n")
    lines = c.read_tagged("t")
    assert not any(line.startswith(b"x ") for line in lines), lines
    assert lines[-1].startswith(b"t OK")
    c.close()
