"""Batch input: a CSV or JSON-lines file, a pipe, or standard input, read in chunks of
rows (lists of cells), so that memory stays flat; a line that cannot be read is an error
in its row's place, never a lost row."""

import codecs
import collections
import csv
import functools
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
# The most columns a header may have (more stops the run before any row is read).
MAX_COLUMNS = 10_000
# The longest line read: a longer one (a file with no line break) stops the run naming
# it, read no further than this, so that memory stays bounded.
MAX_LINE_CHARS = 32 << 20
# The most lines a record may run over (a quoted cell holding line breaks, in a column no
# field reads); past it, a quote left open is its line's error and the lines after it read.
MAX_RECORD_LINES = 100
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


def check_utf8(path: str, raw, size: int) -> None:
    """Refuse a non-UTF-8 file before any output is written: its first `size` bytes, read
    from `raw` (an open binary file), which is then put back at its start."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    try:
        while offset < size and (chunk := raw.read(min(1 << 20, size - offset))):
            decoder.decode(chunk)
            offset += len(chunk)
        decoder.decode(b"", final=True)
        raw.seek(0)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (near byte {offset + exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


class _Snapshot(io.RawIOBase):
    """A regular file's bytes up to the size it had when it was opened: lines appended
    while the batch runs are not read, and a file put in its place is not either (the one
    descriptor opened stays on the file that was there)."""

    def __init__(self, raw, size: int) -> None:
        super().__init__()
        self.raw, self.left = raw, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            return 0
        with memoryview(buffer) as view:
            got = self.raw.readinto(view[: self.left]) or 0
        self.left -= got
        return got

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_input(path: str, checked: bool = False):
    """(text stream, binary stream for progress or None). A regular file is opened once,
    checked for UTF-8 before anything is written (unless this run `checked` it), and read
    as it was then (_Snapshot); a pipe, FIFO or terminal is read as it comes, and a bad
    byte there ends the run with an error."""
    if path == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed: nothing to read")
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), None
    try:
        raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed through the wrapper
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        found = os.fstat(raw.fileno())
        regular = stat.S_ISREG(found.st_mode)
        if regular and not checked:
            check_utf8(path, raw, found.st_size)
    except BaseException:
        raw.close()
        raise
    if not regular:
        return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8-sig", newline=""), None
    snapshot = io.BufferedReader(_Snapshot(raw, found.st_size), 1 << 16)
    return io.TextIOWrapper(snapshot, encoding="utf-8-sig", newline=""), raw


def read_rows(
    stream, input_format: str, fields: dict[str, str] | None = None
) -> tuple[list[str], Iterator[tuple[list, dict]], int]:
    """The header, an iterator of chunks: (rows, {row index: why it could not be read}),
    and how many of the header's columns the input has. `fields`: each name a column may
    have that a request field reads, an alias included -> its field. CSV: a quoted cell
    may hold line breaks only in a column no field reads (see _Records). JSON lines: the
    first line's keys, then the request fields the first line does not give, read from
    any line that has them."""
    fields = fields or {}
    if input_format == "csv":
        csv.field_size_limit(MAX_CELL_CHARS)
        records = _Records(stream)
        header = records.header()
        if header and header[0].lstrip().startswith("{"):
            raise InputError(
                "the first line is a JSON object, not a CSV header: for JSON lines give "
                "--input-format jsonl (or name the file .jsonl)"
            )
        _check_width(len(header))
        records.read = tuple(i for i, name in enumerate(header) if name.strip() in fields)
        rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(header))))
        rows = itertools.chain.from_iterable(records.blocks(rows_per_chunk))
        return header, _csv_chunks(rows, len(header)), len(header)
    lines = enumerate(bounded_lines(stream), 1)
    number, first = next(((n, line) for n, line in lines if line.strip()), (0, None))
    if first is None:
        raise InputError("the input is empty: no JSON line")
    try:
        record = _json(first)
    except ValueError as exc:
        raise InputError(
            f"line {number}: the first JSON line is not valid JSON ({exc}); its keys are the "
            "columns, so nothing is read without it"
        ) from None
    if not isinstance(record, dict):
        raise InputError(f"line {number}: JSON lines must be objects, one query each")
    _check_width(len(record))
    # The keys of the first line are the columns; a request field another line has is read
    # there too, under any of its names.
    given = {fields.get(key.strip()) for key in record}
    header = [*record, *sorted({f for f in fields.values() if f not in given}, key=str)]
    chunks = _jsonl_chunks(itertools.chain([(number, first)], lines), header, fields)
    return header, chunks, len(record)


def bounded_lines(stream) -> Iterator[str]:
    """The stream's lines, none read past MAX_LINE_CHARS (readline's bound, called from C:
    as fast as iterating the stream)."""
    return iter(functools.partial(stream.readline, MAX_LINE_CHARS), "")


def check_line(line: str, number: int) -> None:
    """A line as long as MAX_LINE_CHARS was cut there: the run stops, naming it."""
    if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
        raise InputError(
            f"line {number} is longer than {MAX_LINE_CHARS >> 20} Mi characters (no line "
            "break?); sert batch reads lines of at most that"
        )


def _check_width(columns: int) -> None:
    """At most MAX_COLUMNS columns: refused before any row is read."""
    if columns > MAX_COLUMNS:
        raise InputError(
            f"the header has {columns:,} columns; sert batch reads at most {MAX_COLUMNS:,}"
        )


class _Unread(list):
    """A record that could not be read, in its row's place: empty, with why."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why


class _RunsOn(Exception):
    """A record has gone on for MAX_RECORD_LINES lines: a quote left open."""


class _Lines:
    """The input's lines for the csv module, with those of the record being read kept
    (`record`; None last where the input ended inside it), so that the lines after a
    stray quote's can be read again (`again`). `number`: the last line's number."""

    __slots__ = ("source", "again", "record", "number")

    def __init__(self, stream) -> None:
        self.source = bounded_lines(stream)
        self.again: collections.deque = collections.deque()
        self.record: list = []
        self.number = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        record = self.record
        if len(record) >= MAX_RECORD_LINES:
            raise _RunsOn
        if self.again:
            line = self.again.popleft()
        else:
            try:
                line = next(self.source)
            except StopIteration:
                record.append(None)
                raise
            check_line(line, self.number + 1)
        self.number += 1
        record.append(line)
        return line

    def read_again(self) -> int:
        """The record's first line number; its other lines are read again."""
        lines = [line for line in self.record if line is not None]
        first = self.number - len(lines) + 1
        self.again.extendleft(reversed(lines[1:]))
        self.number = first
        self.record = []
        return first


class _Records:
    """A CSV's records, each a row of cells or, where the line cannot be read, an _Unread
    in its place, and every line after it read again. A stray quote runs a cell on over
    the next lines; a cell may hold line breaks in a column no field reads (a note), but
    a record over several lines is that quote's error, and its first line skipped, if:
    the input ends inside it, a column a field reads (`read`) holds a line break, its
    cells are not as many as the header's, or it runs on past MAX_RECORD_LINES lines."""

    def __init__(self, stream) -> None:
        self.lines = _Lines(stream)
        self.reader = csv.reader(self.lines)
        self.read: tuple[int, ...] = ()
        self.width = 0

    def header(self) -> list[str]:
        lines = self.lines
        while True:
            lines.record = []
            try:
                header = next(self.reader)
            except StopIteration:
                raise InputError("the input is empty: no header row") from None
            except (csv.Error, _RunsOn) as exc:
                raise InputError(
                    f"line {lines.read_again()}: cannot read the CSV header: "
                    f"{exc or 'a quote is not closed'}"
                ) from None
            if len(lines.record) > 1:
                first = lines.read_again()
                raise InputError(
                    f"line {first}: the CSV header runs on over the next line (a quote is "
                    "not closed)"
                )
            if any(cell.strip() for cell in header):  # (blank lines before it)
                self.width = len(header)
                return header

    def blocks(self, lines_per_block: int) -> Iterator[list]:
        """The records, a block of lines at a time: read whole by the csv module where
        each line is a record (the usual case, at C speed), else one record at a time."""
        lines = self.lines
        while True:
            block = list(itertools.islice(lines.source, lines_per_block))
            if not block:
                return
            if max(map(len, block)) >= MAX_LINE_CHARS:
                for number, line in enumerate(block, lines.number + 1):
                    check_line(line, number)
            try:
                rows = list(csv.reader(block))
            except csv.Error:
                rows = []
            # as many records as lines, the last one closed: no quote ran a line on
            if len(rows) == len(block) and not _open_at_end(rows[-1]):
                lines.number += len(block)
                yield rows
                continue
            lines.again.extend(block)
            yield self._one_by_one()

    def _one_by_one(self) -> list:
        """The records of the lines to read again, one at a time, and of any lines past
        them that the last one runs on into."""
        lines, rows = self.lines, []
        reader = csv.reader(lines)
        while lines.again:
            lines.record = []
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, _RunsOn) as exc:
                first = lines.read_again()
                reader = csv.reader(lines)  # (a reader starts afresh)
                if isinstance(exc, _RunsOn):
                    why = (
                        f"a quote opened on line {first} runs on over {MAX_RECORD_LINES} lines;"
                        " the line is skipped, and the lines after it are read"
                    )
                else:
                    why = f"malformed CSV line {first}: {exc}"
                rows.append(_Unread(why))
                continue
            why = None if len(lines.record) == 1 else self._run_on(row)
            if why is None:
                rows.append(row)
                continue
            first = lines.read_again()
            reader = csv.reader(lines)
            rows.append(
                _Unread(
                    f"line {first}: {why}; the line is skipped, and the lines after it are read"
                )
            )
        return rows

    def _run_on(self, row: list) -> str | None:
        """Why a record read over several lines (or to the end) is a stray quote's."""
        if self.lines.record[-1] is None:
            return "a quote is not closed before the end of the input"
        if len(row) != self.width:
            return (
                f"a quote runs the line on over {len(self.lines.record)} lines, into "
                f"{len(row)} cells for the header's {self.width}"
            )
        for index in self.read:
            if "\n" in row[index] or "\r" in row[index]:
                return (
                    f"a quote runs the line on over {len(self.lines.record)} lines, into "
                    "a column that is read"
                )
        return None


def _open_at_end(row: list) -> bool:
    """Whether a row read from a block of lines ends inside a quote (its last cell then
    holds the line's end): a record the block's end cut, or a quote left open."""
    return any("\n" in cell or "\r" in cell for cell in row)


def _csv_chunks(reader, width: int) -> Iterator[tuple[list, dict]]:
    """Chunks of rows, each with its unreadable lines (index -> message): a line that
    cannot be read (an _Unread), or with more cells than the header, is an error in its
    place (a blank row), and no other row is lost with it."""
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, width)))
    rows_before = 0
    blank = [""] * width
    while True:
        chunk = list(itertools.islice(reader, rows_per_chunk))
        if not chunk:
            return
        problems: dict[int, str] = {}
        if [] in chunk or blank in chunk:
            # blank lines, and lines of empty cells (",,," from a spreadsheet), are
            # skipped; unreadable ones keep their place
            chunk = [row for row in chunk if any(row) or type(row) is _Unread]
            problems = {i: row.why for i, row in enumerate(chunk) if type(row) is _Unread}
            if not chunk:
                continue
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
    """Chunks of rows from numbered lines; a line that cannot be read is its row's error,
    naming its line."""
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(header))))
    known = frozenset(header)
    chunk: list = []
    problems: dict[int, str] = {}
    for number, text in lines:
        check_line(text, number)
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
            problems[len(chunk)] = f"bad JSON line {number}: {exc}"
            chunk.append([""] * len(header))
        if len(chunk) >= rows_per_chunk:
            yield chunk, problems
            chunk, problems = [], {}
    if chunk:
        yield chunk, problems


def _json(text: str):
    """A JSON line, refusing what JSON does not allow or a float cannot hold (NaN,
    Infinity, 1e400, an integer of hundreds of digits), a key given twice, or nesting
    deeper than Python's stack, as the line's error (a ValueError)."""
    try:
        return json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_finite_int,
            object_pairs_hook=_once_each,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _once_each(pairs: list) -> dict:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"key {twice!r} is given twice")
    return record


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
