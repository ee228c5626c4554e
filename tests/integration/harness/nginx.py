"""nginx's mail proxy (Debian: nginx-light + libnginx-mod-mail) as a test
peer, for side-by-side comparisons with mailgate.

    ng = NginxMail(workdir, certs, auth_url="127.0.0.1:PORT/auth",
                   servers=[("imaps", "imap"), ("pop3s", "pop3"), ("smtps", "smtp")])
    ng.start(); ng.port("imaps"); ...; ng.stop()

Every server is an implicit-TLS listener (`listen ... ssl`) on a free
loopback port with the harness certificate. nginx runs in the foreground as
a child of the test (`daemon off`), with its own prefix, config, pid and log
files under `workdir`. As root the master stays root and the workers run as
`nobody` (nginx's default `user`): they only talk to loopback sockets, the
master opens the logs and reads the certificate. `available()` says whether
nginx and its mail module are installed.
"""
import os
import signal
import subprocess

from .util import free_port, wait_for_port

NGINX = "/usr/sbin/nginx"
NGINX_MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"


def available():
    return os.path.exists(NGINX) and os.path.exists(NGINX_MAIL_MODULE)


class NginxMail:
    def __init__(self, workdir, certs, auth_url, servers, mail_extra="", workers=1):
        """servers: [(name, protocol)] with protocol imap | pop3 | smtp.
        mail_extra: more directives for the `mail {}` block."""
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.ports = {name: free_port() for name, _ in servers}
        self.conf = os.path.join(self.workdir, "nginx.conf")
        self.log = os.path.join(self.workdir, "error.log")
        blocks = "".join(
            "    server {\n        listen 127.0.0.1:%d ssl;\n        protocol %s;\n    }\n"
            % (self.ports[name], proto) for name, proto in servers)
        with open(self.conf, "w") as f:
            f.write(f"""load_module {NGINX_MAIL_MODULE};
daemon off;
master_process on;
worker_processes {workers};
pid {self.workdir}/nginx.pid;
error_log {self.log} info;
events {{
    worker_connections 256;
}}
mail {{
    server_name mail.example.com;
    auth_http {auth_url};
    proxy on;
    ssl_certificate {os.path.abspath(certs.cert)};
    ssl_certificate_key {os.path.abspath(certs.key)};
    ssl_protocols TLSv1.2 TLSv1.3;
{mail_extra}
{blocks}}}
""")
        self.proc = None

    def port(self, name):
        return self.ports[name]

    def address(self, name):
        return ("127.0.0.1", self.ports[name])

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        # -p: the prefix for relative paths (and the temp paths nginx checks
        # at start-up); -e: the log before the config is read.
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.workdir + "/",
                                      "-e", self.log],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        try:
            for port in self.ports.values():
                wait_for_port(port, proc=self.proc, what="nginx")
        except Exception as e:
            self.stop()
            raise RuntimeError("%s\n%s" % (e, self.log_text()[-3000:])) from e
        return self

    def stop(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)   # fast shutdown: workers close their sessions
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
