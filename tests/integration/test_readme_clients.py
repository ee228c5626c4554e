"""The README's client lines and settings, run as written with real clients
(curl, openssl s_client, mbsync, offlineimap, getmail; Thunderbird's settings
table through Python's imaplib/poplib/smtplib with the same host, port and
security) against a mailgate whose certificate names `localhost`.

Only the demo's ports, user and password are replaced by the test's; HOME is a
scratch folder with the test CA at ~/mailgate/config/demo/cert.pem, where the
README's snippets look for the demo certificate.
"""
import imaplib
import os
import poplib
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import seed_message

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

# Demo port (config/mailgate.json) -> the test harness's listener of the same kind.
DEMO_PORTS = {10993: "imaps", 10143: "imap-starttls", 10995: "pop3s", 10110: "pop3-starttls",
              11995: "pop3s-bridge", 10465: "submissions", 10587: "submission-starttls"}
DEMO_USER, DEMO_PW = "alice@example.com", "alice-demo"
MESSAGES = 3


def _snippet(name):
    m = re.search(r"<!-- client: %s -->\n```[^\n]*\n(.*?)\n```" % re.escape(name), README, re.S)
    assert m, f"README.md has no `<!-- client: {name} -->` code block"
    return m.group(1)


def _shell_block():
    """The first ```sh block after "connect to **localhost**"."""
    part = README[README.index("connect to **localhost**"):]
    m = re.search(r"```sh\n(.*?)\n```", part, re.S)
    return m.group(1)


def _adapt(text, mg, login, password):
    for port, listener in DEMO_PORTS.items():
        text = re.sub(r"(?<![0-9])%d(?![0-9])" % port, str(mg.port(listener)), text)
    return text.replace(DEMO_USER, login).replace(DEMO_PW, password)


@pytest.fixture
def home(certs):
    # Not under pytest's tmp_path (mode 0700 of root): getmail runs as nobody.
    top = Path(tempfile.mkdtemp(prefix="mailgate-readme-"))
    top.chmod(0o711)
    h = top / "home"
    (h / "mailgate" / "config" / "demo").mkdir(parents=True)
    shutil.copy(certs.ca_cert, h / "mailgate" / "config" / "demo" / "cert.pem")
    yield h
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def account(new_user):
    login, pw = new_user(messages=[seed_message(i) for i in range(1, MESSAGES + 1)], prefix="readme")
    return login, pw


def _run(args, home, timeout=120, **kw):
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _need(tool):
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} not installed (scripts/install-deps.sh installs it)")


def _maildir_count(path):
    return sum(len(os.listdir(path / sub)) for sub in ("new", "cur") if (path / sub).is_dir())


def test_readme_lines_use_localhost_and_existing_files():
    block = _shell_block()
    assert "127.0.0.1" not in block, "clients that check names reject 127.0.0.1"
    assert "message.txt" not in block
    # every file a line uploads with -T is written by an earlier line
    for f in re.findall(r"-T (\S+)", block):
        assert re.search(r"> %s\b" % re.escape(f), block), f"-T {f}: no earlier line writes it"
    # the comment of a folder listing says so (the URL lists folders, not messages)
    for line in block.splitlines():
        if re.search(r"imaps://localhost:\d+/(INBOX)?\s", line):
            assert "folder" in line, line


def test_readme_shell_lines(mailgate, account, home, certs):
    _need("curl")
    _need("openssl")
    login, pw = account
    repo = home / "mailgate"
    text = _adapt(_shell_block(), mailgate, login, pw)
    lines = [l.split("  #")[0].strip() for l in text.replace("\\\n", " ").splitlines() if l.strip()]
    for line in lines:
        if line.startswith("openssl s_client"):
            r = _run(["bash", "-c", line + " </dev/null"], home, cwd=repo)
            assert "Verify return code: 0 (ok)" in r.stdout, (line, r.stdout[-2000:], r.stderr)
            continue
        r = _run(["bash", "-c", "set -e; " + line.replace("curl ", "curl -sS --max-time 30 ", 1)],
                 home, cwd=repo)
        assert r.returncode == 0, (line, r.stderr)
        if re.search(r"imaps://localhost:\d+/ ", line):
            assert "INBOX" in r.stdout, r.stdout
        elif "INBOX?ALL" in line:
            assert r.stdout.split() == ["*", "SEARCH"] + [str(i) for i in range(1, MESSAGES + 1)], r.stdout
        elif "INBOX;UID=1" in line or re.search(r"pop3s://localhost:\d+/1 ", line):
            assert "Subject: seed 1" in r.stdout, r.stdout
        elif line.startswith("curl") and "pop3s://" in line:
            assert len(r.stdout.splitlines()) == MESSAGES, r.stdout


def test_mbsync_snippet(mailgate, account, home):
    _need("mbsync")
    login, pw = account
    (home / ".mbsyncrc").write_text(_adapt(_snippet("mbsync"), mailgate, login, pw) + "\n")
    (home / "Mail" / "demo").mkdir(parents=True)
    r = _run(["mbsync", "demo"], home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _maildir_count(home / "Mail" / "demo" / "INBOX") == MESSAGES


def test_offlineimap_snippet(mailgate, account, home):
    _need("offlineimap")
    login, pw = account
    (home / ".offlineimaprc").write_text(_adapt(_snippet("offlineimap"), mailgate, login, pw) + "\n")
    r = _run(["offlineimap", "-o", "-u", "basic"], home, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ERROR" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert _maildir_count(home / "Mail" / "demo-offlineimap" / "INBOX") == MESSAGES


def test_getmail_snippet(mailgate, account, home):
    _need("getmail")
    login, pw = account
    (home / ".getmail").mkdir()
    (home / ".getmail" / "getmailrc").write_text(_adapt(_snippet("getmail"), mailgate, login, pw) + "\n")
    for sub in ("cur", "new", "tmp"):
        (home / "Mail" / "demo-getmail" / sub).mkdir(parents=True)
    cmd = ["getmail"]
    if os.geteuid() == 0:
        # getmail refuses to deliver as root (as a user would run it: not as root).
        for p in [home, *home.rglob("*")]:
            os.chown(p, 65534, 65534)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    r = _run(cmd, home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _maildir_count(home / "Mail" / "demo-getmail") == MESSAGES
    # delete = false on the bridge: IMAP still has every message
    c = imaplib.IMAP4_SSL("localhost", mailgate.port("imaps"),
                          ssl_context=ssl.create_default_context(cafile=str(home / "mailgate/config/demo/cert.pem")))
    c.login(login, pw)
    typ, data = c.select("INBOX")
    assert int(data[0]) == MESSAGES
    c.logout()


def test_thunderbird_settings(mailgate, account, home):
    """Each row of the README's table, with the security it names and the
    certificate checked against the host name it names."""
    login, pw = account
    m = re.search(r"<!-- client: thunderbird -->\n(\|.*?)\n\n", README, re.S)
    assert m, "README.md has no thunderbird settings table"
    rows = [[c.strip() for c in l.strip("|").split("|")] for l in m.group(1).splitlines()[2:]]
    assert {r[0] for r in rows} == {"IMAP", "POP3", "SMTP"}
    ctx = ssl.create_default_context(cafile=str(home / "mailgate/config/demo/cert.pem"))
    for kind, host, port, security in rows:
        assert host == "localhost", "certificate checks need the name"
        port = mailgate.port(DEMO_PORTS[int(port)])
        assert security in ("SSL/TLS", "STARTTLS"), security
        if kind == "IMAP":
            if security == "SSL/TLS":
                c = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
            else:
                c = imaplib.IMAP4(host, port)
                c.starttls(ssl_context=ctx)
            c.login(login, pw)
            c.logout()
        elif kind == "POP3":
            if security == "SSL/TLS":
                c = poplib.POP3_SSL(host, port, context=ctx)
            else:
                c = poplib.POP3(host, port)
                c.stls(context=ctx)
            c.user(login)
            c.pass_(pw)
            assert c.stat()[0] == MESSAGES
            c.quit()
        else:
            if security == "SSL/TLS":
                c = smtplib.SMTP_SSL(host, port, context=ctx, timeout=30)
            else:
                c = smtplib.SMTP(host, port, timeout=30)
                c.starttls(context=ctx)
            c.login(login, pw)
            c.quit()
