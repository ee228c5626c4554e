"""A private redis-server for fleet tests (cluster.redis, docs/architecture.md §2.6).

    r = RedisServer(workdir)      # picks a free loopback port, kept across restarts
    r.start()                     # waits until it accepts connections
    r.address                     # "127.0.0.1:PORT", for cluster.redis.address
    r.command("GET", "k")         # one command over a fresh connection (RESP2)
    r.stop()                      # SIGTERM (no persistence: a restart is empty)

Tests skip when /usr/bin/redis-server is absent (RedisServer.available()).
"""
import os
import shutil
import signal
import socket
import subprocess

from .util import free_port, wait_for_port

BINARY = "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, workdir, port=None):
        self.workdir = os.path.abspath(str(workdir))
        os.makedirs(self.workdir, exist_ok=True)
        self.port = port or free_port()
        self.log_path = os.path.join(self.workdir, "redis.log")
        self.proc = None

    @staticmethod
    def available():
        return os.access(BINARY, os.X_OK) or shutil.which("redis-server") is not None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is None:
            return self
        binary = BINARY if os.access(BINARY, os.X_OK) else shutil.which("redis-server")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--protected-mode", "no"],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=timeout, proc=self.proc, what="redis-server")
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args, timeout=5.0):
        """Sends one command; returns the reply (int, bytes, str, list or None)."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(out)
            return _read_reply(s.makefile("rb"))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError("redis error: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError("unexpected redis reply %r" % line)
