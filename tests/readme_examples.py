"""Rewrite the output under each README and docs/*.md `$ sert ...` example with what the
command prints at 80 columns, and the ```text block under each ```python example with what
the code prints (what tests/test_readme.py compares). Run after a change that moves numbers:
`python tests/readme_examples.py`, then read the diff."""

import os
import re
import shlex
import subprocess
import sys

from test_readme import EXAMPLE, NEEDS_MORE, PAGES, PYTHON_EXAMPLE, README


def output(command: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "TERMINAL_WIDTH": "80"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "sert_cli", *shlex.split(command)[1:]],
        capture_output=True,
        text=True,
        env=env,
        cwd=README.parent,
    )
    lines = (done.stdout + done.stderr).rstrip("\n").split("\n")
    return "\n".join(line.rstrip() for line in lines)


def rewrite(match: re.Match) -> str:
    command = match.group(1)
    if "|" in command or command.startswith(NEEDS_MORE):
        return match.group(0)
    return f"```\n$ {command}\n{output(command)}\n```"


def rewrite_python(match: re.Match) -> str:
    """The code run from the repository's root (its sert_cli), in a fresh interpreter."""
    code = match.group(1)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=README.parent
    )
    if done.returncode != 0:
        raise SystemExit(f"a README Python example fails:\n{done.stderr}")
    lines = done.stdout.rstrip("\n").split("\n")
    printed = "\n".join(line.rstrip() for line in lines)
    return f"```python\n{code}\n```\n\n```text\n{printed}\n```"


if __name__ == "__main__":
    for page in PAGES:  # the README and docs/*.md
        text = EXAMPLE.sub(rewrite, page.read_text(encoding="utf-8"))
        page.write_text(PYTHON_EXAMPLE.sub(rewrite_python, text), encoding="utf-8")
