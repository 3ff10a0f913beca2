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
import csv
import gc
import io
import itertools
import json
import operator
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sert_cli.core import (
    LigandLevels,
    check_dose,
    check_interval,
    check_target,
    dose_for_target,
    occupancy_result,
    resolve_phenotypes,
    steady_state_occupancy,
)
from sert_cli.errors import InputError, SertError
from sert_cli.genotype import parse_genotype_options
from sert_cli.loader import Library
from sert_cli.patient import Prepared, prepare
from sert_cli.pgx import GENES, parse_phenotype_options
from sert_cli.profile import TRANSPORTERS
from sert_cli.render.csv_format import FORMULA_PREFIXES, flatten, safe_cell

CHUNK_ROWS = 20_000
CACHE_LIMIT = 50_000  # distinct requests kept (>= CHUNK_ROWS); emptied past this
INPUT_FORMATS = ("csv", "jsonl")
OUTPUT_FORMATS = ("csv", "jsonl", "json")
REQUEST_COLUMNS = ("drug", "dose_mg", "target", "transporter", "interval_h", "with")


def result_fields(genes: list[str]) -> list[str]:
    """The output columns after the input's, in CSV (flattened) form."""
    return [
        "query",
        "drug",
        "dose_mg",
        "interval_h",
        "daily_dose_mg",
        *(f"phenotypes_{g}" for g in genes),
        "clearance_l_h",
        "css_plasma_ng_ml",
        "css_plasma_nm",
        "cu_plasma_nm",
        "cu_brain_nm",
        "metabolites",
        *(f"occupancy_{t}" for t in TRANSPORTERS),
        "time_to_95pct_steady_state_h",
        "target",
        "transporter",
        "recommended_dose_mg",
        "recommended_units_mg",
        "occupancy_at_recommended",
        "label_min_mg",
        "label_max_mg",
        "exceeds_label_max",
        *(f"affinity_{t}" for t in TRANSPORTERS),
        "notes",
        "warnings",
        "error",
    ]


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
    """(text stream, binary stream for progress or None)."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline=""), None
    check_utf8(path)
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller through the text wrapper
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""), raw


def read_rows(stream, input_format: str) -> tuple[list[str], Iterator[list[list]]]:
    """The header and an iterator of chunks of rows (lists of strings, or a ValueError
    for a line that cannot be read)."""
    if input_format == "csv":
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
    while True:
        try:
            chunk = [row for row in itertools.islice(reader, CHUNK_ROWS) if row]
        except csv.Error:
            chunk = None
        if chunk is None:  # a malformed line somewhere in the chunk: read it row by row
            chunk = _careful(reader)
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


def _careful(reader) -> list:
    chunk = []
    while len(chunk) < CHUNK_ROWS:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            chunk.append(ValueError(f"malformed CSV line {reader.line_num}: {exc}"))
            continue
        if row:
            chunk.append(row)
    return chunk


def _jsonl_chunks(lines, header: list[str]) -> Iterator[list]:
    chunk: list = []
    for text in lines:
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            chunk.append(["" if record.get(h) is None else str(record.get(h)) for h in header])
        except ValueError as exc:
            chunk.append(ValueError(f"bad JSON line: {exc}"))
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Engine:
    """Parses, groups, computes and formats distinct requests, with a bounded cache."""

    def __init__(self, library: Library, header: list[str], affinity: str, assume_nm: bool):
        self.library, self.affinity, self.assume_nm = library, affinity, assume_nm
        lowered = [h.lower() for h in header]
        if "drug" not in lowered:
            raise InputError(f"the input has no 'drug' column (columns: {', '.join(header)})")
        self.request_index = {c: lowered.index(c) for c in REQUEST_COLUMNS if c in lowered}
        self.gene_index = {
            g: i for i, h in enumerate(header) for g in GENES if h.strip().upper() == g
        }
        self.key_index = tuple(sorted({*self.request_index.values(), *self.gene_index.values()}))
        getter = operator.itemgetter(*self.key_index)
        self.key = getter if len(self.key_index) > 1 else (lambda row: (getter(row),))
        self.genes = sorted(
            {g for p in library.profiles.values() for g in p.genes} | set(self.gene_index)
        )
        self.cache: dict[tuple, dict] = {}
        self.prepared: dict[tuple, Prepared | SertError] = {}

    def _value(self, key: tuple, column: str) -> str:
        index = self.request_index.get(column)
        return "" if index is None else key[self.key_index.index(index)].strip()

    def make_room(self, needed: int) -> None:
        if len(self.cache) + needed > CACHE_LIMIT:
            self.cache.clear()
            self.prepared.clear()

    def resolve(self, keys: list[tuple]) -> None:
        """Compute every key not cached yet; occupancy keys of one patient together."""
        groups: dict[tuple, list[tuple[tuple, float]]] = {}
        for key in keys:
            if key in self.cache:
                continue
            try:
                patient, dose = self._parse(key)
            except SertError as exc:
                self.cache[key] = {"error": _one_line(exc)}
                continue
            if dose is None:
                self.cache[key] = self._dose_query(key, patient)
            else:
                groups.setdefault(patient, []).append((key, dose))
        for patient, members in groups.items():
            self._occupancy_group(patient, members)

    def _parse(self, key: tuple):
        drug = self._value(key, "drug")
        if not drug:
            raise InputError("missing drug")
        profile = self.library.get(drug)
        dose_text = self._value(key, "dose_mg")
        dose = check_dose(_number(dose_text, "dose_mg"), "dose_mg") if dose_text else None
        interval_text = self._value(key, "interval_h")
        interval = (
            check_interval(_number(interval_text, "interval_h"), "interval_h")
            if interval_text
            else None
        )
        phenotypes, genotypes = [], []
        for gene, index in self.gene_index.items():
            value = key[self.key_index.index(index)].strip()
            if value:
                (genotypes if ("*" in value or "/" in value) else phenotypes).append(
                    f"{gene}={value}"
                )
        with_text = self._value(key, "with")
        comedications = tuple(w.strip() for w in re.split(r"[;|]", with_text) if w.strip())
        patient = (profile.name, tuple(phenotypes), tuple(genotypes), comedications, interval)
        return patient, dose

    def _prepare(self, patient: tuple) -> Prepared:
        if patient not in self.prepared:
            name, phenotypes, genotypes, comedications, _ = patient
            try:
                profile = self.library.get(name).with_affinity(self.affinity)
                self.prepared[patient] = prepare(
                    profile,
                    parse_phenotype_options(list(phenotypes)),
                    parse_genotype_options(list(genotypes)),
                    list(comedications),
                    self.assume_nm,
                )
            except SertError as exc:
                self.prepared[patient] = exc
        found = self.prepared[patient]
        if isinstance(found, SertError):
            raise found
        return found

    def _dose_query(self, key: tuple, patient: tuple) -> dict:
        try:
            prepared = self._prepare(patient)
            target_text = self._value(key, "target")
            target = check_target(_number(target_text, "target"), "target") if target_text else 0.8
            transporter = (self._value(key, "transporter") or "SERT").upper()
            result = dose_for_target(
                prepared.profile, target, transporter, patient[-1], prepared.phenotypes
            )
        except SertError as exc:
            return {"error": _one_line(exc)}
        return {"query": "dose", **prepared.annotate(result.record()), "error": None}

    def _occupancy_group(self, patient: tuple, members: list[tuple[tuple, float]]) -> None:
        try:
            prepared = self._prepare(patient)
            profile = prepared.profile
            interval = profile.interval_h if patient[-1] is None else patient[-1]
            phenotypes, warnings = resolve_phenotypes(profile, prepared.phenotypes)
        except SertError as exc:
            for key, _ in members:
                self.cache[key] = {"error": _one_line(exc)}
            return
        doses = np.array([dose for _, dose in members])
        if any(m.saturable for m in profile.moieties):  # scalar branches: one dose at a time
            computed = [
                steady_state_occupancy(profile, float(d), interval, phenotypes) for d in doses
            ]
        else:
            levels, loads, occupancy = steady_state_occupancy(profile, doses, interval, phenotypes)
            computed = [
                (
                    [_pick(lv, i) for lv in levels],
                    {t: float(v[i]) for t, v in loads.items()},
                    {t: None if v is None else float(v[i]) for t, v in occupancy.items()},
                )
                for i in range(len(members))
            ]
        for (key, dose), (levels, loads, occupancy) in zip(members, computed, strict=True):
            try:
                result = occupancy_result(
                    profile, dose, interval, phenotypes, warnings, levels, loads, occupancy
                )
            except SertError as exc:
                self.cache[key] = {"error": _one_line(exc)}
                continue
            self.cache[key] = {
                "query": "occupancy",
                **prepared.annotate(result.record()),
                "error": None,
            }


def _pick(levels: LigandLevels, i: int) -> LigandLevels:
    return LigandLevels(
        levels.name,
        levels.clearance_l_h,
        float(levels.css_plasma_ng_ml[i]),
        float(levels.css_plasma_nm[i]),
        float(levels.cu_plasma_nm[i]),
        float(levels.cu_brain_nm[i]),
    )


def _number(text: str, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{column} {text!r} is not a number") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


class CsvOutput:
    """Input cells (formula-safe) with result cells in place of same-named columns, then
    the result columns. Each distinct request's part of the line is encoded once."""

    def __init__(self, out, header: list[str], genes: list[str]):
        self.out, self.fields = out, result_fields(genes)
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
        buffer = io.StringIO()  # "\r\n" as terminator makes csv quote cells with either
        csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(c) for c in cells])
        return buffer.getvalue()[:-2]

    def _parts(self, key, result: dict) -> tuple[list, str]:
        flat = {k: _cell(v) for k, v in flatten(result).items()}
        suffix = ("," + self.encode([flat.get(f, "") for f in self.extra])) if self.extra else ""
        if result.get("error") is None:
            values = [flat.get(name, "") for _, name in self.replaced]
        else:
            values = None  # error rows keep their input cells
        if len(self.encoded) > CACHE_LIMIT:
            self.encoded.clear()
        self.encoded[key] = (values, suffix)
        return values, suffix

    def rows(self, rows: list[list], keys: list, results: dict) -> None:
        encoded, pick, encode = self.encoded, self.pick, self.encode
        lines = []
        for row, key in zip(rows, keys, strict=True):
            values, suffix = encoded.get(key) or self._parts(key, results[key])
            cells = pick(row + values) if values is not None else row
            lines.append(encode(cells) + suffix)
        if lines:
            self.out.write("\n".join(lines) + "\n")

    def close(self) -> None:
        pass


def _cell(value) -> str:
    return "" if value is None else str(value)


class JsonOutput:
    """JSON lines, or one JSON array: input columns, then the result fields (which replace
    input columns of the same name), then `error`."""

    def __init__(self, out, header: list[str], as_array: bool):
        self.out, self.header, self.as_array, self.first = out, header, as_array, True
        if as_array:
            out.write("[")

    def rows(self, rows: list[list], keys: list, results: dict) -> None:
        pieces = []
        for row, key in zip(rows, keys, strict=True):
            record = dict(zip(self.header, row, strict=True))
            record.update(results[key])
            pieces.append(json.dumps(record, allow_nan=False, ensure_ascii=False))
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
        header, chunks = read_rows(stream, input_format)
        engine = Engine(library, header, affinity, assume_nm)
        target, tmp = _open_output(output_path)
        # Millions of short-lived rows and no reference cycles: the cyclic collector
        # would only cost time, so it waits until the batch is done.
        gc.disable()
        try:
            summary = _stream(
                engine,
                header,
                chunks,
                target,
                output_format,
                strict,
                raw if progress else None,
                input_path,
            )
            target.flush()
        except BaseException:
            if tmp is not None:
                target.close()
                os.unlink(tmp)
            raise
        finally:
            gc.enable()
    if tmp is not None:
        target.close()
        os.replace(tmp, output_path)
    return summary


def _open_output(output_path: str | None):
    if output_path is None or output_path == "-":
        return sys.stdout, None
    folder = os.path.dirname(os.path.abspath(output_path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sert-batch-", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write beside {output_path}: {exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file would be, not mkstemp's 0600
    return os.fdopen(fd, "w", encoding="utf-8", newline=""), tmp


def _stream(engine: Engine, header, chunks, out, output_format, strict, raw, input_path):
    writer = (
        CsvOutput(out, header, engine.genes)
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
            engine.make_room(len(needed))
            for index, problem in unreadable.items():
                engine.cache[keys[index]] = {"error": str(problem)}
            engine.resolve([k for k in needed if k not in engine.cache])
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
