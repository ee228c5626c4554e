"""Client helpers for tests: TLS contexts, stdlib clients wired to a Mailgate
listener, and a raw line client for byte-level tests.

    ctx = client_context(certs)                 # trusts the test CA
    imap = imap_client(mg, "imaps", certs)      # IMAP4_SSL, or IMAP4+STARTTLS for a
    pop = pop3_client(mg, "pop3s", certs)       #   starttls listener (by its config)
    smtp = smtp_client(mg, "submissions", certs)
    raw = RawClient.connect(mg, "imap-starttls")  # .send(b) .readline() .upgrade(certs)
"""
import imaplib
import poplib
import smtplib
import socket
import ssl


def client_context(certs=None):
    """A client SSLContext: verifies against the test CA (certs.ca_cert) when
    given, else accepts any certificate."""
    if certs is not None:
        ctx = ssl.create_default_context(cafile=certs.ca_cert)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls_mode(mg, listener):
    return mg.listener(listener).get("tls", "none")


# Client timeouts stay above Dovecot's auth penalty: it delays logins from an
# address with recent failures by up to 15 s, and every test connects from
# 127.0.0.1, so after a file full of wrong-password tests a correct login can
# legitimately take that long.
def imap_client(mg, listener, certs=None, timeout=30):
    host, port = mg.address(listener)
    ctx = client_context(certs)
    if _tls_mode(mg, listener) == "implicit":
        return imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=timeout)
    c = imaplib.IMAP4(host, port, timeout=timeout)
    if _tls_mode(mg, listener) == "starttls":
        c.starttls(ssl_context=ctx)
    return c


def pop3_client(mg, listener, certs=None, timeout=30):
    host, port = mg.address(listener)
    ctx = client_context(certs)
    if _tls_mode(mg, listener) == "implicit":
        return poplib.POP3_SSL(host, port, context=ctx, timeout=timeout)
    c = poplib.POP3(host, port, timeout=timeout)
    if _tls_mode(mg, listener) == "starttls":
        c.stls(context=ctx)
    return c


def smtp_client(mg, listener, certs=None, timeout=30):
    host, port = mg.address(listener)
    ctx = client_context(certs)
    if _tls_mode(mg, listener) == "implicit":
        c = smtplib.SMTP_SSL(host, port, context=ctx, timeout=timeout)
        c.ehlo("client.test")
        return c
    c = smtplib.SMTP(host, port, timeout=timeout)
    c.ehlo("client.test")
    if _tls_mode(mg, listener) == "starttls":
        c.starttls(context=ctx)
        c.ehlo("client.test")
    return c


class RawClient:
    """Line-oriented client over a plain or TLS socket, for byte-exact tests."""

    def __init__(self, sock, host="localhost"):
        self.sock = sock
        self.host = host
        self.buf = b""

    @classmethod
    def connect(cls, mg, listener, certs=None, timeout=30, tls=None, source=None):
        """tls: None = by the listener's mode (implicit → TLS now), True/False force."""
        host, port = mg.address(listener)
        sock = socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
        c = cls(sock)
        if tls is None:
            tls = _tls_mode(mg, listener) == "implicit"
        if tls:
            c.upgrade(certs)
        return c

    def upgrade(self, certs=None):
        """TLS handshake on the current socket. Bytes already buffered from the
        cleartext phase are kept in `self.pre_tls` and dropped from the buffer."""
        self.pre_tls = self.buf
        self.buf = b""
        self.sock = client_context(certs).wrap_socket(self.sock, server_hostname="localhost")
        return self

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server; buffered %r" % self.buf[-200:])
        self.buf += chunk

    def readline(self):
        """One line including CRLF. EOFError if the server closed first."""
        while b"\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def read_until(self, predicate, max_lines=10000):
        """Read lines until predicate(line) is true; return all of them."""
        lines = []
        for _ in range(max_lines):
            line = self.readline()
            lines.append(line)
            if predicate(line):
                return lines
        raise AssertionError("no matching line in %d lines" % max_lines)

    def read_tagged(self, tag):
        """IMAP: lines up to and including the tagged response for `tag`."""
        t = tag.encode() if isinstance(tag, str) else tag
        return self.read_until(lambda line: line.startswith(t + b" "))

    def read_smtp_reply(self):
        """SMTP: lines up to the last line of a (multi-line) reply."""
        return self.read_until(lambda line: len(line) >= 4 and line[3:4] == b" ")

    def read_available(self, wait=0.5):
        """Whatever arrives within `wait` seconds (b"" if nothing)."""
        self.sock.settimeout(wait)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        finally:
            self.sock.settimeout(10)
        data, self.buf = self.buf, b""
        return data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
