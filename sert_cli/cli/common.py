"""What every command shares: the registry the commands are collected in, error wording,
the profile library with its notes, the environment, and output in the chosen format.

The commands import only this (and options.py); app.py imports the commands and builds
the Typer app from the registry, so nothing imports the module that imports it.
"""

import functools
import os
from contextvars import ContextVar

import typer

from sert_cli.cli.environment import Environment
from sert_cli.errors import SertError

# The environment main() runs in: set by main() for the length of a run (Typer calls the
# commands, so it cannot hand them an argument of its own); read through environment().
RUNNING_IN: ContextVar[Environment] = ContextVar("RUNNING_IN")
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
            environment().stderr.write(f"sert: error: {message}\n")
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
        environment().stderr.write(
            f"note: the alias '{printable(alias)}' in {printable(path)} already names the "
            f"bundled {bundled}, which keeps it\n"
        )
    return library


def environment() -> Environment:
    """The environment of this run: main()'s, else (the app built and called without main,
    as Typer's test runner does) the process's streams as they are now."""
    return RUNNING_IN.get(None) or Environment.of_process()


def emit(fmt, result, explain: bool = False) -> None:
    """A query result in the chosen format: every renderer takes the result itself."""
    env = environment()
    if fmt == "json":
        from sert_cli.render.json_format import render

        env.stdout.write(render(result.record(explain)))
    elif fmt == "csv":
        from sert_cli.render.csv_format import render

        env.stdout.write(render(result.rows()))
    else:
        from sert_cli.render.table_format import draw

        draw(result, explain, env)


def emit_records(fmt, data, draw) -> None:
    """Plain records (profiles, phenotypes, validation) in the chosen format; a table is
    draw(env)."""
    env = environment()
    if fmt == "json":
        from sert_cli.render.json_format import render

        env.stdout.write(render(data))
    elif fmt == "csv":
        from sert_cli.render.csv_format import render

        env.stdout.write(render(data if isinstance(data, list) else [data]))
    else:
        draw(env)


def quiet_stdout(stdout=None) -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, (stdout or environment().stdout).fileno())
