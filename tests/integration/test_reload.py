"""SIGHUP reload (docs/architecture.md §2.4): config and certificates are re-read; a bad
config keeps the running one; listeners open, close and move; new sessions use
the new config while running sessions are never dropped (an IMAP IDLE session
across many reloads, a multi-MB POP3 RETR in flight across a reload)."""
import copy
import imaplib
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from harness import closed_port, free_port
from harness.clients import RawClient, client_context, imap_client


# ---- helpers ---------------------------------------------------------------

def _count(mg, event):
    return len(re.findall(r"event=%s\b" % re.escape(event), mg.log_text()))


def reload(mg, cfg=None, ok=True, timeout=10.0):
    """Write `cfg` (if given), SIGHUP, and wait until mailgate logged the outcome.
    Asserts the outcome is `ok` (config_reloaded) or not (config_reload_failed)."""
    before_ok, before_err = _count(mg, "config_reloaded"), _count(mg, "config_reload_failed")
    if cfg is not None:
        mg.write_config(cfg)
    mg.reload()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got_ok = _count(mg, "config_reloaded") > before_ok
        got_err = _count(mg, "config_reload_failed") > before_err
        if got_ok or got_err:
            assert got_ok == ok, "reload %s, expected %s\n%s" % (
                "succeeded" if got_ok else "failed", "success" if ok else "failure",
                mg.log_text()[-2000:])
            # Workers apply the new runtime through their task queues: give them a moment.
            time.sleep(0.2)
            return
        time.sleep(0.05)
    raise AssertionError("no reload outcome logged\n" + mg.log_text()[-2000:])


def metric(mg, name, labels=""):
    text = urllib.request.urlopen(mg.admin_url + "/metrics", timeout=5).read().decode()
    pat = re.compile(r"^%s(\{[^}]*\})? ([0-9.e+-]+)$" % re.escape(name), re.M)
    total = 0.0
    for m in pat.finditer(text):
        if all(lab in (m.group(1) or "") for lab in labels.split(",") if lab):
            total += float(m.group(2))
    return total


def issue_cert(certs, directory, cn):
    """A server certificate for localhost/127.0.0.1 signed by the test CA with
    subject CN=`cn`; returns (cert, key, serial-hex)."""
    os.makedirs(directory, exist_ok=True)
    key = os.path.join(directory, cn + ".key")
    cert = os.path.join(directory, cn + ".pem")
    csr = os.path.join(directory, cn + ".csr")
    ext = os.path.join(directory, cn + ".ext")
    serial = "%016X" % int.from_bytes(os.urandom(8), "big")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,DNS:mail.example.com,IP:127.0.0.1\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", csr, "-CA", certs.ca_cert, "-CAkey", certs.ca_key,
        "-set_serial", "0x" + serial, "-days", "30", "-extfile", ext, "-out", cert)
    os.chmod(key, 0o644)
    return cert, key, serial


def served_cert(port, starttls=None):
    """(subject, serial) of the certificate a fresh handshake gets, via openssl s_client."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost"]
    if starttls:
        args += ["-starttls", starttls]
    out = subprocess.run(args, input=b"", capture_output=True, timeout=15).stdout
    x = subprocess.run(["openssl", "x509", "-noout", "-subject", "-serial"], input=out,
                       capture_output=True, check=True, timeout=15).stdout.decode()
    subject = re.search(r"subject=\s*(.*)", x).group(1).strip()
    serial = re.search(r"serial=([0-9A-F]+)", x).group(1)
    return subject, serial


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def imap_login_works(mg, listener, certs, user, password):
    c = imap_client(mg, listener, certs, timeout=10)
    try:
        typ, _ = c.login(user, password)
        assert typ == "OK"
        typ, data = c.select("INBOX", readonly=True)
        assert typ == "OK"
        return int(data[0])
    finally:
        try:
            c.logout()
        except Exception:
            pass


def set_listener(cfg, name, **changes):
    for entry in cfg["listeners"]:
        if entry["name"] == name:
            entry.update(changes)
            return cfg
    raise KeyError(name)


def message(n, size=0):
    body = "Reload test message %d.\r\n" % n + ("y" * 70 + "\r\n") * (size // 72)
    return ("From: a@example.org\r\nTo: b@example.com\r\nSubject: reload %d\r\n"
            "Message-ID: <reload-%d-%d@example.org>\r\n\r\n%s" % (n, n, os.getpid(), body)).encode()


# ---- IDLE across reloads ---------------------------------------------------

class IdleClient:
    """An IMAP session in IDLE through mailgate, read byte by byte."""

    def __init__(self, mg, certs, user, password):
        self.raw = RawClient.connect(mg, "imaps", certs, timeout=15)
        assert self.raw.readline().startswith(b"* OK")
        self.raw.send("a LOGIN %s %s\r\n" % (user, password))
        assert self.raw.read_tagged("a")[-1].startswith(b"a OK")
        self.raw.send(b"b SELECT INBOX\r\n")
        assert self.raw.read_tagged("b")[-1].startswith(b"b OK")
        self.raw.send(b"c IDLE\r\n")
        assert self.raw.readline().startswith(b"+ ")

    def wait_exists(self, n):
        want = b"* %d EXISTS\r\n" % n
        lines = self.raw.read_until(lambda line: line == want or line.startswith(b"* BYE"), 50)
        assert lines[-1] == want, lines

    def done(self):
        self.raw.send(b"DONE\r\n")
        assert self.raw.read_tagged("c")[-1].startswith(b"c OK")
        self.raw.send(b"d LOGOUT\r\n")
        lines = self.raw.read_tagged("d")
        assert lines[-1].startswith(b"d OK")


def test_idle_session_survives_reloads(mailgate_factory, dovecot, certs, new_user, workroot):
    user, password = new_user(prefix="idle")
    mg = mailgate_factory()
    cfg = copy.deepcopy(mg.config)
    certdir = os.path.join(mg.workdir, "rotated")
    direct = dovecot.imap(user, password)
    idle = IdleClient(mg, certs, user, password)
    appended = 0

    def append_and_see():
        nonlocal appended
        appended += 1
        typ, _ = direct.append("INBOX", None, None, message(appended))
        assert typ == "OK"
        idle.wait_exists(appended)

    # 1. certificate rotation: new handshakes get the new certificate.
    subject0, serial0 = served_cert(mg.port("imaps"))
    cert1, key1, serial1 = issue_cert(certs, certdir, "rotated-one")
    cfg["tls"]["certificates"][0].update(cert=cert1, key=key1)
    reload(mg, cfg)
    append_and_see()
    subject, serial = served_cert(mg.port("imaps"))
    assert (serial, "rotated-one" in subject) == (serial1, True), (subject, serial, subject0)
    assert served_cert(mg.port("imap-starttls"), starttls="imap")[1] == serial1
    assert imap_login_works(mg, "imaps", certs, user, password) == appended

    # 2. a new listener opens.
    extra_port = free_port()
    cfg["listeners"].append({"name": "imaps-extra", "protocol": "imap",
                             "address": "127.0.0.1:%d" % extra_port, "tls": "implicit",
                             "route": "default"})
    reload(mg, cfg)
    mg.config = cfg
    append_and_see()
    assert imap_login_works(mg, "imaps-extra", certs, user, password) == appended

    # 3. a failed reload (type error in the file) keeps everything as it was.
    bad = copy.deepcopy(cfg)
    bad["workers"] = "two"
    bad["tls"]["certificates"][0]["cert"] = certs.cert  # would roll back the rotation
    reload(mg, bad, ok=False)
    mg.config = cfg
    append_and_see()
    assert served_cert(mg.port("imaps"))[1] == serial1
    assert imap_login_works(mg, "imaps-extra", certs, user, password) == appended
    assert "workers" in mg.log_text().split("event=config_reload_failed")[-1].split("\n")[0]

    # 4. a listener moves to another address: the old port refuses, the new serves.
    old_port = mg.port("imap-starttls")
    new_port = free_port()
    set_listener(cfg, "imap-starttls", address="127.0.0.1:%d" % new_port)
    reload(mg, cfg)
    mg.config = cfg
    append_and_see()
    assert refused(old_port)
    assert imap_login_works(mg, "imap-starttls", certs, user, password) == appended

    # 5. a failed reload: the certificate file is gone (the JSON itself is valid).
    cert2, key2, serial2 = issue_cert(certs, certdir, "rotated-two")
    bad = copy.deepcopy(cfg)
    bad["tls"]["certificates"][0].update(cert=cert2 + ".missing", key=key2)
    reload(mg, bad, ok=False)
    append_and_see()
    assert served_cert(mg.port("imaps"))[1] == serial1

    # 6. the route moves to a pool that is down and the extra listener closes:
    #    new logins fail, the running IDLE session does not notice.
    cfg["pools"]["down"] = {"servers": [{"host": "127.0.0.1", "imap": closed_port(),
                                         "pop3": closed_port(), "smtp": closed_port()}]}
    cfg["routes"]["default"] = {"type": "static", "pool": "down"}
    cfg["listeners"] = [entry for entry in cfg["listeners"] if entry["name"] != "imaps-extra"]
    reload(mg, cfg)
    mg.config = cfg
    append_and_see()
    assert refused(extra_port)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login_works(mg, "imaps", certs, user, password)

    # 7. back to the working pool, with the second rotated certificate.
    cfg["routes"]["default"] = {"type": "static", "pool": "local"}
    cfg["tls"]["certificates"][0].update(cert=cert2, key=key2)
    reload(mg, cfg)
    append_and_see()
    assert served_cert(mg.port("imaps"))[1] == serial2
    assert imap_login_works(mg, "imaps", certs, user, password) == appended

    idle.done()
    direct.logout()
    assert metric(mg, "mailgate_config_reloads_total", 'result="ok"') == 5
    assert metric(mg, "mailgate_config_reloads_total", 'result="error"') == 2


def test_reload_errors_keep_running_config(mailgate_factory, certs):
    mg = mailgate_factory()
    cfg = copy.deepcopy(mg.config)

    # Not JSON at all.
    with open(mg.config_path, "w") as f:
        f.write('{"listeners": [')
    reload(mg, ok=False)

    # A new listener whose port someone else holds: nothing of the new config applies.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    bad = copy.deepcopy(cfg)
    bad["listeners"].append({"name": "busy", "protocol": "imap", "tls": "implicit",
                             "address": "127.0.0.1:%d" % busy, "route": "default"})
    moved = free_port()
    set_listener(bad, "imaps", address="127.0.0.1:%d" % moved)
    reload(mg, bad, ok=False)
    blocker.close()
    line = [x for x in mg.log_text().splitlines() if "event=config_reload_failed" in x][-1]
    assert "busy" in line and "keeping" in line
    assert refused(moved)

    # A key that does not match the certificate.
    other_key = os.path.join(mg.workdir, "other.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out", other_key],
                   check=True, capture_output=True)
    bad = copy.deepcopy(cfg)
    bad["tls"]["certificates"][0]["key"] = other_key
    reload(mg, bad, ok=False)

    mg.write_config(cfg)
    assert metric(mg, "mailgate_config_reloads_total", 'result="error"') == 3
    assert metric(mg, "mailgate_config_reloads_total", 'result="ok"') == 0
    # Still serving with the config it started with.
    c = imap_client(mg, "imaps", certs)
    c.login("alice@example.com", "alice-pw")
    c.logout()
    reload(mg, cfg)
    assert metric(mg, "mailgate_config_reloads_total", 'result="ok"') == 1


# ---- a long POP3 RETR across a reload ----------------------------------------

def _read_multiline(sock, buf=b""):
    while not (buf.endswith(b"\r\n.\r\n")):
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise EOFError("closed after %d bytes" % len(buf))
        buf += chunk
    return buf


def test_pop3_retr_in_flight_survives_reload(mailgate_factory, dovecot, certs, new_user):
    big = message(1, size=6 * 1024 * 1024)
    user, password = new_user(messages=[big], prefix="retr")
    # What Dovecot itself sends for RETR 1 (the oracle for byte equality).
    d = socket.create_connection(("127.0.0.1", dovecot.pop3_port), timeout=15)
    d.recv(512)
    d.sendall(("USER %s\r\nPASS %s\r\n" % (user, password)).encode())
    got = b""
    while got.count(b"\r\n") < 2:
        got += d.recv(512)
    d.sendall(b"RETR 1\r\n")
    expected = _read_multiline(d)
    d.sendall(b"QUIT\r\n")
    d.close()
    assert len(expected) > 6 * 1024 * 1024

    mg = mailgate_factory()
    cfg = copy.deepcopy(mg.config)
    old_port = mg.port("pop3s")
    r = RawClient.connect(mg, "pop3s", certs, timeout=15)
    assert r.readline().startswith(b"+OK")
    r.send("USER %s\r\n" % user)
    assert r.readline().startswith(b"+OK")
    r.send("PASS %s\r\n" % password)
    assert r.readline().startswith(b"+OK")
    r.send(b"RETR 1\r\n")
    head = b""
    while len(head) < 256 * 1024:
        head += r.sock.recv(1 << 16)
    # The client stops reading: mailgate holds the rest under backpressure while
    # the reload removes this very listener and rotates the certificate.
    cert1, key1, serial1 = issue_cert(certs, os.path.join(mg.workdir, "rotated"), "retr-rot")
    cfg["tls"]["certificates"][0].update(cert=cert1, key=key1)
    cfg["listeners"] = [e for e in cfg["listeners"] if e["name"] != "pop3s"]
    reload(mg, cfg)
    mg.config = cfg
    assert refused(old_port)
    time.sleep(0.5)
    data = _read_multiline(r.sock, head + r.buf)
    assert len(data) == len(expected)
    assert data == expected
    r.send(b"QUIT\r\n")
    r.buf = b""
    assert r.readline().startswith(b"+OK")
    assert served_cert(mg.port("pop3-starttls"), starttls="pop3")[1] == serial1
