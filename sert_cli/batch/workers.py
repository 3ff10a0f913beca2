"""`sert batch` over several processes: a file's chunks shared among forked workers.

Worker k opens the file itself and answers chunks k, k + N, k + 2N, ... (N workers); it
sends each chunk's lines to the parent through its own pipe, as one frame, and the parent
writes the frames in chunk order. The output is byte for byte the one process's output,
and --strict stops at the same row. Each worker keeps its own caches.
"""

import contextlib
import errno
import io
import itertools
import os
import signal
import struct

from sert_cli.errors import SertError

# kind, rows, rows with errors, the worker's position in the input (bytes), payload bytes
FRAME = struct.Struct("<BQQQQ")
LINES, END, STRICT, FAILED = range(4)


class RowError(Exception):
    """A bad row under --strict."""


class WorkerError(SertError):
    """A worker stopped without finishing its chunks."""

    exit_code = 1


def stream(jobs: int, reopen, answer_chunk, writer, out, on_frame) -> None:
    """Answer the input's chunks over `jobs` workers and write their lines to `out`.

    reopen() -> (binary input, chunks): the input opened anew, in a worker.
    answer_chunk(chunk, problems, rows_before) -> (plans, failed): a chunk's plans; raises
    the --strict error. on_frame(rows, failed, position) counts a written chunk."""
    workers: list[int] = []
    pipes: list[int] = []
    try:
        for k in range(jobs):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns
                for fd in (read_end, *pipes):
                    os.close(fd)
                _work(k, jobs, reopen, answer_chunk, writer, write_end)
            os.close(write_end)
            workers.append(pid)
            pipes.append(read_end)
        copy = _copier(out)
        for n in itertools.count():
            pipe = pipes[n % jobs]
            kind, rows, failed, position, size = FRAME.unpack(_read(pipe, FRAME.size))
            if kind == LINES:
                copy(pipe, size)
                on_frame(rows, failed, position)
                writer.lines_written_elsewhere()
            elif kind == END:
                break
            elif kind == STRICT:
                raise RowError(_read(pipe, size).decode("utf-8"))
            else:
                message = _read(pipe, size).decode("utf-8")
                raise WorkerError(f"a batch worker failed: {message}")
        for pid in workers:  # each has sent its last frame
            os.waitpid(pid, 0)
        workers.clear()
    finally:
        _stop(workers, pipes)


def _read(pipe: int, size: int) -> bytes:
    """Exactly size bytes from the pipe (a worker that stopped sends fewer)."""
    parts = []
    while size:
        part = os.read(pipe, min(size, 1 << 20))
        if not part:
            raise WorkerError("a batch worker stopped before it finished its chunks")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _copier(out):
    """copy(pipe, size): size bytes from the pipe to out, moved by the kernel (splice)
    where out is a file or a pipe that allows it, else read and written."""
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    spliced = fd is not None and hasattr(os, "splice")

    def copy(pipe: int, size: int) -> None:
        nonlocal spliced
        if spliced:
            out.flush()
            try:
                while size:
                    moved = os.splice(pipe, fd, size)
                    if not moved:
                        raise WorkerError("a batch worker stopped before it finished its chunks")
                    size -= moved
                return
            except OSError as exc:  # refused before a byte moved, for this kind of output
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EBADF):
                    raise
                spliced = False
        out.write(_read(pipe, size))

    return copy


def _stop(workers: list[int], pipes: list[int]) -> None:
    """Close the pipes and end the workers still running (the parent stopped early)."""
    for fd in pipes:
        with contextlib.suppress(OSError):
            os.close(fd)
    for pid in workers:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)


def _work(k: int, jobs: int, reopen, answer_chunk, writer, write_end: int) -> None:
    """Worker k's life: its chunks' frames, then END (or the --strict row, or what went
    wrong); it never returns."""
    status = 0
    pipe = open(write_end, "wb")  # noqa: SIM115 - the process ends below
    try:
        raw, chunks = reopen()
        if k:  # the first line (chunk 0's) is worker 0's
            writer.lines_written_elsewhere()
        rows_before = 0
        for n, (chunk, problems) in enumerate(chunks):
            if n % jobs == k:
                try:
                    plans, failed = answer_chunk(chunk, problems, rows_before)
                except RowError as exc:
                    _send(pipe, STRICT, str(exc).encode("utf-8"))
                    return
                writer.out = lines = io.BytesIO()
                writer.write(chunk, plans)
                _send(pipe, LINES, lines.getbuffer(), len(chunk), len(failed), raw.tell())
            rows_before += len(chunk)
        _send(pipe, END, b"")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        status = 1
        with contextlib.suppress(OSError):
            _send(pipe, FAILED, f"{type(exc).__name__}: {exc}".encode())
    finally:
        with contextlib.suppress(OSError):
            pipe.flush()
        os._exit(status)


def _send(pipe, kind: int, payload, rows: int = 0, failed: int = 0, position: int = 0):
    """One frame, flushed: the parent may be waiting for it."""
    pipe.write(FRAME.pack(kind, rows, failed, position, len(payload)))
    pipe.write(payload)
    pipe.flush()
