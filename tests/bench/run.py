#!/usr/bin/python3
"""mailgate benchmark: mailgate vs nginx's mail proxy vs Dovecot directly,
side by side in one run, against the same Dovecot. See tests/bench/README.md.

    /usr/bin/python3 tests/bench/run.py [--quick] [--reps N] [--build]

Prints a table and writes tests/bench/results/latest.json.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402
from harness.util import free_port, wait_for_port  # noqa: E402

RESULTS = os.path.join(HERE, "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
DEBIAN_PYTHON = "/usr/bin/python3"
NGINX = "/usr/sbin/nginx"
NGINX_MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"

# The same TLS settings on every terminator: TLS 1.2-1.3, mailgate's TLS 1.2
# suite list (proxy/tls/tls_context.cc), the same RSA-2048 certificate. The
# client offers only TLS_AES_128_GCM_SHA256 for TLS 1.3, so all three
# negotiate the same suite (and X25519, every side's first group).
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")

TARGETS = ("mailgate", "nginx", "direct")

PROFILES = {
    # name: login count / concurrency, fetch size MB / fetches per rep,
    #       noop round trips, idle sessions, repetitions
    "full": dict(login_count=1000, login_conc=16, fetch_mb=20, fetch_count=3,
                 noop_count=3000, idle_sessions=1000, reps=5, idle_reps=3),
    "quick": dict(login_count=200, login_conc=8, fetch_mb=5, fetch_count=2,
                  noop_count=300, idle_sessions=50, reps=1, idle_reps=1),
}

N_USERS = 8
BIG_USER = "big@example.com"


# ---- /proc helpers ------------------------------------------------------------

def _stat(pid):
    """(comm, ppid, utime+stime, cutime+cstime) in seconds, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    rest = data[data.rindex(")") + 2:].split()
    ppid = int(rest[1])
    own = (int(rest[11]) + int(rest[12])) / CLK_TCK
    children = (int(rest[13]) + int(rest[14])) / CLK_TCK
    return comm, ppid, own, children


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def process_tree(root):
    """root and all its live descendants."""
    parents = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st:
            parents.setdefault(st[1], []).append(pid)
    out, pending = [], [root]
    while pending:
        pid = pending.pop()
        out.append(pid)
        pending.extend(parents.get(pid, []))
    return out


def tree_cpu(root, by_comm=False):
    """CPU seconds used by the tree of `root` so far: live processes' own time
    plus the reaped children's time accounted to their parents."""
    total, comms = 0.0, {}
    for pid in process_tree(root):
        st = _stat(pid)
        if not st:
            continue
        comm, _, own, children = st
        total += own + children
        comms[comm] = comms.get(comm, 0.0) + own
    return (total, comms) if by_comm else total


def rss_kb(pids):
    """(sum VmRSS, sum Pss) in KB over pids."""
    rss = pss = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def machine_busy():
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals), idle


# ---- the pieces ---------------------------------------------------------------

class Nginx:
    """nginx (worker_processes 2) with the mail module, proxying implicit-TLS
    IMAP to Dovecot's plain IMAP port via a tiny auth_http service."""

    def __init__(self, workdir, certs, backend_port):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.auth_port = free_port()
        self.backend_port = backend_port
        self.conf = os.path.join(workdir, "nginx.conf")
        self.log = os.path.join(workdir, "error.log")
        with open(self.conf, "w") as f:
            f.write(f"""load_module {NGINX_MAIL_MODULE};
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 20000;
pid {workdir}/nginx.pid;
error_log {self.log} warn;
events {{
    worker_connections 10000;
}}
mail {{
    server_name mail.example.com;
    auth_http 127.0.0.1:{self.auth_port}/auth;
    proxy on;
    ssl_certificate {certs.cert};
    ssl_certificate_key {certs.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {CIPHERS};
    imap_auth login plain;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        protocol imap;
    }}
}}
""")
        self.proc = self.auth = None

    def start(self):
        self.auth = subprocess.Popen(
            [DEBIAN_PYTHON, os.path.join(HERE, "auth_http.py"),
             "--listen", "127.0.0.1:%d" % self.auth_port,
             "--backend", "127.0.0.1:%d" % self.backend_port],
            stdin=subprocess.DEVNULL)
        wait_for_port(self.auth_port, proc=self.auth, what="auth_http")
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.workdir,
                                      "-e", self.log],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, proc=self.proc, what="nginx")
        except Exception as e:
            self.stop()
            raise RuntimeError("%s\n%s" % (e, open(self.log).read()[-3000:]))
        return self

    def workers(self):
        return [p for p in process_tree(self.proc.pid) if p != self.proc.pid]

    def cpu(self):
        return tree_cpu(self.proc.pid) + tree_cpu(self.auth.pid)

    def aux_cpu(self):
        """the auth_http service alone (included in cpu())"""
        return tree_cpu(self.auth.pid)

    def terminator_pids(self):
        return self.workers()

    def stop(self):
        for p in (self.proc, self.auth):
            if p and p.poll() is None:
                p.send_signal(signal.SIGQUIT if p is self.proc else signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.proc = self.auth = None


class MailgateTarget:
    def __init__(self, workdir, certs, dovecot, binary):
        cfg = harness.default_config(dovecot, certs)
        harness.only_listeners(cfg, "imaps")
        cfg["workers"] = 2
        cfg["logging"] = {"format": "logfmt", "level": "warn"}
        cfg["limits"] = {"max_connections": 20000, "max_connections_per_ip": 20000}
        cfg["pools"]["local"]["health"] = {"interval_s": 10}
        self.mg = harness.Mailgate(cfg, workdir, binary=binary)

    @property
    def port(self):
        return self.mg.port("imaps")

    def start(self):
        self.mg.start()
        return self

    def cpu(self):
        return tree_cpu(self.mg.pid)

    def terminator_pids(self):
        return [self.mg.pid]

    def stop(self):
        self.mg.stop(check=False)


def dovecot_extra_config(n_sessions):
    # Enough login processes, kept alive (service_count = 0: high-performance
    # mode, one process per core), enough room for the idle sessions, the
    # same TLS suite list as the proxies, and imap processes reused (all mail
    # users share one uid) so that a login is not dominated by fork+exec.
    return f"""
ssl_cipher_list = {CIPHERS}
ssl_prefer_server_ciphers = yes
service imap-login {{
  service_count = 0
  process_min_avail = 2
  process_limit = 4
  client_limit = 10000
  vsz_limit = 2G
}}
service imap {{
  service_count = 0
  process_min_avail = 8
  process_limit = {n_sessions + 1000}
}}
service anvil {{
  client_limit = {4 * n_sessions + 5000}
}}
service auth {{
  client_limit = {4 * n_sessions + 5000}
}}
default_client_limit = {4 * n_sessions + 5000}
"""


class Direct:
    """Dovecot's own implicit TLS (imaps). Its TLS terminators are the
    imap-login processes (they keep proxying TLS to the imap process)."""

    def __init__(self, dovecot):
        self.dovecot = dovecot
        self.port = dovecot.imaps_port

    def cpu(self):
        return 0.0   # Dovecot's CPU is accounted separately for every target

    def restart_login_processes(self):
        """`doveadm reload`: fresh imap-login processes (the old ones, idle,
        exit), like the fresh proxy processes of the other targets."""
        old = set(self.terminator_pids())
        self.dovecot.doveadm("reload")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = set(self.terminator_pids())
            if now and not (now & old):
                return
            time.sleep(0.2)
        raise RuntimeError("Dovecot's old imap-login processes did not go away")

    def terminator_pids(self):
        return [p for p in process_tree(self.dovecot._proc.pid)
                if (_stat(p) or ("",))[0] == "imap-login"]


# ---- load generator -----------------------------------------------------------

def build_loadgen():
    out_dir = os.path.join(RESULTS, ".bin")
    os.makedirs(out_dir, exist_ok=True)
    src = os.path.join(HERE, "loadgen.c")
    binary = os.path.join(out_dir, "loadgen")
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(src):
        subprocess.run(["cc", "-O2", "-Wall", "-o", binary, src, "-lssl", "-lcrypto",
                        "-lpthread"], check=True)
    return binary


def loadgen(binary, mode, port, users, **opts):
    args = [binary, mode, "--port", str(port), "--users",
            ",".join("%s:%s" % u for u in users)]
    for k, v in opts.items():
        args += ["--" + k, str(v)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError("loadgen %s failed (%s): %s %s" % (mode, p.returncode, p.stdout,
                                                            p.stderr))


# ---- measurements ---------------------------------------------------------------

class Meter:
    """CPU used during a measurement by the target's front (proxy, or nothing
    for direct), by Dovecot (all of it, and imap-login alone), and how busy
    the machine was."""

    def __init__(self, target, dovecot):
        self.target, self.dovecot = target, dovecot

    def __enter__(self):
        self.t0 = time.monotonic()
        self.front0 = self.target.cpu()
        self.aux0 = self.target.aux_cpu() if hasattr(self.target, "aux_cpu") else 0.0
        self.dc0, self.dcc0 = tree_cpu(self.dovecot._proc.pid, by_comm=True)
        self.m0 = machine_busy()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.t0
        self.front = self.target.cpu() - self.front0
        self.aux = (self.target.aux_cpu() if hasattr(self.target, "aux_cpu") else 0.0) - self.aux0
        dc1, dcc1 = tree_cpu(self.dovecot._proc.pid, by_comm=True)
        self.dovecot_cpu = dc1 - self.dc0
        self.imap_login_cpu = dcc1.get("imap-login", 0) - self.dcc0.get("imap-login", 0)
        total1, idle1 = machine_busy()
        dt = total1 - self.m0[0]
        self.machine_busy = 1 - (idle1 - self.m0[1]) / dt if dt else 0.0

    def cpu_fields(self, ops, client):
        client_cpu = client["cpu_user_s"] + client["cpu_sys_s"]
        return {
            "front_cpu_ms_per_op": 1e3 * self.front / ops if ops else None,
            "auth_http_cpu_ms_per_op": 1e3 * self.aux / ops if ops else None,
            "imap_login_cpu_ms_per_op": 1e3 * self.imap_login_cpu / ops if ops else None,
            "dovecot_cpu_ms_per_op": 1e3 * self.dovecot_cpu / ops if ops else None,
            "client_cpu_ms_per_op": 1e3 * client_cpu / ops if ops else None,
            "client_cpu_share": client_cpu / self.elapsed if self.elapsed else None,
            "machine_busy": self.machine_busy,
        }


def terminator_cpu_ms(name, fields):
    """CPU per op of whatever terminates the client's TLS: the proxy for
    mailgate/nginx (nginx includes its auth_http service), imap-login for
    direct."""
    return fields["imap_login_cpu_ms_per_op"] if name == "direct" else fields["front_cpu_ms_per_op"]


def measure_login(lg, name, target, dovecot, users, prof):
    with Meter(target, dovecot) as m:
        r = loadgen(lg, "login", target.port, users, conc=prof["login_conc"],
                    count=prof["login_count"])
    out = {"logins_per_s": r["ok"] / r["elapsed_s"], "ok": r["ok"], "errors": r["errors"],
           "first_error": r["first_error"], "login_p50_ms": r.get("lat_p50_ms"),
           "login_p99_ms": r.get("lat_p99_ms")}
    out.update(m.cpu_fields(r["ok"], r))
    out["terminator_cpu_ms_per_op"] = terminator_cpu_ms(name, out)
    out["proxy_process_cpu_ms_per_op"] = (out["terminator_cpu_ms_per_op"]
                                          - out["auth_http_cpu_ms_per_op"])
    return out


def measure_fetch(lg, name, target, dovecot, prof):
    with Meter(target, dovecot) as m:
        r = loadgen(lg, "fetch", target.port, [(BIG_USER, "big-pw")],
                    count=prof["fetch_count"], uid=1)
    mb = r["bytes"] / 1e6
    out = {"MB_per_s": mb / r["elapsed_s"], "MB": mb, "errors": r["errors"],
           "first_error": r["first_error"], "fetch_p50_ms": r.get("lat_p50_ms")}
    out.update(m.cpu_fields(mb, r))  # per MB here
    out["terminator_cpu_ms_per_op"] = terminator_cpu_ms(name, out)
    return out


def measure_noop(lg, name, target, dovecot, users, prof):
    with Meter(target, dovecot) as m:
        r = loadgen(lg, "noop", target.port, users[:1], count=prof["noop_count"], conc=1)
    out = {"p50_ms": r.get("lat_p50_ms"), "p99_ms": r.get("lat_p99_ms"),
           "mean_ms": r.get("lat_mean_ms"), "errors": r["errors"],
           "first_error": r["first_error"]}
    out.update(m.cpu_fields(r["ok"], r))
    out["terminator_cpu_ms_per_op"] = terminator_cpu_ms(name, out)
    return out


def measure_idle(lg, name, target, dovecot, users, prof):
    k = prof["idle_sessions"]
    # warm up: a few sessions opened and closed, then settle
    loadgen(lg, "login", target.port, users, conc=2, count=20)
    time.sleep(1.0)
    pids = target.terminator_pids()
    before = rss_kb(pids)
    args = [lg, "idle", "--port", str(target.port), "--users",
            ",".join("%s:%s" % u for u in users), "--count", str(k), "--conc", "8"]
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = json.loads(p.stdout.readline())
    time.sleep(1.5)
    pids = target.terminator_pids()
    after = rss_kb(pids)
    p.stdin.close()
    final = json.loads(p.stdout.read().strip().splitlines()[-1])
    p.wait()
    n = ready["ready"]
    out = {"sessions": n, "errors": ready["errors"], "first_error": ready["first_error"],
           "open_s": ready["elapsed_s"],
           "rss_before_kb": before[0], "rss_after_kb": after[0],
           "pss_before_kb": before[1], "pss_after_kb": after[1],
           "kb_per_session_rss": (after[0] - before[0]) / n if n else None,
           "kb_per_session_pss": (after[1] - before[1]) / n if n else None,
           "client_errors_at_close": final["errors"]}
    # let the proxy and Dovecot finish closing the sessions (Dovecot's imap
    # processes stay for reuse: service_count = 0)
    time.sleep(2.0)
    return out


# ---- reporting ----------------------------------------------------------------

def summarize(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt(s, digits=1):
    if s is None:
        return "n/a"
    if s["n"] == 1:
        return "%.*f" % (digits, s["median"])
    return "%.*f [%.*f-%.*f]" % (digits, s["median"], digits, s["min"], digits, s["max"])


# (measure, key, higher is better, unit, digits)
METRICS = [
    ("login", "logins_per_s", True, "logins/s", 0),
    ("login", "terminator_cpu_ms_per_op", False, "TLS-terminator CPU ms/login", 3),
    ("login", "proxy_process_cpu_ms_per_op", False, "  same, nginx w/o auth_http", 3),
    ("login", "dovecot_cpu_ms_per_op", False, "Dovecot CPU ms/login (all)", 3),
    ("login", "client_cpu_share", False, "client CPU share (cores)", 2),
    ("login", "machine_busy", None, "machine busy (of 2 cores)", 2),
    ("fetch", "MB_per_s", True, "FETCH MB/s", 1),
    ("fetch", "terminator_cpu_ms_per_op", False, "TLS-terminator CPU ms/MB", 3),
    ("fetch", "dovecot_cpu_ms_per_op", False, "Dovecot CPU ms/MB (all)", 3),
    ("fetch", "client_cpu_share", False, "client CPU share (cores)", 2),
    ("fetch", "machine_busy", None, "machine busy (of 2 cores)", 2),
    ("noop", "p50_ms", False, "NOOP p50 ms", 3),
    ("noop", "p99_ms", False, "NOOP p99 ms", 3),
    ("idle", "kb_per_session_rss", False, "idle KB/session (RSS)", 1),
    ("idle", "kb_per_session_pss", False, "idle KB/session (PSS)", 1),
]


def build_summary(runs, targets):
    summary = {}
    for measure, key, _, unit, _ in METRICS:
        entry = {"unit": unit}
        per = {t: [r[t][measure].get(key) for r in runs if measure in r.get(t, {})]
               for t in targets}
        for t in targets:
            entry[t] = summarize(per[t])
        for other in ("nginx", "direct"):
            if "mailgate" in targets and other in targets:
                ratios = []
                for r in runs:
                    a = r.get("mailgate", {}).get(measure, {}).get(key)
                    b = r.get(other, {}).get(measure, {}).get(key)
                    if a is not None and b:
                        ratios.append(a / b)
                entry["mailgate/" + other] = summarize(ratios)
        summary["%s.%s" % (measure, key)] = entry
    return summary


def print_table(summary, targets):
    cols = list(targets) + [c for c in ("mailgate/nginx", "mailgate/direct")
                            if "nginx" in targets or c.endswith("direct")]
    cols = [c for c in cols if c in targets or "/" in c and c.split("/")[1] in targets]
    w0 = 30
    print("\n%-*s" % (w0, "measure") + "".join("%-24s" % c for c in cols))
    print("-" * (w0 + 24 * len(cols)))
    for measure, key, better, unit, digits in METRICS:
        e = summary.get("%s.%s" % (measure, key))
        if not e or all(e.get(t) is None for t in targets):
            continue
        row = "%-*s" % (w0, unit)
        for c in cols:
            row += "%-24s" % fmt(e.get(c), 2 if "/" in c else digits)
        print(row)
    print("\nmedian [min-max] over repetitions; ratios are per repetition (paired), then "
          "the median. For logins/s and MB/s a ratio > 1 means mailgate is faster; for "
          "CPU, latency and memory a ratio < 1 means mailgate uses less.")


def machine_description():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])

    def out(*cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    return {
        "cpu": model, "cores": os.cpu_count(), "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "loadavg_at_start": os.getloadavg(),
        "nginx": out(NGINX, "-v"), "dovecot": out("/usr/sbin/dovecot", "--version"),
        "openssl_client": out("openssl", "version"),
        "mailgate_commit": out("git", "-C", REPO, "rev-parse", "--short", "HEAD"),
        "ulimit_n": out("sh", "-c", "ulimit -n"),
    }


# ---- main -----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tiny run (seconds), one repetition")
    ap.add_argument("--reps", type=int, help="repetitions (default 5, quick 1)")
    ap.add_argument("--idle-sessions", type=int, help="K idle sessions (default 1000)")
    ap.add_argument("--build-dir", default=os.environ.get("MAILGATE_BUILD_DIR", "build-bench"),
                    help="mailgate build folder (default build-bench)")
    ap.add_argument("--build", action="store_true", help="run cmake --build first")
    ap.add_argument("--no-nginx", action="store_true", help="skip nginx")
    ap.add_argument("--only", choices=["login", "fetch", "noop", "idle"], action="append",
                    help="run only these measures (repeatable)")
    ap.add_argument("--out", default=os.path.join(RESULTS, "latest.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    prof = dict(PROFILES["quick" if args.quick else "full"])
    if args.reps:
        prof["reps"] = prof["idle_reps"] = args.reps
    if args.idle_sessions:
        prof["idle_sessions"] = args.idle_sessions
    measures = args.only or ["login", "fetch", "noop", "idle"]

    build_dir = args.build_dir if os.path.isabs(args.build_dir) else os.path.join(REPO, args.build_dir)
    if args.build:
        subprocess.run(["cmake", "--build", build_dir], check=True)
    binary = os.path.join(build_dir, "mailgate")
    if not os.path.exists(binary):
        sys.exit("no mailgate binary at %s: cmake -S . -B build-bench -G Ninja "
                 "-DCMAKE_BUILD_TYPE=Release && cmake --build build-bench" % binary)
    lg = build_loadgen()

    targets = ["mailgate", "nginx", "direct"]
    nginx_reason = None
    if args.no_nginx:
        nginx_reason = "--no-nginx"
    elif not (os.path.exists(NGINX) and os.path.exists(NGINX_MAIL_MODULE)):
        nginx_reason = "nginx or its mail module is not installed " \
                       "(apt-get install nginx-light libnginx-mod-mail)"
    if nginx_reason:
        targets.remove("nginx")
        print("without nginx: " + nginx_reason)

    tmp = tempfile.mkdtemp(prefix="mailgate-bench-")
    os.chmod(tmp, 0o755)
    certs = harness.make_certs(os.path.join(tmp, "certs"))
    users = [("bench%d@example.com" % i, "pw%d" % i) for i in range(N_USERS)]
    # Dovecot's auth (user dovecot) and mail (nobody) must traverse its folder
    os.makedirs(os.path.join(tmp, "dovecot"), mode=0o755)
    os.chmod(os.path.join(tmp, "dovecot"), 0o755)
    dovecot = harness.Dovecot(os.path.join(tmp, "dovecot"),
                              users=dict(users + [(BIG_USER, "big-pw")]),
                              ssl=True, cert=certs.cert, key=certs.key,
                              extra_config=dovecot_extra_config(prof["idle_sessions"]))
    started = []
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "profile": "quick" if args.quick else "full", "params": prof,
              "machine": machine_description(), "targets": targets,
              "nginx_skipped": nginx_reason, "runs": [], "idle_runs": []}
    t_start = time.monotonic()
    try:
        print("building the corpus (%d MB message) and starting Dovecot ..." % prof["fetch_mb"])
        line = b"X" * 74 + b"\r\n"
        body = line * (prof["fetch_mb"] * 1000 * 1000 // len(line))
        dovecot.add_message(BIG_USER, b"From: a@example.com\r\nTo: big@example.com\r\n"
                            b"Subject: big\r\n\r\n" + body)
        for u, _ in users:
            dovecot.add_message(u, b"Subject: hello\r\n\r\nhello\r\n")
        dovecot.start()
        started.append(dovecot)
        fronts = {"direct": Direct(dovecot)}
        fronts["mailgate"] = MailgateTarget(os.path.join(tmp, "mailgate"), certs, dovecot, binary)
        if "nginx" in targets:
            fronts["nginx"] = Nginx(os.path.join(tmp, "nginx"), certs, dovecot.imap_port)
        for t in ("mailgate", "nginx"):
            if t in fronts:
                fronts[t].start()
                started.append(fronts[t])

        # warm-up: every path once (Dovecot index files, caches)
        for t in targets:
            loadgen(lg, "login", fronts[t].port, users, conc=4, count=40)
            if "fetch" in measures:
                loadgen(lg, "fetch", fronts[t].port, [(BIG_USER, "big-pw")], count=1)

        for rep in range(prof["reps"]):
            order = targets[rep % len(targets):] + targets[:rep % len(targets)]
            run = {}
            for t in order:
                run[t] = {}
                if "login" in measures:
                    run[t]["login"] = measure_login(lg, t, fronts[t], dovecot, users, prof)
                if "fetch" in measures:
                    run[t]["fetch"] = measure_fetch(lg, t, fronts[t], dovecot, prof)
                if "noop" in measures:
                    run[t]["noop"] = measure_noop(lg, t, fronts[t], dovecot, users, prof)
                print("rep %d %-8s %s" % (rep + 1, t, "  ".join(
                    "%s=%.4g" % (k, v[k2]) for k, v in run[t].items()
                    for k2 in (("logins_per_s",) if k == "login" else ("MB_per_s",)
                               if k == "fetch" else ("p50_ms", "p99_ms"))
                    if v.get(k2) is not None)), flush=True)
            result["runs"].append(run)

        if "idle" in measures:
            for rep in range(prof["idle_reps"]):
                run = {}
                order = targets[rep % len(targets):] + targets[:rep % len(targets)]
                for t in order:
                    # fresh terminator processes: memory freed by earlier
                    # sessions would otherwise hide the new ones
                    if t == "direct":
                        fronts[t].restart_login_processes()
                    else:
                        fronts[t].stop()
                        fronts[t].start()
                    run[t] = {"idle": measure_idle(lg, t, fronts[t], dovecot, users, prof)}
                    i = run[t]["idle"]
                    print("idle rep %d %-8s sessions=%d KB/session rss=%.1f pss=%.1f" % (
                        rep + 1, t, i["sessions"], i["kb_per_session_rss"] or 0,
                        i["kb_per_session_pss"] or 0), flush=True)
                result["idle_runs"].append(run)
    finally:
        for s in reversed(started):
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001
                print("stop failed: %s" % e)
        dovecot.cleanup()
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    all_runs = []
    for i in range(max(len(result["runs"]), len(result["idle_runs"]))):
        merged = {}
        for src in (result["runs"], result["idle_runs"]):
            if i < len(src):
                for t, v in src[i].items():
                    merged.setdefault(t, {}).update(v)
        all_runs.append(merged)
    result["summary"] = build_summary(all_runs, targets)
    result["wall_s"] = round(time.monotonic() - t_start, 1)
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    errors = sum(m.get("errors", 0) or 0 for r in all_runs for t in r.values()
                 for m in t.values())
    result["errors"] = errors
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print_table(result["summary"], targets)
    print("\nwall %.0fs, client errors %d, load average at start %s; written %s"
          % (result["wall_s"], errors, "%.1f %.1f %.1f" % result["machine"]["loadavg_at_start"],
             os.path.relpath(args.out, os.getcwd())))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
