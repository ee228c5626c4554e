"""PROXY protocol v1/v2 on listeners with `proxy_protocol: true` (docs/configuration.md).

The test plays the load balancer: it sends the header itself, then a real
client speaks on the same socket. The oracle is Dovecot's own login line:
mailgate forwards the client address from the header (IMAP `ID`, POP3/SMTP
`XCLIENT`) and Dovecot, trusting 127.0.0.0/8, logs it as `rip=`.
"""
import imaplib
import ipaddress
import os
import poplib
import smtplib
import socket
import ssl
import struct
import time
import urllib.request

import pytest

from harness import Mailgate, default_config, only_listeners
from harness.clients import client_context

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src, sport, dst="127.0.0.1", dport=993):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def proxy_v2(src=None, sport=0, dst=None, dport=0, local=False, tlvs=b""):
    if local:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if a.version == 4 else 0x21
    body = a.packed + b.packed + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def connect_with_header(mg, name, header, source=None):
    host, port = mg.address(name)
    sock = socket.create_connection((host, port), timeout=10,
                                    source_address=(source, 0) if source else None)
    sock.sendall(header)
    return sock


class _Preconnected:
    """Mixin for the stdlib clients: use a socket that already carried the
    PROXY header (and, for implicit TLS, is already wrapped)."""

    def __init__(self, sock, *args, **kwargs):
        self._pre = sock
        super().__init__(*args, **kwargs)


class ImapOver(_Preconnected, imaplib.IMAP4):
    def __init__(self, sock):
        super().__init__(sock, "localhost", 0)

    def _create_socket(self, timeout=None):
        return self._pre


class Pop3Over(_Preconnected, poplib.POP3):
    def __init__(self, sock):
        super().__init__(sock, "localhost", 0)

    def _create_socket(self, timeout):
        return self._pre


class SmtpOver(_Preconnected, smtplib.SMTP):
    def __init__(self, sock):
        super().__init__(sock, "localhost", 0, local_hostname="client.test")

    def _get_socket(self, host, port, timeout):
        return self._pre


def wait_for_rip(dovecot, user, proto, timeout=10):
    """The rip= of Dovecot's login line for `user` on `proto`'s login service."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in dovecot.log_text().splitlines():
            if ("%s-login:" % proto in line and "Login: user=<%s>" % user in line
                    and "rip=" in line):
                return line.split("rip=", 1)[1].split(",", 1)[0]
        time.sleep(0.1)
    raise AssertionError("no %s login line for %s in the Dovecot log" % (proto, user))


def closed_without_greeting(sock, timeout=5):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except socket.timeout:
        raise AssertionError("server kept the connection open; got %r" % data)


def metrics(mg):
    with urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5) as r:
        return r.read().decode()


def proxied(cfg, trusted=("127.0.0.0/8",), names=None):
    """proxy_protocol on the named listeners (all by default); IMAP forwards
    the client IP with ID, POP3/SMTP with XCLIENT (separate pools, one per
    route)."""
    pool = cfg["pools"]["local"]
    cfg["pools"]["local-id"] = dict(pool, client_ip="id")
    cfg["pools"]["local-xclient"] = dict(pool, client_ip="xclient")
    cfg["routes"]["id"] = {"type": "static", "pool": "local-id"}
    cfg["routes"]["xclient"] = {"type": "static", "pool": "local-xclient"}
    for entry in cfg["listeners"]:
        if names is not None and entry["name"] not in names:
            continue
        entry["proxy_protocol"] = True
        entry["trusted_proxies"] = list(trusted)
        entry["route"] = "id" if entry["protocol"] == "imap" else "xclient"
    return cfg


@pytest.fixture(scope="module")
def ppmg(dovecot, certs, workroot):
    cfg = proxied(default_config(dovecot, certs))
    only_listeners(cfg, "imaps", "imap-starttls", "pop3-starttls", "submission-starttls",
                   "submissions")
    mg = Mailgate(cfg, os.path.join(workroot, "mailgate-proxyproto"))
    mg.start()
    yield mg
    mg.stop()


def test_v1_imap_starttls_client_address_reaches_dovecot(ppmg, dovecot, certs, new_user):
    user, pw = new_user(prefix="ppv1")
    sock = connect_with_header(ppmg, "imap-starttls", proxy_v1("203.0.113.9", 40001,
                                                               dport=143))
    c = ImapOver(sock)
    c.starttls(ssl_context=client_context(certs))
    c.login(user, pw)
    c.select("INBOX")
    c.logout()
    assert wait_for_rip(dovecot, user, "imap") == "203.0.113.9"
    # mailgate's own log names the client from the header, and the balancer.
    log = ppmg.log_text()
    assert "client=203.0.113.9:40001" in log and "proxy=127.0.0.1" in log


def test_v2_implicit_tls_header_before_client_hello(ppmg, dovecot, certs, new_user):
    user, pw = new_user(prefix="ppv2tls")
    sock = connect_with_header(ppmg, "imaps", proxy_v2("198.51.100.23", 5555, "127.0.0.1", 993))
    tls = client_context(certs).wrap_socket(sock, server_hostname="localhost")
    c = ImapOver(tls)
    c.login(user, pw)
    c.logout()
    assert wait_for_rip(dovecot, user, "imap") == "198.51.100.23"


def test_v2_header_and_client_hello_in_one_segment(ppmg, dovecot, certs, new_user):
    """A balancer may coalesce the header with the client's first bytes: the
    ClientHello arriving in the same read must reach the TLS layer."""
    user, pw = new_user(prefix="ppcoal")
    host, port = ppmg.address("imaps")
    sock = socket.create_connection((host, port), timeout=10)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(certs).wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    sock.sendall(proxy_v2("192.0.2.200", 6000, "127.0.0.1", 993) + outgoing.read())

    def pump(until):
        buf = b""
        while not until(buf):
            try:
                buf += tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            out = outgoing.read()
            if out:
                sock.sendall(out)
            data = sock.recv(65536)
            assert data, "server closed; got %r" % buf
            incoming.write(data)
        return buf

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            out = outgoing.read()
            if out:
                sock.sendall(out)
            data = sock.recv(65536)
            assert data, "server closed during the handshake"
            incoming.write(data)
    sock.sendall(outgoing.read())
    assert pump(lambda b: b"\r\n" in b).startswith(b"* OK")
    tls.write(("a1 LOGIN %s %s\r\n" % (user, pw)).encode())
    sock.sendall(outgoing.read())
    assert b"a1 OK" in pump(lambda b: b"a1 " in b and b.endswith(b"\r\n"))
    sock.close()
    assert wait_for_rip(dovecot, user, "imap") == "192.0.2.200"


def test_v1_pop3_and_pipelined_command_behind_header(ppmg, dovecot, certs, new_user):
    user, pw = new_user(prefix="pppop")
    # Header and the client's first command in one segment.
    sock = connect_with_header(ppmg, "pop3-starttls",
                               proxy_v1("203.0.113.77", 1234, dport=110) + b"CAPA\r\n")
    sock.settimeout(10)
    f = sock.makefile("rb")
    assert f.readline().startswith(b"+OK")          # greeting
    assert f.readline().startswith(b"+OK")          # CAPA
    lines = []
    while True:
        line = f.readline()
        assert line, "closed during CAPA"
        if line == b".\r\n":
            break
        lines.append(line)
    assert b"STLS\r\n" in lines
    sock.close()
    # Then a full login with the stdlib client.
    sock = connect_with_header(ppmg, "pop3-starttls", proxy_v1("203.0.113.78", 1235, dport=110))
    c = Pop3Over(sock)
    c.stls(context=client_context(certs))
    c.user(user)
    c.pass_(pw)
    c.quit()
    assert wait_for_rip(dovecot, user, "pop3") == "203.0.113.78"


def test_v2_ipv6_with_tlvs_smtp(ppmg, dovecot, certs, new_user):
    user, pw = new_user(prefix="ppsmtp")
    tlvs = b"\xea\x00\x05vpce-" + b"\x04\x00\x02zz"   # AWS VPC endpoint id, NOOP
    sock = connect_with_header(ppmg, "submission-starttls",
                               proxy_v2("2001:db8::25", 2525, "::1", 587, tlvs=tlvs))
    c = SmtpOver(sock)
    c.ehlo("client.test")
    c.starttls(context=client_context(certs))
    c.ehlo("client.test")
    c.login(user, pw)
    c.quit()
    assert wait_for_rip(dovecot, user, "submission") == "2001:db8::25"


def test_v2_local_keeps_the_tcp_peer(ppmg, dovecot, certs, new_user):
    """LOCAL is the balancer's own connection (health checks): the address is
    the TCP peer's."""
    user, pw = new_user(prefix="pplocal")
    sock = connect_with_header(ppmg, "imaps", proxy_v2(local=True, tlvs=b"\x04\x00\x00"),
                               source="127.0.0.5")
    c = ImapOver(client_context(certs).wrap_socket(sock, server_hostname="localhost"))
    c.login(user, pw)
    c.logout()
    assert wait_for_rip(dovecot, user, "imap") == "127.0.0.5"


def test_garbage_header_is_closed_and_server_keeps_serving(ppmg, dovecot, certs, new_user):
    for junk in (b"a1 LOGIN alice@example.com alice-pw\r\n",     # no header at all
                 b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n",
                 b"PROXY TCP4 " + b"1" * 120 + b"\r\n",
                 V2_SIGNATURE + b"\x21\x11\x00\x04abcd"):          # block too short
        sock = connect_with_header(ppmg, "imap-starttls", junk)
        # Closed, and nothing an IMAP client could take for a greeting.
        assert b"* OK" not in closed_without_greeting(sock)
        sock.close()
    assert "proxy_header_invalid" in ppmg.log_text()
    assert 'error="proxy_header_invalid"' in metrics(ppmg)
    user, pw = new_user(prefix="ppafter")
    c = ImapOver(connect_with_header(ppmg, "imap-starttls", proxy_v1("192.0.2.1", 9, dport=143)))
    c.starttls(ssl_context=client_context(certs))
    c.login(user, pw)
    c.logout()
    assert wait_for_rip(dovecot, user, "imap") == "192.0.2.1"


def test_untrusted_source_is_closed(mailgate_factory, certs):
    mg = mailgate_factory(modify=lambda cfg: only_listeners(
        proxied(cfg, trusted=("10.0.0.0/8",)), "imap-starttls", "imaps"))
    for name in ("imap-starttls", "imaps"):
        sock = connect_with_header(mg, name, proxy_v1("203.0.113.9", 1, dport=143))
        assert closed_without_greeting(sock) == b""
        sock.close()
    log = mg.log_text()
    assert "proxy_untrusted" in log
    assert 'error="proxy_untrusted"' in metrics(mg)


def test_header_must_arrive_within_login_timeout(mailgate_factory):
    def modify(cfg):
        proxied(cfg, names=("imap-starttls",))
        only_listeners(cfg, "imap-starttls")
        cfg["limits"]["login_timeout_s"] = 1
    mg = mailgate_factory(modify=modify)
    sock = connect_with_header(mg, "imap-starttls", b"PROXY TCP4 ")   # and then nothing
    started = time.time()
    assert closed_without_greeting(sock, timeout=5) == b""
    assert time.time() - started < 4
    mg.wait_for_log("proxy_header_timeout")


def test_per_ip_limit_counts_the_header_address(mailgate_factory):
    """The TCP peer is the balancer for every client: the per-IP limit applies
    to the address in the PROXY header instead."""
    def modify(cfg):
        proxied(cfg, names=("imap-starttls",))
        only_listeners(cfg, "imap-starttls")
        cfg["limits"]["max_connections_per_ip"] = 2
    mg = mailgate_factory(modify=modify)
    held = []
    try:
        for _ in range(2):
            s = connect_with_header(mg, "imap-starttls", proxy_v1("192.0.2.50", 1, dport=143))
            held.append(s)
            assert s.makefile("rb").readline().startswith(b"* OK")
        third = connect_with_header(mg, "imap-starttls", proxy_v1("192.0.2.50", 2, dport=143))
        assert b"Too many connections" in closed_without_greeting(third)
        third.close()
        # Other clients behind the same balancer are not affected.
        for i in range(3):
            s = connect_with_header(mg, "imap-starttls", proxy_v1("192.0.2.%d" % (60 + i), 1,
                                                                  dport=143))
            held.append(s)
            assert s.makefile("rb").readline().startswith(b"* OK")
        # A slot comes back when its session ends.
        held.pop(0).close()
        time.sleep(0.5)
        s = connect_with_header(mg, "imap-starttls", proxy_v1("192.0.2.50", 3, dport=143))
        held.append(s)
        assert s.makefile("rb").readline().startswith(b"* OK")
    finally:
        for s in held:
            s.close()
