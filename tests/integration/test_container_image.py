"""The container image, built without a registry (scripts/build-image.sh:
debootstrap'ed Debian 12 base + buildah bud --isolation chroot), runs: the
image's own binary answers --version, and started with a config it serves
/healthz on the admin address.

Skipped unless buildah and debootstrap are installed and we are root (the build
downloads Debian packages from apt's mirror and compiles mailgate: minutes).
"""
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import free_port

ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/mailgate:test"


def _need_tools():
    missing = [t for t in ("buildah", "debootstrap") if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    if os.geteuid() != 0:
        pytest.skip("debootstrap and buildah --isolation chroot need root")


@pytest.fixture(scope="module")
def image():
    _need_tools()
    r = subprocess.run([str(ROOT / "scripts" / "build-image.sh"), TAG],
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    yield TAG


def _container(image):
    ctr = subprocess.run(["buildah", "from", image], capture_output=True, text=True,
                         check=True).stdout.strip()
    return ctr


def test_image_labels_and_no_key_material(image):
    info = json.loads(subprocess.run(["buildah", "inspect", "--type", "image", image],
                                     capture_output=True, text=True, check=True).stdout)
    labels = info["OCIv1"]["config"].get("Labels") or {}
    assert labels.get("org.opencontainers.image.title") == "mailgate"
    assert labels.get("org.opencontainers.image.version")
    assert labels.get("org.opencontainers.image.base.name") == "localhost/mailgate-base:bookworm"
    # No private key in the image (the demo's config/demo/key.pem above all):
    # the image carries config, not key material; that is mounted at run time.
    ctr = _container(image)
    try:
        r = subprocess.run(["buildah", "run", "--isolation", "chroot", ctr, "--", "sh", "-c",
                            "find / -xdev \\( -name '*.pem' -o -name '*.key' \\) "
                            "-path '*mailgate*' -print; ls -A /etc/mailgate/tls"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "", f"key material in the image: {r.stdout}"
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True)


def test_image_binary_runs_and_serves_healthz(image, tmp_path, certs):
    ctr = _container(image)
    try:
        r = subprocess.run(["buildah", "run", "--isolation", "chroot", ctr, "--", "mailgate", "--version"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        admin, imaps = free_port(), free_port()
        shutil.copy(certs.cert, tmp_path / "tls.crt")
        shutil.copy(certs.key, tmp_path / "tls.key")
        os.chmod(tmp_path / "tls.key", 0o644)
        cfg = {
            "admin": {"address": f"127.0.0.1:{admin}"},
            "tls": {"certificates": [{"cert": "/cfg/tls.crt", "key": "/cfg/tls.key", "names": []}]},
            "listeners": [{"name": "imaps", "protocol": "imap", "address": f"127.0.0.1:{imaps}",
                           "tls": "implicit", "route": "default"}],
            "routes": {"default": {"type": "static", "pool": "backend"}},
            "pools": {"backend": {"servers": [{"host": "127.0.0.1", "imap": free_port()}]}},
        }
        (tmp_path / "mailgate.json").write_text(json.dumps(cfg))
        # chroot isolation shares the host's network: the admin port is reachable here.
        proc = subprocess.Popen(["buildah", "run", "--isolation", "chroot", "-v", f"{tmp_path}:/cfg",
                                 ctr, "--", "mailgate", "--config", "/cfg/mailgate.json"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline, body = time.monotonic() + 30, None
            while time.monotonic() < deadline and body is None:
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=2).read()
                except OSError:
                    assert proc.poll() is None, proc.stdout.read()
                    time.sleep(0.2)
            assert body is not None, "no /healthz answer from the container"
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True)
