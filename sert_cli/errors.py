"""The exceptions a user can cause, each with the exit status it ends in.

2: the input or the command line is wrong.  1: the request is valid but the model
cannot satisfy it (an unreachable target, a phenotype the profile has no data for).
"""


class SertError(Exception):
    exit_code = 2


class InputError(SertError, ValueError):
    """Bad command-line value, unknown drug, gene or phenotype."""


class ProfileError(InputError):
    """A drug profile that does not validate; carries file, line and field."""

    def __init__(
        self, message: str, *, path: str = "", line: int | None = None, field: str = ""
    ) -> None:
        self.path, self.line, self.field, self.detail = path, line, field, message
        where = path
        if line is not None:
            where += f":{line}"
        if field:
            where += f": {field}"
        super().__init__(f"{where}: {message}" if where else message)


class ModelError(SertError):
    """The request is well formed but the model cannot answer it."""

    exit_code = 1
