"""Shared fixtures. The CLI runs in this process through its own main() (sert), or as a
real subprocess where only a process will do (sert_process)."""

import contextlib
import gc
import json
import locale
import os
import re
import signal
import subprocess
import sys
import tempfile
import types
import warnings
from pathlib import Path

import pytest

import sert_cli

# Property tests draw the same examples every run (CI is deterministic, and a failure
# found is found again); `make fuzz` (SERT_FUZZ_EXAMPLES) explores at random instead.
if not os.environ.get("SERT_FUZZ_EXAMPLES"):
    from hypothesis import settings as _hypothesis

    _hypothesis.register_profile("deterministic", derandomize=True, database=None)
    _hypothesis.load_profile("deterministic")

os.environ["_TYPER_FORCE_DISABLE_TERMINAL"] = "1"
os.environ["TERMINAL_WIDTH"] = "120"
os.environ.pop("SERT_PROFILES_DIR", None)
# One BLAS thread: numpy's threads only contend on a busy 2-core machine (`validate`'s fit
# took minutes of wall time with them under load, seconds without).
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

EXAMPLAMINE = """\
schema: 1
name: examplamine              # lower case, the name users type
class: SSRI
aliases: [Examplex]
molar_mass: 300 g/mol
dosing:
  interval: 24 h
  label_range: [5 mg, 20 mg]     # minimum and maximum daily dose
  strengths: [5 mg, 10 mg]       # marketed unit strengths
pk:
  apparent_clearance: 20 L/h     # CL/F of a normal metabolizer; or clearance + bioavailability
  fraction_unbound: 0.5
  kp_uu_brain: 1.0
  half_life: 30 h
  phenotypes:                    # clearance by CYP phenotype
    gene: CYP2C19
    apparent_clearance: {PM: 8 L/h, IM: 14 L/h, NM: 20 L/h, RM: 24 L/h, UM: 28 L/h}
targets:
  SERT: {ki: 2 nM}
  NET: {ki: 5000 nM}
sources:
  - "where each number comes from"
"""


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    os.environ["SERT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session", autouse=True)
def validate_once():
    """`sert validate` computes the same report from the same profile files: once a
    session for each set of files (it is the slowest command, and the tests render it in
    a dozen ways). Each caller gets its own copy."""
    import copy

    from sert_cli import calibration

    real, reports = calibration.validate, {}

    def once(library):
        key = tuple((name, entry.path) for name, entry in sorted(library.entries.items()))
        if key not in reports:
            reports[key] = real(library)
        return copy.deepcopy(reports[key])

    calibration.validate = once
    yield
    calibration.validate = real


@pytest.fixture
def examplamine_dir(tmp_path: Path) -> Path:
    (tmp_path / "examplamine.yaml").write_text(EXAMPLAMINE, encoding="utf-8")
    return tmp_path


@pytest.fixture
def write_profile(tmp_path: Path):
    """Write a profile text to a file and return its path."""

    def write(text: str | bytes, name: str = "bad.yaml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write


# The command line, as `python -m sert_cli` runs it (for messages and for sert_process).
SERT = [sys.executable, "-m", "sert_cli"]
SERT_MAIN = str(Path(sert_cli.__file__).with_name("__main__.py"))
# Read once when a fresh interpreter starts (Python, the locale, Typer's terminal settings):
# a test that sets one of these needs a process of its own.
PROCESS_ONLY_ENV = (
    *("PYTHON", "LANG", "LC_", "TERMINAL_WIDTH", "_TYPER_", "TYPER_"),
    *("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS"),  # (Typer reads them on import)
)
# SERT_TEST_CROSSCHECK=1: every in-process call is also run as a process and must match.
CROSSCHECK = bool(os.environ.get("SERT_TEST_CROSSCHECK"))


def sert(*args: str, env: dict | None = None, stdin: str | None = None, timeout: float = 60):
    """Run `sert` in this process, through the program's own main(); returns a
    CompletedProcess (text) like sert_process. For what only a process has (signals,
    closed or broken pipes, file descriptors, the console script, the interpreter's start
    up), use sert_process. Past `timeout` seconds it raises subprocess.TimeoutExpired, as
    subprocess.run does."""
    overridden = [
        k
        for k, v in (env or {}).items()
        if k.startswith(PROCESS_ONLY_ENV) and os.environ.get(k) != v
    ]
    if overridden:
        raise ValueError(f"{overridden} are read at start-up: use sert_process")
    done = _run_in_process(args, env, stdin, timeout)
    if CROSSCHECK:
        _crosscheck(done, sert_process(*args, env=env, stdin=stdin, timeout=timeout))
    return done


def sert_process(
    *args: str, env: dict | None = None, stdin: str | None = None, timeout: float = 60
):
    """Run the real `sert` command as a subprocess; returns the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*SERT, *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=timeout,
    )


class _TimedOut(BaseException):
    """Past the timeout (a BaseException: the program's own handlers let it through)."""


def _time_out(_number, _frame):
    raise _TimedOut


def _run_in_process(args, env, stdin, timeout) -> subprocess.CompletedProcess:
    """main() given an Environment of its own streams, with sys.argv, os.environ and
    __main__ as `python -m sert_cli` has them, and every global main() and the command
    change (the collector, warning filters, signal handlers, the excepthook) put back
    afterwards.

    The streams are temporary files, so that a descriptor exists as it does for a pipe
    (batch writes to the descriptor and splices workers' output into it). The warning
    filters inside are pytest's (errors) plus what main() adds, so a warning the program
    lets escape fails the test rather than being printed."""
    from sert_cli.cli.app import main
    from sert_cli.cli.environment import Environment

    encoding = locale.getpreferredencoding(False)  # as the process and subprocess.run use
    saved_environ = dict(os.environ)
    saved_argv, saved_main, saved_hook = sys.argv, sys.modules["__main__"], sys.excepthook
    saved_signals = {
        n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM)
    }
    gc_enabled, gc_frozen = gc.isenabled(), gc.get_freeze_count()
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile())
        err = stack.enter_context(tempfile.TemporaryFile())
        if stdin is None:  # subprocess.run leaves the child pytest's stdin (/dev/null)
            source = stack.enter_context(open(os.devnull, "rb"))
        else:
            source = stack.enter_context(tempfile.TemporaryFile())
            source.write(stdin.encode(encoding))
            source.flush()
            source.seek(0)
        streams = (
            open(source.fileno(), encoding=encoding, closefd=False),
            open(out.fileno(), "w", encoding=encoding, closefd=False),
            open(err.fileno(), "w", 1, encoding, "backslashreplace", closefd=False),
        )
        stack.enter_context(warnings.catch_warnings())
        try:
            os.environ.update(env or {})
            sys.argv = [SERT_MAIN, *args]
            sys.modules["__main__"] = _MAIN  # click names the program from it
            signal.signal(signal.SIGALRM, _time_out)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            gc.disable()  # as cli/launch.py leaves it for main()
            try:
                main(Environment.of(*streams, os.environ))
                returncode = 0
            except SystemExit as exit_:
                returncode = _exit_status(exit_.code, streams[2])
            except (KeyboardInterrupt, _TimedOut):
                raise
            except BaseException:  # what the interpreter does with an uncaught exception
                with contextlib.redirect_stderr(streams[2]):  # the hook writes to sys.stderr
                    sys.excepthook(*sys.exc_info())
                returncode = 1
            signal.setitimer(signal.ITIMER_REAL, 0)
            for stream in streams[1:]:
                stream.flush()
        except _TimedOut:
            raise subprocess.TimeoutExpired([*SERT, *args], timeout) from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for stream in streams:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
            sys.argv, sys.modules["__main__"], sys.excepthook = saved_argv, saved_main, saved_hook
            for number, handler in saved_signals.items():
                signal.signal(number, handler)
            if not gc_frozen:
                gc.unfreeze()
            (gc.enable if gc_enabled else gc.disable)()
            for name in env or ():
                if name in saved_environ:
                    os.environ[name] = saved_environ[name]
                else:
                    os.environ.pop(name, None)
        return subprocess.CompletedProcess(
            [*SERT, *args], returncode, _text(out, encoding), _text(err, encoding)
        )


_MAIN = types.ModuleType("__main__")
_MAIN.__file__, _MAIN.__package__ = SERT_MAIN, "sert_cli"


def _exit_status(code, stderr) -> int:
    """The status the interpreter ends with for SystemExit(code) (and what it writes)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    stderr.write(f"{code}\n")
    return 1


def _text(handle, encoding: str) -> str:
    """What subprocess.run(text=True) makes of the bytes: universal new lines."""
    handle.seek(0)
    return handle.read().decode(encoding).replace("\r\n", "\n").replace("\r", "\n")


def _crosscheck(inside, outside) -> None:
    def same(text: str) -> str:
        return re.sub(r"[0-9,]+ rows/s", "N rows/s", text)  # batch's measured rate

    assert (inside.returncode, same(inside.stdout), same(inside.stderr)) == (
        outside.returncode,
        same(outside.stdout),
        same(outside.stderr),
    ), inside.args


def sert_json(*args: str, env: dict | None = None):
    done = sert(*args, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _ask(query, profile):
    from sert_cli.profiles.library import Library
    from sert_cli.queries.engine import answer

    return answer(query, Library.of(profile))


def _patient(requested):
    from sert_cli.pgx.patient import Patient

    return Patient(tuple((requested or {}).items()))


def _affinity(profile) -> str:
    return "pet" if profile.parent.pet else "in-vitro"


def occupancy_at(profile, dose_mg, interval_h=None, requested=None):
    """One occupancy query through the engine, for a profile built in a test."""
    from sert_cli.queries.values import OccupancyQuery

    query = OccupancyQuery(
        profile.name, dose_mg, interval_h, _patient(requested), _affinity(profile)
    )
    return _ask(query, profile)


def dose_for_target(profile, target=0.8, transporter="SERT", interval_h=None, requested=None):
    """One dose query through the engine, for a profile built in a test."""
    from sert_cli.queries.values import DoseQuery

    query = DoseQuery(
        profile.name, target, transporter, interval_h, _patient(requested), _affinity(profile)
    )
    return _ask(query, profile)


def run_batch_text(text: str, *args: str) -> dict[str, dict]:
    """`sert batch - --fields all` on CSV text: the output rows by their id column."""
    import csv
    import io

    done = sert("batch", "-", "--fields", "all", *args, stdin=text)
    return {row["id"]: row for row in csv.DictReader(io.StringIO(done.stdout))}


def _sert_plateau() -> float:
    """The [11C]DASB plateau the profiles carry (estimated by the PET fit, so read, not
    hard-coded: a refit moves it)."""
    from sert_cli.profiles.library import load_library

    return load_library(use_cache=False).profiles["escitalopram"].parent.pet["SERT"].emax


SERT_PLATEAU = _sert_plateau()
# what a target above the plateau is told
LEVELS_OFF = f"levels off at {SERT_PLATEAU * 100:.0f} %"
