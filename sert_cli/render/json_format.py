"""JSON, the one encoder of every command and of batch: full precision, no NaN, keys in the
documented order. A command's output takes a line per item (two spaces a level), except a
list of numbers, which stays on one line: a time series of thousands of points is one line,
encoded by the C encoder. A batch line is compact."""

import json
import re

# What json.dumps leaves raw with ensure_ascii=False and a terminal may act on: C1 controls
# (U+009B is a CSI) and the bidirectional overrides and isolates (text that reads reversed).
# Escaped as \uXXXX, the JSON means the same.
_UNSAFE = re.compile("[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def render(value) -> str:
    return _indented(value, "") + "\n"


def _indented(value, indent: str) -> str:
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{_key(k)}: {_indented(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, (list, tuple)) and not all(
        v is None or isinstance(v, (int, float)) for v in value
    ):
        items = [inner + _indented(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return _plain(value)


def _key(key) -> str:
    """A key as json.dumps writes it (numbers, booleans and null become text)."""
    return _plain(key if isinstance(key, str) else _plain(key))


def _plain(value) -> str:
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    return _UNSAFE.sub(_escaped, text)  # (JSON's syntax is ASCII: only strings can match)


def _escaped(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def compact(value) -> str:
    """One line of JSON (a batch line, or a value inside a CSV cell's JSON)."""
    return _plain(value)
