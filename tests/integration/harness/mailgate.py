"""Run build/mailgate (or $MAILGATE_BUILD_DIR/mailgate) as a subprocess.

    mg = Mailgate(config_dict, workdir)
    mg.start()          # writes workdir/mailgate.json, waits for every listener + admin
    mg.port("imaps")    # a listener's port;  mg.host = "127.0.0.1"
    mg.admin_url        # "http://127.0.0.1:PORT"
    mg.reload()         # SIGHUP (after mg.write_config(new_dict) if you changed it)
    mg.log_text()       # stdout+stderr so far
    mg.pid
    mg.stop()           # SIGTERM, waits, asserts exit status 0
    mg.sanitizer_report()  # an ASan/UBSan/LSan report in this run's log, or ""

Any sanitizer report in the daemon's output fails the test at stop() and
kill(), whatever the exit status and even with check=False: under an ASan
build (scripts/test.sh's second pass) a report is a bug even when the test
itself passed.
"""
import json
import os
import signal
import subprocess
import re
import time

from .util import mailgate_binary, wait_for_port

# First lines of the reports of AddressSanitizer, LeakSanitizer and UBSan
# ("file.cc:12:5: runtime error: ..."); UBSan prints no "ERROR:" banner.
_SANITIZER_REPORT = re.compile(
    r"^(==\d+==\s*ERROR: (Address|Leak|Memory|Thread)Sanitizer\b.*"
    r"|.*\bruntime error: .*"
    r"|SUMMARY: (Address|Leak|Undefined(Behavior)?)Sanitizer\b.*)$",
    re.MULTILINE)


def _split(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Mailgate:
    def __init__(self, config, workdir, binary=None, args=()):
        self.config = config
        self.workdir = os.path.abspath(str(workdir))
        os.makedirs(self.workdir, exist_ok=True)
        self.config_path = os.path.join(self.workdir, "mailgate.json")
        self.log_path = os.path.join(self.workdir, "mailgate.log")
        self.binary = binary or mailgate_binary()
        self.args = list(args)
        self.proc = None
        self._log_start = 0  # where this process's output begins in the log
        self.host = "127.0.0.1"
        self.write_config(config)

    # ---- config -------------------------------------------------------------

    def write_config(self, config=None):
        if config is not None:
            self.config = config
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.config, f, indent=2)
        os.rename(tmp, self.config_path)

    def listener(self, name):
        for entry in self.config["listeners"]:
            if entry["name"] == name:
                return entry
        raise KeyError("no listener %r in config" % name)

    def port(self, name):
        return _split(self.listener(name)["address"])[1]

    def address(self, name):
        return _split(self.listener(name)["address"])

    @property
    def admin_address(self):
        return _split(self.config["admin"]["address"])

    @property
    def admin_url(self):
        host, port = self.admin_address
        return "http://%s:%d" % (host, port)

    # ---- process ------------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=20.0):
        if not os.path.exists(self.binary):
            raise RuntimeError("mailgate binary not found at %s (build it, or set "
                               "MAILGATE_BUILD_DIR)" % self.binary)
        self._log = open(self.log_path, "ab")
        self._log_start = os.path.getsize(self.log_path)
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path, *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            for entry in self.config["listeners"]:
                host, port = _split(entry["address"])
                if host in ("0.0.0.0", "::", ""):
                    host = "127.0.0.1"
                wait_for_port(port, host, timeout=timeout, proc=self.proc,
                              what="mailgate listener %s" % entry["name"])
            if self.config.get("admin", {}).get("address"):
                host, port = self.admin_address
                wait_for_port(port, host, timeout=timeout, proc=self.proc,
                              what="mailgate admin")
        except Exception as e:
            self.kill()
            raise RuntimeError("%s\n--- mailgate log ---\n%s" % (e, self.log_text()[-4000:]))
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30.0, check=True):
        """SIGTERM and wait; with check, assert a clean exit (status 0)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mailgate did not exit within %.0fs of SIGTERM\n%s"
                                     % (timeout, self.log_text()[-3000:]))
        code = self.proc.returncode
        self.proc = None
        self._log.close()
        self.assert_no_sanitizer_report()
        if check:
            assert code == 0, "mailgate exited with %s\n%s" % (code, self.log_text()[-3000:])
        return code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        had_process = self.proc is not None
        self.proc = None
        if had_process:
            self.assert_no_sanitizer_report()

    def sanitizer_report(self):
        """The first sanitizer report this process wrote (from its first line
        on, at most 6000 characters), or "" when there is none."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_start)
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        match = _SANITIZER_REPORT.search(text)
        return text[match.start():match.start() + 6000] if match else ""

    def assert_no_sanitizer_report(self):
        report = self.sanitizer_report()
        assert not report, "mailgate wrote a sanitizer report:\n" + report

    def wait_exit(self, timeout=30.0):
        return self.proc.wait(timeout=timeout)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_for_log(self, needle, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return True
            time.sleep(0.05)
        raise TimeoutError("%r not in mailgate log" % needle)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None:
            self.stop(check=exc[0] is None)
