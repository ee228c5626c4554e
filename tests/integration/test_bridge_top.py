"""TOP fetches what it shows (issue 10 item 2): the header and a bounded
partial of the body (BODY.PEEK[]<offset.length>, growing only while the
lines are incomplete), not the whole message. Measured with a counting
relay between mailgate and Dovecot; the bytes sent stay equal to Dovecot's
own POP3 (also checked on the corpus in test_bridge.py).

    /usr/bin/python3 -m pytest tests/integration/test_bridge_top.py -q -s
"""
import os
import socket
import threading
import time

import pytest

from harness import set_backend
from harness.clients import RawClient

BRIDGE = "pop3s-bridge"


class CountingRelay:
    """TCP relay to Dovecot's IMAP port that counts the bytes Dovecot sends."""

    def __init__(self, port):
        self.target = port
        self.from_backend = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            backend = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, backend, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(backend, client, True), daemon=True).start()

    def _pipe(self, src, dst, count):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if count:
                    with self.lock:
                        self.from_backend += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def take(self):
        with self.lock:
            n, self.from_backend = self.from_backend, 0
        return n

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def big_message(attachment_bytes):
    body = b"".join(b"line %d of the text part\r\n" % i for i in range(40))
    blob = os.urandom(attachment_bytes * 3 // 4)
    import base64
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"Subject: with an attachment\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain\r\n\r\n" + body +
            b"--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            b64 + b"--XX--\r\n")


def dovecot_top(dovecot, user, pw, command):
    """The same command against Dovecot's own POP3: (status line, body)."""
    d = socket.create_connection(("127.0.0.1", dovecot.pop3_port), timeout=10)
    f = d.makefile("rb")
    f.readline()
    d.sendall(b"USER %s\r\nPASS %s\r\n%s\r\n" % (user.encode(), pw.encode(), command.encode()))
    f.readline()
    f.readline()
    first = f.readline()
    lines = []
    while True:
        line = f.readline()
        lines.append(line)
        if line == b".\r\n":
            break
    d.close()
    return first, b"".join(lines)


def bridge_login(mg, certs, user, pw):
    c = RawClient.connect(mg, BRIDGE, certs, timeout=30)
    assert c.readline().startswith(b"+OK")
    c.send("USER %s\r\nPASS %s\r\n" % (user, pw))
    c.readline()
    assert c.readline().startswith(b"+OK")
    return c


def multi(c, command):
    c.send(command + "\r\n")
    first = c.readline()
    assert first.startswith(b"+OK"), (command, first)
    lines = c.read_until(lambda l: l == b".\r\n", max_lines=200000)
    return first, b"".join(lines)


@pytest.fixture
def relay(dovecot):
    r = CountingRelay(dovecot.imap_port)
    yield r
    r.close()


def test_top_reads_a_bounded_part_of_a_large_message(mailgate_factory, dovecot, new_user, certs, relay):
    message = big_message(2 * 1024 * 1024)
    user, pw = new_user(messages=[message])

    def modify(cfg):
        set_backend(cfg, imap=relay.port)
    mg = mailgate_factory(modify=modify)
    c = bridge_login(mg, certs, user, pw)
    time.sleep(0.3)
    relay.take()  # the login and the snapshot

    top = multi(c, "TOP 1 5")
    time.sleep(0.3)
    top_traffic = relay.take()

    _, whole = multi(c, "RETR 1")
    time.sleep(0.3)
    retr_traffic = relay.take()
    c.send("QUIT\r\n")
    c.readline()
    c.close()
    assert top == dovecot_top(dovecot, user, pw, "TOP 1 5")

    print("\nbackend octets for TOP 1 5 of a %d-octet message: %d (RETR: %d)"
          % (len(message), top_traffic, retr_traffic))
    assert retr_traffic > len(message)
    assert top_traffic < 64 * 1024, "TOP must not download the attachment"


def test_top_grows_its_partial_until_the_lines_are_complete(mailgate_factory, dovecot, new_user, certs, relay):
    """Long lines: the first partial cannot hold n lines, the next ones do;
    the answer equals Dovecot's own POP3 TOP."""
    long_lines = b"".join(b"%d " % i + b"x" * 3000 + b"\r\n" for i in range(20))
    message = b"Subject: long lines\r\n\r\n" + long_lines
    user, pw = new_user(messages=[message])

    def modify(cfg):
        set_backend(cfg, imap=relay.port)
    mg = mailgate_factory(modify=modify)
    c = bridge_login(mg, certs, user, pw)
    ours = multi(c, "TOP 1 12")
    c.send("QUIT\r\n")
    c.readline()
    c.close()
    assert ours == dovecot_top(dovecot, user, pw, "TOP 1 12")
    assert ours[1].count(b"x" * 3000) == 12
