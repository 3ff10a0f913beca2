"""Files named by the user, read as untrusted input: only a regular file is read, and only
up to a bound, so that a FIFO nobody writes to, /dev/zero, /dev/stdin of a terminal or a
folder is refused at once instead of hanging or filling memory. The caller words the
error with its own field (`--pharmcat`, `--schedule-file`) and its own limit."""

import os
import stat


class NotAFile(OSError):
    """The path names a folder, a pipe, a device or a socket: its reason in words."""


def read_at_most(path: str, limit_bytes: int) -> bytes:
    """The first limit_bytes + 1 bytes of a regular file (more than limit_bytes: the
    caller's "too large"). Opened without blocking (a FIFO with no writer would wait),
    checked with fstat before a byte is read. Raises OSError (NotAFile among them)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotAFile(
                "a folder, not a file"
                if stat.S_ISDIR(mode)
                else "a pipe, a device or a socket, not a file"
            )
        chunks, left = [], limit_bytes + 1
        while left > 0:
            chunk = os.read(descriptor, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def reason(exc: OSError) -> str:
    """Why a file could not be read, in words (NotAFile's own, else the system's)."""
    if isinstance(exc, NotAFile):
        return str(exc)
    return f"cannot read it ({exc.strerror or exc})"
