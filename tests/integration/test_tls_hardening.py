"""TLS hardening of the client listeners, with real clients (Python's ssl,
openssl s_client) on implicit TLS and STARTTLS/STLS for all three protocols:

- ALPN is strict against cross-protocol attacks (ALPACA; RFC 7301 §3.2): a
  client offering ALPN without the listener's protocol id ("imap", "pop3",
  "smtp") gets the fatal no_application_protocol alert (120); a client that
  offers its own protocol gets it; a client without ALPN is served.
- TLS 1.2: the server's cipher order wins over the client's.
"""
import shutil
import socket
import ssl
import subprocess

import pytest

from harness.clients import client_context

# listener -> (protocol, how TLS starts)
LISTENERS = {
    "imaps": ("imap", "implicit"),
    "imap-starttls": ("imap", "starttls"),
    "pop3s": ("pop3", "implicit"),
    "pop3-starttls": ("pop3", "starttls"),
    "pop3s-bridge": ("pop3", "implicit"),
    "submissions": ("smtp", "implicit"),
    "submission-starttls": ("smtp", "starttls"),
}
OTHER_MAIL = {"imap": "smtp", "pop3": "imap", "smtp": "imap"}


def _read_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        assert chunk, "connection closed after %r" % line
        line += chunk
    return line


def _read_until(sock, done):
    lines = []
    while True:
        lines.append(_read_line(sock))
        if done(lines[-1]):
            return lines


def _start_tls_plaintext(sock, protocol):
    """Greeting and STARTTLS/STLS in cleartext, as a real client does."""
    if protocol == "imap":
        assert _read_line(sock).startswith(b"* OK")
        sock.sendall(b"a STARTTLS\r\n")
        assert _read_until(sock, lambda l: l.startswith(b"a "))[-1].startswith(b"a OK")
    elif protocol == "pop3":
        assert _read_line(sock).startswith(b"+OK")
        sock.sendall(b"STLS\r\n")
        assert _read_line(sock).startswith(b"+OK")
    else:
        assert _read_until(sock, lambda l: l[3:4] == b" ")[-1].startswith(b"220")
        sock.sendall(b"EHLO client.test\r\n")
        assert _read_until(sock, lambda l: l[3:4] == b" ")[-1].startswith(b"250")
        sock.sendall(b"STARTTLS\r\n")
        assert _read_line(sock).startswith(b"220")


def _handshake(mailgate, certs, listener, alpn):
    """TLS to `listener` offering `alpn` (a list, or None for no extension).
    Returns the TLS socket (handshake done) or raises ssl.SSLError."""
    protocol, mode = LISTENERS[listener]
    sock = socket.create_connection(mailgate.address(listener), timeout=20)
    try:
        if mode == "starttls":
            _start_tls_plaintext(sock, protocol)
        ctx = client_context(certs)
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        return ctx.wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


def _assert_refused(mailgate, certs, listener, alpn):
    with pytest.raises(ssl.SSLError) as err:
        _handshake(mailgate, certs, listener, alpn).close()
    assert "NO APPLICATION PROTOCOL" in str(err.value).upper().replace("_", " "), err.value


def _assert_served(mailgate, certs, listener, alpn, expected):
    protocol, mode = LISTENERS[listener]
    tls = _handshake(mailgate, certs, listener, alpn)
    try:
        assert tls.selected_alpn_protocol() == expected
        # Served: the session goes on over TLS.
        if protocol == "imap":
            if mode == "implicit":
                assert _read_line(tls).startswith(b"* OK")
            tls.sendall(b"z LOGOUT\r\n")
            assert _read_until(tls, lambda l: l.startswith(b"z "))[-1].startswith(b"z OK")
        elif protocol == "pop3":
            if mode == "implicit":
                assert _read_line(tls).startswith(b"+OK")
            tls.sendall(b"QUIT\r\n")
            assert _read_line(tls).startswith(b"+OK")
        else:
            if mode == "implicit":
                assert _read_until(tls, lambda l: l[3:4] == b" ")[-1].startswith(b"220")
            tls.sendall(b"QUIT\r\n")
            assert _read_line(tls).startswith(b"221")
    finally:
        tls.close()


@pytest.mark.parametrize("listener", sorted(LISTENERS))
def test_alpn_http_is_refused(mailgate, certs, listener):
    """The ALPACA case: a browser's ALPN (http/1.1, h2) reaches a mail port."""
    _assert_refused(mailgate, certs, listener, ["http/1.1"])
    _assert_refused(mailgate, certs, listener, ["h2", "http/1.1"])


@pytest.mark.parametrize("listener", sorted(LISTENERS))
def test_alpn_own_protocol_and_none_are_served(mailgate, certs, listener):
    protocol = LISTENERS[listener][0]
    _assert_served(mailgate, certs, listener, [protocol], protocol)
    _assert_served(mailgate, certs, listener, ["http/1.1", protocol], protocol)
    _assert_served(mailgate, certs, listener, None, None)


@pytest.mark.parametrize("listener", sorted(LISTENERS))
def test_alpn_other_mail_protocol_is_refused(mailgate, certs, listener):
    """e.g. "smtp" on the IMAP port: a cross-protocol attack between mail
    services sharing a certificate."""
    other = OTHER_MAIL[LISTENERS[listener][0]]
    _assert_refused(mailgate, certs, listener, [other])


def _s_client(mailgate, certs, listener, extra):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    protocol, mode = LISTENERS[listener]
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % mailgate.port(listener),
            "-CAfile", certs.ca_cert, "-servername", "localhost", *extra]
    if mode == "starttls":
        args += ["-starttls", protocol]
    quit_cmd = b"q LOGOUT\r\n" if protocol == "imap" else b"QUIT\r\n"
    r = subprocess.run(args, input=quit_cmd, capture_output=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("listener", ["imaps", "imap-starttls", "pop3s", "pop3-starttls",
                                      "submissions", "submission-starttls"])
def test_s_client_alpn_http_gets_alert_120(mailgate, certs, listener):
    code, out = _s_client(mailgate, certs, listener, ["-alpn", "http/1.1"])
    assert code != 0, out[-2000:]
    assert b"alert no application protocol" in out, out[-2000:]
    assert b"alert number 120" in out, out[-2000:]

    protocol = LISTENERS[listener][0]
    code, out = _s_client(mailgate, certs, listener, ["-alpn", protocol])
    assert b"ALPN protocol: " + protocol.encode() in out, out[-2000:]
    assert b"Verify return code: 0 (ok)" in out, out[-2000:]


@pytest.mark.parametrize("listener", ["imaps", "submission-starttls"])
def test_tls12_server_cipher_preference(mailgate, certs, listener):
    """The client lists CHACHA20 and AES-256 before AES-128; the server picks
    by its own order (AES-128-GCM first, as Mozilla's intermediate list)."""
    weak_first = ("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"
                  "ECDHE-RSA-AES128-GCM-SHA256")
    code, out = _s_client(mailgate, certs, listener, ["-tls1_2", "-cipher", weak_first])
    assert b"Verify return code: 0 (ok)" in out, out[-2000:]
    assert b"Cipher is ECDHE-RSA-AES128-GCM-SHA256" in out, out[-2000:]
    # Offered in the server's order it is the same choice.
    code, out = _s_client(mailgate, certs, listener,
                          ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:" + weak_first])
    assert b"Cipher is ECDHE-RSA-AES128-GCM-SHA256" in out, out[-2000:]
