"""Shared fixtures. The CLI is run as a real subprocess, as a user or script would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["_TYPER_FORCE_DISABLE_TERMINAL"] = "1"
os.environ["TERMINAL_WIDTH"] = "120"
os.environ.pop("SERT_PROFILES_DIR", None)

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


def sert(*args: str, env: dict | None = None, stdin: str | None = None, timeout: float = 60):
    """Run the real `sert` command; returns the CompletedProcess (text)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sert_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=timeout,
    )


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
    """`sert batch -` on CSV text: the output rows by their id column."""
    import csv
    import io

    done = sert("batch", "-", *args, stdin=text)
    return {row["id"]: row for row in csv.DictReader(io.StringIO(done.stdout))}
