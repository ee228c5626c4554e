"""The bridge reaches its backend through the same connector as the proxy
(issue 9): the shipped bridge.json example with its pool member named by a
host name, failover to the next pool member, PROXY v2 forwarding, and the
POP3 limits from the configuration instead of hard-coded ones.

    /usr/bin/python3 -m pytest tests/integration/test_bridge_connect.py -q
"""
import json
import os
import re
import socket
import threading
import urllib.request

import pytest

from harness import Dovecot, set_backend
from harness.clients import RawClient
from harness.util import free_port, port_open, wait_until
from test_bridge_backend import tls_dovecot  # noqa: F401 (a fixture: one TLS Dovecot for both files)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRIDGE = "pop3s-bridge"


@pytest.fixture(scope="module")
def haproxy_dovecot(workroot):
    d = Dovecot(os.path.join(workroot, "dovecot-bridge-haproxy"), users={"hal@example.com": "hal-pw"},
                haproxy=True, trusted_networks="127.0.0.0/8")
    d.start()
    d.add_message("hal@example.com", b"Subject: proxied\r\n\r\nhi\r\n")
    yield d
    d.stop()
    d.cleanup()


def pop3_login(mg, listener, certs, user, password, source=None):
    c = RawClient.connect(mg, listener, certs, timeout=20, source=source)
    assert c.readline().startswith(b"+OK")
    c.send("USER %s\r\nPASS %s\r\n" % (user, password))
    assert c.readline().startswith(b"+OK")
    return c, c.readline()


def retr_subject(c):
    c.send("RETR 1\r\n")
    lines = c.read_until(lambda l: l == b".\r\n")
    return [l for l in lines if l.startswith(b"Subject:")]


def metric_sum(mg, name):
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def metric_value(mg, name, backend):
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and 'backend="%s"' % backend in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_shipped_bridge_example_reaches_a_backend_named_by_host_name(mailgate_factory, tls_dovecot, certs):
    """config/examples/bridge.json as shipped, with only what this machine
    needs changed: addresses, certificate paths, and the backend's name —
    still a host name ("localhost"), resolved on the loop. The old bridge
    client failed with `connect_failed (localhost: invalid argument)`."""
    with open(os.path.join(REPO, "config", "examples", "bridge.json")) as f:
        cfg = json.load(f)
    cfg["tls"]["certificates"] = [{"cert": certs.cert, "key": certs.key, "names": []}]
    for entry in cfg["listeners"]:
        entry["address"] = "127.0.0.1:%d" % free_port()
    cfg["admin"] = {"address": "127.0.0.1:%d" % free_port()}
    pool = cfg["pools"]["imap-only"]
    server = pool["servers"][0]
    assert not re.match(r"^[0-9.]+$", server["host"]), "the example names its backend by host name"
    server["host"] = "localhost"
    server["imap"] = tls_dovecot.imaps_port
    pool["ca_file"] = certs.ca_cert
    mg = mailgate_factory(config=cfg)
    c, answer = pop3_login(mg, "pop3s", certs, "tina@example.com#phone", "tina-pw")
    assert answer.startswith(b"+OK"), (answer, mg.log_text()[-2000:])
    assert retr_subject(c) == [b"Subject: over tls\r\n"]
    c.send("QUIT\r\n")
    assert c.readline().startswith(b"+OK")
    c.close()


class GreetOnce:
    """A pool member that passes the first health check (it greets like an
    IMAP server) and then goes away: the health table still says up, so
    only failover at connect time can save the logins ranked to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.sendall(b"* OK ready\r\n")
                conn.close()
            except OSError:
                pass

    def close(self):
        # shutdown() wakes the thread blocked in accept(); close() alone
        # would leave the socket listening until accept() returned.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)
        assert not port_open(self.port), "the ghost member still accepts"


def test_bridge_fails_over_to_the_next_pool_member(mailgate_factory, dovecot, new_user, certs):
    """A pool member that is down although the health table says up: the
    bridge logs in at the next candidate, as the proxy does. Ten users, so the
    dead member ranks first for some of them (rendezvous hashing); every
    login succeeds, and the connect failures show that the dead member was
    tried (the old bridge took only the first candidate and failed)."""
    users = [new_user(messages=[b"Subject: failover %d\r\n\r\nx\r\n" % i]) for i in range(10)]
    ghost = GreetOnce()

    def modify(cfg):
        pool = cfg["pools"]["local"]
        live = pool["servers"][0]
        pool["servers"] = [dict(live, imap=ghost.port), live]
        pool["health"] = {"interval_s": 3600}  # one check at start, then none
    mg = mailgate_factory(modify=modify)
    wait_until(lambda: metric_value(mg, "mailgate_backend_up", "127.0.0.1:%d" % ghost.port) == 1.0,
               timeout=10, what="the ghost member checked up")
    ghost.close()
    for i, (user, password) in enumerate(users):
        c, answer = pop3_login(mg, BRIDGE, certs, user, password)
        assert answer.startswith(b"+OK"), (user, answer)
        assert retr_subject(c) == [b"Subject: failover %d\r\n" % i]
        c.send("QUIT\r\n")
        c.readline()
        c.close()
    assert metric_sum(mg, "mailgate_backend_connect_failures_total") >= 1


def test_bridge_forwards_the_client_address_with_proxy_v2(mailgate_factory, haproxy_dovecot, certs):
    """client_ip proxy-v2 on the bridge's pool: Dovecot's haproxy listener
    logs the client's address as rip=. The old bridge client only knew ID and
    sent no header, so Dovecot's haproxy listener refused the connection."""
    def modify(cfg):
        set_backend(cfg, imap=haproxy_dovecot.haproxy_ports["imap"])
        cfg["pools"]["local"]["client_ip"] = "proxy-v2"
    mg = mailgate_factory(modify=modify)
    c, answer = pop3_login(mg, BRIDGE, certs, "hal@example.com", "hal-pw", source="127.0.0.5")
    assert answer.startswith(b"+OK"), answer
    c.send("QUIT\r\n")
    c.readline()
    c.close()
    line = wait_until(lambda: next((l for l in haproxy_dovecot.log_text().splitlines()
                                    if "imap-login: Info: Login: user=<hal@example.com>" in l), None),
                      timeout=5, what="Dovecot's login line")
    assert "rip=127.0.0.5," in line, line


def test_bridge_uses_the_configured_pop3_limits(mailgate_factory, dovecot, new_user, certs):
    """limits.max_bad_commands and limits.max_line_bytes apply to bridged
    sessions too (the bridge hard-coded 20 and 1,024 bytes)."""
    user, password = new_user(messages=[b"Subject: limits\r\n\r\nx\r\n"])

    def modify(cfg):
        cfg["limits"]["max_bad_commands"] = 2
        cfg["limits"]["max_line_bytes"] = 2048
    mg = mailgate_factory(modify=modify)
    c, answer = pop3_login(mg, BRIDGE, certs, user, password)
    assert answer.startswith(b"+OK"), answer
    # 1,500 bytes: too long for the old fixed 1,024, within the configured 2,048.
    c.send("NOOP %s\r\n" % ("x" * 1500))
    assert c.readline() == b"+OK\r\n"
    c.send("BOGUS1\r\nBOGUS2\r\n")
    assert c.readline().startswith(b"-ERR Unknown command")
    assert c.readline().startswith(b"-ERR Unknown command")
    c.send("BOGUS3\r\n")
    assert c.readline().startswith(b"-ERR Unknown command")
    assert c.readline() == b"-ERR Too many bad commands.\r\n"
    assert c.read_available(2.0) == b""
    c.close()
