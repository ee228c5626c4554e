#!/usr/bin/env python3
"""A private Dovecot (IMAP, POP3, submission) plus an SMTP relay sink, for the
integration tests and for scripts/demo.sh. One Dovecot setup for the project.

    d = Dovecot("/tmp/x", users={"alice@example.com": "pw"})
    d.start()                       # free loopback ports unless given
    d.imap_port, d.pop3_port, d.submission_port, d.sink_port
    d.add_message("alice@example.com", b"Subject: hi\\r\\n\\r\\nbody\\r\\n", flags="S")
    d.relay_messages()              # [RelayedMessage(data, mail_from, rcpt_tos)]
    d.stop()

Run as a program (the demo backend, in the foreground until SIGTERM/SIGINT):

    /usr/bin/python3 dovecot.py --demo --workdir .demo/dovecot \\
        --imap-port 1143 --pop3-port 1110 --submission-port 1587 --sink-port 1025
"""
import argparse
import collections
import grp
import imaplib
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from harness.util import free_port, wait_for_port  # noqa: E402
else:
    from .util import free_port, wait_for_port

DEBIAN_PYTHON = "/usr/bin/python3"
SINK_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_sink.py")

RelayedMessage = collections.namedtuple("RelayedMessage", "data mail_from rcpt_tos")

_counter = itertools.count(1)


def _dovecot_binary():
    for p in ("/usr/sbin/dovecot", shutil.which("dovecot") or ""):
        if p and os.path.exists(p):
            return p
    raise RuntimeError("dovecot not installed (scripts/install-deps.sh)")


class Dovecot:
    """A Dovecot instance with its own config, state and mail under `workdir`.

    Options:
      users            {login: password}; logins are used verbatim (user@domain).
      imap_port, pop3_port, submission_port, sink_port
                       fixed ports; None (default) = pick free ones at start().
      pop3_deleted_flag  default "$POP3Deleted" (the bridge's hidden keyword);
                       None to leave Dovecot's POP3 DELE destructive.
      trusted_networks login_trusted_networks (client IP forwarding via ID/XCLIENT).
      ssl              False | True: with True, `cert`/`key` (PEM paths) are used,
                       STARTTLS is offered on the plain ports, and implicit-TLS
                       listeners are added: .imaps_port .pop3s_port .submissions_port
      haproxy          True adds PROXY-protocol listeners (haproxy = yes):
                       .haproxy_ports = {"imap": p, "pop3": p, "submission": p}
      auth_failure_delay  seconds Dovecot waits after a failed login (default 0).
      master_users     {login: password} of master users (Dovecot's master passdb
                       with `pass = yes`, separator "*"): "alice@example.com*master"
                       with master's password logs in as alice. None (default) = none.
      extra_config     text appended to dovecot.conf.
    """

    def __init__(self, workdir, users=None, imap_port=None, pop3_port=None,
                 submission_port=None, sink_port=None,
                 pop3_deleted_flag="$POP3Deleted", trusted_networks="127.0.0.0/8",
                 ssl=False, cert=None, key=None, haproxy=False,
                 auth_failure_delay=0, extra_config="", master_users=None):
        self.workdir = os.path.abspath(str(workdir))
        self.users = dict(users or {"alice@example.com": "alice-pw"})
        self._fixed = dict(imap=imap_port, pop3=pop3_port, submission=submission_port,
                           sink=sink_port)
        self.pop3_deleted_flag = pop3_deleted_flag
        self.trusted_networks = trusted_networks
        self.ssl = ssl
        self.cert = cert
        self.key = key
        self.haproxy = haproxy
        self.auth_failure_delay = auth_failure_delay
        self.extra_config = extra_config
        self.master_users = dict(master_users or {})
        if ssl and not (cert and key):
            raise ValueError("ssl=True needs cert= and key=")

        self.imap_port = self.pop3_port = self.submission_port = self.sink_port = None
        self.imaps_port = self.pop3s_port = self.submissions_port = None
        self.haproxy_ports = {}
        self.host = "127.0.0.1"

        self.conf_path = os.path.join(self.workdir, "dovecot.conf")
        self.log_path = os.path.join(self.workdir, "dovecot.log")
        self.sink_log_path = os.path.join(self.workdir, "sink.log")
        self.base_dir = os.path.join(self.workdir, "run")
        self.state_dir = os.path.join(self.workdir, "state")
        self.sink_dir = os.path.join(self.workdir, "sink")

        self._proc = None
        self._sink = None
        self._root = os.geteuid() == 0
        if self._root:
            pw = pwd.getpwnam("nobody")
            self.mail_uid = pw.pw_uid
            try:
                self.mail_gid = grp.getgrnam("nogroup").gr_gid
            except KeyError:
                self.mail_gid = pw.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        # Homes and the passwd file must be reachable by the mail uid and by
        # Dovecot's internal user (auth).
        self.public_dir = self._pick_public_dir()
        self.home_root = os.path.join(self.public_dir, "home")
        self.passwd_path = os.path.join(self.public_dir, "passwd")
        self.master_passwd_path = os.path.join(self.public_dir, "master-passwd")

    # ---- paths --------------------------------------------------------------

    def _pick_public_dir(self):
        """As root, mail runs as `nobody` and auth as `dovecot`: they cannot
        enter e.g. pytest's 0700 tmp folders. Then use a fresh
        world-traversable folder in /tmp for homes and the passwd file."""
        candidate = self.workdir
        if not self._root:
            return candidate
        path = self.workdir
        while True:
            parent = os.path.dirname(path)
            if os.path.exists(path):
                st = os.stat(path)
                if not (st.st_mode & 0o001):
                    d = tempfile.mkdtemp(prefix="mailgate-dovecot-")
                    os.chmod(d, 0o755)
                    return d
            if parent == path:
                return candidate
            path = parent

    def home(self, user):
        return os.path.join(self.home_root, user)

    def maildir(self, user):
        """The user's INBOX Maildir (has cur/ new/ tmp/)."""
        return os.path.join(self.home(user), "Maildir")

    # ---- lifecycle ----------------------------------------------------------

    def _assign_ports(self):
        def pick(name):
            return self._fixed.get(name) or free_port()
        self.imap_port = pick("imap")
        self.pop3_port = pick("pop3")
        self.submission_port = pick("submission")
        self.sink_port = pick("sink")
        if self.ssl:
            self.imaps_port, self.pop3s_port, self.submissions_port = (
                free_port(), free_port(), free_port())
        if self.haproxy:
            self.haproxy_ports = {"imap": free_port(), "pop3": free_port(),
                                  "submission": free_port()}

    def _chown(self, path):
        if self._root:
            os.chown(path, self.mail_uid, self.mail_gid)

    def _makedirs_owned(self, path):
        missing = []
        p = path
        while not os.path.exists(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            os.mkdir(d, 0o700)
            self._chown(d)

    def _write_config(self):
        os.makedirs(self.workdir, exist_ok=True)
        os.makedirs(self.state_dir, exist_ok=True)
        os.makedirs(self.sink_dir, exist_ok=True)
        if not os.path.exists(self.home_root):
            os.makedirs(self.home_root, exist_ok=True)
        os.chmod(self.home_root, 0o755)
        # Dovecot refuses a base_dir that was created by another uid: start fresh.
        shutil.rmtree(self.base_dir, ignore_errors=True)
        lines = []
        for user, password in self.users.items():
            self._makedirs_owned(self.home(user))
            lines.append("%s:{PLAIN}%s:%d:%d::%s::" % (user, password, self.mail_uid,
                                                       self.mail_gid, self.home(user)))
        with open(self.passwd_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.passwd_path, 0o644)

        if self._root:
            owner = ("default_login_user = dovenull\n"
                     "default_internal_user = dovecot\n"
                     "default_internal_group = dovecot\n")
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            mygroup = grp.getgrgid(os.getgid()).gr_name
            owner = ("default_login_user = %s\ndefault_internal_user = %s\n"
                     "default_internal_group = %s\n" % (me, me, mygroup))

        def listener(name, port, haproxy=False, ssl=False):
            extra = ""
            if haproxy:
                extra += "    haproxy = yes\n"
            if ssl:
                extra += "    ssl = yes\n"
            return ("  inet_listener %s {\n    address = 127.0.0.1\n    port = %d\n%s  }\n"
                    % (name, port, extra))

        def login_service(svc, plain_name, plain_port, tls_name, tls_port, proto):
            body = "service %s {\n  chroot =\n" % svc
            body += listener(plain_name, plain_port)
            body += listener(tls_name, tls_port or 0, ssl=bool(tls_port)) if tls_port \
                else "  inet_listener %s {\n    port = 0\n  }\n" % tls_name
            if self.haproxy:
                body += listener(plain_name + "-haproxy", self.haproxy_ports[proto],
                                 haproxy=True)
            body += "  process_limit = 1000\n}\n"
            return body

        if self.ssl:
            ssl_conf = ("ssl = yes\nssl_cert = <%s\nssl_key = <%s\n"
                        "ssl_min_protocol = TLSv1.2\n" % (self.cert, self.key))
        else:
            ssl_conf = "ssl = no\n"
        deleted = ('pop3_deleted_flag = "%s"\n' % self.pop3_deleted_flag
                   if self.pop3_deleted_flag else "")
        trusted = ("login_trusted_networks = %s\n" % self.trusted_networks
                   if self.trusted_networks else "")
        haproxy_trusted = ("haproxy_trusted_networks = 127.0.0.0/8\n"
                           if self.haproxy else "")
        master = ""
        if self.master_users:
            with open(self.master_passwd_path, "w") as f:
                f.write("".join("%s:{PLAIN}%s\n" % kv for kv in self.master_users.items()))
            os.chmod(self.master_passwd_path, 0o644)
            # "user*master" + master's password logs in as user; pass = yes
            # still looks the user up in the normal passdb.
            master = ("auth_master_user_separator = *\n"
                      "passdb {\n  driver = passwd-file\n  master = yes\n  pass = yes\n"
                      "  args = scheme=PLAIN username_format=%%u %s\n}\n"
                      % self.master_passwd_path)

        conf = f"""# Generated by tests/integration/harness/dovecot.py
base_dir = {self.base_dir}
state_dir = {self.state_dir}
instance_name = mailgate-{abs(hash(self.workdir)) % 100000}
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap pop3 submission
listen = 127.0.0.1
hostname = localhost
{owner}first_valid_uid = 1
{ssl_conf}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = {self.auth_failure_delay} secs
mail_location = maildir:~/Maildir
mail_max_userip_connections = 1000
{deleted}{trusted}{haproxy_trusted}default_process_limit = 1000
default_client_limit = 10000
default_vsz_limit = 1G
stats_writer_socket_path =
submission_relay_host = 127.0.0.1
submission_relay_port = {self.sink_port}
submission_relay_trusted = yes
submission_max_mail_size = 0
{master}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd_path}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd_path}
}}
{login_service("imap-login", "imap", self.imap_port, "imaps", self.imaps_port, "imap")}
{login_service("pop3-login", "pop3", self.pop3_port, "pop3s", self.pop3s_port, "pop3")}
{login_service("submission-login", "submission", self.submission_port, "submissions",
               self.submissions_port, "submission")}
service imap {{
  process_limit = 1000
}}
service pop3 {{
  process_limit = 1000
}}
service submission {{
  process_limit = 1000
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
{self.extra_config}
"""
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def start(self, timeout=20.0):
        if self._proc is not None:
            return self
        self._assign_ports()
        self._write_config()
        # The relay sink first: submission needs it as soon as it accepts mail.
        self._sink = subprocess.Popen(
            [DEBIAN_PYTHON, SINK_SCRIPT, "--listen", "127.0.0.1:%d" % self.sink_port,
             "--dir", self.sink_dir],
            stdout=open(self.sink_log_path, "ab"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        self._proc = subprocess.Popen(
            [_dovecot_binary(), "-F", "-c", self.conf_path],
            stdout=open(os.path.join(self.workdir, "dovecot.stdout"), "ab"),
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.sink_port, timeout=timeout, proc=self._sink, what="smtp sink")
            ports = [self.imap_port, self.pop3_port, self.submission_port]
            ports += [p for p in (self.imaps_port, self.pop3s_port, self.submissions_port) if p]
            ports += list(self.haproxy_ports.values())
            for p in ports:
                wait_for_port(p, timeout=timeout, proc=self._proc, what="dovecot")
        except Exception as e:
            self.stop()
            raise RuntimeError("%s\n--- dovecot log ---\n%s" % (e, self.log_text()[-4000:]))
        return self

    def stop(self):
        """Stop Dovecot (by its master pid; takes 2-3 s) and the sink."""
        for attr in ("_proc", "_sink"):
            proc = getattr(self, attr)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            setattr(self, attr, None)

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- mail ---------------------------------------------------------------

    def add_message(self, user, data, flags="", folder=None, mtime=None):
        """Deliver `data` (bytes) straight into the user's Maildir (cur/), with
        Maildir flag letters `flags` (e.g. "S" = \\Seen, "F" = \\Flagged, "T" =
        \\Deleted). Messages added later get higher UIDs. `folder` = a
        subfolder name ("Archive"); None = INBOX. Returns the file path."""
        if isinstance(data, str):
            data = data.encode()
        md = self.maildir(user)
        if folder:
            md = os.path.join(md, "." + folder.replace("/", "."))
        for sub in ("", "cur", "new", "tmp"):
            self._makedirs_owned(os.path.join(md, sub) if sub else md)
        n = next(_counter)
        # Dovecot assigns UIDs to new files sorted by <secs>.M<usecs>: keep the
        # counter in the usecs field so call order is UID order.
        name = "%d.M%dP%dQ%d.mailgate,S=%d:2,%s" % (
            int(time.time()), n, os.getpid(), n, len(data), "".join(sorted(flags)))
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        self._chown(tmp)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        dest = os.path.join(md, "cur", name)
        os.rename(tmp, dest)
        return dest

    def relay_messages(self):
        """Messages the submission service relayed to the sink, oldest first."""
        out = []
        if not os.path.isdir(self.sink_dir):
            return out
        for name in sorted(os.listdir(self.sink_dir)):
            if not name.endswith(".eml"):
                continue
            base = os.path.join(self.sink_dir, name[:-4])
            with open(base + ".eml", "rb") as f:
                data = f.read()
            try:
                with open(base + ".json") as f:
                    env = json.load(f)
            except (OSError, ValueError):
                env = {}
            out.append(RelayedMessage(data, env.get("mail_from"), env.get("rcpt_tos", [])))
        return out

    def add_user(self, user, password):
        """Add a mail user while running (Dovecot re-reads the passwd file)."""
        self.users[user] = password
        self._makedirs_owned(self.home(user))
        with open(self.passwd_path, "a") as f:
            f.write("%s:{PLAIN}%s:%d:%d::%s::\n" % (user, password, self.mail_uid,
                                                    self.mail_gid, self.home(user)))
        # Dovecot re-checks the passwd file at most once a second and by its
        # stamp: move the mtime forward monotonically, then wait until auth
        # knows the user (else a login right away may see "unknown user").
        self._passwd_stamp = max(getattr(self, "_passwd_stamp", 0), int(time.time())) + 1
        os.utime(self.passwd_path, (self._passwd_stamp, self._passwd_stamp))
        if self.running:
            deadline = time.monotonic() + 10
            while self.doveadm("user", user, check=False).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("Dovecot does not know new user %s" % user)
                time.sleep(0.1)
        return user

    def cleanup(self):
        """Remove the homes folder made outside workdir (see _pick_public_dir)."""
        if self.public_dir != self.workdir:
            shutil.rmtree(self.public_dir, ignore_errors=True)

    def clear_relay(self):
        for name in os.listdir(self.sink_dir):
            os.unlink(os.path.join(self.sink_dir, name))

    def imap(self, user, password=None):
        """An imaplib client logged in directly to Dovecot (no mailgate)."""
        c = imaplib.IMAP4(self.host, self.imap_port)
        c.login(user, password if password is not None else self.users[user])
        return c

    def doveadm(self, *args, check=True):
        """Run `doveadm -c dovecot.conf ARGS...`; returns CompletedProcess."""
        return subprocess.run(["doveadm", "-c", self.conf_path, *args],
                              capture_output=True, text=True, check=check)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


DEMO_USERS = {"alice@example.com": "alice-demo", "bob@example.com": "bob-demo"}


def demo_messages():
    now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    msgs = []
    for i, (frm, subj, body) in enumerate([
        ("bob@example.com", "Welcome to mailgate",
         "Hi Alice,\r\n\r\nthis message sits in Dovecot behind mailgate.\r\n"),
        ("carol@example.org", "Lunch on Friday?", "Are you free at noon?\r\n"),
        ("newsletter@example.net", "Weekly digest", "Nothing happened this week.\r\n"),
    ]):
        msgs.append((
            "From: %s\r\nTo: alice@example.com\r\nSubject: %s\r\nDate: %s\r\n"
            "Message-ID: <demo-%d@example.com>\r\n\r\n%s" % (frm, subj, now, i, body)).encode())
    return msgs


def _main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--demo", action="store_true",
                    help="demo users %s and seed messages (first run only)" % list(DEMO_USERS))
    ap.add_argument("--imap-port", type=int)
    ap.add_argument("--pop3-port", type=int)
    ap.add_argument("--submission-port", type=int)
    ap.add_argument("--sink-port", type=int)
    ap.add_argument("--user", action="append", default=[], help="LOGIN:PASSWORD")
    args = ap.parse_args()
    users = dict(DEMO_USERS) if args.demo else {}
    for u in args.user:
        login, _, pw = u.partition(":")
        users[login] = pw
    d = Dovecot(args.workdir, users=users, imap_port=args.imap_port,
                pop3_port=args.pop3_port, submission_port=args.submission_port,
                sink_port=args.sink_port)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    d.start()
    if args.demo:
        marker = os.path.join(d.workdir, ".seeded")
        if not os.path.exists(marker):
            for m in demo_messages():
                d.add_message("alice@example.com", m)
            d.add_message("bob@example.com", demo_messages()[0].replace(
                b"Hi Alice", b"Hi Bob").replace(b"To: alice@", b"To: bob@"))
            open(marker, "w").close()
    print("dovecot: imap %d pop3 %d submission %d sink %d (log %s, relayed mail in %s)"
          % (d.imap_port, d.pop3_port, d.submission_port, d.sink_port, d.log_path,
             d.sink_dir), flush=True)
    try:
        while not stop and d.running:
            time.sleep(0.2)
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
