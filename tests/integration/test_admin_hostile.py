"""The admin listener (/metrics, /healthz, /readyz) faces every pod of a
cluster (the Helm chart binds it on all interfaces), so nothing sent to it may
crash or block the daemon: unknown paths get 404, methods other than GET/HEAD
get 405, garbage gets 400, oversized heads 431, slow requests time out (408),
and /healthz keeps answering within a second while a thousand slow clients
hold connections. Every fixture mailgate is stopped with SIGTERM at teardown
and must exit 0, so a crash fails the test that caused it."""
import resource
import socket
import threading
import time

import pytest

from harness.util import wait_until

REQUEST_DEADLINE_S = 10  # proxy/admin/admin_server.cc kRequestDeadlineMs


def _connect(mg, timeout=5.0):
    host, port = mg.admin_address
    return socket.create_connection((host, port), timeout=timeout)


def _read_all(sock, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def raw(mg, payload, timeout=5.0):
    """Send payload, half-close, return everything the server answers."""
    with _connect(mg, timeout) as s:
        s.sendall(payload)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return _read_all(s, timeout)


def parse(response):
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 "), response[:200]
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    return status, headers, body


def get(mg, path, method="GET", extra=b""):
    return parse(raw(mg, b"%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (method.encode(), path.encode(), extra)))


def timed_health(mg):
    t0 = time.monotonic()
    status, _, body = get(mg, "/healthz")
    return status, body, time.monotonic() - t0


def _raise_fd_limit(want=4096):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


@pytest.fixture
def admin_mg(mailgate_factory):
    # Before the start: mailgate inherits the limit (1,000 slow clients need
    # as many descriptors on both sides).
    _raise_fd_limit()
    return mailgate_factory()


def test_known_paths_keep_their_answers(admin_mg):
    status, headers, body = get(admin_mg, "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert headers["content-length"] == "3"
    # Admin listens before the workers run; /readyz turns 200 once they do.
    wait_until(lambda: get(admin_mg, "/readyz")[0] == 200, timeout=5, what="/readyz 200")
    assert get(admin_mg, "/readyz")[2] == b"ready\n"
    status, headers, body = get(admin_mg, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert int(headers["content-length"]) == len(body)
    assert b"mailgate_build_info{version=" in body
    # A query string does not change the resource.
    assert get(admin_mg, "/healthz?verbose=1")[0] == 200


def test_unknown_paths_get_404(admin_mg):
    for path in ("/", "/favicon.ico", "/metricsx", "/healthz/", "/../etc/passwd",
                 "/%00", "/" + "a" * 2000, "*"):
        status, _, body = get(admin_mg, path)
        assert status in (404, 400), (path, status)
        assert body, path  # never a bare close or an empty page
    assert get(admin_mg, "/favicon.ico")[0] == 404
    assert timed_health(admin_mg)[0] == 200


def test_other_methods_get_405_and_head_is_get_without_body(admin_mg):
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "PROPFIND"):
        for path in ("/metrics", "/healthz", "/nowhere"):
            status, headers, _ = get(admin_mg, path, method,
                                     b"Content-Length: 5\r\n\r\nhello" if method == "POST" else b"")
            assert status == 405, (method, path, status)
            assert headers.get("allow") == "GET, HEAD", (method, headers)
    # HEAD (RFC 9110 section 9.3.2): GET's status and headers, no body.
    status, headers, body = get(admin_mg, "/healthz", "HEAD")
    assert (status, headers["content-length"], body) == (200, "3", b"")
    assert get(admin_mg, "/favicon.ico", "HEAD")[0] == 404
    assert timed_health(admin_mg)[0] == 200


def test_garbage_and_oversized_heads_are_refused_not_fatal(admin_mg):
    cases = {
        b"\x00\xff\x16\x03\x01\x02\x00garbage\r\n\r\n": 400,  # a TLS ClientHello, say
        b"GET\r\n\r\n": 400,
        b"GET / HTTP/9.9\r\n\r\n": 505,
        b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n": 400,
        b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n": 400,
        b"GET /healthz HTTP/1.1\r\nX: " + b"y" * 100000 + b"\r\n\r\n": 431,
        b"GET /" + b"u" * 100000 + b" HTTP/1.1\r\n\r\n": 431,
        b"GET /healthz HTTP/1.1\r\n" + b"H: v\r\n" * 5000 + b"\r\n": 431,
    }
    for payload, expected in cases.items():
        status, headers, body = parse(raw(admin_mg, payload))
        assert status == expected, (payload[:40], status)
        assert headers.get("connection") == "close"
    # An empty connection (a TCP port probe) is simply closed.
    assert raw(admin_mg, b"") == b""
    assert timed_health(admin_mg)[0] == 200


def _trickle(sockets, stop, payload=b"GET /healthz HTTP/1.1\r\nX-Slow: "):
    """Send payload one byte per second per socket, never finishing the head."""
    i = 0
    while not stop.is_set():
        byte = payload[i:i + 1] or b"a"
        for s in list(sockets):
            try:
                s.send(byte)
            except OSError:
                sockets.remove(s)
        i += 1
        stop.wait(1.0)


def test_two_byte_per_second_clients_do_not_block_healthz(admin_mg):
    slow = [_connect(admin_mg) for _ in range(2)]
    stop = threading.Event()
    t = threading.Thread(target=_trickle, args=(slow, stop), daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        for _ in range(6):
            status, body, took = timed_health(admin_mg)
            assert (status, body) == (200, b"ok\n")
            assert took < 1.0, took
            time.sleep(0.5)
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()


def test_slow_request_times_out_with_408(admin_mg):
    s = _connect(admin_mg, timeout=REQUEST_DEADLINE_S + 5)
    stop = threading.Event()
    t = threading.Thread(target=_trickle, args=([s], stop), daemon=True)
    t0 = time.monotonic()
    t.start()
    try:
        answer = _read_all(s, REQUEST_DEADLINE_S + 5)
    finally:
        stop.set()
        t.join()
        s.close()
    took = time.monotonic() - t0
    assert parse(answer)[0] == 408
    assert REQUEST_DEADLINE_S - 1 <= took <= REQUEST_DEADLINE_S + 3, took


def test_thousand_slow_clients_do_not_block_healthz(admin_mg):
    slow = []
    stop = threading.Event()
    t = threading.Thread(target=_trickle, args=(slow, stop), daemon=True)
    try:
        for _ in range(1000):
            slow.append(_connect(admin_mg))
        t.start()
        time.sleep(1.0)
        worst = 0.0
        for _ in range(5):
            status, body, took = timed_health(admin_mg)
            assert (status, body) == (200, b"ok\n")
            worst = max(worst, took)
            time.sleep(0.3)
        assert worst < 1.0, worst
        # The slow ones are all still held open (nobody was dropped to make room).
        assert len(slow) == 1000
        print("1000 slow clients: worst /healthz %.3f s" % worst)
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        for s in slow:
            s.close()
    wait_until(lambda: timed_health(admin_mg)[0] == 200, timeout=5, what="healthz after slow clients")
