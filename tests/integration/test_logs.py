"""Structured logs (docs/architecture.md §2.4): one line per event, logfmt by default or JSON
(logging.format), every event of a session carrying its session id, and
between them the listener, client address, user, backend, result and duration.
Never a password or token, whatever the mechanism and whether the login
succeeded; client or backend text with control characters cannot forge a line."""
import base64
import collections
import imaplib
import json
import os
import re
import socket
import threading
import time

import pytest

from harness import free_port
from harness.clients import RawClient, imap_client, pop3_client, smtp_client

PASSWORD = "Pw-Distinct-9f3a2Q"
WRONG = "Wrong-Distinct-7c1bZ"
TOKEN = "ya29.Distinct-OAuth-Token-4e8d1K"
FORGED = "forged_event"


# ---- parsing -----------------------------------------------------------------

_PAIR = re.compile(r'([A-Za-z0-9_.-]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"=]+))')


def _unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\":
            n = v[i + 1]
            if n == "x":
                out.append(chr(int(v[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_logfmt(line):
    """Strict: the whole line must be key=value pairs separated by one space."""
    fields, pos = collections.OrderedDict(), 0
    while pos < len(line):
        m = _PAIR.match(line, pos)
        assert m, "not logfmt at %d: %r" % (pos, line)
        key = m.group(1)
        assert key not in fields, "duplicate key %r in %r" % (key, line)
        fields[key] = _unescape(m.group(2)) if m.group(2) is not None else m.group(3)
        pos = m.end()
        if pos < len(line):
            assert line[pos] == " ", "junk after a value at %d: %r" % (pos, line)
            pos += 1
    assert list(fields)[:3] == ["ts", "level", "event"], line
    return fields


def log_records(mg, fmt):
    raw = open(mg.log_path, "rb").read()
    # No control character but the line ends, no C1 controls, valid UTF-8.
    assert not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw), "raw control character in the log"
    text = raw.decode("utf-8")
    if fmt != "json":  # JSON: see test_json_escapes_c1_controls
        assert not re.search("[\u0080-\u009f]", text), "C1 control character in the log"
    records = []
    # Split on LF only: str.splitlines() would also split on NEL, U+2028 ...
    # which is exactly what a forged line would try.
    for line in text.split("\n")[:-1]:
        if fmt == "json":
            rec = json.loads(line)
            assert isinstance(rec, dict) and list(rec)[:3] == ["ts", "level", "event"], line
            records.append(rec)
        else:
            records.append(parse_logfmt(line))
    return text, records


def assert_no_secrets(text, extra=()):
    secrets = [PASSWORD, WRONG, TOKEN, *extra]
    # Encoded forms a careless log of a SASL line would show.
    for s in list(secrets):
        secrets.append(base64.b64encode(s.encode()).decode()[:16])
    for s in secrets:
        assert s not in text, "secret %r found in the log" % s


def sessions_by_id(records):
    by = collections.defaultdict(dict)
    for r in records:
        if "session" in r:
            by[r["session"]].setdefault("events", []).append(r["event"])
            for k, v in r.items():
                by[r["session"]].setdefault(k, v)
    return by


# ---- traffic -------------------------------------------------------------------

def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def drive_logins(mg, certs, user):
    """Successful and failed logins on every protocol, SASL PLAIN, and
    OAuth-looking AUTHENTICATE attempts; returns the base64 blobs sent."""
    blobs = []
    # IMAP LOGIN ok + failed.
    c = imap_client(mg, "imaps", certs)
    c.login(user, PASSWORD)
    c.select("INBOX")
    c.logout()
    c = imap_client(mg, "imap-starttls", certs)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(user, WRONG)
    c.logout()
    # IMAP AUTHENTICATE PLAIN (SASL-IR), OAUTHBEARER and XOAUTH2.
    # One connection each: a connection is closed after a few failures.
    for tag, mech, blob in (
            ("p1", "PLAIN", b64("\0%s\0%s" % (user, WRONG))),
            ("o1", "OAUTHBEARER", b64("n,a=%s,\x01auth=Bearer %s\x01\x01" % (user, TOKEN))),
            ("x1", "XOAUTH2", b64("user=%s\x01auth=Bearer %s\x01\x01" % (user, TOKEN)))):
        r = RawClient.connect(mg, "imaps", certs)
        r.readline()
        blobs.append(blob)
        r.send("%s AUTHENTICATE %s %s\r\n" % (tag, mech, blob))
        lines = r.read_until(lambda line: line.startswith(tag.encode() + b" ") or line.startswith(b"+"))
        if lines[-1].startswith(b"+"):
            r.send(b"*\r\n")  # cancel a challenge
            r.read_tagged(tag)
        r.sock.close()
    r = RawClient.connect(mg, "imaps", certs)
    r.readline()
    r.send("p2 AUTHENTICATE PLAIN %s\r\n" % b64("\0%s\0%s" % (user, PASSWORD)))
    blobs.append(b64("\0%s\0%s" % (user, PASSWORD)))
    assert r.read_tagged("p2")[-1].startswith(b"p2 OK")
    r.send(b"l LOGOUT\r\n")
    r.read_tagged("l")
    # POP3 ok + failed, and an OAuth AUTH.
    p = pop3_client(mg, "pop3s", certs)
    p.user(user)
    p.pass_(PASSWORD)
    p.quit()
    p = pop3_client(mg, "pop3-starttls", certs)
    p.user(user)
    with pytest.raises(Exception):
        p.pass_(WRONG)
    blob = b64("user=%s\x01auth=Bearer %s\x01\x01" % (user, TOKEN))
    blobs.append(blob)
    try:
        p._shortcmd("AUTH XOAUTH2 " + blob)
    except Exception:
        pass
    p.quit()
    # Bridge login (POP3 served from IMAP).
    p = pop3_client(mg, "pop3s-bridge", certs)
    p.user(user)
    p.pass_(PASSWORD)
    p.quit()
    # SMTP AUTH PLAIN ok + failed, and XOAUTH2.
    s = smtp_client(mg, "submissions", certs)
    s.login(user, PASSWORD)
    s.quit()
    s = smtp_client(mg, "submission-starttls", certs)
    with pytest.raises(Exception):
        s.login(user, WRONG)
    blob = b64("user=%s\x01auth=Bearer %s\x01\x01" % (user, TOKEN))
    code, _ = s.docmd("AUTH", "XOAUTH2 " + blob)
    if code == 334:
        s.docmd("")
    s.close()
    return blobs


def check_session_fields(records, mg):
    by = sessions_by_id(records)
    logged_in = [s for s in by.values() if s.get("result") == "ok" and "login" in s["events"]]
    assert len(logged_in) >= 5, by
    for s in logged_in:
        for key in ("session", "listener", "client", "user", "backend", "result", "duration_ms"):
            assert key in s, "session %s lacks %s: %s" % (s["session"], key, s)
        assert s["client"].startswith("127.0.0.1:")
        assert "session_start" in s["events"] and "session_end" in s["events"]
        assert s["listener"] in {e["name"] for e in mg.config["listeners"]}
    failed = [s for s in by.values() if s.get("result") == "auth_failed"]
    assert failed, "no failed login logged"
    for r in records:
        if r["event"] in ("login", "session_start", "session_end"):
            assert r.get("session"), r


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_log_lines_structured_and_secret_free(mailgate_factory, certs, new_user, fmt):
    user, _ = new_user(password=PASSWORD, prefix="logs")

    def modify(cfg):
        cfg["logging"] = {"format": fmt, "level": "debug"}
    mg = mailgate_factory(modify=modify)
    blobs = drive_logins(mg, certs, user)
    mg.stop()
    text, records = log_records(mg, fmt)
    assert_no_secrets(text, extra=blobs)
    check_session_fields(records, mg)
    assert {"started", "session_start", "login", "session_end", "stopped"} <= {r["event"] for r in records}


# ---- forging attempts ------------------------------------------------------------

EVIL = ("nope\r ts=2020-01-01T00:00:00Z level=error event=%s x=\"y\" \x1b[2J\x00\x07 "
        "\xc2\x85 \\\" end" % FORGED)


class EvilImapBackend:
    """An IMAP server that rejects every login with control characters and a
    would-be log line in its text."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        evil = EVIL.encode("latin-1")
        try:
            f = conn.makefile("rb")
            conn.sendall(b"* OK [CAPABILITY IMAP4rev1 ID AUTH=PLAIN SASL-IR] evil " + evil + b"\r\n")
            for line in f:
                parts = line.split(b" ", 2)
                if len(parts) < 2:
                    continue
                tag, cmd = parts[0], parts[1].strip().upper()
                if cmd == b"CAPABILITY":
                    conn.sendall(b"* CAPABILITY IMAP4rev1 ID AUTH=PLAIN SASL-IR\r\n" + tag + b" OK\r\n")
                elif cmd == b"ID":
                    conn.sendall(b"* ID NIL\r\n" + tag + b" OK\r\n")
                elif cmd in (b"LOGIN", b"AUTHENTICATE"):
                    if cmd == b"AUTHENTICATE" and len(line.split()) < 4:
                        conn.sendall(b"+ \r\n")
                        f.readline()
                    conn.sendall(tag + b" NO [AUTHENTICATIONFAILED] " + evil + b"\r\n")
                elif cmd == b"LOGOUT":
                    conn.sendall(b"* BYE " + evil + b"\r\n" + tag + b" OK\r\n")
                    break
                else:
                    conn.sendall(tag + b" BAD " + evil + b"\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_control_characters_cannot_forge_lines(mailgate_factory, certs, fmt):
    evil = EvilImapBackend()
    try:
        def modify(cfg):
            cfg["logging"] = {"format": fmt, "level": "debug"}
            cfg["pools"]["evil"] = {"servers": [{"host": "127.0.0.1", "imap": evil.port,
                                                 "pop3": free_port(), "smtp": free_port()}]}
            cfg["routes"]["evil"] = {"type": "static", "pool": "evil"}
            for entry in cfg["listeners"]:
                if entry["name"] in ("pop3s-bridge", "imap-starttls"):
                    entry["route"] = "evil"
        mg = mailgate_factory(modify=modify)
        # Backend text through the bridge (it logs the backend's NO text) and
        # the proxy.
        p = pop3_client(mg, "pop3s-bridge", certs)
        p.user("mallory@example.com")
        with pytest.raises(Exception):
            p.pass_("x")
        p.quit()
        c = imap_client(mg, "imap-starttls", certs)
        with pytest.raises(imaplib.IMAP4.error):
            c.login("mallory@example.com", "x")
        c.logout()
        # Client text: a SASL PLAIN identity can carry any byte, LF included.
        # Unique per run: Dovecot's auth penalty grows per IP + user name.
        evil_user = ("eve%s\n" % os.urandom(4).hex() + EVIL.replace("\x00", "")
                     + "\nts=x level=error event=" + FORGED)
        r = RawClient.connect(mg, "imaps", certs)
        r.readline()
        r.send("a AUTHENTICATE PLAIN %s\r\n" % b64(("\0%s\0pw" % evil_user).encode("latin-1")))
        r.read_tagged("a")
        r.send(b"b LOGOUT\r\n")
        r.read_tagged("b")
        s = smtp_client(mg, "submissions", certs, timeout=30)
        s.docmd("AUTH", "PLAIN " + b64(("\0%s\0pw" % evil_user).encode("latin-1")))
        s.close()
        mg.stop()
        text, records = log_records(mg, fmt)
    finally:
        evil.close()
    assert all(r["event"] != FORGED for r in records)
    assert all(not str(r.get("ts", "")).startswith("2020") for r in records)
    # The text did reach the log, escaped, as a value of one field.
    assert any("event=" + FORGED in str(v) for r in records for v in r.values()), \
        "the hostile text was never logged, so this test proved nothing"


def test_json_escapes_c1_controls(mailgate_factory, certs):
    def modify(cfg):
        cfg["logging"] = {"format": "json", "level": "debug"}
    mg = mailgate_factory(modify=modify)
    r = RawClient.connect(mg, "imaps", certs)
    r.readline()
    r.send("a AUTHENTICATE PLAIN %s\r\n" % b64("\0eve\u0085x\0pw".encode("utf-8")))
    r.read_tagged("a")
    r.sock.close()
    mg.stop()
    text = open(mg.log_path, "rb").read().decode("utf-8")
    assert "eve" in text
    assert not re.search("[\u0080-\u009f\u2028\u2029]", text)


# ---- session_end: traffic and TLS ------------------------------------------------

@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_session_end_carries_client_bytes_and_tls_version(mailgate_factory, certs, new_user, fmt):
    """Like Dovecot's in=/out=: the client side's bytes, counted across the
    hand-off to the relay, and the TLS version; JSON writes the numbers as
    numbers. A plaintext session (greeting only) logs tls_version empty."""
    user, _ = new_user(password=PASSWORD, prefix="bytes")

    def modify(cfg):
        cfg["logging"] = {"format": fmt, "level": "info"}
    mg = mailgate_factory(modify=modify)
    c = imap_client(mg, "imaps", certs)
    c.login(user, PASSWORD)
    big = "x" * 200000  # far more than the login phase exchanges
    c.append("INBOX", None, None, ("Subject: t\r\n\r\n" + big + "\r\n").encode())
    c.select("INBOX")
    c.fetch("1", "(BODY[])")
    c.logout()
    plain = socket.create_connection(("127.0.0.1", mg.port("imap-starttls")))
    plain.recv(4096)  # the greeting
    plain.close()
    deadline = time.time() + 10
    while mg.log_text().count("session_end") < 2 and time.time() < deadline:
        time.sleep(0.05)
    mg.stop()
    _, records = log_records(mg, fmt)
    by = sessions_by_id(records)
    ends = {r["session"]: r for r in records if r["event"] == "session_end"}
    logged = [ends[s] for s, v in by.items() if v.get("result") == "ok" and s in ends]
    assert len(logged) == 1, ends
    end = logged[0]
    if fmt == "json":
        assert isinstance(end["in"], int) and isinstance(end["out"], int), end
        assert isinstance(end["duration_ms"], int), end
    bytes_in, bytes_out = int(end["in"]), int(end["out"])
    assert bytes_in > 200000, end   # the APPEND went through the relay
    assert bytes_out > 200000, end  # and so did the FETCH
    assert end["tls_version"].startswith("TLSv1."), end
    assert end["reason"] in ("client_closed", "backend_closed"), end
    # Our plaintext connection (the harness's readiness probes may add more).
    plain_end = [r for r in ends.values() if r["listener"] == "imap-starttls"]
    assert plain_end, ends
    for r in plain_end:
        assert r["tls_version"] == "" and int(r["out"]) > 0, r  # the greeting went out
        # client_error: a readiness probe that closed before reading the
        # greeting makes the greeting's write meet a reset.
        assert r["login"] == "none" and r["reason"] in ("client_closed", "client_error"), r
