"""The client's address reaches the backend, per pool `client_ip` (docs/architecture.md
§2.1): IMAP ID x-originating-ip, POP3/SMTP XCLIENT, or a PROXY v2 header in
front of every protocol (Dovecot haproxy listeners). Dovecot's login line
`rip=` is the oracle; clients connect from 127.0.0.5 so that a proxy which
forwarded nothing (rip=127.0.0.1, mailgate's own address) fails the test.
"""
import base64
import os
import socket
import struct
import time
import urllib.request

import pytest

from harness import Dovecot, only_listeners, set_backend, wait_until
from harness.clients import RawClient

USER, PW = "ian@example.com", "ian-pw"
SOURCE = "127.0.0.5"
LISTENER = {"imap": "imaps", "pop3": "pop3s", "smtp": "submissions"}
LOGIN_SERVICE = {"imap": "imap-login", "pop3": "pop3-login", "smtp": "submission-login"}


@pytest.fixture(scope="module")
def ip_dovecot(workroot):
    d = Dovecot(os.path.join(workroot, "dovecot-client-ip"), users={USER: PW}, haproxy=True,
                trusted_networks="127.0.0.0/8")
    d.start()
    yield d
    d.stop()
    d.cleanup()


def login(mg, certs, protocol, source=SOURCE):
    with RawClient.connect(mg, LISTENER[protocol], certs, timeout=20, source=source) as r:
        if protocol == "imap":
            r.readline()
            r.send(b"a LOGIN %s %s\r\n" % (USER.encode(), PW.encode()))
            answer = r.read_tagged("a")[-1]
            assert answer.startswith(b"a OK"), answer
            r.send(b"b LOGOUT\r\n")
        elif protocol == "pop3":
            r.readline()
            r.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PW.encode()))
            r.readline()
            answer = r.readline()
            assert answer.startswith(b"+OK"), answer
            r.send(b"QUIT\r\n")
        else:
            r.read_smtp_reply()
            r.send(b"EHLO client.test\r\n")
            r.read_smtp_reply()
            token = base64.b64encode(b"\0" + USER.encode() + b"\0" + PW.encode())
            r.send(b"AUTH PLAIN " + token + b"\r\n")
            answer = r.read_smtp_reply()[-1]
            assert answer.startswith(b"235"), answer
            r.send(b"QUIT\r\n")
        r.read_available(0.3)


def last_login(d, protocol):
    def find():
        lines = [line for line in d.log_text().splitlines()
                 if "%s: Info: Login: user=<%s>" % (LOGIN_SERVICE[protocol], USER) in line]
        return lines[-1] if lines else None
    return find()


def rip_after_login(mg, certs, d, protocol, source=SOURCE):
    before = last_login(d, protocol)
    login(mg, certs, protocol, source)
    line = wait_until(lambda: (lambda l: l if l and l != before else None)(last_login(d, protocol)),
                      timeout=5, what="login line")
    return line


def config(make_config, d, mode, haproxy=False):
    cfg = make_config()
    only_listeners(cfg, *LISTENER.values())
    if haproxy:
        set_backend(cfg, imap=d.haproxy_ports["imap"], pop3=d.haproxy_ports["pop3"],
                    smtp=d.haproxy_ports["submission"])
    else:
        set_backend(cfg, imap=d.imap_port, pop3=d.pop3_port, smtp=d.submission_port)
    cfg["pools"]["local"]["client_ip"] = mode
    return cfg


@pytest.mark.parametrize("protocol,mode", [("imap", "id"), ("pop3", "xclient"), ("smtp", "xclient"),
                                           ("imap", "auto"), ("pop3", "auto"), ("smtp", "auto")])
def test_forwarded_by_command(mailgate_factory, make_config, ip_dovecot, certs, protocol, mode):
    mg = mailgate_factory(config(make_config, ip_dovecot, mode))
    line = rip_after_login(mg, certs, ip_dovecot, protocol)
    assert "rip=%s," % SOURCE in line, line


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_not_forwarded_without_client_ip(mailgate_factory, make_config, ip_dovecot, certs, protocol):
    """The control: with client_ip none Dovecot sees mailgate's address, so the
    tests above cannot pass by accident."""
    mg = mailgate_factory(config(make_config, ip_dovecot, "none"))
    line = rip_after_login(mg, certs, ip_dovecot, protocol)
    assert "rip=127.0.0.1," in line, line


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_proxy_v2(mailgate_factory, make_config, ip_dovecot, certs, protocol):
    mg = mailgate_factory(config(make_config, ip_dovecot, "proxy-v2", haproxy=True))
    line = rip_after_login(mg, certs, ip_dovecot, protocol)
    assert "rip=%s," % SOURCE in line, line
    # The PROXY header also carries where the client connected to: lip= is
    # mailgate's listener address, not Dovecot's own haproxy port.
    assert "lip=127.0.0.1," in line, line
    # The health check's LOCAL header keeps the haproxy member up.
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    up = [l for l in text.splitlines() if l.startswith("mailgate_backend_up{")
          and 'backend="127.0.0.1:%d"' % ip_dovecot.haproxy_ports["imap"] in l]
    assert up and up[0].endswith(" 1"), up


def test_proxy_v2_health_check_uses_local(mailgate_factory, make_config, ip_dovecot, certs):
    """Health checks of a haproxy member send a LOCAL header: Dovecot accepts
    them (the member stays up, no 'haproxy' errors in its log)."""
    cfg = config(make_config, ip_dovecot, "proxy-v2", haproxy=True)
    cfg["pools"]["local"]["health"] = {"interval_s": 1, "timeout_ms": 500}
    mg = mailgate_factory(cfg)
    time.sleep(2.5)  # a few checks
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    for proto in ("imap", "pop3", "submission"):
        port = ip_dovecot.haproxy_ports[proto]
        up = [l for l in text.splitlines() if l.startswith("mailgate_backend_up{")
              and 'backend="127.0.0.1:%d"' % port in l]
        assert up and up[0].endswith(" 1"), (proto, up)


def _proxy_v2_header_ipv6(src, sport, dst, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + \
        struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x21]) + struct.pack("!H", len(body)) + body


@pytest.mark.parametrize("protocol,mode", [("imap", "id"), ("pop3", "xclient"), ("smtp", "xclient"),
                                           ("imap", "proxy-v2")])
def test_ipv6_client_behind_load_balancer(mailgate_factory, make_config, ip_dovecot, certs,
                                          protocol, mode):
    """A load balancer's PROXY header gives mailgate an IPv6 client: each
    forwarding form carries it in its own syntax (XCLIENT ADDR=IPV6:…, ID
    quoted string, PROXY v2 AF_INET6) and Dovecot logs exactly that address.
    This is where a client-controlled value enters the backend dialogue.
    For PROXY v2 mailgate's own IPv4 address is sent IPv4-mapped, as v2
    carries one address family."""
    cfg = config(make_config, ip_dovecot, mode, haproxy=(mode == "proxy-v2"))
    only_listeners(cfg, LISTENER[protocol])
    lst = cfg["listeners"][0]
    lst["tls"] = "none"
    lst["allow_plaintext_auth"] = True
    lst["proxy_protocol"] = True
    lst["trusted_proxies"] = ["127.0.0.0/8"]
    mg = mailgate_factory(cfg)
    client = "2001:db8::5"
    before = last_login(ip_dovecot, protocol)
    host, port = mg.address(lst["name"])
    s = socket.create_connection((host, port), timeout=10, source_address=(SOURCE, 0))
    r = RawClient(s)
    r.send(_proxy_v2_header_ipv6(client, 40000, "2001:db8::1", 143))
    if protocol == "imap":
        r.readline()
        r.send(b"a LOGIN %s %s\r\n" % (USER.encode(), PW.encode()))
        assert r.read_tagged("a")[-1].startswith(b"a OK")
    elif protocol == "pop3":
        r.readline()
        r.send(b"USER %s\r\nPASS %s\r\n" % (USER.encode(), PW.encode()))
        r.readline()
        assert r.readline().startswith(b"+OK")
    else:
        r.read_smtp_reply()
        r.send(b"EHLO client.test\r\n")
        r.read_smtp_reply()
        token = base64.b64encode(b"\0" + USER.encode() + b"\0" + PW.encode())
        r.send(b"AUTH PLAIN " + token + b"\r\n")
        assert r.read_smtp_reply()[-1].startswith(b"235")
    r.close()
    line = wait_until(lambda: (lambda l: l if l and l != before else None)(last_login(ip_dovecot, protocol)),
                      timeout=5, what="login line")
    assert "rip=%s," % client in line, line


@pytest.mark.parametrize("with_backend_pool", [True, False])
def test_map_host_entry_takes_settings_from_backend_pool(mailgate_factory, make_config, ip_dovecot,
                                                         certs, tmp_path, with_backend_pool):
    """A `map` entry that names a host directly has no pool of its own; the
    route's `backend_pool` lends it the pool's settings (here client_ip id).
    Without it the backend is reached with no client address forwarded."""
    cfg = config(make_config, ip_dovecot, "none")
    users = tmp_path / "users.json"
    users.write_text('{"users": {"%s": {"host": "127.0.0.1", "imap": %d}}}'
                     % (USER, ip_dovecot.imap_port))
    cfg["pools"]["lender"] = {"servers": [{"host": "127.0.0.1", "imap": ip_dovecot.imap_port}],
                              "client_ip": "id"}
    cfg["routes"]["default"] = {"type": "map", "file": str(users)}
    if with_backend_pool:
        cfg["routes"]["default"]["backend_pool"] = "lender"
    mg = mailgate_factory(cfg)
    line = rip_after_login(mg, certs, ip_dovecot, "imap")
    expected = SOURCE if with_backend_pool else "127.0.0.1"
    assert "rip=%s," % expected in line, line
