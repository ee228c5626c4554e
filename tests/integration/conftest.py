"""Fixtures for mailgate's integration tests (see README.md in this folder).

  certs             session: harness.certs.Certs (CA + server cert for localhost/127.0.0.1)
  dovecot           session: harness.Dovecot with harness.USERS and SEED_MESSAGES
  new_user          function: new_user(messages=(), password=None) -> (login, password):
                    a fresh mailbox nobody else touches (for tests that change mail)
  make_config       function: make_config() -> default_config(dovecot, certs) (a new dict)
  mailgate          module: a running harness.Mailgate with the default config
  mailgate_factory  function: mailgate_factory(config=None, modify=None) -> running
                    Mailgate; `modify(cfg)` edits the default config. Stopped (clean
                    exit asserted) at teardown.
"""
import itertools
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import USERS, Dovecot, Mailgate, default_config, make_certs  # noqa: E402


def seed_message(n, to="alice@example.com", size=0):
    body = "This is seed message %d.\r\n" % n
    if size:
        body += ("x" * 76 + "\r\n") * (size // 78)
    return ("From: sender%d@example.org\r\nTo: %s\r\nSubject: seed %d\r\n"
            "Date: Mon, 02 Jan 2023 10:00:0%d +0000\r\nMessage-ID: <seed-%d@example.org>\r\n"
            "\r\n%s" % (n, to, n, n % 10, n, body)).encode()


# Messages in the shared mailboxes at session start (read-only for tests:
# a test that changes mail uses new_user).
SEED_MESSAGES = {
    "alice@example.com": [seed_message(i) for i in (1, 2, 3)],
    "bob@example.com": [seed_message(i, "bob@example.com") for i in (1, 2)],
    "carol@example.com": [seed_message(1, "carol@example.com")],
}


@pytest.fixture(scope="session")
def workroot():
    d = tempfile.mkdtemp(prefix="mailgate-it-")
    os.chmod(d, 0o755)
    yield d
    if os.environ.get("MAILGATE_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(workroot):
    return make_certs(os.path.join(workroot, "certs"))


@pytest.fixture(scope="session")
def dovecot(workroot):
    d = Dovecot(os.path.join(workroot, "dovecot"), users=dict(USERS))
    d.start()
    for user, msgs in SEED_MESSAGES.items():
        for m in msgs:
            d.add_message(user, m)
    yield d
    d.stop()
    d.cleanup()


_user_ids = itertools.count(1)


@pytest.fixture
def new_user(dovecot, request):
    def make(messages=(), password=None, prefix="user"):
        n = next(_user_ids)
        login = "%s%d-%d@example.com" % (prefix, n, os.getpid())
        password = password or "pw-%d" % n
        dovecot.add_user(login, password)
        for m in messages:
            dovecot.add_message(login, m)
        return login, password
    return make


@pytest.fixture
def make_config(dovecot, certs):
    return lambda: default_config(dovecot, certs)


_mg_ids = itertools.count(1)


@pytest.fixture(scope="module")
def mailgate(dovecot, certs, workroot):
    mg = Mailgate(default_config(dovecot, certs),
                  os.path.join(workroot, "mailgate-%d" % next(_mg_ids)))
    mg.start()
    yield mg
    mg.stop()


@pytest.fixture
def mailgate_factory(dovecot, certs, workroot):
    started = []

    def factory(config=None, modify=None, start=True, args=()):
        cfg = config if config is not None else default_config(dovecot, certs)
        if modify is not None:
            cfg = modify(cfg) or cfg
        mg = Mailgate(cfg, os.path.join(workroot, "mailgate-%d" % next(_mg_ids)), args=args)
        started.append(mg)
        if start:
            mg.start()
        return mg

    yield factory
    errors = []
    for mg in started:
        try:
            mg.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
