"""Files named by the user, read as untrusted input: only a regular file is read, and only
up to a bound, so that a FIFO nobody writes to, /dev/zero, /dev/stdin of a terminal or a
folder is refused at once instead of hanging or filling memory. The caller words the
error with its own field (`--pharmcat`, `--schedule-file`) and its own limit."""

import os
import stat


class NotAFile(OSError):
    """The path names a folder, a pipe, a device or a socket: its reason in words."""


def read_at_most(path: str, limit_bytes: int) -> bytes | None:
    """A regular file's bytes, or None where it holds more than limit_bytes (nothing is
    read when its size says so; one byte over where it grew while read). Opened without
    blocking (a FIFO with no writer would wait), checked before the open and again with
    fstat before a byte is read. Raises OSError (NotAFile among them)."""
    check_regular(os.stat(path).st_mode)  # a device is not even opened
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    descriptor = os.open(path, flags)
    try:
        info = os.fstat(descriptor)
        check_regular(info.st_mode)  # what was opened (swapped in since?)
        if info.st_size > limit_bytes:
            return None
        chunks, left = [], limit_bytes + 1
        while left > 0:
            chunk = os.read(descriptor, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(descriptor)
    raw = b"".join(chunks)
    return None if len(raw) > limit_bytes else raw


def check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotAFile(
            "a folder, not a file"
            if stat.S_ISDIR(mode)
            else "a pipe, a device or a socket, not a file"
        )


def reason(exc: OSError) -> str:
    """Why a file could not be read, in words (NotAFile's own, else the system's)."""
    if isinstance(exc, NotAFile):
        return str(exc)
    return f"cannot read it ({exc.strerror or exc})"
