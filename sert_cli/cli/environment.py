"""What the process gives sert to read and write through, as one value (httpie's
Environment): the standard streams, whether stdout is a terminal, the width tables are
drawn at, and whether output may carry colour and styles.

main() makes it once from the real process (or takes one from a test) and everything that
writes reads it from there, so that no renderer consults sys or os.environ on its own and a
test can give the command line its own streams and terminal.
"""

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

# What a file or a pipe gets: the width of a classic terminal (as Rich and click use).
DEFAULT_WIDTH_COLUMNS = 80
# The narrowest width drawn at: below it (COLUMNS=1, a terminal a few columns wide) tables
# would be a character a line; at 40 each still fits its longest word, and a terminal
# narrower than that wraps the lines rather than the table being cut.
MIN_WIDTH_COLUMNS = 40


@dataclass(frozen=True)
class Environment:
    stdin: TextIO | None  # None: the process was started with stdin closed
    stdout: TextIO | None  # None: stdout closed, nowhere to put the data (main refuses)
    stderr: TextIO | None
    stdout_isatty: bool
    width_columns: int  # tables (and their notes) are drawn to fit this
    colour: bool  # stdout may carry colour and styles (bold, dim)
    stderr_colour: bool = False  # the same for stderr (warnings, notes)

    @classmethod
    def of(
        cls,
        stdin: TextIO | None,
        stdout: TextIO | None,
        stderr: TextIO | None,
        environ: Mapping[str, str],
    ) -> "Environment":
        """The environment of these streams under these variables: COLUMNS (else the
        terminal's width, else 80); NO_COLOR (no-color.org: no style at all), TERM=dumb,
        FORCE_COLOR (force-color.org: styles even where not a terminal)."""
        stdout_isatty = _isatty(stdout)
        forced = environ.get("FORCE_COLOR", "") != ""
        may_style = not environ.get("NO_COLOR") and environ.get("TERM", "").lower() not in (
            "dumb",
            "unknown",
        )
        return cls(
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            stdout_isatty=stdout_isatty,
            width_columns=_width_columns((stdin, stdout, stderr), environ),
            colour=may_style and (forced or stdout_isatty),
            stderr_colour=may_style and (forced or _isatty(stderr)),
        )

    @classmethod
    def of_process(cls) -> "Environment":
        """The real process's: its standard streams and os.environ, read once."""
        return cls.of(sys.stdin, sys.stdout, sys.stderr, os.environ)


def _isatty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # closed, or not a file at all
        return False


def _width_columns(streams, environ: Mapping[str, str]) -> int:
    """COLUMNS if it is a positive whole number; else (unset, empty, 0, negative or not a
    number) the width of the first stream that is a terminal (stdin included: `sert ... |
    less` is drawn for the terminal); else 80. Never less than 40 (MIN_WIDTH_COLUMNS)."""
    columns = environ.get("COLUMNS", "").strip()
    if columns.isascii() and columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH_COLUMNS)
    for stream in streams:
        try:
            width = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # not a terminal, or no descriptor
            continue
        if width > 0:
            return max(width, MIN_WIDTH_COLUMNS)
    return DEFAULT_WIDTH_COLUMNS
