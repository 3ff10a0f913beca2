"""Rewrite the output under each README `$ sert ...` example with what the command prints
at 80 columns (what tests/test_readme.py compares). Run after a change that moves numbers:
`python tests/readme_examples.py`, then read the diff."""

import os
import re
import shlex
import subprocess
import sys

from test_readme import EXAMPLE, NEEDS_MORE, README


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


if __name__ == "__main__":
    README.write_text(EXAMPLE.sub(rewrite, README.read_text(encoding="utf-8")), encoding="utf-8")
