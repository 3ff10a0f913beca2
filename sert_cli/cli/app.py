"""The Typer app: settings, the registry of commands, error wording, output, and `main`.

Only the command the command line names is built (Typer builds a click command for each
registered function at every start, and a single query should not pay for eleven).
"""

import functools
import gc
import os
import sys

import typer

from sert_cli import __version__
from sert_cli.errors import SertError

DISCLAIMER = "Educational and research tool: not medical advice, not for prescribing."  # --help
CONTEXT = {"help_option_names": ["-h", "--help"]}
APP_SETTINGS = {
    "help": "Serotonin (SERT) and norepinephrine (NET) transporter occupancy of antidepressants "
    f"at a dose, and the dose for a target occupancy, by CYP phenotype.\n\n{DISCLAIMER}",
    "epilog": "Exit status: 0 success (also when the reader of a pipe stops reading early); "
    "1 the model cannot satisfy the request; 2 bad input or usage.",
    "add_completion": True,
    "no_args_is_help": True,
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
    "context_settings": CONTEXT,
}
PROFILES_SETTINGS = {
    "help": "List, show and check drug profiles.",
    "no_args_is_help": True,
    "rich_markup_mode": None,
    "context_settings": CONTEXT,
}
COMMANDS: dict[str, object] = {}  # name -> function, registered on the app by build_app
PROFILE_COMMANDS: dict[str, object] = {}
# How the command line calls each query field in its messages.
FLAGS = {
    "dose_mg": "--dose",
    "doses_mg": "--doses",
    "interval_h": "--interval",
    "target": "--target",
    "transporter": "--transporter",
    "with": "--with",
    "drug": "DRUG",
    "affinity": "--affinity",
    "doses": "--doses",
    "days": "--days",
    "until_h": "--until",
    "step_h": "--step",
    "assume_nm": "--assume-nm",
    "pharmcat": "--pharmcat",
    "age": "--age",
    "crcl": "--crcl",
    "hepatic": "--hepatic",
    "sex": "--sex",
    "smoker": "--smoker",
    "patient": "the patient",
    "n": "--n",
    "seed": "--seed",
    "ancestry": "--ancestry",
    "level": "--level",
    "hours_after_dose": "--hours-after-dose",
    "from_dose_mg": "--from",
    "step_pp": "--step",
    "fraction": "--fraction",
    "weeks": "--weeks",
    "to_drug": "TO_DRUG",
    "strategy": "--strategy",
    "max_cut": "--max-cut",
}


def command(name: str | None = None, group: dict | None = None):
    """Collect a command; build_app registers only what the command line needs."""

    def collect(function):
        (COMMANDS if group is None else group)[name or function.__name__] = function
        return function

    return collect


def flag_namer(options: dict):
    """Name a query field as the option it was typed in: a gene by the --phenotype or
    --genotype value that named it."""

    def name(field: str) -> str:
        for flag in ("genotype", "phenotype"):
            for typed in options.get(flag) or ():
                if typed.partition("=")[0].strip().upper() == field:
                    return f"--{flag} {typed}"
        if options.get("pharmcat") and field.startswith("CYP"):
            return f"--pharmcat {options['pharmcat']} ({field})"
        return FLAGS.get(field, field)

    return name


def reports_errors(function):
    """User errors end as one line on stderr and their exit status, never a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except SertError as exc:
            message = printable(exc.worded(flag_namer(kwargs)))
            sys.stderr.write(f"sert: error: {message}\n")
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # the reader stopped reading: not an error of ours
            quiet_stdout()
            raise typer.Exit(0) from None

    return wrapper


def printable(text: str) -> str:
    """Text a user typed, made safe to echo: control characters (terminal escapes, new
    lines) are written as escapes, so an error stays one harmless line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def profiles_library(profiles_dir: str | None):
    from sert_cli.profiles.library import load_library

    library = load_library(profiles_dir)
    for alias, (path, bundled) in library.taken_aliases.items():
        sys.stderr.write(
            f"note: the alias '{printable(alias)}' in {printable(path)} already names the "
            f"bundled {bundled}, which keeps it\n"
        )
    return library


def emit(fmt, result, explain: bool = False) -> None:
    """A query result in the chosen format: every renderer takes the result itself."""
    if fmt == "json":
        from sert_cli.render.json_format import render

        sys.stdout.write(render(result.record(explain)))
    elif fmt == "csv":
        from sert_cli.render.csv_format import render

        sys.stdout.write(render(result.rows()))
    else:
        from sert_cli.render.table_format import draw

        draw(result, explain)


def emit_records(fmt, data, draw) -> None:
    """Plain records (profiles, phenotypes, validation) in the chosen format."""
    if fmt == "json":
        from sert_cli.render.json_format import render

        sys.stdout.write(render(data))
    elif fmt == "csv":
        from sert_cli.render.csv_format import render

        sys.stdout.write(render(data if isinstance(data, list) else [data]))
    else:
        draw()


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"sert {__version__}\n")
        raise typer.Exit()


def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Serotonin and norepinephrine transporter occupancy calculator."""


def build_app(argv: list[str]) -> typer.Typer:
    from sert_cli.cli import commands  # noqa: F401 - registers the commands

    app = typer.Typer(**APP_SETTINGS)
    app.callback()(root)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    names = [wanted] if wanted in COMMANDS or wanted == "profiles" else [*COMMANDS, "profiles"]
    for name in names:
        if name == "profiles":
            profiles_app = typer.Typer(**PROFILES_SETTINGS)
            for sub, function in PROFILE_COMMANDS.items():
                profiles_app.command(sub)(function)
            app.add_typer(profiles_app, name="profiles")
        else:
            app.command(name)(COMMANDS[name])
    return app


def main() -> None:
    """Run the command; a reader that closes the pipe early ends it quietly with status 0,
    the same every time (README "Exit codes"). Output that cannot be written (a full disk,
    a closed stdout) is one line on stderr and status 2, never a traceback."""
    if sys.stdout is None:  # started with stdout closed: nowhere to put the data
        _say("sert: error: cannot write the output: standard output is closed")
        sys.exit(2)
    _prepare_streams()
    try:
        app = build_app(sys.argv[1:])
        # what start-up made lives to the end: the collector skips it (cli/launch.py)
        gc.freeze()
        gc.enable()
        app()
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(0)
    except OSError as exc:  # writing the output failed
        quiet_stdout()
        _say(f"sert: error: cannot write the output: {exc.strerror or exc}")
        sys.exit(2)
    except SystemExit as exit_:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_stdout()
            sys.exit(0)
        except OSError as exc:
            quiet_stdout()
            _say(f"sert: error: cannot write the output: {exc.strerror or exc}")
            sys.exit(2)
        raise exit_ from None


def _prepare_streams() -> None:
    """What the environment could break before a line is written: an encoding that cannot
    hold the output (escaped instead, which JSON reads as the same text), and numpy's
    floating point warnings (results are checked for finiteness instead)."""
    import warnings

    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    warnings.filterwarnings("ignore", category=RuntimeWarning)


def _say(line: str) -> None:
    if sys.stderr is None:
        return
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except OSError:
        pass


def quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
