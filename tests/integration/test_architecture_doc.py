"""docs/architecture.md §3 lists which folder uses which; this holds that
table against the #include lines of the code, both ways, so the picture
cannot drift from the tree (issue 9 item 8).

    /usr/bin/python3 -m pytest tests/integration/test_architecture_doc.py -q
"""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDERS = ["proxy/mail", "proxy/codec", "proxy/tls", "proxy/net", "proxy/session", "proxy/auth",
           "proxy/cluster", "proxy/upstream", "proxy/admin", "proxy/server", "bridge/view",
           "bridge/imap_client", "bridge", "config"]
INCLUDE = re.compile(r'^#include "([^"]+)"', re.M)


def folder_of(path):
    """The documented folder a repository path belongs to (longest match)."""
    for f in sorted(FOLDERS, key=len, reverse=True):
        if path.startswith(f + "/"):
            return f
    return None


def used_by_code():
    uses = {f: set() for f in FOLDERS}
    for f in FOLDERS:
        top = os.path.join(REPO, f)
        for name in os.listdir(top):
            if not name.endswith((".cc", ".h")):
                continue
            with open(os.path.join(top, name)) as fh:
                for inc in INCLUDE.findall(fh.read()):
                    target = folder_of(inc)
                    if target and target != f:
                        uses[f].add(target)
    return uses


def documented():
    with open(os.path.join(REPO, "docs", "architecture.md")) as fh:
        text = fh.read()
    section = text[text.index("## 3. The folders"):text.index("## 4.")]
    uses = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z_/]+)` \| (.*) \|$", line)
        if not m or m.group(1) not in FOLDERS:
            continue
        uses[m.group(1)] = set(re.findall(r"`([a-z_/]+)`", m.group(2)))
    return uses


def test_every_folder_is_in_the_table():
    assert sorted(documented()) == sorted(FOLDERS)


def test_the_table_is_what_the_code_includes():
    doc, code = documented(), used_by_code()
    diffs = []
    for f in FOLDERS:
        for extra in sorted(code[f] - doc.get(f, set())):
            diffs.append("%s includes %s, which the table does not show" % (f, extra))
        for missing in sorted(doc.get(f, set()) - code[f]):
            diffs.append("the table says %s uses %s, which it does not include" % (f, missing))
    assert not diffs, "\n".join(diffs)


def test_the_layers_have_no_cycle():
    uses = used_by_code()
    state = {}

    def visit(f, path):
        if state.get(f) == "done":
            return
        assert state.get(f) != "open", "cycle: " + " -> ".join(path + [f])
        state[f] = "open"
        for g in sorted(uses[f]):
            visit(g, path + [f])
        state[f] = "done"
    for f in FOLDERS:
        visit(f, [])
