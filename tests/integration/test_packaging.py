"""CMake install rules and the Debian package (CMakeLists.txt, install section).

- `cmake --install` into a scratch prefix puts the binary, the systemd unit (with
  that prefix's paths), the docs the unit's Documentation= names, and the example
  configs in place;
- the man page is installed from MAILGATE_MAN_PAGE (by default the one the build renders from docs/)
  when the file exists;
- `cpack -G DEB` builds a .deb whose files, unpacked into a scratch root, give a
  working `mailgate --version`, and whose Depends covers every shared library.

Binary: $MAILGATE_BUILD_DIR (default build) must hold a configured and built tree.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.util import sanitizer_build

ROOT = Path(__file__).resolve().parents[2]


def _build_dir():
    build = Path(os.environ.get("MAILGATE_BUILD_DIR", ROOT / "build"))
    if not (build / "mailgate").exists() or not (build / "CMakeCache.txt").exists():
        pytest.skip(f"{build} not configured and built")
    return build.resolve()


def _version():
    m = re.search(r"project\(mailgate VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text())
    return m.group(1)


def _unit_kv(text):
    kv = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, v = line.split("=", 1)
            kv.setdefault(k.strip(), []).append(v.strip())
    return kv


def _check_unit_paths(root, unit_path, prefix):
    """The unit runs the installed binary and documents with installed files."""
    kv = _unit_kv(unit_path.read_text())
    binary = f"{prefix}/bin/mailgate"
    assert kv["ExecStart"] == [f"{binary} --config /etc/mailgate/mailgate.json"]
    assert kv["ExecStartPre"] == [f"{binary} --check-config /etc/mailgate/mailgate.json"]
    assert "/usr/local/bin" not in unit_path.read_text() or prefix == "/usr/local"
    docs = kv["Documentation"][0].split()
    files = [d[len("file://"):] for d in docs if d.startswith("file://")]
    assert files, docs
    for f in files:
        assert (Path(str(root) + f)).is_file(), f"Documentation= names {f}, which is not installed"


def test_cmake_install_into_a_prefix(tmp_path):
    build = _build_dir()
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    binary = prefix / "bin" / "mailgate"
    assert os.access(binary, os.X_OK)
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and _version() in out.stdout + out.stderr
    unit = prefix / "lib" / "systemd" / "system" / "mailgate.service"
    assert unit.is_file()
    _check_unit_paths(Path("/"), unit, str(prefix))
    doc = prefix / "share" / "doc" / "mailgate"
    assert (doc / "README.md").is_file() and (doc / "runbooks.md").is_file()
    examples = sorted(p.name for p in (doc / "examples").iterdir())
    assert "bridge.json" in examples and "container.json" in examples, examples
    # The page rendered from docs/ by the build (lowdown) is installed.
    assert (build / "mailgate.8").is_file()
    assert (prefix / "share" / "man" / "man8" / "mailgate.8").read_bytes() == (build / "mailgate.8").read_bytes()


def test_man_page_is_installed_when_present(tmp_path):
    """Configure a scratch tree with MAILGATE_MAN_PAGE and install the doc
    component only (no compiling needed)."""
    _build_dir()
    page = tmp_path / "page.8"
    page.write_text('.TH MAILGATE 8\n.SH NAME\nmailgate \\- mail protocol gateway\n')
    scratch = tmp_path / "b"
    r = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(scratch), "-DMAILGATE_TESTS=OFF",
                        f"-DMAILGATE_MAN_PAGE={page}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", str(scratch), "--prefix", str(prefix),
                        "--component", "doc"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "share" / "man" / "man8" / "mailgate.8").read_text() == page.read_text()


@pytest.mark.skipif(sanitizer_build(),
                    reason="a sanitizer build links libasan/libubsan, which no release package depends on")
def test_debian_package_installs_and_runs(tmp_path):
    build = _build_dir()
    for tool in ("cpack", "dpkg-deb"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed")
    out = tmp_path / "pkg"
    r = subprocess.run(["cpack", "-G", "DEB", "-B", str(out), "--config", str(build / "CPackConfig.cmake")],
                       capture_output=True, text=True, timeout=300, cwd=build)
    assert r.returncode == 0, r.stdout + r.stderr
    (deb,) = out.glob("mailgate_*.deb")
    info = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True,
                          check=True).stdout
    fields = dict(re.findall(r"^(\S+): (.*)$", info, re.M))
    assert fields["Package"] == "mailgate"
    assert fields["Version"] == _version()
    assert fields["Architecture"] == "amd64"
    depends = {d.split()[0] for d in fields["Depends"].split(", ")}

    # postinst creates the unit's User= (a system user, no login, no home).
    ctrl = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(ctrl)], check=True)
    postinst = (ctrl / "postinst").read_text()
    assert os.access(ctrl / "postinst", os.X_OK)
    assert re.search(r"useradd --system .*mailgate", postinst.replace("\\\n", " ")), postinst
    assert subprocess.run(["sh", "-n", str(ctrl / "postinst")]).returncode == 0

    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    binary = root / "usr" / "bin" / "mailgate"
    r = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and _version() in r.stdout + r.stderr, r.stdout + r.stderr
    _check_unit_paths(root, root / "usr" / "lib" / "systemd" / "system" / "mailgate.service", "/usr")
    assert not (root / "etc").exists(), "the package must not ship /etc files (the operator's config)"

    # Every shared library the binary loads comes from a package in Depends (or
    # one of their own dependencies).
    from test_deploy_artifacts import _deps_closure
    depends = _deps_closure(sorted(depends))
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    assert "not found" not in ldd, ldd
    missing = []
    for lib in re.findall(r"=>\s+(/\S+)", ldd):
        owner = None
        for candidate in (lib, os.path.realpath(lib), re.sub(r"^/lib/", "/usr/lib/", os.path.realpath(lib))):
            q = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if q.returncode == 0:
                owner = q.stdout.split(":")[0]
                break
        if owner not in depends:
            missing.append(f"{lib} ({owner})")
    assert not missing, f"Depends lacks: {missing}"
