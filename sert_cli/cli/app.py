"""The Typer app: its settings, `build_app` (the commands, from the registry in common.py),
and `main`.

Only the command the command line names is built (Typer builds a click command for each
registered function at every start, and a single query should not pay for eleven).
"""

import gc
import sys
from typing import Annotated

import typer

from sert_cli import __version__
from sert_cli.cli.common import COMMANDS, PROFILE_COMMANDS, RUNNING_IN, environment, quiet_stdout
from sert_cli.cli.environment import Environment

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


def _version(value: bool) -> None:
    if value:
        environment().stdout.write(f"sert {__version__}\n")
        raise typer.Exit()


def root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """Serotonin and norepinephrine transporter occupancy calculator."""


def help_command(
    context: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[COMMAND]",
            help="A command, e.g. occupancy or profiles show [default: sert itself].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show the help of sert or of a COMMAND: the same as --help."""
    from typer.main import get_command

    from sert_cli.suggest import did_you_mean

    words = [word for typed in command or () for word in typed.split()]
    known = [*COMMANDS, "profiles", "help"]
    if words and words[0] not in known:
        _refuse(f"no command '{words[0]}'{did_you_mean(words[0], known)}")
    if words[:1] == ["profiles"] and len(words) > 1 and words[1] not in PROFILE_COMMANDS:
        _refuse(f"no command 'profiles {words[1]}'{did_you_mean(words[1], PROFILE_COMMANDS)}")
    if len(words) > (2 if words[:1] == ["profiles"] else 1):
        _refuse(f"give one command to show the help of, not '{' '.join(words)}'")
    prog = context.find_root().info_name
    # the help `sert COMMAND --help` prints, from an app built as that command line builds it
    get_command(build_app(words))([*words, "--help"], prog_name=prog)


def _refuse(message: str) -> None:
    from sert_cli.errors import printable

    environment().stderr.write(f"sert: error: {printable(message)}\n")
    raise typer.Exit(2)


def build_app(argv: list[str]) -> typer.Typer:
    from sert_cli.cli import commands  # noqa: F401 - registers the commands

    app = typer.Typer(**APP_SETTINGS)
    app.callback()(root)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    every = [*COMMANDS, "profiles", "help"]
    names = [wanted] if wanted in every else every
    for name in names:
        if name == "help":
            app.command("help")(help_command)
        elif name == "profiles":
            profiles_app = typer.Typer(**PROFILES_SETTINGS)
            for sub, function in PROFILE_COMMANDS.items():
                profiles_app.command(sub)(function)
            app.add_typer(profiles_app, name="profiles")
        else:
            app.command(name)(COMMANDS[name])
    return app


def main(env: Environment | None = None) -> None:
    """Run the command in env: by default the process's own, read once here; a test gives its
    own streams and terminal. A reader that closes the pipe early ends it quietly with
    status 0, the same every time (README "Exit codes"). Output that cannot be written (a
    full disk, a closed stdout) is one line on stderr and status 2, never a traceback."""
    env = env or Environment.of_process()
    if env.stdout is None:  # started with stdout closed: nowhere to put the data
        _say(env, "sert: error: cannot write the output: standard output is closed")
        sys.exit(2)
    _prepare_streams(env)
    running = RUNNING_IN.set(env)
    # What writes without asking sert (Typer's help and usage errors, batch's descriptors)
    # uses sys's streams: while sert runs, they are the environment's.
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = env.stdin, env.stdout, env.stderr
    try:
        _run(env)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        RUNNING_IN.reset(running)


def _run(env: Environment) -> None:
    try:
        app = build_app(sys.argv[1:])
        # what start-up made lives to the end: the collector skips it (cli/launch.py)
        gc.freeze()
        gc.enable()
        app(prog_name="sert")  # as the console script names it, for every way in
    except BrokenPipeError:
        quiet_stdout(env.stdout)
        sys.exit(0)
    except OSError as exc:  # writing the output failed
        quiet_stdout(env.stdout)
        _say(env, f"sert: error: cannot write the output: {exc.strerror or exc}")
        sys.exit(2)
    except SystemExit as exit_:
        try:
            env.stdout.flush()
        except BrokenPipeError:
            quiet_stdout(env.stdout)
            sys.exit(0)
        except OSError as exc:
            quiet_stdout(env.stdout)
            _say(env, f"sert: error: cannot write the output: {exc.strerror or exc}")
            sys.exit(2)
        raise exit_ from None


def _prepare_streams(env: Environment) -> None:
    """What the environment could break before a line is written: an encoding that cannot
    hold the output (escaped instead, which JSON reads as the same text), and numpy's
    floating point warnings (results are checked for finiteness instead)."""
    import warnings

    for stream in (env.stdout, env.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    warnings.filterwarnings("ignore", category=RuntimeWarning)


def _say(env: Environment, line: str) -> None:
    if env.stderr is None:
        return
    try:
        env.stderr.write(line + "\n")
        env.stderr.flush()
    except OSError:
        pass
