"""Batch input: a CSV or JSON-lines file, a pipe, or standard input, read in chunks of
rows (lists of cells), so that memory stays flat; a line that cannot be read is an error
in its row's place, never a lost row."""

import codecs
import csv
import io
import itertools
import json
import math
import os
import stat
import sys
from collections.abc import Iterator

from sert_cli.errors import InputError

CHUNK_ROWS = 5_000
# ... and at most this many cells, so that a file with thousands of columns stays small
CHUNK_CELLS = 250_000
# The longest cell read (the csv module's default is 128 KiB); a longer one is an error
# in its row's place, never a lost row.
MAX_CELL_CHARS = 16 << 20
INPUT_FORMATS = ("csv", "jsonl")
# A file's format from its name; standard input takes --input-format (default csv).
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class Unreadable(int):
    """The request key of a line that could not be read: its row number, never a request's
    (a request's key is a tuple of cells)."""


def input_format_of(path: str, given: str | None) -> str:
    """The format given, or the one the file's name says (exit 2 where neither does)."""
    if given is not None:
        given = given.strip().lower()
        if given not in INPUT_FORMATS:
            raise InputError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
        return given
    suffix = "" if path == "-" else os.path.splitext(path)[1].lower()
    if suffix == ".json":
        raise InputError(
            f"{path}: batch reads CSV or JSON lines (one object a line), not a JSON document;"
            " if the file is JSON lines, say so with --input-format jsonl"
        )
    return SUFFIXES.get(suffix, "csv")  # any other name: CSV (a JSON line there is refused)


def check_utf8(path: str) -> None:
    """Refuse a non-UTF-8 file before any output is written."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (near byte {offset + exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def open_input(path: str, checked: bool = False):
    """(text stream, binary stream for progress or None). A regular file is checked for
    UTF-8 before anything is written (unless this run `checked` it); a pipe, FIFO or
    terminal is read as it comes, and a bad byte there ends the run with an error."""
    if path == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed: nothing to read")
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), None
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if regular and not checked:
        check_utf8(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the text wrapper
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), raw if regular else None


def read_rows(
    stream, input_format: str, fields: dict[str, str] | None = None
) -> tuple[list[str], Iterator[tuple[list, dict]], int]:
    """The header, an iterator of chunks: (rows, {row index: why it could not be read}),
    and how many of the header's columns the input has. JSON lines: the first line's keys,
    then the request fields the first line does not give (`fields`: each name a key may
    have, an alias included -> its field), read from any line that has them."""
    if input_format == "csv":
        csv.field_size_limit(MAX_CELL_CHARS)
        reader = csv.reader(stream)
        try:
            header = next(reader)
            while not any(cell.strip() for cell in header):  # blank lines before it
                header = next(reader)
        except StopIteration:
            raise InputError("the input is empty: no header row") from None
        except csv.Error as exc:
            raise InputError(f"cannot read the CSV header: {exc}") from None

        if header and header[0].lstrip().startswith("{"):
            raise InputError(
                "the first line is a JSON object, not a CSV header: for JSON lines give "
                "--input-format jsonl (or name the file .jsonl)"
            )
        return header, _csv_chunks(reader, len(header)), len(header)
    first, lines = None, iter(stream)
    for line in lines:
        if line.strip():
            first = line
            break
    if first is None:
        raise InputError("the input is empty: no JSON line")
    try:
        record = _json(first)
    except ValueError as exc:
        raise InputError(f"the first JSON line is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InputError("JSON lines must be objects, one query each")
    # The keys of the first line are the columns; a request field another line has is read
    # there too, under any of its names.
    fields = fields or {}
    given = {fields.get(key.strip()) for key in record}
    header = [*record, *sorted({f for f in fields.values() if f not in given}, key=str)]
    return header, _jsonl_chunks(itertools.chain([first], lines), header, fields), len(record)


def _csv_chunks(reader, width: int) -> Iterator[tuple[list, dict]]:
    """Chunks of rows, each with its unreadable lines (index -> message): a line the csv
    module cannot read, or with more cells than the header, is an error in its place (a
    blank row), and no other row is lost with it."""
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, width)))
    rows_before = 0
    while True:
        chunk: list = []
        problems: dict[int, str] = {}
        while len(chunk) < rows_per_chunk:
            try:  # rows read before an error stay in the chunk
                chunk.extend(itertools.islice(reader, rows_per_chunk - len(chunk)))
                break
            except csv.Error as exc:
                problems[len(chunk)] = f"malformed CSV line {reader.line_num}: {exc}"
                chunk.append([])
        if [] in chunk or [""] * width in chunk:
            # blank lines, and lines of empty cells (",,," from a spreadsheet), are
            # skipped; unreadable ones keep their place
            kept = [i for i, row in enumerate(chunk) if any(row) or i in problems]
            problems = {n: problems[i] for n, i in enumerate(kept) if i in problems}
            chunk = [chunk[i] for i in kept]
        if not chunk:
            return
        if set(map(len, chunk)) - {width, 0}:  # (0: an unreadable line's place)
            for index, row in enumerate(chunk):
                if len(row) > width:  # cells with no column to go in: the row refused, its
                    # cells kept where they have one
                    problems[index] = (
                        f"row {rows_before + index + 1} has {len(row)} cells but the header {width}"
                    )
                    chunk[index] = row[:width]
                elif len(row) < width and index not in problems:
                    chunk[index] = row + [""] * (width - len(row))
        for index in problems:
            if len(chunk[index]) != width:
                chunk[index] = [""] * width
        rows_before += len(chunk)
        yield chunk, problems


def _jsonl_chunks(lines, header: list[str], fields: dict) -> Iterator[tuple[list, dict]]:
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(header))))
    known = frozenset(header)
    chunk: list = []
    problems: dict[int, str] = {}
    for text in lines:
        if not text.strip():
            continue
        try:
            record = _json(text)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            for key in [k for k in record if k not in known]:
                field = fields.get(key.strip())
                if field not in known or field in record:
                    raise ValueError(
                        f"key {key!r} is not in the first line: the first line's keys, and "
                        "the request fields, are the columns"
                    )
                record[field] = record.pop(key)
            chunk.append([record.get(h) for h in header])
        except ValueError as exc:
            problems[len(chunk)] = f"bad JSON line: {exc}"
            chunk.append([""] * len(header))
        if len(chunk) >= rows_per_chunk:
            yield chunk, problems
            chunk, problems = [], {}
    if chunk:
        yield chunk, problems


def _json(text: str):
    """A JSON line, refusing what JSON does not allow or a float cannot hold (NaN,
    Infinity, 1e400, an integer of hundreds of digits) as the line's error."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_finite_int)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large a number")
    return value


def _finite_int(text: str) -> int:
    if len(text.lstrip("-")) > 300:
        raise ValueError(f"{text[:20]}... is too large a number")
    return int(text)
