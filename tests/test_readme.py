"""The README's `$ sert ...` examples are run and compared with the output they print
(numbers included), so an example cannot go stale. Examples that need a file of the
reader's own or a pipe are left to the tests of their commands."""

import re
import shlex
from pathlib import Path

import pytest
from conftest import sert, sert_json

README = Path(__file__).resolve().parent.parent / "README.md"
# The README and the docs beside it: every `$ sert ...` example in them is run.
PAGES = (README, *sorted((README.parent / "docs").glob("*.md")))
EXAMPLE = re.compile(r"```\n\$ (sert [^\n]*)\n(.*?)\n```", re.S)
# batch and profiles check read a file of the reader's own
NEEDS_MORE = ()  # (every example runs: its files are in docs/examples/)
RATE = re.compile(r"[\d,]+ rows/s")  # (batch's summary: the rate differs run by run)


# A ```python block followed by a ```text block: the code is run and prints the text.
PYTHON_EXAMPLE = re.compile(r"```python\n(.*?)\n```\n\n```text\n(.*?)\n```", re.S)


def python_output(code: str) -> str:
    """What a README Python example prints, lines stripped of trailing blanks."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    return "\n".join(line.rstrip() for line in printed.getvalue().rstrip("\n").split("\n"))


def examples() -> list[tuple[str, str]]:
    found = [e for page in PAGES for e in EXAMPLE.findall(page.read_text(encoding="utf-8"))]
    return [(c, out) for c, out in found if "|" not in c and not c.startswith(NEEDS_MORE)]


def test_the_readme_has_examples_to_run():
    assert len(examples()) >= 9


@pytest.mark.parametrize(("command", "printed"), examples(), ids=lambda v: v[:40])
def test_a_readme_example_prints_what_the_readme_shows(command, printed):
    done = sert(*shlex.split(command)[1:], env={"COLUMNS": "80"})
    # batch exits 1 where a row failed, profiles check 2 for a bad file: the examples show both
    expected = {"sert batch": (0, 1), "sert profiles check docs/": (2,)}
    codes = next((c for start, c in expected.items() if command.startswith(start)), (0,))
    assert done.returncode in codes, done.stderr
    lines = (done.stdout + done.stderr).rstrip("\n").split("\n")
    shown = "\n".join(line.rstrip() for line in lines)
    assert RATE.sub("N rows/s", shown) == RATE.sub("N rows/s", printed)


def test_the_validation_tables_are_what_validate_prints():
    """docs/validation.md's tables are `sert validate`'s output (regenerate them with
    `python tests/readme_tables.py` after a refit)."""
    from readme_tables import current_block, tables

    assert current_block() == tables(sert_json("validate"))


def test_the_readme_python_examples_print_what_the_readme_shows():
    found = PYTHON_EXAMPLE.findall(README.read_text(encoding="utf-8"))
    assert found, "the README's 'Use it from Python' example is missing"
    for code, printed in found:
        assert python_output(code) == printed


def test_the_readme_shows_the_example_files_as_they_are():
    """`$ cat FILE` blocks (the batch example's input) print the file shipped in the repo."""
    shown = re.findall(
        r"```\n\$ cat ([^\n]+)\n(.*?)\n```", README.read_text(encoding="utf-8"), re.S
    )
    assert shown
    for path, text in shown:
        assert (README.parent / path).read_text(encoding="utf-8").rstrip("\n") == text


def test_the_quick_start_smoke_test_passes_as_written():
    """The README's smoke test: its sert command run here, its python check on the output."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```sh\n(sert [^\n]*?) \\\n  \| python3 -c '([^']*)'\n```", text)
    assert block, "the Quick start's smoke test is missing"
    done = sert(*shlex.split(block.group(1))[1:])
    import contextlib
    import io
    import sys

    with contextlib.redirect_stdout(io.StringIO()):
        saved = sys.stdin
        sys.stdin = io.StringIO(done.stdout)
        try:
            exec(block.group(2), {})
        finally:
            sys.stdin = saved


def test_every_link_of_the_readme_leads_somewhere():
    """The contents line's anchors are headings (GitHub's slugs), its files exist."""
    text = README.read_text()
    slugs = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("## ")
    }
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith("#"):
            assert target[1:] in slugs, target
        elif "://" not in target:
            assert (README.parent / target).exists(), target
