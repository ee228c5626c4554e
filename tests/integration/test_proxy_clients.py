"""Real mail clients from Debian against the proxy: curl, openssl s_client,
mpop (pipelines USER/PASS), fetchmail (STLS on its own), swaks."""
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import SEED_MESSAGES
from harness import USERS, wait_until

ALICE = "alice@example.com"
PW = USERS[ALICE]


def need(tool):
    if shutil.which(tool) is None:
        pytest.fail("%s not installed (scripts/install-deps.sh installs it)" % tool)


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, timeout=timeout, **kw)


def curl(*args, timeout=60):
    need("curl")
    return run(["curl", "-sS", "--max-time", str(timeout - 5), *args], timeout=timeout)


def url(scheme, mg, listener, path=""):
    return "%s://127.0.0.1:%d/%s" % (scheme, mg.port(listener), path)


# ---- curl -------------------------------------------------------------------

@pytest.mark.parametrize("scheme,listener,extra", [
    ("imaps", "imaps", []),
    ("imap", "imap-starttls", ["--ssl-reqd"]),
])
def test_curl_imap_fetch(mailgate, certs, scheme, listener, extra):
    r = curl("--cacert", certs.ca_cert, "-u", "%s:%s" % (ALICE, PW), *extra,
             url(scheme, mailgate, listener, "INBOX;UID=1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(b"\r\n", b"\n") == SEED_MESSAGES[ALICE][0].replace(b"\r\n", b"\n")


@pytest.mark.parametrize("scheme,listener,extra", [
    ("imaps", "imaps", []),
    ("imap", "imap-starttls", ["--ssl-reqd"]),
])
def test_curl_imap_list(mailgate, certs, scheme, listener, extra):
    r = curl("--cacert", certs.ca_cert, "-u", "%s:%s" % (ALICE, PW), *extra,
             url(scheme, mailgate, listener))
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout


def test_curl_imap_wrong_password(mailgate, certs):
    r = curl("--cacert", certs.ca_cert, "-u", "%s:wrong" % ALICE,
             url("imaps", mailgate, "imaps", "INBOX;UID=1"))
    assert r.returncode == 67, (r.returncode, r.stderr)   # CURLE_LOGIN_DENIED


@pytest.mark.parametrize("scheme,listener,extra", [
    ("pop3s", "pop3s", []),
    ("pop3", "pop3-starttls", ["--ssl-reqd"]),
])
def test_curl_pop3(mailgate, certs, scheme, listener, extra):
    r = curl("--cacert", certs.ca_cert, "-u", "%s:%s" % (ALICE, PW), *extra,
             url(scheme, mailgate, listener))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len(SEED_MESSAGES[ALICE])   # LIST
    r = curl("--cacert", certs.ca_cert, "-u", "%s:%s" % (ALICE, PW), *extra,
             url(scheme, mailgate, listener, "1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(b"\r\n", b"\n") == SEED_MESSAGES[ALICE][0].replace(b"\r\n", b"\n")


def _relayed(dovecot, marker):
    return wait_until(lambda: [m for m in dovecot.relay_messages() if marker in m.data],
                      timeout=15, what="relayed message")


@pytest.mark.parametrize("scheme,listener,extra", [
    ("smtps", "submissions", []),
    ("smtp", "submission-starttls", ["--ssl-reqd"]),
])
def test_curl_smtp(mailgate, dovecot, certs, tmp_path, scheme, listener, extra):
    marker = ("curl-%s" % uuid.uuid4().hex).encode()
    msg = tmp_path / "msg.eml"
    msg.write_bytes(b"From: %s\r\nTo: rcpt@example.org\r\nSubject: %s\r\n\r\nbody\r\n"
                    % (ALICE.encode(), marker))
    r = curl("--cacert", certs.ca_cert, "-u", "%s:%s" % (ALICE, PW), *extra,
             "--mail-from", ALICE, "--mail-rcpt", "rcpt@example.org", "-T", str(msg),
             url(scheme, mailgate, listener))
    assert r.returncode == 0, r.stderr
    _relayed(dovecot, marker)


# ---- openssl s_client ---------------------------------------------------------

@pytest.mark.parametrize("listener,starttls,greeting", [
    ("imaps", None, b"* OK"),
    ("imap-starttls", "imap", b". OK"),        # s_client sends ". CAPABILITY"/". STARTTLS"
    ("pop3s", None, b"+OK"),
    ("pop3-starttls", "pop3", b"+OK"),
    ("submissions", None, b"220"),
    ("submission-starttls", "smtp", b"250"),
])
def test_openssl_s_client(mailgate, certs, listener, starttls, greeting):
    need("openssl")
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % mailgate.port(listener),
            "-CAfile", certs.ca_cert, "-verify_return_error", "-servername", "localhost",
            "-ign_eof"]
    if starttls:
        args += ["-starttls", starttls]
    quit_cmd = {"imap": b"q LOGOUT\r\n", "pop3": b"QUIT\r\n", "smtp": b"QUIT\r\n"}[
        mailgate.listener(listener)["protocol"]]
    r = run(args, input=quit_cmd, timeout=30)
    out = r.stdout
    assert b"Verify return code: 0 (ok)" in out, out[-2000:] + r.stderr[-2000:]
    after_handshake = out.split(b"---\n")[-1]
    if starttls:
        pass    # s_client read the greeting and did STARTTLS itself: the handshake is the check
    else:
        assert after_handshake.lstrip().startswith(greeting) or (b"\n" + greeting) in out, out[-1500:]


# ---- mpop / fetchmail / swaks -----------------------------------------------------

@pytest.mark.parametrize("listener,starttls", [("pop3s", "off"), ("pop3-starttls", "on")])
def test_mpop_retrieves_and_keeps(mailgate, certs, tmp_path, listener, starttls):
    need("mpop")
    mbox = tmp_path / "mbox"
    mbox.write_bytes(b"")
    env = dict(os.environ, HOME=str(tmp_path))
    r = run(["mpop", "--host=127.0.0.1", "--port=%d" % mailgate.port(listener), "--tls=on",
             "--tls-starttls=%s" % starttls, "--tls-trust-file=%s" % certs.ca_cert,
             "--tls-host-override=localhost",
             "--auth=user", "--user=%s" % ALICE, "--passwordeval=echo %s" % PW,
             "--keep=on", "--only-new=off", "--delivery=mbox,%s" % mbox,
             "--uidls-file=%s" % (tmp_path / "uidls")], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    data = mbox.read_bytes()
    assert data.count(b"Subject: seed ") == len(SEED_MESSAGES[ALICE]), data[:500]


def test_fetchmail_stls_keep(mailgate, certs, tmp_path):
    need("fetchmail")
    out = tmp_path / "delivered"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        "poll 127.0.0.1 with proto POP3 port %d\n"
        "  user '%s' there with password '%s' is 'root' here\n"
        "  options keep fetchall sslproto 'TLS1.2+' sslcertck sslcertfile '%s'\n"
        "  sslcommonname 'localhost'\n"
        "  mda \"/bin/sh -c 'cat >> %s'\"\n"
        % (mailgate.port("pop3-starttls"), ALICE, PW, certs.ca_cert, out))
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    r = run(["fetchmail", "-f", str(rc), "-i", str(tmp_path / "ids"), "--nodetach",
             "--pidfile", str(tmp_path / "pid")], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_bytes().count(b"Subject: seed ") == len(SEED_MESSAGES[ALICE])


@pytest.mark.parametrize("listener,tls_arg", [("submissions", "--tls-on-connect"),
                                              ("submission-starttls", "--tls")])
def test_swaks_submission(mailgate, dovecot, listener, tls_arg):
    need("swaks")
    marker = "swaks-%s" % uuid.uuid4().hex
    r = run(["swaks", "--server", "127.0.0.1:%d" % mailgate.port(listener), tls_arg,
             "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", PW,
             "--from", ALICE, "--to", "rcpt@example.org", "--header", "Subject: %s" % marker,
             "--helo", "client.test"])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    _relayed(dovecot, marker.encode())
