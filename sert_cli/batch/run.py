"""`sert batch`: many queries in one run, streamed, nothing lost.

The loop: read a chunk of rows (batch/source.py); a Pipeline finds each row's request and
asks each distinct request of the chunk once (batch/requests.py), all through one call of
the engine, which computes a drug's rows together as numpy arrays, each with its own
patient, and turns the chunk's lines to text as whole columns (batch/output.py); the lines
are written in the input's order. With --jobs N the chunks are answered by N forked
processes, each with its own Pipeline, behind the same interface (`answered`). A bad row
gets an `error` and never stops the run (unless --strict).
"""

import contextlib
import gc
import itertools
import os
import sys
import time
from dataclasses import dataclass
from typing import NamedTuple

from sert_cli.batch import output, requests, source
from sert_cli.errors import InputError, SertError
from sert_cli.profiles.library import Library
from sert_cli.queries.engine import Engine
from sert_cli.vocabulary import GENES


class RowError(Exception):
    """A bad row under --strict."""


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


@dataclass(frozen=True)
class Options:
    """What a batch run is asked to do (the command's options, by what they mean)."""

    input_path: str
    output_path: str | None = None
    input_format: str | None = None  # None: from the file's name
    output_format: str = "csv"
    fields: str = "key"
    carry: str = "all"
    strict: bool = False
    affinity: str = "pet"
    assume_nm: bool = False
    progress: bool = False
    jobs: int = 1  # processes answering chunks


def run(library: Library, options: Options, say=None, stdout=None) -> Summary:
    """Answer every row of the input; `say` takes the one-line notes for stderr (the
    command makes them safe to print); the lines go to `stdout` (the process's by default)
    unless options.output_path names a file."""
    say = say or _say
    output.check_format(options.output_format)
    output.check_not_the_input(options.output_path, options.input_path)
    input_format = source.input_format_of(options.input_path, options.input_format)
    stream, raw = source.open_input(options.input_path)
    with stream:
        try:
            header, chunks, present = source.read_rows(stream, input_format, requests.names_read())
        except UnicodeDecodeError as exc:
            raise InputError(f"{options.input_path}: not UTF-8 text ({exc.reason})") from None
        terms = requests.contract(header, options.carry, present)
        asked = requests.Requests(
            terms,
            affinity=options.affinity,
            assume_nm=options.assume_nm,
            typed=input_format == "jsonl",
            library=library,
        )
        given = {field for field, index in terms.reads.items() if index < present}
        tdm = given & set(requests.LEVEL_FIELDS)
        kinds = ("occupancy", "dose", "tdm") if tdm else ("occupancy", "dose")
        used = {gene for profile in library.profiles.values() for gene in profile.genes}
        genes = tuple(g for g in GENES if g in used or g in given)
        chosen = output.select(options.fields, kinds, genes)
        out, tmp = output.open_output(options.output_path, stdout or sys.stdout, say)
        if tmp is not None:
            _exit_on_termination()
        # Millions of short-lived rows and no reference cycles: the cyclic collector
        # would only cost time, so it waits until the batch is done.
        gc.disable()
        try:
            writer = output.make_output(options.output_format, header, terms.carried, chosen)
            if terms.unread:  # (said once nothing can stop the run before its first row)
                say(f"sert batch: not read: {_listed(terms.unread)}")
            pipeline = Pipeline(Engine(library), asked, writer, options.strict)
            summary = _stream(pipeline, chunks, out, options, raw if options.progress else None)
            out.flush()
            if tmp is not None:
                out.close()
                os.replace(*tmp)
        except BaseException as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    out.close()
                with contextlib.suppress(OSError):
                    os.unlink(tmp[0])
            if isinstance(exc, UnicodeDecodeError):
                raise InputError(f"{options.input_path}: not UTF-8 text ({exc.reason})") from None
            if isinstance(exc, OSError) and tmp is not None:
                raise InputError(
                    f"--output {options.output_path}: cannot write it ({exc.strerror or exc})"
                ) from None
            raise
        finally:
            gc.enable()
    return summary


def _say(line: str) -> None:
    if sys.stderr is not None:
        sys.stderr.write(line + "\n")


def _listed(names: tuple[str, ...], shown: int = 10) -> str:
    """Names in a line: the first `shown`, and how many more."""
    listed = ", ".join(names[:shown])
    return listed + (f" and {len(names) - shown:,} more" if len(names) > shown else "")


class Answered(NamedTuple):
    """A chunk answered: its lines' text, its rows, the rows that failed, and under
    --strict where it stops ("row N: why"; the text then holds the rows before it)."""

    text: str
    rows: int
    failed: int
    stop: str | None


class Pipeline:
    """One process's answering of chunks: the rows' requests, the engine, the text."""

    def __init__(self, engine: Engine, asked: requests.Requests, writer, strict: bool):
        self.engine, self.asked, self.writer, self.strict = engine, asked, writer, strict

    def answer(self, rows: list, problems: dict, rows_before: int) -> Answered:
        writer = self.writer
        keys = list(map(self.asked.key, rows))
        for index in problems:  # an unreadable line: its own error, in its place
            keys[index] = source.Unreadable(rows_before + index)
        asking = writer.unknown(dict.fromkeys(keys))
        unreadable = source.Unreadable
        answers = answer(self.engine, self.asked, [k for k in asking if type(k) is not unreadable])
        answers.update({k: problems[k - rows_before] for k in asking if type(k) is unreadable})
        entries = writer.entries(keys, answers)
        failed = [n for n, entry in enumerate(entries) if entry.error is not None]
        if failed and self.strict:  # the rows before it, then the end of the output
            first = failed[0]
            stop = f"row {rows_before + first + 1}: {entries[first].error}"
            return Answered(writer.text(rows[:first], entries[:first]), first, 0, stop)
        return Answered(writer.text(rows, entries), len(rows), len(failed), None)


class WorkersError(SertError):
    """--jobs: a worker process could not be started, or ended without its answer."""

    exit_code = 1


def workers_for(jobs: int, cpus: int | None = None) -> int:
    """The processes --jobs N may have: at most the CPUs this process may run on."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cpus = cpus or os.cpu_count() or 1
    return max(1, min(jobs, cpus))


def answered(pipeline: Pipeline, chunks, jobs: int):
    """Each chunk answered, in the input's order: here, or by forked processes (each with
    its own copy of the pipeline and its caches; at most 2 chunks each ahead): at most
    `jobs`, the CPUs, and the chunks there are (a short input is answered here)."""
    chunks = iter(chunks)
    if jobs > 1:
        ahead = list(itertools.islice(chunks, workers_for(jobs)))
        jobs = len(ahead)
        chunks = itertools.chain(ahead, chunks)
    if jobs <= 1:
        rows_before = 0
        for rows, problems in chunks:
            yield pipeline.answer(rows, problems, rows_before)
            rows_before += len(rows)
        return
    import collections
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _WORKER_PIPELINE
    _WORKER_PIPELINE = pipeline  # what each forked worker answers with
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    pending: collections.deque = collections.deque()
    try:
        rows_before = 0
        for rows, problems in chunks:
            try:
                pending.append(pool.submit(_answer_in_worker, rows, problems, rows_before))
            except OSError as exc:  # fork() failed: too many processes, no memory
                raise WorkersError(
                    f"--jobs {jobs}: cannot start a worker process ({exc.strerror or exc});"
                    " try fewer jobs"
                ) from None
            rows_before += len(rows)
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise WorkersError(
            f"--jobs {jobs}: a worker process ended without its answer (killed, or out of "
            "memory?); the output is incomplete"
        ) from None
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)


_WORKER_PIPELINE: Pipeline | None = None


def _answer_in_worker(rows: list, problems: dict, rows_before: int) -> Answered:
    return _WORKER_PIPELINE.answer(rows, problems, rows_before)


def _stream(pipeline: Pipeline, chunks, out, options: Options, raw) -> Summary:
    summary = Summary()
    started = time.perf_counter()
    bar = _progress(raw, options.input_path)
    writer = pipeline.writer
    out.write(writer.head)
    empty = True
    try:
        for chunk in answered(pipeline, chunks, options.jobs):
            if chunk.text:
                out.write(writer.between(empty) + chunk.text)
                empty = False
            summary.read += chunk.rows
            summary.errors += chunk.failed
            summary.computed += chunk.rows - chunk.failed
            if chunk.stop is not None:
                out.write(writer.end(empty))
                raise RowError(chunk.stop)
            if bar:
                bar[0].update(bar[1], completed=raw.tell())
        out.write(writer.end(empty))
    finally:
        if bar:
            bar[0].stop()
    summary.seconds = time.perf_counter() - started
    return summary


def answer(engine: Engine, asked: requests.Requests, keys) -> dict:
    """Each request's result, or its error's message (naming the input's columns), all
    through one call of the engine. An unexpected exception (a bug) fails only the rows
    it comes from, as an internal error (output.internal_error): the chunk's requests are
    then asked one by one."""
    answers: dict = {}
    queries, pending = [], []
    for key in keys:
        try:
            queries.append(asked.query(key))
            pending.append(key)
        except SertError as exc:
            answers[key] = exc.worded(asked.column_of)
        except Exception as exc:  # a bug: this row says so, the others go on
            answers[key] = output.internal_error(exc)
    try:
        found_all = engine.answer_many(queries)
    except Exception:  # a bug in some request: find which, alone
        found_all = [_alone(engine, query) for query in queries]
    for key, found in zip(pending, found_all, strict=True):
        if isinstance(found, SertError):
            found = found.worded(asked.column_of)
        answers[key] = found
    return answers


def _alone(engine: Engine, query):
    """A query's result or error, through the engine alone; a bug's internal error."""
    try:
        return engine.answer_many([query])[0]
    except Exception as exc:
        return output.internal_error(exc)


def _exit_on_termination() -> None:
    """SIGTERM and SIGHUP raise SystemExit, so that the temporary file is removed."""
    import signal

    def terminated(number, _frame):
        raise SystemExit(128 + number)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), terminated)


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
