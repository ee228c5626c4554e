"""Renewed certificates are served without a restart or a signal (issue 11:
cert-manager rewrites the secret's files; tls.watch_interval_s). A pair
caught half-written keeps the old certificate until the pair matches.

    /usr/bin/python3 -m pytest tests/integration/test_cert_watch.py -q
"""
import os
import shutil
import socket
import ssl

from harness import make_self_signed
from harness.util import wait_until


def served_der(mg, listener="imaps"):
    host, port = mg.address(listener)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.getpeercert(binary_form=True)


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def replace(src, dst):
    """As certbot and a Kubernetes secret update do: a new file renamed over the old."""
    tmp = dst + ".new"
    shutil.copy(src, tmp)
    os.rename(tmp, dst)


def watched_config(certs, tmp_path):
    cert, key = str(tmp_path / "live.pem"), str(tmp_path / "live.key")
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)

    def modify(cfg):
        cfg["tls"]["certificates"] = [{"cert": cert, "key": key, "names": []}]
        cfg["tls"]["watch_interval_s"] = 1
    return cert, key, modify


def test_a_renewed_certificate_is_served_without_a_signal(mailgate_factory, certs, tmp_path):
    cert, key, modify = watched_config(certs, tmp_path)
    mg = mailgate_factory(modify=modify)
    assert served_der(mg) == der_of(cert)
    new_cert, new_key = str(tmp_path / "renewed.pem"), str(tmp_path / "renewed.key")
    make_self_signed(new_cert, new_key)
    assert der_of(new_cert) != der_of(cert)
    pid = mg.pid
    replace(new_key, key)
    replace(new_cert, cert)
    wait_until(lambda: served_der(mg) == der_of(new_cert), timeout=15, what="the renewed certificate served")
    assert mg.pid == pid and mg.running
    text = mg.log_text()
    assert "event=certificate_changed" in text
    assert "event=config_reloaded" in text


def test_a_half_written_pair_keeps_the_old_certificate_until_it_matches(mailgate_factory, certs, tmp_path):
    cert, key, modify = watched_config(certs, tmp_path)
    mg = mailgate_factory(modify=modify)
    old = der_of(cert)
    new_cert, new_key = str(tmp_path / "renewed.pem"), str(tmp_path / "renewed.key")
    make_self_signed(new_cert, new_key)
    replace(new_cert, cert)  # the key is still the old one: the pair does not match
    wait_until(lambda: "event=config_reload_failed" in mg.log_text(), timeout=15, what="the failed reload")
    assert served_der(mg) == old, "a mismatched pair must not replace the running certificate"
    replace(new_key, key)
    wait_until(lambda: served_der(mg) == der_of(new_cert), timeout=15, what="the completed pair served")
