"""The operator's command line: --check-config loads the certificates, keys and
CA files the way the daemon does (files made with the openssl CLI),
--print-config round-trips every shipped config through the binary, --help
lists every option and points to the reference, and the man page renders with
man(1)."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.certs import make_certs
from harness.util import build_dir, mailgate_binary, repo_root

ROOT = Path(repo_root())


def _binary():
    b = Path(mailgate_binary())
    if not b.exists():
        pytest.skip(f"{b} not built")
    return b


def run(*args):
    return subprocess.run([str(_binary()), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def config_with(tmp, cert, key, **pool):
    pool = {k: str(v) if isinstance(v, Path) else v for k, v in pool.items()}
    cfg = {
        "tls": {"certificates": [{"cert": str(cert), "key": str(key), "names": ["localhost"]}]},
        "listeners": [{"name": "imaps", "protocol": "imap", "address": "127.0.0.1:10993",
                       "tls": "implicit", "route": "r"}],
        "routes": {"r": {"type": "static", "pool": "p"}},
        "pools": {"p": dict({"servers": [{"host": "127.0.0.1", "imap": 1143}]}, **pool)},
    }
    path = tmp / "mailgate.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def test_check_config_accepts_a_matching_pair(tmp_path):
    c = make_certs(tmp_path / "pki")
    r = run("--check-config", config_with(tmp_path, c.chain, c.key, tls="implicit",
                                          ca_file=c.ca_cert))
    assert r.returncode == 0, r.stdout + r.stderr
    assert ": ok (" in r.stdout
    assert "warning" not in r.stdout, r.stdout


def test_check_config_rejects_a_key_of_another_certificate(tmp_path):
    c = make_certs(tmp_path / "pki")
    other = make_certs(tmp_path / "other")
    r = run("--check-config", config_with(tmp_path, c.cert, other.key))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "$.tls.certificates[0].key" in r.stderr and "does not match" in r.stderr, r.stderr


def test_check_config_rejects_files_that_are_not_pem(tmp_path):
    c = make_certs(tmp_path / "pki")
    der = tmp_path / "cert.der"
    openssl("x509", "-in", c.cert, "-outform", "DER", "-out", der)
    r = run("--check-config", config_with(tmp_path, der, c.key))
    assert r.returncode == 1
    assert "$.tls.certificates[0].cert" in r.stderr and "no PEM certificate" in r.stderr, r.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("not a CA\n")
    r = run("--check-config", config_with(tmp_path, c.cert, c.key, tls="starttls",
                                          ca_file=notes))
    assert r.returncode == 1
    assert "$.pools.p.ca_file" in r.stderr, r.stderr


def self_signed(tmp, name, days, cn="localhost"):
    cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", days, "-subj", f"/CN={cn}", "-addext",
            f"subjectAltName=DNS:{cn}", "-keyout", key, "-out", cert)
    return cert, key


def test_check_config_warns_about_a_certificate_expiring_in_5_days(tmp_path):
    cert, key = self_signed(tmp_path, "soon", 5)
    r = run("--check-config", config_with(tmp_path, cert, key))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"warning: \$\.tls\.certificates\[0\]\.cert: the certificate expires in [45] days",
                     r.stdout), r.stdout


def expired(tmp):
    """A certificate valid only in January 2020: `openssl ca` is the CLI that
    takes explicit dates on OpenSSL 3.0 (req/x509 only take a positive -days)."""
    d = tmp / "expired-ca"
    d.mkdir()
    (d / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nnew_certs_dir = .\n"
        "serial = serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
        "[p]\ncommonName = supplied\n")
    (d / "index.txt").write_text("")
    (d / "serial").write_text("01\n")
    key, cert = d / "old.key", d / "old.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", "old.key",
                    "-out", "old.csr"], cwd=d, check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile",
                    "old.key", "-in", "old.csr", "-startdate", "20200101000000Z", "-enddate",
                    "20200201000000Z", "-out", "old.pem"], cwd=d, check=True, capture_output=True)
    return cert, key


def test_check_config_rejects_an_expired_certificate(tmp_path):
    cert, key = expired(tmp_path)
    r = run("--check-config", config_with(tmp_path, cert, key))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "$.tls.certificates[0].cert: the certificate expired on 2020-02-01 00:00:00 UTC" \
        in r.stderr, r.stderr


def test_check_config_warns_about_a_name_the_certificate_does_not_cover(tmp_path):
    cert, key = self_signed(tmp_path, "other", 30, cn="other.example.org")
    r = run("--check-config", config_with(tmp_path, cert, key))
    assert r.returncode == 0, r.stdout + r.stderr
    assert '$.tls.certificates[0].names[0]: "localhost" is not covered' in r.stdout, r.stdout


def test_check_config_rejects_a_missing_ca_file_and_a_broken_map_file(tmp_path):
    c = make_certs(tmp_path / "pki")
    path = config_with(tmp_path, c.cert, c.key, tls="implicit", ca_file=tmp_path / "nope.pem")
    r = run("--check-config", path)
    assert r.returncode == 1 and "$.pools.p.ca_file" in r.stderr, r.stderr
    cfg = json.loads(path.read_text())
    del cfg["pools"]["p"]["ca_file"]
    users = tmp_path / "users.map.json"
    users.write_text('{"users": {"a@example.com": {"pool": "p"}}, }')
    cfg["routes"]["r"] = {"type": "map", "file": str(users)}
    path.write_text(json.dumps(cfg))
    r = run("--check-config", path)
    assert r.returncode == 1 and "$.routes.r.file" in r.stderr, r.stderr


def shipped_configs():
    out = [ROOT / "config" / "mailgate.json"]
    out += sorted(p for p in (ROOT / "config" / "examples").glob("*.json")
                  if ".map." not in p.name)
    return out


@pytest.mark.parametrize("config", shipped_configs(), ids=lambda p: p.name)
def test_print_config_loads_back_to_the_same_config(config, tmp_path):
    # A copy with real certificates where the example names its files.
    work = tmp_path / "cfg"
    shutil.copytree(config.parent, work, ignore=shutil.ignore_patterns("demo"))
    c = make_certs(tmp_path / "pki")
    text = (work / config.name).read_text()
    cfg_file = work / config.name
    r = run("--print-config", cfg_file)
    for missing in re.findall(r'file "([^"]+)" does not exist', r.stderr):
        Path(missing).parent.mkdir(parents=True, exist_ok=True)
        src = c.key if "key" in Path(missing).name else c.chain
        shutil.copy(src, missing)
    r = run("--print-config", cfg_file)
    assert r.returncode == 0, r.stderr
    assert text != r.stdout
    printed = tmp_path / "printed.json"
    printed.write_text(r.stdout)
    again = run("--print-config", printed)
    assert again.returncode == 0, again.stderr
    strip = lambda s: "\n".join(l for l in s.splitlines() if not l.startswith("//"))  # noqa: E731
    assert strip(again.stdout) == strip(r.stdout)
    check = run("--check-config", printed)
    assert ": error:" not in check.stderr, check.stderr


OPTIONS = ["--config", "--check-config", "--print-config", "--version", "--help"]


def test_help_lists_every_option_and_points_to_the_reference():
    r = run("--help")
    assert r.returncode == 0
    for option in OPTIONS:
        assert option in r.stdout, option
    assert "docs/configuration.md" in r.stdout and "man 8 mailgate" in r.stdout
    # Every option --help shows is one the binary knows: unknown ones exit 2.
    assert run("--no-such-option").returncode == 2


def test_man_page_renders_with_options_and_every_documented_key():
    page = Path(build_dir()) / "mailgate.8"
    if not page.exists():
        pytest.skip(f"{page} not built (needs lowdown)")
    env = dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="0")
    r = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    text = re.sub(r".\x08", "", r.stdout)
    assert "MAILGATE(8)" in text
    options = text[text.index("OPTIONS"):text.index("SIGNALS")]
    for option in OPTIONS:
        # As typed: two ASCII hyphens, not a typographic dash.
        assert re.search(r"^\s+" + re.escape(option) + r"\b", options, re.M), option
    reference = (ROOT / "docs" / "configuration.md").read_text()
    keys = re.findall(r"^\| `([^`]+)` \|", reference, re.M)
    assert len(keys) > 50
    for key in keys:
        assert key in text, f"{key} is in docs/configuration.md but not in the man page"
