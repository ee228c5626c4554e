"""The harness fails a test when the daemon wrote a sanitizer report, even
when it then exited 0 (UBSan in recover mode, a report from a thread the
process survived) or was killed: under scripts/test.sh's ASan/UBSan pass a
report is a bug whatever the test itself checked. A stand-in binary prints
the report: a real daemon cannot be made to have a bug on demand."""
import os
import stat

import pytest

from harness.mailgate import Mailgate

REPORTS = {
    "asan": "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010",
    "ubsan": "proxy/net/connection.cc:120:7: runtime error: signed integer overflow",
    "lsan": "==4242==ERROR: LeakSanitizer: detected memory leaks",
}


def _fake_daemon(tmp_path, report, token="mailgate starting"):
    path = tmp_path / ("fake-mailgate-" + token.replace(" ", "-"))
    path.write_text("#!/bin/sh\n"
                    "trap 'exit 0' TERM\n"
                    "echo '%s'\n" % token
                    + ("echo '%s' >&2\n" % report if report else "")
                    + "while :; do sleep 0.05; done\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _start(tmp_path, report):
    mg = Mailgate({"listeners": []}, tmp_path / "mg", binary=_fake_daemon(tmp_path, report))
    mg.start()
    mg.wait_for_log("mailgate starting")
    if report:
        mg.wait_for_log(report[:20])
    return mg


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_report_fails_clean_stop(tmp_path, kind):
    mg = _start(tmp_path, REPORTS[kind])
    with pytest.raises(AssertionError, match="sanitizer report"):
        mg.stop(check=False)


def test_report_fails_kill(tmp_path):
    mg = _start(tmp_path, REPORTS["asan"])
    with pytest.raises(AssertionError, match="AddressSanitizer"):
        mg.kill()


def test_clean_run_passes_and_old_reports_do_not_count(tmp_path):
    mg = _start(tmp_path, None)
    assert mg.stop() == 0
    assert mg.sanitizer_report() == ""
    # A later process in the same workdir is judged on its own output only.
    bad = _start(tmp_path, REPORTS["ubsan"])
    with pytest.raises(AssertionError):
        bad.stop()
    again = Mailgate({"listeners": []}, tmp_path / "mg",
                     binary=_fake_daemon(tmp_path, None, "third run"))
    again.start()
    again.wait_for_log("third run")
    assert again.stop() == 0
