"""What every command shares: the registry the commands are collected in, error wording,
the profile library with its notes, the environment, and output in the chosen format.

The commands import only this (and options.py); app.py imports the commands and builds
the Typer app from the registry, so nothing imports the module that imports it.
"""

import functools
import inspect
import os
from contextvars import ContextVar

import typer

from sert_cli.cli.environment import Environment
from sert_cli.errors import InputError, SertError, printable
from sert_cli.vocabulary import (
    DEFAULT_MAX_CUT,
    DEFAULT_TAPER_STEP_PP,
    DEFAULT_TARGET,
    PRIMARY_TRANSPORTER,
)

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
    "drugs": "DRUG[:DOSE]",
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
    "metabolite_level": "--metabolite-level",
    "sum_level": "--sum-level",
    "hours_after_dose": "--hours-after-dose",
    "from_dose_mg": "--from",
    "step_pp": "--step",
    "fraction": "--fraction",
    "weeks": "--weeks",
    "to_drug": "TO_DRUG",
    "strategy": "--strategy",
    "max_cut": "--max-cut",
    "schedule": "--schedule",
    "missed": "--missed",
}


# The parameters of a command that may set a query field, each with how a message names it
# (a field not listed is set by the parameter of its own name, named as FLAGS says).
FIELD_PARAMETERS = {
    "dose_mg": (
        ("dose", "--dose"),
        ("dose_argument", "DOSE"),
        ("schedule", "--schedule"),
        ("schedule_file", "--schedule-file"),
        ("drugs", "DRUG:DOSE"),  # compare's escitalopram:10
    ),
    "from_dose_mg": (("from_dose", "--from"), ("dose", "--dose"), ("dose_argument", "DOSE")),
    "schedule": (("schedule", "--schedule"), ("schedule_file", "--schedule-file")),
    "interval_h": (("interval", "--interval"),),
    # the points a time course asks for: as many from --until as from --step
    "until_h": (("until", "--until"), ("step", "--step")),
    # simulate's number of doses: --doses, or --days of them
    "doses": (("doses", "--doses"), ("days", "--days")),
    "step_h": (("step", "--step"),),
    "step_pp": (("step", "--step"),),
    "with": (("with_", "--with"),),
    "to_drug": (("to_drug", "TO_DRUG"), ("dose_argument", "TO_DRUG")),
}
# A field the user did not set is described as its default, never as an option not typed.
DEFAULT_WORDS = {
    "target": f"the default target of {DEFAULT_TARGET * 100:g} %",
    "transporter": f"the default transporter, {PRIMARY_TRANSPORTER}",
    "interval_h": "the profile's dosing interval (the default)",
    "step_h": "the default step of 1 h",
    "step_pp": f"the default step of {DEFAULT_TAPER_STEP_PP:g} percentage points",
    "max_cut": f"the default largest cut of {DEFAULT_MAX_CUT:g}",
    "weeks": "the default weeks per step",
    "until_h": "the default end (5 half-lives past the last dose)",
    "hours_after_dose": "the default sampling time (a trough)",
    "affinity": "the default affinity, pet",
}


def command(name: str | None = None, group: dict | None = None):
    """Collect a command; build_app registers only what the command line needs."""

    def collect(function):
        (COMMANDS if group is None else group)[name or function.__name__] = function
        return function

    return collect


def flag_namer(options: dict, given=None):
    """Name a query field as the option it was typed in: a gene by the --phenotype or
    --genotype value that named it. With `given` (parameter name -> whether the user set
    it, None where the command has no such parameter), a field no given parameter set is
    described as its default: the message names only options the user typed."""

    def name(field: str) -> str:
        for flag in ("genotype", "phenotype"):
            for typed in options.get(flag) or ():
                if typed.partition("=")[0].strip().upper() == field:
                    return f"--{flag} {typed}"
        if options.get("pharmcat") and field.startswith("CYP"):
            return f"--pharmcat {options['pharmcat']} ({field})"
        if given is not None:
            candidates = FIELD_PARAMETERS.get(field) or ((field, FLAGS.get(field, field)),)
            known = [(p, label) for p, label in candidates if given(p) is not None]
            for parameter, label in known:
                if given(parameter):
                    return label
            if known:
                return _default_words(field, options.get(known[0][0]))
        return FLAGS.get(field, field)

    return name


def _default_words(field: str, value) -> str:
    if field in DEFAULT_WORDS:
        return DEFAULT_WORDS[field]
    word = FLAGS.get(field, field).lstrip("-")
    return f"the default {word}" if value is None else f"the default {word} ({value})"


def _given_on_command_line(context):
    """parameter name -> True (the user set it), False (its default), None (no such
    parameter) for the command running in `context`; None without one."""
    if context is None:
        return None

    def given(parameter: str) -> bool | None:
        source = context.get_parameter_source(parameter)
        if source is None:
            return None
        return source.name not in ("DEFAULT", "DEFAULT_MAP")

    return given


def reports_errors(function):
    """User errors end as one line on stderr and their exit status, never a traceback.
    Typer hands the wrapper the command's context (a parameter added here), which says
    which options the user gave: a message names only those."""

    @functools.wraps(function)
    def wrapper(*args, sert_context: typer.Context | None = None, **kwargs):
        try:
            return function(*args, **kwargs)
        except SertError as exc:
            namer = flag_namer(kwargs, _given_on_command_line(sert_context))
            message = printable(exc.worded(namer, flag_namer(kwargs)))
            environment().stderr.write(f"sert: error: {message}\n")
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # the reader stopped reading: not an error of ours
            quiet_stdout()
            raise typer.Exit(0) from None

    signature = inspect.signature(function)
    context = inspect.Parameter(
        "sert_context", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=typer.Context
    )
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), context])
    return wrapper


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
        if explain:  # never dropped without a word: a CSV has no place for the steps
            raise InputError(
                "--explain: the steps are in the table and in JSON (`--format json`, its "
                "trace field); CSV holds the result's rows only"
            )
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
