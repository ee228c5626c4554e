"""Integration-test harness for mailgate: a private Dovecot + relay sink, test
certificates, a mailgate subprocess, config builders and clients.
See tests/integration/README.md."""
from .certs import Certs, make_certs, make_self_signed  # noqa: F401
from .config import default_config, listener, only_listeners, set_backend  # noqa: F401
from .dovecot import Dovecot, RelayedMessage  # noqa: F401
from .mailgate import Mailgate  # noqa: F401
from .redis import RedisServer  # noqa: F401
from .util import closed_port, free_port, wait_for_port, wait_until  # noqa: F401

# Users of the session-wide `dovecot` fixture (conftest.py).
USERS = {
    "alice@example.com": "alice-pw",
    "bob@example.com": "bob-pw",
    "carol@example.com": "carol-pw",
}
