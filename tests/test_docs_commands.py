"""The README's commands and every ``bash`` block of ``docs/``, run as a reader runs them:
in order, from a scratch folder (one per page), exactly as written. A command that stops
working, or a doc that names an option or a file that is not there, fails CI here.

A line is skipped only for a reason listed in ``NOT_RUN`` (root, another machine, data
to download, an example plugin the page teaches how to write), and a reason that no
longer matches any line fails the suite, so the list cannot rot. Commands run in this
process (``parawire.cli.main``), which spares each one the start-up of Python and torch;
``run --local`` still starts real worker processes.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from parawire.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Text that marks a line not to run → why.
NOT_RUN = {
    "--min-accuracy 0.9": "the search targets of docs/search.md: every candidate trained on digits, 30+ min each",
    "search_proxy.py": "trains 30 architectures for the proxy's Kendall τ (hours on 2 cores)",
    "t2-k4-against.json": "reads the result of the 200-trial searches above (not run here)",
    "jq '.against.match.spec'": "reads the result of the 200-trial searches above (not run here)",
    "sudo ": "needs root: the testbed (its root-only tests run in ./scripts/test as root)",
    "./scripts/": "the set-up and the whole suite, of which this test is a part",
    "pip install": "installs into the environment every other test uses",
    "pytest": "the latency-suite example's own commands (tests/test_latency_suite.py runs the suite)",
    "loudzmq": "the transport plugin docs/plugins.md teaches how to write; not installed",
    "--engine nhwc": "the engine plugin docs/plugins.md teaches how to write; not installed",
    "--codec trunc": "the codec plugin docs/plugins.md teaches how to write; not installed",
    "my_net.py": "the reader's own model file",
    "cifar10:": "needs CIFAR-10 downloaded; nothing is downloaded at run time",
    "--out docs/figures/": "the measured study behind the page's figure (hours of training)",
    "testbed_resimulate.py": "a benchmark script, not a parawire command (tests/test_testbed.py replays a record with it)",
}

BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def commands(page: Path) -> list[str]:
    """The command lines of the page's ``bash`` blocks, continuations joined, comments and
    blank lines dropped."""
    lines = []
    for block in BLOCK.findall(page.read_text(encoding="utf-8")):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


def skipped_by(line: str) -> str | None:
    return next((mark for mark in NOT_RUN if mark in line), None)


def test_every_reason_to_skip_still_matches_a_line():
    lines = [line for page in PAGES for line in commands(page)]
    assert [mark for mark in NOT_RUN if not any(mark in line for line in lines)] == []
    assert len(commands(ROOT / "README.md")) >= 10


@pytest.mark.slow
@pytest.mark.timeout(900)  # the README's tour: about two minutes idle, several on a loaded 2-core machine
@pytest.mark.parametrize("page", [p for p in PAGES if any(not skipped_by(c) for c in commands(p))],
                         ids=lambda p: p.name)
def test_the_pages_commands_work_in_order(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for line in commands(page):
        if skipped_by(line):
            continue
        argv = shlex.split(line, comments=True)
        assert argv[0] in ("parawire", ".venv/bin/parawire"), (
            f"{page.name}: `{line}` is not a parawire command; make it one or list why not in NOT_RUN")
        try:
            main(argv[1:])
            code = 0
        except SystemExit as exc:
            code = exc.code
        _, err = capsys.readouterr()
        assert code in (0, None), f"{page.name}: `{line}` exited {code}: {err.strip()[-500:]}"
