"""The exceptions a user can cause, each with the exit status it ends in.

2: the input or the command line is wrong.  1: the request is valid but the model
cannot satisfy it (an unreachable target, a phenotype the profile has no data for).

A domain error names the query field it is about (`dose_mg`, `CYP2C19`, `with`), never a
command-line flag: the command line words it as its option, batch as its column.
"""

from collections.abc import Callable


def printable(text: str, *, lines: bool = False) -> str:
    """Text from an input (typed, or read from a file), made safe to show on a terminal:
    control characters (terminal escapes, new lines, C1 codes) are written as escapes, so a
    line stays one harmless line; with `lines`, a multi-line text (a profile's notes) keeps
    its line breaks ("\\n") and only the rest is escaped. The one helper for it, below
    every layer."""
    if text.isprintable():
        return text
    if lines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def held(exc: BaseException) -> BaseException:
    """An error kept as a value (a cache's, a batch row's answer): without its traceback
    and without the exceptions it was raised while handling (`raise ... from None` hides
    them but keeps them as __context__). Their tracebacks' frames would hold what holds
    the error, a cycle that batch (which runs with the cyclic collector off) never frees:
    a whole chunk's rows kept for each error row."""
    exc.__context__ = exc.__cause__ = None
    return exc.with_traceback(None)


class SertError(Exception):
    exit_code = 2

    def __init__(self, message: str, *, field: str = "", remedy: str = "") -> None:
        self.message, self.field, self.remedy = " ".join(str(message).split()), field, remedy
        super().__init__(self.message)

    def worded(
        self, name_field: Callable[[str], str], name_remedy: Callable[[str], str] | None = None
    ) -> str:
        """The one-line message, prefixed with what `name_field` calls the field, and
        ending with the remedy (a field too, such as assume_nm) named by `name_remedy`
        (by default the same way: a remedy is an option to type, not one typed)."""
        message = f"{name_field(self.field)}: {self.message}" if self.field else self.message
        if not self.remedy:
            return message
        return f"{message} (use {(name_remedy or name_field)(self.remedy)})"


class InputError(SertError, ValueError):
    """Bad query value, unknown drug, gene or phenotype."""


class ProfileError(InputError):
    """A drug profile that does not validate; carries file, line and field."""

    def __init__(
        self, message: str, *, path: str = "", line: int | None = None, field: str = ""
    ) -> None:
        self.path, self.line, self.detail = path, line, message
        where = path
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}" if where else message)
        self.field = field

    def worded(self, name_field: Callable[[str], str], name_remedy=None) -> str:
        return self.message  # already names its file, line and field


class ModelError(SertError):
    """The request is well formed but the model cannot answer it."""

    exit_code = 1
