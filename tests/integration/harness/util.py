"""Small helpers shared by the harness: free ports, waiting for listeners."""
import os
import socket
import time


_handed_out = set()


def free_port(host="127.0.0.1"):
    """A TCP port on `host` that was free a moment ago (bind to 0, close).

    The kernel may give the same ephemeral port to two binds in a row once
    the first socket is closed, so a config asking for seven ports could get
    one twice: never hand out a port twice in one test run."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no fresh free port after 100 tries")


def closed_port(host="127.0.0.1"):
    """A port nothing listens on (for 'backend down' tests)."""
    return free_port(host)


def port_open(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(port, host="127.0.0.1", timeout=15.0, proc=None, what=None):
    """Wait until (host, port) accepts a TCP connection. If `proc` (a Popen)
    exits meanwhile, raise at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before %s:%d accepted"
                               % (what or "process", proc.returncode, host, port))
        if port_open(port, host):
            return
        time.sleep(0.05)
    raise TimeoutError("%s:%d did not accept within %.0fs (%s)" % (host, port, timeout, what or ""))


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("timed out waiting for " + what)
        time.sleep(interval)


def repo_root():
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def build_dir():
    """$MAILGATE_BUILD_DIR (absolute, or relative to the repository root), else build/."""
    d = os.environ.get("MAILGATE_BUILD_DIR", "build")
    return d if os.path.isabs(d) else os.path.join(repo_root(), d)


def mailgate_binary():
    return os.environ.get("MAILGATE_BIN") or os.path.join(build_dir(), "mailgate")


def sanitizer_build():
    """True under a sanitizer build (scripts/test.sh's ASan/UBSan pass sets
    MAILGATE_SANITIZER=1): ASan's shadow memory and quarantine make RSS
    figures meaningless, so tests that measure memory skip."""
    return os.environ.get("MAILGATE_SANITIZER", "0") not in ("", "0")
