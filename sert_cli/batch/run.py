"""`sert batch`: many queries in one process, streamed, nothing lost.

Rows are read and written in chunks, so memory stays flat. Each distinct request (drug,
dose or target, phenotypes, genotypes, co-medications, interval) is computed once: rows
are grouped by drug and computed together as numpy arrays, each with its patient's CL/F,
through the same core functions the single-query commands use, and the formatted result is
reused for every row that asks the same thing. A bad row gets an `error` and never stops
the run (unless --strict).
"""

import codecs
import contextlib
import csv
import functools
import gc
import io
import itertools
import json
import math
import operator
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from sert_cli.batch import workers
from sert_cli.batch.workers import RowError
from sert_cli.errors import InputError, SertError
from sert_cli.pgx.patient import RECORD_FIELDS, Patient, Prepared
from sert_cli.profiles.library import Library
from sert_cli.queries.engine import Engine
from sert_cli.queries.results import Column, per_row, row_of
from sert_cli.queries.values import DoseQuery, OccupancyQuery, TdmQuery
from sert_cli.render.csv_format import FORMULA_PREFIXES, flatten, item_text, safe_cell
from sert_cli.vocabulary import GENES, HOURS_PER_DAY

encode_string = json.encoder.encode_basestring  # the C encoder where there is one

CHUNK_ROWS = 5_000
# ... and at most this many cells, so that a file with thousands of columns stays small
CHUNK_CELLS = 250_000
# The longest cell read (the csv module's default is 128 KiB); a longer one is an error
# in its row's place, never a lost row.
MAX_CELL_CHARS = 16 << 20
CACHE_LIMIT = 50_000  # distinct requests kept (>= CHUNK_ROWS); emptied past this
# Plans asked for once are kept apart, at most this many, until a later chunk asks again:
# a file of distinct requests keeps few.
FRESH_LIMIT = 2 * CHUNK_ROWS
# Patients kept with their encoded parts (shapes, CSV cells), each made on a patient's
# second request: a file where every row is another patient keeps none.
SHAPE_LIMIT = 20_000
OUTPUT_BUFFER = 1 << 20  # bytes: one write call per megabyte of lines
PIECES_PER_WRITE = 120  # joined first: tens of kB, memory the allocator reuses
INPUT_FORMATS = ("csv", "jsonl")
OUTPUT_FORMATS = ("csv", "jsonl", "json")
REQUEST_COLUMNS = (
    "drug",
    "dose_mg",
    "target",
    "transporter",
    "interval_h",
    "with",
    "age",
    "crcl",
    "hepatic",
    "sex",
    "smoker",
    "level_ng_ml",
    "hours_after_dose",
)
TDM_COLUMN = "level_ng_ml"  # a row with a measured level is a `tdm` query
PATIENT_COLUMNS = (*GENES, "with", "age", "crcl", "hepatic", "sex", "smoker")


@dataclass
class Summary:
    read: int = 0
    computed: int = 0
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.read / self.seconds if self.seconds > 0 else 0.0
        return (
            f"sert batch: {self.read} rows read, {self.computed} computed, {self.errors} "
            f"with errors, {rate:,.0f} rows/s"
        )


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


def read_rows(stream, input_format: str) -> tuple[list[str], Iterator[list[list]]]:
    """The header and an iterator of chunks of rows (lists of strings, or a ValueError
    for a line that cannot be read)."""
    if input_format == "csv":
        csv.field_size_limit(MAX_CELL_CHARS)
        reader = csv.reader(stream)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("the input is empty: no header row") from None
        except csv.Error as exc:
            raise InputError(f"cannot read the CSV header: {exc}") from None

        return [h.strip() for h in header], _csv_chunks(reader, len(header))
    first, lines = None, iter(stream)
    for line in lines:
        if line.strip():
            first = line
            break
    if first is None:
        raise InputError("the input is empty: no JSON line")
    try:
        record = json.loads(first)
    except ValueError as exc:
        raise InputError(f"the first JSON line is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InputError("JSON lines must be objects, one query each")
    # The query columns are read from every line even when the first one lacks them.
    header = list(record)
    header += [c for c in (*REQUEST_COLUMNS, *GENES) if c not in header]
    return header, _jsonl_chunks(itertools.chain([first], lines), header)


def _csv_chunks(reader, width: int) -> Iterator[tuple[list, dict]]:
    """Chunks of rows, each with its unreadable lines (index -> message): a line the csv
    module cannot read, or with more cells than the header, is an error in its place (a
    blank row), and no other row is lost with it."""
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, width)))
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
        if [] in chunk:  # blank lines are skipped (and unreadable ones keep their place)
            kept = [i for i, row in enumerate(chunk) if row or i in problems]
            problems = {n: problems[i] for n, i in enumerate(kept) if i in problems}
            chunk = [chunk[i] for i in kept]
        if not chunk:
            return
        if set(map(len, chunk)) - {width, 0}:  # (0: an unreadable line's place)
            for index, row in enumerate(chunk):
                if len(row) > width:  # cells with no column to go in: refuse, lose nothing
                    problems[index] = f"the line has {len(row)} cells but the header {width}"
                elif len(row) < width and index not in problems:
                    chunk[index] = row + [""] * (width - len(row))
        for index in problems:
            chunk[index] = [""] * width
        yield chunk, problems


def _jsonl_chunks(lines, header: list[str]) -> Iterator[tuple[list, dict]]:
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(header))))
    chunk: list = []
    problems: dict[int, str] = {}
    for text in lines:
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            chunk.append([record.get(h) for h in header])
        except ValueError as exc:
            problems[len(chunk)] = f"bad JSON line: {exc}"
            chunk.append([""] * len(header))
        if len(chunk) >= rows_per_chunk:
            yield chunk, problems
            chunk, problems = [], {}
    if chunk:
        yield chunk, problems


class Rows:
    """Batch rows as queries: each distinct request (the query columns of a row) is parsed
    into a query value once, answered by the one query engine, and its output kept."""

    def __init__(
        self, library: Library, header: list[str], affinity: str, assume_nm: bool, typed: bool
    ):
        self.engine, self.affinity, self.assume_nm = Engine(library), affinity, assume_nm
        lowered = [h.strip().lower() for h in header]
        if "drug" not in lowered:
            raise InputError(f"the input has no 'drug' column (columns: {', '.join(header)})")
        self.columns = {c: lowered.index(c) for c in REQUEST_COLUMNS if c in lowered}
        self.columns.update(
            {g: i for i, h in enumerate(header) for g in GENES if h.strip().upper() == g}
        )
        self.names = {c: header[i].strip() for c, i in self.columns.items()}
        index = tuple(self.columns.values())
        self.key = tuple_getter(index)
        if typed:  # JSON values such as lists cannot be keys: they become an error
            self.key = lambda row: tuple(_hashable(row[i]) for i in index)
        self.fields = tuple(self.columns)
        self.typed = typed
        # a request's patient cells, the key of its parsed patient
        self.patient_key = tuple_getter(
            tuple(n for n, field in enumerate(self.fields) if field in PATIENT_COLUMNS)
        )
        self.patients: dict[tuple, Patient] = {}

    def column_of(self, field: str) -> str:
        """A field as batch names it: its column, or the option that set it."""
        if field == "assume_nm":
            return "--assume-nm"
        if field == "patient":
            return "the patient's columns"
        if field == "level":
            field = TDM_COLUMN
        return f"column {self.names.get(field, field)}"

    def resolve(self, keys) -> dict:
        """The result of each key (or its error, as a record), all through one call of the
        engine."""
        results, queries, pending = {}, [], []
        for key in keys:
            try:
                queries.append(self.query(key))
                pending.append(key)
            except SertError as exc:
                results[key] = {"error": exc.worded(self.column_of)}
        for key, answer in zip(pending, self.engine.answer_many(queries), strict=True):
            if isinstance(answer, SertError):
                answer = {"error": answer.worded(self.column_of)}
            results[key] = answer
        return results

    def query(self, key: tuple):
        cells = dict(zip(self.fields, key, strict=True))
        if self.typed:
            for field, value in cells.items():
                if value is not None and not isinstance(value, (str, int, float)):
                    raise InputError("expected text or a number", field=field)
        drug = _text(cells.get("drug"))
        if not drug:
            raise InputError("missing drug", field="drug")
        patient = self.patient(cells, self.patient_key(key))
        interval = _number(cells.get("interval_h"), "interval_h")
        dose = _number(cells.get("dose_mg"), "dose_mg")
        level = _number(cells.get(TDM_COLUMN), TDM_COLUMN)
        if level is not None:
            if dose is None:
                raise InputError("a measured level needs the dose taken", field="dose_mg")
            after = _number(cells.get("hours_after_dose"), "hours_after_dose")
            return TdmQuery(drug, dose, level, after, interval, patient, self.affinity)
        if dose is not None:
            return OccupancyQuery(drug, dose, interval, patient, self.affinity)
        target = _number(cells.get("target"), "target")
        transporter = _text(cells.get("transporter"))
        return DoseQuery(
            drug,
            *(() if target is None else (target,)),
            **({"transporter": transporter} if transporter else {}),
            interval_h=interval,
            patient=patient,
            affinity=self.affinity,
        )

    def patient(self, cells: dict, key: tuple) -> Patient:
        """The patient of a row's cells (key: its patient cells), parsed once for all the
        rows that share them."""
        found = self.patients.get(key)
        if found is not None:
            return found
        phenotypes, genotypes = [], []
        for gene in GENES:
            value = _text(cells.get(gene))
            if value:
                (genotypes if ("*" in value or "/" in value) else phenotypes).append((gene, value))
        comedications = tuple(
            w.strip() for w in re.split(r"[;|]", _text(cells.get("with"))) if w.strip()
        )
        found = Patient(
            phenotypes=tuple(phenotypes),
            genotypes=tuple(genotypes),
            comedications=comedications,
            assume_nm=self.assume_nm,
            age_years=_number(cells.get("age"), "age"),
            crcl_ml_min=_number(cells.get("crcl"), "crcl"),
            hepatic=_text(cells.get("hepatic")) or None,
            sex=_text(cells.get("sex")) or None,
            smoker=_yes_no(cells.get("smoker"), "smoker"),
        )
        if len(self.patients) >= CACHE_LIMIT:
            self.patients.clear()
        self.patients[key] = found
        return found


def tuple_getter(indices: tuple[int, ...]):
    """items -> the tuple of the items at these indices, at C speed."""
    if len(indices) > 1:
        return operator.itemgetter(*indices)
    if indices:
        getter = operator.itemgetter(*indices)
        return lambda items: (getter(items),)
    return lambda items: ()


def _hashable(value):
    return value if isinstance(value, (str, int, float, type(None))) else ("json", repr(value))


def _text(value) -> str:
    return "" if value is None else str(value).strip()


YES = ("yes", "y", "true", "1", "smoker")
NO = ("no", "n", "false", "0", "non-smoker", "nonsmoker")


def _yes_no(value, field: str) -> bool | None:
    """A cell as yes or no: JSON true and false as they are; empty is None (not given)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in YES or text in NO:
        return text in YES
    raise InputError(f"{str(value).strip()!r}: yes or no", field=field)


def _number(value, field: str) -> float | None:
    """A cell as a number: JSON numbers as they are, text parsed; empty is None."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise InputError(f"{value!r} is not a number", field=field)
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{text!r} is not a number", field=field) from None


def line_template(
    cells: list[str], free: tuple[int, ...], sep: str, head: str, tail: str, prefixes=()
) -> tuple[bytes, ...]:
    """The line head + sep.join(cells) + tail as the bytes around its free cells (the cells
    copied from each row, "" in cells; each goes after its prefix, if any). The line is
    parts[0] + free_0 + parts[1] + free_1 + ... + parts[-1]."""
    line = head + sep.join(cells) + tail
    before = list(itertools.accumulate(map(len, cells), initial=len(head)))
    parts, begin = [], 0
    for n, index in enumerate(free):
        at = before[index] + index * len(sep)
        parts.append(_utf8(line[begin:at] + (prefixes[n] if prefixes else "")))
        begin = at
    parts.append(_utf8(line[begin:]))
    return tuple(parts)


class Plan(NamedTuple):
    """A distinct request's output: its line around the free cells, and its error."""

    free: tuple[int, ...]  # the row's cells that go into the line, in order
    parts: tuple[bytes, ...]
    error: str | None


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")


def _utf8_cells(cells: list[str]) -> list[bytes]:
    """Many short texts encoded at once (one call, split again) when no text holds the
    separator."""
    joined = "\x1f".join(cells)
    if joined.count("\x1f") == len(cells) - 1:
        return _utf8(joined).split(b"\x1f") if cells else []
    return [_utf8(c) for c in cells]


class Shape(NamedTuple):
    """The line of every result of one shape (see queries.results.per_row): per part of
    the line around the free cells, a bytes format with a %s for each number and the
    getter of those numbers' texts (in the order of `names`, the numbers' leaves)."""

    patient: Prepared  # kept, so that the id in the shape's key is not reused
    free: tuple[int, ...]
    formats: tuple[tuple, ...]
    names: tuple[tuple, ...]

    def fill(self, texts: tuple[bytes, ...]) -> tuple[bytes, ...]:
        return tuple(line % get(texts) for line, get in self.formats)


def _leaves(record: dict, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """(path, value) of each leaf of a record: dicts are walked into, all else is a leaf
    (a list is one cell in CSV, one value in JSON)."""
    for key, value in record.items():
        if type(value) is dict:
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def _marked(record: dict, slots: Iterator[str]) -> dict:
    """The record with the next slot's text in place of each leaf (in _leaves order)."""
    return {k: _marked(v, slots) if type(v) is dict else next(slots) for k, v in record.items()}


def _has_column(value) -> bool:
    kind = type(value)
    if kind is Column:
        return True
    if kind is list:
        return any(map(_has_column, value))
    if kind is dict:
        return any(map(_has_column, value.values()))
    return False


def _leaf_cell(value) -> str:
    """A leaf of a record (not a dict) as its CSV cell, as flatten and csv.writer make it."""
    if value is None:
        return ""
    if type(value) is list:
        return _encoded_text("; ".join(map(item_text, value)))
    return _value_cell(value)


def _json_leaf(value) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


class Output:
    """Batch output as bytes: the part of a line that depends only on the request is
    encoded once per distinct request (a Plan); the input's other cells are filled in row
    by row. A result's line is its shape's (encoded once per shape) with its own numbers
    in their slots, turned to text a column at a time over a group of the engine. At most
    CACHE_LIMIT plans asked for again, FRESH_LIMIT others and SHAPE_LIMIT shapes are kept."""

    SLOT = "\0sert-slot-{}\0"  # a number's place in a shape's line, while it is made
    MARKER: re.Pattern  # the encoded slot, its number a group

    def __init__(self, out, header: list[str], request_columns):
        self.out, self.header = out, header
        self.request = tuple(request_columns)  # in the order of a request's key
        self.in_request = frozenset(self.request)
        self.plans: dict[tuple, Plan] = {}  # asked for in two chunks or more
        self.fresh: dict[tuple, Plan] = {}  # made, not asked for again yet
        self.shapes: dict[tuple, Shape | None] = {}
        self.seen: set[tuple] = set()  # shapes asked for once
        self.shape_cells: dict[type, object] = {}  # request key -> its cells in a shape's key
        self.leaf_names: dict[tuple, tuple] = {}  # the numbers' leaves of each kind of result

    def plans_for(self, requests: list[tuple]) -> dict[tuple, Plan]:
        """The plans of a chunk's new requests, (key, row, result or error record) each,
        also kept for the chunks to come. Results whose shape is made are taken a group
        of the engine at a time (see queries.results.Column)."""
        if len(self.fresh) + len(requests) > FRESH_LIMIT:
            self.fresh.clear()
        made, groups = {}, {}
        for key, row, found in requests:
            shape_key = self.shape_key(key, found)
            shape = None if shape_key is None else self.shape_of(shape_key, row, found)
            if shape is None:
                made[key] = self.whole(row, found)
            else:
                groups.setdefault(found.column_group(), []).append((key, row, found, shape))
        for members in groups.values():
            results = [result for _, _, result, _ in members]
            names, rows = self.number_texts(results)
            for (key, row, result, shape), texts in zip(members, rows, strict=True):
                if shape.names is names:
                    made[key] = Plan(shape.free, shape.fill(texts), None)
                else:  # (numbers that do not fit the shape)
                    made[key] = self.whole(row, result)
        self.fresh.update(made)
        return made

    def recall(self, keys: list, found: list, missing: list[int]) -> list[int]:
        """Each plan missing from `found` looked up among those made once (one found there
        is kept for good, at most CACHE_LIMIT of them); the indices still missing."""
        if not self.fresh:
            return missing
        fresh, plans, still = self.fresh, self.plans, []
        for index in missing:
            key = keys[index]
            plan = plans.get(key) or fresh.pop(key, None)
            if plan is None:
                still.append(index)
            else:
                if len(plans) >= CACHE_LIMIT:
                    plans.clear()
                plans[key] = found[index] = plan
        return still

    def whole(self, row: list, found) -> Plan:
        """The plan of an error (a record) or of a result encoded whole."""
        if type(found) is dict:
            return Plan(*self.template(row, found, None), found.get("error"))
        return Plan(*self.template(row, {**found.record(), "error": None}, found.prepared), None)

    def shape_key(self, request: tuple, found) -> tuple | None:
        """What a result's line is made once for: its shape (see queries.results.per_row)
        and the request's cells that show none of its numbers; None for an error or a
        result that has no shape."""
        if type(found) is dict or not hasattr(found, "shape"):
            return None
        cells = self.shape_cells.get(type(found))
        if cells is None:
            shown = self.number_columns(per_row(found))
            kept = tuple(n for n, i in enumerate(self.request) if i not in shown)
            cells = self.shape_cells[type(found)] = tuple_getter(kept)
        return found.shape(), cells(request)

    def shape_of(self, key: tuple, row: list, result) -> Shape | None:
        """The result's shape, made on its second request; None before that."""
        shape = self.shapes.get(key, False)
        if shape is False or (shape is not None and shape.patient is not result.prepared):
            if key not in self.seen:  # a shape pays from its second request on
                if len(self.seen) >= CACHE_LIMIT:
                    self.seen.clear()
                self.seen.add(key)
                return None
            if len(self.shapes) >= SHAPE_LIMIT:
                self.shapes.clear()
            shape = self.shapes[key] = self.make_shape(row, result)
        return shape

    def make_shape(self, row: list, result) -> Shape | None:
        """The shape's line, from the whole record with a slot in each number's place;
        None if a slot is found more than once (an input cell that holds its marker)."""
        record = result.record()
        numbers = per_row(result, record)
        names = self.canonical(tuple(path for path, _ in _leaves(numbers)))
        slots = map(self.SLOT.format, itertools.count())
        record = {**record, **_marked(numbers, slots), "error": None}
        free, parts = self.template(row, record, result.prepared)
        split = [self.MARKER.split(part) for part in parts]
        found = [int(n) for pieces in split for n in pieces[1::2]]
        if len(set(found)) != len(found) or not set(found) <= set(range(len(names))):
            return None
        formats = []
        for pieces in split:
            line = b"".join(
                p.replace(b"%", b"%%") if i % 2 == 0 else b"%s" for i, p in enumerate(pieces)
            )
            formats.append((line, tuple_getter(tuple(map(int, pieces[1::2])))))
        return Shape(result.prepared, free, tuple(formats), names)

    def number_texts(self, results: list) -> tuple[tuple, list[tuple[bytes, ...]]]:
        """The names of the numbers' leaves of results of one group, and each result's
        texts of them (the columns of queries.results, turned to text column by column)."""
        record = type(results[0]).columns(results)
        fixed = results[0].SHAPE_FIELDS
        leaves = [(path, value) for path, value in _leaves(record) if path[0] not in fixed]
        columns = [_utf8_cells(self.texts(value, len(results))) for _, value in leaves]
        return self.canonical(tuple(path for path, _ in leaves)), list(zip(*columns, strict=True))

    def canonical(self, names: tuple) -> tuple:
        """The one tuple of these names (compared by identity, row by row)."""
        return self.leaf_names.setdefault(names, names)

    def float_column(self, value) -> bool:
        return type(value) is Column and not set(map(type, value)) - {float} and self.plain(value)

    def texts(self, value, rows: int) -> list[str]:
        """The texts of a leaf of a columns() record, one per row: a column of floats or
        of lists of texts (or a list of float columns) at C speed, the rest value by
        value."""
        if type(value) is Column:
            kinds = set(map(type, value))
            if kinds == {float} and self.plain(value):
                return list(map(float.__repr__, value))
            if kinds == {list}:
                with contextlib.suppress(TypeError):  # (an item that is not a text)
                    return list(map(self.text_list, value))
            return list(map(self.leaf, value))
        if type(value) is list and value and all(map(self.float_column, value)):
            items = zip(*(map(float.__repr__, v) for v in value), strict=True)
            return list(map(self.float_list, items))
        if _has_column(value):  # (a list of records: a row at a time)
            return [self.leaf(row_of(value, row)) for row in range(rows)]
        return [self.leaf(value)] * rows

    def lines_written_elsewhere(self) -> None:
        """Lines of this output were written by another process (a worker)."""
        self.first = False

    def free_columns(self, replaced) -> tuple[int, ...]:
        return tuple(
            i for i in range(len(self.header)) if i not in self.in_request and i not in replaced
        )

    def write(self, rows: list[list], plans: list[Plan]) -> None:
        """The chunk's lines, each its plan's parts around its row's free cells, written
        in blocks of a few dozen lines: whole lines made one by one, or a chunk's megabytes
        joined, would cost more than the rest of the batch (fresh memory every time)."""
        frees = set(map(_free_of, plans))
        free = frees.pop() if len(frees) == 1 else None
        if free is not None and len(free) == 1:  # (at C speed: the same one free cell)
            cells = list(map(operator.itemgetter(*free), rows))
        elif free is not None:
            cells = list(itertools.chain.from_iterable(map(tuple_getter(free), rows)))
        else:
            cells = [row[i] for row, plan in zip(rows, plans, strict=True) for i in plan.free]
        cells = self.encode_free(cells)
        parts = list(map(_parts_of, plans))
        if set(map(len, parts)) == {2}:  # one free cell a row (an id)
            first, last = operator.itemgetter(0), operator.itemgetter(1)
            lines = zip(map(first, parts), cells, map(last, parts), strict=True)
        else:
            free = iter(cells)
            lines = [
                (p.parts[0], *itertools.chain.from_iterable((next(free), q) for q in p.parts[1:]))
                for p in plans
            ]
        pieces = list(itertools.chain.from_iterable(self.separated(lines)))
        for start in range(0, len(pieces), PIECES_PER_WRITE):
            self.out.write(b"".join(pieces[start : start + PIECES_PER_WRITE]))


class CsvOutput(Output):
    """Input cells (formula-safe) with result cells in place of same-named columns, then
    the result columns."""

    def __init__(self, out, header: list[str], fields: list[str], typed: bool, request_columns):
        super().__init__(out, header, request_columns)
        lowered = [h.lower() for h in header]
        self.typed = typed
        self.patients: dict[int, tuple[Prepared, dict]] = {}
        self.replaced = {i: name for i, name in enumerate(lowered) if name in fields}
        self.extra = [f for f in fields if f not in lowered]
        self.out.write(_utf8(self.encode([*header, *self.extra]) + "\n"))

    @staticmethod
    def encode(cells) -> str:
        """csv.writer's line (minimal quoting), formula-safe."""
        if len(cells) == 1:  # csv's own rules for a lone cell (an empty one is quoted)
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cells[0])])
            return buffer.getvalue()[:-2]
        return ",".join(_encoded_cells(cells))

    MARKER = re.compile(rb"\x00sert-slot-(\d+)\x00")

    def template(self, row: list, result: dict, patient: Prepared | None):
        """The line's parts."""
        if len(result) == 1 and self.extra[-1:] == ["error"]:
            return self.error_template(row, result["error"])
        if patient is None:
            flat = flatten(result)
        else:  # the patient's part of the record is flattened once for all its rows
            flat = flatten({k: v for k, v in result.items() if k not in RECORD_FIELDS})
            flat.update(self.patient_cells(patient))
        # error rows keep their input cells; others show the result's in same-named columns
        replaced = self.replaced if result.get("error") is None else {}
        free = self.free_columns(replaced)
        values = [
            "" if i in free else flat.get(replaced[i], "") if i in replaced else row[i]
            for i in range(len(self.header))
        ] + [flat.get(f, "") for f in self.extra]
        if len(values) == 1 and not free:
            return free, (_utf8(self.encode([_cell(values[0])]) + "\n"),)
        return free, line_template(_csv_cells(values), free, ",", "", "\n")

    def error_template(self, row: list, message: str):
        """An error's line: the input's cells, empty result cells, then the error."""
        free = self.free_columns({})
        cells = _csv_cells(["" if i in free else row[i] for i in range(len(self.header))])
        cells.append("," * (len(self.extra) - 1) + _encoded_cell(message))
        return free, line_template(cells, free, ",", "", "\n")

    def number_columns(self, numbers: dict) -> set[int]:
        names = flatten(numbers)
        return {i for i, name in self.replaced.items() if name in names}

    leaf = staticmethod(_leaf_cell)

    @staticmethod
    def plain(_floats: Column) -> bool:  # a float's cell is its repr, always
        return True

    @staticmethod
    def text_list(texts: list[str]) -> str:
        return _encoded_text("; ".join(texts))

    float_list = text_list

    def patient_cells(self, patient: Prepared) -> dict:
        found = self.patients.get(id(patient))
        if found is None or found[0] is not patient:  # (kept: its id is not reused)
            if len(self.patients) >= SHAPE_LIMIT:
                self.patients.clear()
            found = self.patients[id(patient)] = patient, flatten(patient.record())
        return found[1]

    def encode_free(self, cells: list) -> list[bytes]:
        if self.typed:  # JSON-lines input: numbers and the like become their text
            cells = [_cell(v) for v in cells]
        return _utf8_cells(_encoded_cells(cells, "\x1f"))

    @staticmethod
    def separated(lines: list[tuple]) -> list[tuple]:
        return lines

    def close(self) -> None:
        pass


def _csv_cells(values: list) -> list[str]:
    """Values as csv.writer writes them, formula-safe: checked all at once where all are
    texts (an input row's cells), else one by one."""
    if set(map(type, values)) == {str}:
        return _encoded_cells(values)
    return list(map(_value_cell, values))


def _encoded_cells(cells: list[str], sep: str = ",") -> list[str]:
    """Cells as csv.writer writes them: as they are when none needs quoting or looks like
    a formula (one check over the cells joined by sep), else one by one."""
    joined = sep.join(cells)
    if (
        joined.count(",") == (len(cells) - 1 if sep == "," else 0)
        and '"' not in joined
        and "\n" not in joined
        and "\r" not in joined
        and not joined.startswith(FORMULA_PREFIXES)
        and not any(sep + prefix in joined for prefix in FORMULA_PREFIXES)
    ):
        return cells
    return [c if _plain_number(c) else _encoded_cell(c) for c in cells]


# a number as str() writes it: never quoted (and numbers rarely repeat: no cache for them)
_plain_number = re.compile(r"[0-9][0-9.e+-]*\Z").match


def _encoded_text(cell: str) -> str:
    """One CSV cell as csv.writer (minimal quoting, "\\r\\n" lines) writes it, formula-safe."""
    cell = safe_cell(cell)
    if "," in cell or '"' in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


# long texts (guidance, notes) repeat from row to row, so each is encoded once
_encoded_cell = functools.lru_cache(maxsize=1 << 16)(_encoded_text)


def _value_cell(value) -> str:
    """A value as csv.writer writes it, formula-safe: a number as str() writes it (never
    quoted, and no formula), anything else as its text, encoded."""
    if type(value) is str:
        return _encoded_cell(value)
    if type(value) in (float, int, bool):
        return str(value)
    return _encoded_cell(_cell(value))


def _cell(value) -> str:
    return "" if value is None else str(value)


def _json_value(value) -> str:
    return encode_string(value) if type(value) is str else json.dumps(value, allow_nan=False)


class JsonOutput(Output):
    """JSON lines, or one JSON array: input columns (their JSON types kept), then the
    result fields (which replace input columns of the same name), then `error`."""

    def __init__(self, out, header: list[str], as_array: bool, request_columns):
        super().__init__(out, header, request_columns)
        self.as_array, self.first = as_array, True
        self.names = [json.dumps(h, ensure_ascii=False) + ": " for h in header]
        if as_array:
            out.write(b"[")

    MARKER = re.compile(rb'"\\u0000sert-slot-(\d+)\\u0000"')

    def template(self, row: list, result: dict, _patient):
        """The line's parts."""
        replaced = frozenset(i for i, h in enumerate(self.header) if h in result)
        free = self.free_columns(replaced)
        kept = [i for i in range(len(self.header)) if i not in replaced]
        cells = ["" if i in free else self.names[i] + _json_value(row[i]) for i in kept]
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)[1:-1]
        end = "}" if self.as_array else "}\n"
        return free, line_template(
            cells,
            tuple(kept.index(i) for i in free),
            ", ",
            "{",
            (", " if cells else "") + text + end,
            [self.names[i] for i in free],
        )

    @staticmethod
    def encode_free(cells: list) -> list[bytes]:
        return _utf8_cells([_json_value(v) for v in cells])

    def number_columns(self, numbers: dict) -> set[int]:
        return {i for i, h in enumerate(self.header) if h in numbers}

    leaf = staticmethod(_json_leaf)

    @staticmethod
    def plain(floats: Column) -> bool:  # a finite float's JSON is its repr
        return all(map(math.isfinite, floats))

    @staticmethod
    def text_list(texts: list[str]) -> str:
        return "[" + ", ".join(map(encode_string, texts)) + "]"

    @staticmethod
    def float_list(texts: tuple[str, ...]) -> str:
        return "[" + ", ".join(texts) + "]"

    def separated(self, lines: list[tuple]):
        """JSON lines as they are; array elements each after a comma (the first after
        the opening bracket)."""
        if not self.as_array or not lines:
            return lines
        separators = itertools.repeat((b",\n",))
        if self.first:
            separators = itertools.chain([(b"\n",)], separators)
            self.first = False
        return itertools.chain.from_iterable(zip(separators, lines, strict=False))

    def close(self) -> None:
        if self.as_array:
            self.out.write(b"\n]\n" if not self.first else b"]\n")


def output_columns(library: Library, affinity: str, tdm: bool = False) -> list[str]:
    """The CSV columns of every single-query result the library can give: the flattened
    record of an occupancy and a dose query for each profile (and of a tdm query, when the
    input has levels), in order, then `error`. By construction a row has the columns
    `sert occupancy|dose|tdm --format csv` has."""
    probes = []
    for profile in library.profiles.values():
        dose = profile.label_min_mg * profile.interval_h / HOURS_PER_DAY
        probes += [
            OccupancyQuery(profile.name, dose, affinity=affinity),
            DoseQuery(profile.name, affinity=affinity),
        ]
        if tdm:
            probes.append(TdmQuery(profile.name, dose, 10.0, affinity=affinity))
    columns: dict[str, None] = {}
    for answer in Engine(library).answer_many(probes):
        if not isinstance(answer, SertError):
            columns.update(dict.fromkeys(flatten(answer.record())))
    return [*columns, "error"]


def run(
    library: Library,
    input_path: str,
    output_path: str | None,
    input_format: str,
    output_format: str,
    strict: bool,
    affinity: str,
    assume_nm: bool,
    progress: bool,
    jobs: int = 1,
) -> Summary:
    if input_format not in INPUT_FORMATS:
        raise InputError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}")
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)} for batch")
    stream, raw = open_input(input_path)
    with stream:
        try:
            header, chunks = read_rows(stream, input_format)
        except UnicodeDecodeError as exc:
            raise InputError(f"{input_path}: not UTF-8 text ({exc.reason})") from None
        engine = Rows(library, header, affinity, assume_nm, input_format == "jsonl")
        fields = (
            output_columns(library, affinity, TDM_COLUMN in engine.columns)
            if output_format == "csv"
            else []
        )
        target, tmp = _open_output(output_path)
        if tmp is not None:
            _exit_on_termination()
        # Millions of short-lived rows and no reference cycles: the cyclic collector
        # would only cost time, so it waits until the batch is done.
        gc.disable()
        try:
            summary = _stream(
                engine,
                fields,
                input_format == "jsonl",
                header,
                chunks,
                target,
                output_format,
                strict,
                raw if progress else None,
                input_path,
                _jobs(jobs, raw),
                functools.partial(_reopen, input_path, input_format),
            )
            target.flush()
            if tmp is not None:
                target.close()
                os.replace(*tmp)
        except BaseException as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    target.close()
                with contextlib.suppress(OSError):
                    os.unlink(tmp[0])
            if isinstance(exc, UnicodeDecodeError):
                raise InputError(f"{input_path}: not UTF-8 text ({exc.reason})") from None
            if isinstance(exc, OSError) and tmp is not None:
                raise InputError(
                    f"--output {output_path}: cannot write it ({exc.strerror or exc})"
                ) from None
            raise
        finally:
            gc.enable()
    return summary


def _reopen(input_path: str, input_format: str):
    """(binary input, chunks): the input file opened anew (a worker's own handle), open
    until the last chunk is read."""
    stream, raw = open_input(input_path, checked=True)

    def chunks():
        with stream:
            yield from read_rows(stream, input_format)[1]

    return raw, chunks()


def _exit_on_termination() -> None:
    """SIGTERM and SIGHUP raise SystemExit, so that the temporary file is removed."""
    import signal

    def terminated(number, _frame):
        raise SystemExit(128 + number)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), terminated)


def _open_output(output_path: str | None):
    """Bytes to stdout, or to a temporary file beside the file --output names, renamed
    over it at the end: through a symlink to its target, keeping an existing file's mode
    (and owner, as root); anything but a regular file, or one that cannot be written, is refused."""
    if output_path is None or output_path == "-":
        sys.stdout.flush()
        try:  # a large buffer of its own over the descriptor, when there is one
            return open(sys.stdout.fileno(), "wb", OUTPUT_BUFFER, closefd=False), None
        except (AttributeError, OSError, ValueError):
            return sys.stdout.buffer, None
    if not output_path.strip():
        raise InputError("--output: the path is empty")
    real = os.path.realpath(output_path)
    try:
        existing = os.stat(real)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise InputError(f"--output {output_path}: {exc.strerror or exc}") from None
    if existing is not None:
        if not stat.S_ISREG(existing.st_mode):
            raise InputError(
                f"--output {output_path}: not a regular file; sert replaces only regular files"
                " (for a device or a pipe, redirect standard output instead)"
            )
        if not os.access(real, os.W_OK):
            raise InputError(f"--output {output_path}: the file is not writable")
    folder = os.path.dirname(real)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sert-batch-", suffix=".tmp")
    except OSError as exc:
        raise InputError(
            f"--output {output_path}: cannot write there ({exc.strerror or exc})"
        ) from None
    if existing is not None:
        os.chmod(tmp, stat.S_IMODE(existing.st_mode))
        if os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.chown(tmp, existing.st_uid, existing.st_gid)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file would be, not mkstemp's 0600
    return os.fdopen(fd, "wb", OUTPUT_BUFFER), (tmp, real)


def _stream(
    engine: Rows,
    fields,
    typed,
    header,
    chunks,
    out,
    output_format,
    strict,
    raw,
    input_path,
    jobs,
    reopen,
):
    writer = (
        CsvOutput(out, header, fields, typed, engine.columns.values())
        if output_format == "csv"
        else JsonOutput(out, header, output_format == "json", engine.columns.values())
    )
    summary = Summary()
    bar = None
    started = time.perf_counter()

    def answer_chunk(chunk: list, problems: dict, rows_before: int):
        found, failed = _answer_chunk(engine, writer, chunk, problems)
        if failed and strict:
            raise RowError(f"row {rows_before + failed[0] + 1}: {found[failed[0]].error}")
        return found, failed

    def counted(rows: int, failed: int, position: int) -> None:
        nonlocal bar
        summary.read += rows
        summary.errors += failed
        summary.computed += rows - failed
        if bar is None:  # (made after the workers are forked: it runs a thread)
            bar = _progress(raw, input_path) or False
        if bar:
            bar[0].update(bar[1], completed=position)

    try:
        if jobs > 1:
            out.flush()
            workers.stream(jobs, reopen, answer_chunk, writer, out, counted)
        else:
            for chunk, problems in chunks:
                found, failed = answer_chunk(chunk, problems, summary.read)
                writer.write(chunk, found)
                counted(len(chunk), len(failed), raw.tell() if raw is not None else 0)
        writer.close()
    finally:
        if bar:
            bar[0].stop()
    summary.seconds = time.perf_counter() - started
    return summary


def _answer_chunk(engine: Rows, writer: Output, chunk: list, problems: dict):
    """The plans of a chunk's rows (each distinct request answered once, through the
    engine, unless an earlier chunk did), and the indices of the rows that failed. Rows
    are walked in Python only where a plan is missing."""
    keys = list(map(engine.key, chunk))
    for index, problem in problems.items():
        keys[index] = ("\0unreadable", problem)
    found = list(map(writer.plans.get, keys))
    missing = _indices(map(operator.not_, found)) if None in found else []
    if missing:
        missing = writer.recall(keys, found, missing)
    if missing:
        first_rows: dict = {}
        for index in missing:
            first_rows.setdefault(keys[index], index)
        results = engine.resolve(k for k in first_rows if k[0] != "\0unreadable")
        for index, problem in problems.items():
            results[keys[index]] = {"error": problem}
        made = writer.plans_for([(k, chunk[i], results[k]) for k, i in first_rows.items()])
        for index in missing:
            found[index] = made[keys[index]]
    errors = map(_error_of, found)
    return found, _indices(map(operator.is_not, errors, itertools.repeat(None)))


def _indices(flags) -> list[int]:
    """The indices of the true flags, at C speed."""
    return list(itertools.compress(itertools.count(), flags))


_free_of = operator.attrgetter("free")
_parts_of = operator.attrgetter("parts")
_error_of = operator.attrgetter("error")


def _jobs(requested: int, raw) -> int:
    """Processes for the batch: as asked for a file; one for standard input or a pipe,
    which cannot be opened again by each worker."""
    if requested > 1 and (raw is None or not hasattr(os, "fork")):
        sys.stderr.write("sert batch: --jobs needs a file; one process reads this input\n")
        return 1
    return requested


def _progress(raw, input_path: str):
    """A transient Rich progress bar on stderr, only for a file on a terminal."""
    if raw is None or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(os.path.basename(input_path), total=os.path.getsize(input_path) or 1)
    bar.start()
    return bar, task
