"""Build mailgate config dicts (docs/configuration.md) for tests.

    cfg = default_config(dovecot, certs)        # certs: harness.certs.Certs or a dir
    cfg["listeners"]  -> all seven listeners on free loopback ports:
        imaps (imap, implicit)        imap-starttls (imap, starttls)
        pop3s (pop3, implicit)        pop3-starttls (pop3, starttls)
        pop3s-bridge (pop3, implicit, bridge {on_delete: hide, mark_seen: true})
        submissions (smtp, implicit)  submission-starttls (smtp, starttls)
    cfg["admin"]["address"] -> 127.0.0.1:<free port>
    cfg["pools"]["local"]   -> the Dovecot's imap/pop3/submission ports

Helpers to change a config (they return the same dict):
    listener(cfg, name)                  -> the listener dict
    set_backend(cfg, imap=, pop3=, smtp=)  point the pool elsewhere (e.g. closed_port())
    only_listeners(cfg, *names)          drop the others
"""
import copy
import os

from .util import free_port

LISTENERS = [
    # name, protocol, tls, extra
    ("imaps", "imap", "implicit", {}),
    ("imap-starttls", "imap", "starttls", {}),
    ("pop3s", "pop3", "implicit", {}),
    ("pop3-starttls", "pop3", "starttls", {}),
    ("pop3s-bridge", "pop3", "implicit", {"bridge": {"on_delete": "hide", "mark_seen": True}}),
    ("submissions", "smtp", "implicit", {}),
    ("submission-starttls", "smtp", "starttls", {}),
]


def _cert_paths(certs):
    if hasattr(certs, "cert"):
        return certs.cert, certs.key
    d = str(certs)
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")


def default_config(dovecot, certs, host="127.0.0.1"):
    cert, key = _cert_paths(certs)
    listeners = []
    for name, proto, tls, extra in LISTENERS:
        entry = {"name": name, "protocol": proto, "address": "%s:%d" % (host, free_port(host)),
                 "tls": tls, "route": "default"}
        entry.update(copy.deepcopy(extra))
        listeners.append(entry)
    return {
        "admin": {"address": "127.0.0.1:%d" % free_port()},
        "hostname": "mailgate.test",
        "workers": 2,
        "drain_timeout_s": 5,
        "tls": {"certificates": [{"cert": os.path.abspath(cert), "key": os.path.abspath(key),
                                  "names": []}]},
        "listeners": listeners,
        "routes": {"default": {"type": "static", "pool": "local"}},
        "pools": {"local": {"servers": [{"host": "127.0.0.1",
                                         "imap": dovecot.imap_port,
                                         "pop3": dovecot.pop3_port,
                                         "smtp": dovecot.submission_port}],
                            "health": {"interval_s": 1}}},
        # Fast failures keep the tests short; the contract is only "delayed".
        "limits": {"auth_failure_delay_ms": 50, "auth_failure_delay_max_ms": 200,
                   "backend_connect_timeout_ms": 2000},
        "logging": {"format": "logfmt", "level": "debug"},
    }


def listener(cfg, name):
    for entry in cfg["listeners"]:
        if entry["name"] == name:
            return entry
    raise KeyError(name)


def set_backend(cfg, imap=None, pop3=None, smtp=None, pool="local", host=None):
    server = cfg["pools"][pool]["servers"][0]
    for key, value in (("imap", imap), ("pop3", pop3), ("smtp", smtp), ("host", host)):
        if value is not None:
            server[key] = value
    return cfg


def only_listeners(cfg, *names):
    cfg["listeners"] = [entry for entry in cfg["listeners"] if entry["name"] in names]
    return cfg
