"""Batch output: the columns a script asked for (`--fields`, `--carry`), written a chunk at
a time as whole columns of text by the encoders every command uses (render/csv_format,
render/json_format), to stdout or atomically to a file.

A line is the row's carried input cells, then its result's fields. A carried column named
like a result field holds the result on a computed row and the input on a failed one.
"""

import contextlib
import io
import operator
import os
import re
import stat
import tempfile
from collections import OrderedDict
from typing import NamedTuple

from sert_cli import fields as catalogue
from sert_cli.batch.source import CHUNK_ROWS, Unreadable
from sert_cli.errors import InputError
from sert_cli.render import csv_format
from sert_cli.render.json_format import compact
from sert_cli.suggest import did_you_mean
from sert_cli.vocabulary import GENES

OUTPUT_FORMATS = ("csv", "jsonl", "json")
OUTPUT_BUFFER_BYTES = 1 << 20
# Encoded answers kept for the requests met most recently: about 40 MB at full width; at
# least a chunk's rows, so that none a chunk asks for is dropped before it is written.
KEPT_REQUESTS = max(10_000, CHUNK_ROWS)


def internal_error(exc: BaseException) -> str:
    """A row's error where sert itself failed (an exception no input check foresaw): said
    as a bug, with the exception's type, so that it is reported, not taken for bad input."""
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:200] + "..."
    return f"internal error (a bug in sert; please report it): {type(exc).__name__}: {text}"


class Selection(NamedTuple):
    """The result columns asked for, in order (`error` last), and whether a result's whole
    record is needed (False: its key_record() holds them all)."""

    columns: tuple[catalogue.Column, ...]
    whole_record: bool


def select(spec: str, kinds: tuple[str, ...], genes: tuple[str, ...]) -> Selection:
    """--fields: key (the default columns), all, or a comma list of field names (a spread
    field by its stem, `occupancy`, or one of its columns, `occupancy_SERT`; `key` and
    `all` may be among them). Names are matched without regard to case."""
    every = catalogue.catalogue()
    words = [w.strip() for w in spec.split(",") if w.strip()]
    if not words:
        raise InputError("--fields: no field named (`sert batch --fields list` lists them)")
    if "list" in (w.lower() for w in words):
        raise InputError("--fields list prints the fields and exits: give it alone")
    by_name: dict[str, list[catalogue.Column]] = {}
    for field in every:
        for name in (field.name, field.stem):  # a spread field: the genes the profiles use
            by_name[name.lower()] = catalogue.columns_of(field, genes)
        for column in catalogue.columns_of(field, GENES):  # ... or any gene, by its column
            by_name.setdefault(column.name.lower(), [column])
    chosen: dict[catalogue.Column, None] = {}
    for word in words:
        if word.lower() in ("key", "all"):
            for field in every:
                wanted = field.key if word.lower() == "key" else True
                if wanted and set(field.queries) & set(kinds):
                    chosen.update(dict.fromkeys(catalogue.columns_of(field, genes)))
        elif word.lower() in by_name:
            chosen.update(dict.fromkeys(by_name[word.lower()]))
        else:
            names = [f.name for f in every] + ["key", "all", "list"]
            raise InputError(
                f"--fields: no field {word!r}{did_you_mean(word, names)} "
                "(`sert batch --fields list` lists them)"
            )
    error = catalogue.Column("error", "error", None)
    chosen.pop(error, None)
    columns = (*chosen, error)
    key_stems = {f.stem for f in every if f.key}
    return Selection(columns, any(c.stem not in key_stems for c in columns))


def field_list() -> str:
    """The catalogue as `--fields list` prints it: a CSV of name, unit, type, queries,
    default and meaning."""
    out = io.StringIO()
    write = csv_format.writer(out)
    write.writerow(["field", "unit", "type", "queries", "default", "meaning"])
    for f in catalogue.catalogue():
        write.writerow(
            [f.name, f.unit, f.type, " ".join(f.queries), "yes" if f.key else "", f.meaning]
        )
    return out.getvalue()


def record_of(result, whole: bool) -> dict:
    if whole or not hasattr(result, "key_record"):
        return result.record()
    return result.key_record()


def values_of(records: list[dict], column: catalogue.Column) -> list:
    """A column's values over records (None where a record lacks it)."""
    if column.key is None:
        return [record.get(column.stem) for record in records]
    key = column.key
    return [
        value.get(key) if type(value) is dict else None
        for value in (record.get(column.stem) for record in records)
    ]


class Output:
    """A format's text: its head, each chunk's lines (`text`), what goes between two
    chunks' texts, and its end. It writes to no stream, so that a chunk's text can be made
    in any process. Each distinct request's encoded answer, an Entry, is made once a chunk
    and kept for the KEPT_REQUESTS requests met most recently (a realistic batch asks many
    things again, far apart in the file)."""

    def __init__(self) -> None:
        self.kept: OrderedDict[object, Entry] = OrderedDict()

    def between(self, first: bool) -> str:
        """What goes before a chunk's (non-empty) text: nothing but in a JSON array."""
        return ""

    def end(self, empty: bool) -> str:
        return ""

    def unknown(self, keys) -> list:
        """The requests whose entry is not kept (those kept are now the most recent)."""
        kept, missing = self.kept, []
        for key in keys:
            if key in kept:
                kept.move_to_end(key)
            else:
                missing.append(key)
        return missing

    def entries(self, keys: list, answers: dict) -> list["Entry"]:
        """Each row's entry: the answers of the chunk's new requests encoded (and kept,
        but for unreadable lines), the others as kept (all of them among the most recent,
        as KEPT_REQUESTS >= a chunk's rows)."""
        try:
            made = self.encode(answers)
        except Exception:  # a bug in some answer's record: find which
            made = {}
            for key, found in answers.items():
                try:
                    made.update(self.encode({key: found}))
                except Exception as exc:
                    made.update(self.encode({key: internal_error(exc)}))
        self.kept.update((k, e) for k, e in made.items() if type(k) is not Unreadable)
        while len(self.kept) > KEPT_REQUESTS:
            self.kept.popitem(last=False)
        return [made[key] if key in made else self.kept[key] for key in keys]


class Entry(NamedTuple):
    """A request's encoded answer: its error's message (None: computed) and its text (CSV:
    the result's cells; JSON: the carried cells shown and the result's part of the line)."""

    error: str | None
    text: tuple


class CsvOutput(Output):
    """The header once, then each chunk's lines: the carried input cells (formula-safe)
    and the result's cells, turned to text a column at a time over the chunk's new
    requests."""

    def __init__(self, header: tuple[str, ...], carried: tuple[int, ...], chosen: Selection):
        super().__init__()
        self.carried, self.chosen = carried, chosen
        names = [c.name for c in chosen.columns]
        self.merged = {  # carried position -> the result column it shows
            position: names.index(header[i])
            for position, i in enumerate(carried)
            if header[i] in names
        }
        kept = set(self.merged.values())
        self.tail = [n for n in range(len(names)) if n not in kept]
        # a failed row's result cells: empty, or None where a carried column keeps its input
        self.failed = tuple(None if n in kept else "" for n in range(len(names) - 1))
        carried_names = [csv_format.safe_text(header[i]) for i in carried]
        self.head = self.lines([[*carried_names, *(names[n] for n in self.tail)]])

    @staticmethod
    def lines(rows) -> str:
        buffer = io.StringIO()
        csv_format.writer(buffer).writerows(rows)
        return buffer.getvalue()

    def encode(self, answers: dict) -> dict:
        computed = [key for key, found in answers.items() if not isinstance(found, str)]
        records = [record_of(answers[key], self.chosen.whole_record) for key in computed]
        columns = [
            csv_format.text_column(values_of(records, column))
            for column in self.chosen.columns[:-1]
        ]
        for n in self.merged.values():  # a record without the field: the input stays
            stem = self.chosen.columns[n].stem
            columns[n] = [
                text if stem in record else None
                for text, record in zip(columns[n], records, strict=True)
            ]
        no_error = [""] * len(computed)
        made = {
            key: Entry(None, cells)
            for key, cells in zip(computed, zip(*columns, no_error, strict=True), strict=True)
        }
        for key, found in answers.items():
            if isinstance(found, str):
                made[key] = Entry(found, (*self.failed, csv_format.cell(found)))
        return made

    def text(self, rows: list, entries: list[Entry]) -> str:
        if not rows:
            return ""
        result_columns = list(zip(*(entry.text for entry in entries), strict=True))
        columns = [
            csv_format.text_column(list(map(operator.itemgetter(i), rows))) for i in self.carried
        ]
        for position, n in self.merged.items():
            columns[position] = [
                given if shown is None else shown
                for shown, given in zip(result_columns[n], columns[position], strict=True)
            ]
        columns += [result_columns[n] for n in self.tail]
        return self.lines(zip(*columns, strict=True))


class JsonOutput(Output):
    """JSON lines (or one array): the carried input values (their JSON types kept), then
    the result's fields as its record has them (pruned to those asked for), then `error`;
    on a computed row a carried key named like a result field gives way to the result."""

    def __init__(self, header, carried, chosen: Selection, as_array: bool):
        super().__init__()
        self.carried, self.chosen, self.as_array = carried, chosen, as_array
        self.names = [compact(header[i]) + ": " for i in carried]
        self.stems: dict[str, set | None] = {}
        for column in chosen.columns:
            if column.key is None:
                self.stems[column.stem] = None
            elif self.stems.get(column.stem, set()) is not None:
                self.stems.setdefault(column.stem, set()).add(column.key)
        self.header = header
        self.every = tuple(range(len(carried)))
        self.head = "[" if as_array else ""

    def encode(self, answers: dict) -> dict:
        return {key: self.fragment(found) for key, found in answers.items()}

    def fragment(self, found) -> Entry:
        """The carried cells a line shows, and the result's part of the line."""
        if isinstance(found, str):
            return Entry(found, (self.every, '"error": ' + compact(found)))
        record = record_of(found, self.chosen.whole_record)
        pruned = {}
        for stem, keys in self.stems.items():
            if stem in record:
                value = record[stem]
                if keys is not None and isinstance(value, dict):
                    value = {k: v for k, v in value.items() if k in keys}
                pruned[stem] = value
        pruned["error"] = None
        shown = tuple(p for p in self.every if self.header[self.carried[p]] not in pruned)
        return Entry(None, (shown, compact(pruned)[1:-1]))

    def text(self, rows: list, entries: list[Entry]) -> str:
        """The chunk's lines: JSON lines, or an array's elements between commas."""
        carried = [list(map(compact, map(operator.itemgetter(i), rows))) for i in self.carried]
        lines = []
        for n, (_, (shown, fragment)) in enumerate(entries):
            cells = [self.names[i] + carried[i][n] for i in shown]
            cells.append(fragment)
            lines.append("{" + ", ".join(cells) + "}")
        if self.as_array:
            return ",\n".join(lines)
        return "\n".join(lines) + "\n" if lines else ""

    def between(self, first: bool) -> str:
        return ("\n" if first else ",\n") if self.as_array else ""

    def end(self, empty: bool) -> str:
        if not self.as_array:
            return ""
        return "]\n" if empty else "\n]\n"


def _temporary_prefix(pid: int | None = None) -> str:
    """The name a run's temporary file begins with: this machine's and process's, so that
    a later run can tell one a killed run left (SIGKILL: nothing could remove it)."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", os.uname().nodename if hasattr(os, "uname") else "")
    return f".sert-batch-{host[:40]}-{os.getpid() if pid is None else pid}-"


def remove_stale(folder: str) -> list[str]:
    """Remove the temporary files runs on this machine left in `folder` when they were
    killed (their process is gone), if this user owns them; their names."""
    mine = re.compile(re.escape(_temporary_prefix(0)[:-2]) + r"(\d+)-[^/]*\.tmp\Z")
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = mine.match(entry.name)
        if found is None or int(found[1]) == os.getpid() or _alive(int(found[1])):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_uid == os.geteuid():
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # (another user's process: alive; a number no pid can be: left alone)
    return True


def open_output(output_path: str | None, stdout, say=None):
    """(text stream, (temporary, final) or None): stdout, or a temporary file beside the
    file --output names, renamed over it at the end: through a symlink to its target,
    keeping an existing file's mode (and owner, as root); anything but a regular file, or
    one that cannot be written, is refused. Temporary files killed runs left there are
    removed first (`say` tells how many)."""
    if output_path is None or output_path == "-":
        stdout.flush()
        try:  # a large buffer of its own over the descriptor, when there is one
            binary = open(stdout.fileno(), "wb", OUTPUT_BUFFER_BYTES, closefd=False)  # noqa: SIM115
        except (AttributeError, OSError, ValueError):
            return stdout, None
        return _text(binary), None
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
    stale = remove_stale(folder)
    if stale and say is not None:
        say(f"sert batch: removed {len(stale)} temporary file(s) of killed runs in {folder}")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temporary_prefix(), suffix=".tmp")
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
    return _text(os.fdopen(fd, "wb", OUTPUT_BUFFER_BYTES)), (tmp, real)


def _text(binary) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace", newline="")


def check_not_the_input(output_path: str | None, input_path: str) -> None:
    """--output naming the input would replace what is being read."""
    if output_path in (None, "-") or input_path == "-":
        return
    with contextlib.suppress(OSError):
        if os.path.samefile(output_path, input_path):
            raise InputError(f"--output {output_path}: that is the input; write elsewhere")


def check_format(output_format: str) -> None:
    if output_format not in OUTPUT_FORMATS:
        raise InputError(f"--format must be one of {', '.join(OUTPUT_FORMATS)} for batch")


def make_output(output_format: str, header, carried, chosen: Selection) -> Output:
    if output_format == "csv":
        return CsvOutput(header, carried, chosen)
    return JsonOutput(header, carried, chosen, as_array=output_format == "json")
