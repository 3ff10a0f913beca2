"""`sert batch`: many queries in one process, streamed, nothing lost.

Rows are read and written in chunks, so memory stays flat. Each distinct request (drug,
dose or target, phenotypes, genotypes, co-medications, interval) is computed once: rows
are grouped by drug and patient and their doses computed together as numpy arrays, through
the same core functions the single-query commands use, and the formatted result is reused
for every row that asks the same thing. A bad row gets an `error` and never stops the run
(unless --strict).
"""

import codecs
import collections
import contextlib
import csv
import functools
import gc
import io
import itertools
import json
import operator
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sert_cli.errors import InputError, SertError
from sert_cli.pgx.patient import Patient
from sert_cli.profiles.library import Library
from sert_cli.queries.engine import Engine
from sert_cli.queries.values import DoseQuery, OccupancyQuery, TdmQuery
from sert_cli.render.csv_format import FORMULA_PREFIXES, flatten, safe_cell
from sert_cli.vocabulary import GENES, HOURS_PER_DAY

encode_string = json.encoder.encode_basestring  # the C encoder where there is one

CHUNK_ROWS = 5_000
# ... and at most this many cells, so that a file with thousands of columns stays small
CHUNK_CELLS = 250_000
# The longest cell read (the csv module's default is 128 KiB); a longer one is an error
# in its row's place, never a lost row.
MAX_CELL_CHARS = 16 << 20
CACHE_LIMIT = 50_000  # distinct requests kept (>= CHUNK_ROWS); emptied past this
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
    "level_ng_ml",
    "hours_after_dose",
)
TDM_COLUMN = "level_ng_ml"  # a row with a measured level is a `tdm` query


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


class RowError(Exception):
    """A bad row under --strict."""


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


def open_input(path: str):
    """(text stream, binary stream for progress or None). A regular file is checked for
    UTF-8 before anything is written; a pipe, FIFO or terminal is read as it comes, and a
    bad byte there ends the run with an error."""
    if path == "-":
        if sys.stdin is None:
            raise InputError("standard input is closed: nothing to read")
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), None
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if regular:
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


def _csv_chunks(reader, width: int) -> Iterator[list]:
    """Chunks of rows; a line the csv module cannot read becomes an error in its place,
    and no other row is lost with it."""
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, width)))
    while True:
        chunk: list = []
        while len(chunk) < rows_per_chunk:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                chunk.append(ValueError(f"malformed CSV line {reader.line_num}: {exc}"))
                continue
            if row:
                chunk.append(row)
        if not chunk:
            return
        for index, row in enumerate(chunk):
            if isinstance(row, list) and len(row) != width:
                if len(row) > width:  # cells with no column to go in: refuse, lose nothing
                    chunk[index] = ValueError(
                        f"the line has {len(row)} cells but the header {width}"
                    )
                else:
                    chunk[index] = row + [""] * (width - len(row))
        yield chunk


def _jsonl_chunks(lines, header: list[str]) -> Iterator[list]:
    rows_per_chunk = max(1, min(CHUNK_ROWS, CHUNK_CELLS // max(1, len(header))))
    chunk: list = []
    for text in lines:
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            chunk.append([record.get(h) for h in header])
        except ValueError as exc:
            chunk.append(ValueError(f"bad JSON line: {exc}"))
        if len(chunk) >= rows_per_chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
        getter = operator.itemgetter(*index)
        self.key = getter if len(index) > 1 else (lambda row: (getter(row),))
        if typed:  # JSON values such as lists cannot be keys: they become an error
            self.key = lambda row: tuple(_hashable(row[i]) for i in index)
        self.fields = tuple(self.columns)
        self.cache: dict[tuple, dict] = {}

    def column_of(self, field: str) -> str:
        """A field as batch names it: its column, or the option that set it."""
        if field == "assume_nm":
            return "--assume-nm"
        if field == "patient":
            return "the patient's columns"
        if field == "level":
            field = TDM_COLUMN
        return f"column {self.names.get(field, field)}"

    def make_room(self, needed: int) -> bool:
        """Empty the cache when this chunk would overfill it; True if it was emptied."""
        if len(self.cache) + needed > CACHE_LIMIT:
            self.cache.clear()
            return True
        return False

    def resolve(self, keys: list[tuple]) -> None:
        """Answer every key not cached yet, all through one call of the engine."""
        queries, pending = [], []
        for key in keys:
            try:
                queries.append(self.query(key))
                pending.append(key)
            except SertError as exc:
                self.cache[key] = {"error": exc.worded(self.column_of)}
        for key, answer in zip(pending, self.engine.answer_many(queries), strict=True):
            if isinstance(answer, SertError):
                self.cache[key] = {"error": answer.worded(self.column_of)}
            else:
                self.cache[key] = {**answer.record(), "error": None}

    def query(self, key: tuple):
        cells = dict(zip(self.fields, key, strict=True))
        for field, value in cells.items():
            if value is not None and not isinstance(value, (str, int, float)):
                raise InputError("expected text or a number", field=field)
        drug = _text(cells.get("drug"))
        if not drug:
            raise InputError("missing drug", field="drug")
        phenotypes, genotypes = [], []
        for gene in GENES:
            value = _text(cells.get(gene))
            if value:
                (genotypes if ("*" in value or "/" in value) else phenotypes).append((gene, value))
        comedications = tuple(
            w.strip() for w in re.split(r"[;|]", _text(cells.get("with"))) if w.strip()
        )
        hepatic = _text(cells.get("hepatic")) or None
        patient = Patient(
            tuple(phenotypes),
            tuple(genotypes),
            comedications,
            self.assume_nm,
            None,
            _number(cells.get("age"), "age"),
            _number(cells.get("crcl"), "crcl"),
            hepatic,
        )
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


def _hashable(value):
    return value if isinstance(value, (str, int, float, type(None))) else ("json", repr(value))


def _text(value) -> str:
    return "" if value is None else str(value).strip()


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


class CsvOutput:
    """Input cells (formula-safe) with result cells in place of same-named columns, then
    the result columns. Each distinct request's part of the line is encoded once."""

    def __init__(self, out, header: list[str], fields: list[str], typed: bool):
        self.out, self.fields, self.typed = out, fields, typed
        lowered = [h.lower() for h in header]
        self.width = len(header)
        self.replaced = [(i, name) for i, name in enumerate(lowered) if name in self.fields]
        self.extra = [f for f in self.fields if f not in lowered]
        # a row's cells, then the replacing values: pick the input cell or the result's
        picks = list(range(self.width))
        for n, (index, _) in enumerate(self.replaced):
            picks[index] = self.width + n
        self.pick = (
            operator.itemgetter(*picks) if self.width > 1 else (lambda cells: (cells[picks[0]],))
        )
        self.encoded: dict[tuple, tuple[list, str]] = {}
        self.out.write(self.encode([*header, *self.extra]) + "\n")

    @staticmethod
    def encode(cells) -> str:
        """Plain join where it is valid CSV and nothing looks like a formula."""
        if len(cells) == 1:  # csv's own rules for a lone cell (an empty one is quoted)
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cells[0])])
            return buffer.getvalue()[:-2]
        joined = ",".join(cells)
        if (
            joined.count(",") == len(cells) - 1
            and '"' not in joined
            and "\n" not in joined
            and "\r" not in joined
            and "\t" not in joined
            and ",=" not in joined
            and ",+" not in joined
            and ",-" not in joined
            and ",@" not in joined
            and not joined.startswith(FORMULA_PREFIXES)
        ):
            return joined
        return ",".join(map(_encoded_cell, cells))

    def _parts(self, key, result: dict) -> tuple[list, str]:
        flat = {k: _cell(v) for k, v in flatten(result).items()}
        suffix = ("," + self.encode([flat.get(f, "") for f in self.extra])) if self.extra else ""
        if result.get("error") is None:
            values = [flat.get(name, "") for _, name in self.replaced]
        else:
            values = None  # error rows keep their input cells
        self.encoded[key] = (values, suffix)
        return values, suffix

    def rows(self, rows: list[list], keys: list, results: dict) -> None:
        encoded, pick, encode = self.encoded, self.pick, self.encode
        lines = []
        for row, key in zip(rows, keys, strict=True):
            values, suffix = encoded.get(key) or self._parts(key, results[key])
            if self.typed:  # JSON-lines input: numbers and the like become their text
                row = [_cell(v) for v in row]
            cells = pick(row + values) if values is not None else row
            lines.append(encode(cells) + suffix)
        if lines:
            self.out.write("\n".join(lines) + "\n")

    def close(self) -> None:
        pass


@functools.lru_cache(maxsize=1 << 16)
def _encoded_cell(cell: str) -> str:
    """One CSV cell as csv.writer (minimal quoting, "\\r\\n" lines) writes it, formula-safe;
    long texts (guidance, notes) repeat from row to row, so each is encoded once."""
    cell = safe_cell(cell)
    if "," in cell or '"' in cell or "\n" in cell or "\r" in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _cell(value) -> str:
    return "" if value is None else str(value)


class JsonOutput:
    """JSON lines, or one JSON array: input columns (their JSON types kept), then the
    result fields (which replace input columns of the same name), then `error`. Each
    distinct request's part of the object is encoded once."""

    def __init__(self, out, header: list[str], as_array: bool):
        self.out, self.header, self.as_array, self.first = out, header, as_array, True
        self.names = [json.dumps(h, ensure_ascii=False) + ": " for h in header]
        self.encoded: dict[tuple, tuple[frozenset, str]] = {}
        if as_array:
            out.write("[")

    def _parts(self, key, result: dict) -> tuple[frozenset, str]:
        replaced = frozenset(i for i, h in enumerate(self.header) if h in result)
        text = json.dumps(result, allow_nan=False, ensure_ascii=False)[1:-1]
        self.encoded[key] = (replaced, text)
        return replaced, text

    def rows(self, rows: list[list], keys: list, results: dict) -> None:
        encoded, names = self.encoded, self.names
        pieces = []
        for row, key in zip(rows, keys, strict=True):
            replaced, text = encoded.get(key) or self._parts(key, results[key])
            cells = [
                names[i] + (encode_string(v) if type(v) is str else json.dumps(v, allow_nan=False))
                for i, v in enumerate(row)
                if i not in replaced
            ]
            cells.append(text)
            pieces.append("{" + ", ".join(cells) + "}")
        if not pieces:
            return
        if self.as_array:
            text = (",\n" if not self.first else "\n") + ",\n".join(pieces)
        else:
            text = "\n".join(pieces) + "\n"
        self.first = False
        self.out.write(text)

    def close(self) -> None:
        if self.as_array:
            self.out.write("\n]\n" if not self.first else "]\n")


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


def _exit_on_termination() -> None:
    """SIGTERM and SIGHUP raise SystemExit, so that the temporary file is removed."""
    import signal

    def terminated(number, _frame):
        raise SystemExit(128 + number)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), terminated)


def _open_output(output_path: str | None):
    """stdout, or a temporary file beside the file --output names, renamed over it at the
    end: through a symlink to its target, keeping an existing file's mode (and owner, as
    root); anything but a regular file, or one that cannot be written, is refused."""
    if output_path is None or output_path == "-":
        return sys.stdout, None
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
    return os.fdopen(fd, "w", encoding="utf-8", newline="", errors="backslashreplace"), (tmp, real)


def _stream(
    engine: Rows, fields, typed, header, chunks, out, output_format, strict, raw, input_path
):
    writer = (
        CsvOutput(out, header, fields, typed)
        if output_format == "csv"
        else JsonOutput(out, header, as_array=output_format == "json")
    )
    summary = Summary()
    bar = _progress(raw, input_path)
    started = time.perf_counter()
    blank = [""] * len(header)
    try:
        for chunk in chunks:
            unreadable = {i: row for i, row in enumerate(chunk) if not isinstance(row, list)}
            for index in unreadable:
                chunk[index] = blank
            keys = [engine.key(row) for row in chunk]
            for index, problem in unreadable.items():
                keys[index] = ("\0unreadable", str(problem))
            needed = dict.fromkeys(keys)
            if engine.make_room(len(needed)):
                writer.encoded.clear()  # the two caches hold the same keys
            for index, problem in unreadable.items():
                engine.cache[keys[index]] = {"error": str(problem)}
            fresh = [k for k in needed if k not in engine.cache]
            engine.resolve(fresh)
            results = engine.cache
            counts = collections.Counter(keys)
            failed = sum(n for key, n in counts.items() if results[key].get("error") is not None)
            if failed and strict:
                first = next(i for i, k in enumerate(keys) if results[k].get("error") is not None)
                raise RowError(f"row {summary.read + first + 1}: {results[keys[first]]['error']}")
            summary.read += len(chunk)
            summary.errors += failed
            summary.computed += len(chunk) - failed
            writer.rows(chunk, keys, results)
            for key in fresh:  # encoded now: keep only what the counts need
                results[key] = {"error": results[key].get("error")}
            if bar is not None:
                bar[0].update(bar[1], completed=raw.tell())
        writer.close()
    finally:
        if bar is not None:
            bar[0].stop()
    summary.seconds = time.perf_counter() - started
    return summary


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
