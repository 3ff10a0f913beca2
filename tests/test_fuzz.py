"""Fuzzing: generated profiles and command lines end in a result or a clean error.

Bounded here (SERT_FUZZ_EXAMPLES, default 60 per test); `make fuzz` runs 2,000.
"""

import json
import os

import pytest
import yaml
from conftest import EXAMPLAMINE, dose_for_target, occupancy_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile import assert_sane, invoke

from sert_cli.errors import ProfileError, SertError
from sert_cli.profiles.library import load_profile_file

EXAMPLES = int(os.environ.get("SERT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BASE = yaml.safe_load(EXAMPLAMINE)
PATHS = [
    ("molar_mass",),
    ("dosing", "interval"),
    ("dosing", "label_range"),
    ("dosing", "strengths"),
    ("pk", "apparent_clearance"),
    ("pk", "fraction_unbound"),
    ("pk", "kp_uu_brain"),
    ("pk", "half_life"),
    ("pk", "phenotypes", "gene"),
    ("pk", "phenotypes", "apparent_clearance", "PM"),
    ("targets", "SERT", "ki"),
    ("targets", "NET", "ki"),
    ("name",),
    ("schema",),
    ("sources",),
    ("pk",),
    ("targets",),
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "20 L/h",
            "1e308 L/h",
            "1e-308 L/h",
            "0 L/h",
            "-3 L/h",
            "nan L/h",
            "20 mg",
            "5 ng/mL",
            "2 nM",
            "24 h",
            "1e9 h",
            "300 g/mol",
            "abc",
            "",
            "CYP2D6",
            "CYP9",
            "PM",
            "0.5",
            "1.5",
            "1e-3",
            "yes",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10**12),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["5 mg", "10 mg", "x", 3]), max_size=3),
    st.dictionaries(
        st.sampled_from(["ki", "kd", "PM", "NM", "x"]),
        st.sampled_from(["2 nM", "8 L/h", 1, "q"]),
        max_size=3,
    ),
)


@st.composite
def mutated_profiles(draw):
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if draw(st.booleans()):
            node[path[-1]] = draw(VALUES)
        else:
            node.pop(path[-1], None)
    if draw(st.booleans()):
        data[draw(st.sampled_from(["extra", "nmae", "pk"]))] = draw(VALUES)
    return data


@FUZZ
@given(
    mutated_profiles(),
    st.floats(min_value=1e-6, max_value=1e6),
    st.floats(min_value=1e-3, max_value=0.999),
)
def test_generated_profiles_load_or_fail_cleanly(tmp_path, data, dose, target):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        profile = load_profile_file(path)
    except ProfileError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    for query in (
        lambda: occupancy_at(profile, dose).record(),
        lambda: dose_for_target(profile, target).record(),
    ):
        try:
            assert_sane(query())
        except SertError:
            pass


OPTION_VALUES = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "1e300",
        "1e-300",
        "nan",
        "inf",
        "x",
        "10",
        "0.8",
        "80",
        "1",
        "CYP2C19=PM",
        "CYP2D6=*1/*4",
        "PM",
        "json",
        "csv",
        "paroxetine",
        "*1/*1xN",
    ]
)
OPTIONS = [
    "--dose",
    "--target",
    "--interval",
    "--phenotype",
    "--genotype",
    "--with",
    "--transporter",
    "--format",
    "--doses",
    "--days",
    "--step",
    "--until",
    "--affinity",
]


@FUZZ
@given(
    st.sampled_from(["occupancy", "dose", "table", "simulate", "curve", "phenotype"]),
    st.sampled_from(
        [
            "escitalopram",
            "venlafaxine",
            "paroxetine",
            "fluoxetine",
            "milnacipran",
            "nosuch",
            "",
            "CYP2D6",
        ]
    ),
    st.lists(st.tuples(st.sampled_from(OPTIONS), OPTION_VALUES), max_size=4),
    st.booleans(),
)
def test_generated_command_lines_end_cleanly(command, drug, options, as_json):
    args = [command, drug, *(part for pair in options for part in pair)]
    if command == "simulate":
        args += ["--doses", "3", "--step", "6"]
    if as_json:
        args += ["--format", "json"]
    result = invoke(*args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    assert result.exit_code in (0, 1, 2), args
    assert "Traceback" not in result.stderr
    if result.exit_code == 0 and as_json and result.stdout.lstrip().startswith(("{", "[")):
        assert_sane(json.loads(result.stdout))
    if result.exit_code == 1:
        assert result.stderr.startswith("sert: error:"), result.stderr


@st.composite
def valid_profiles(draw):
    """Examplamine with every number drawn from a range the schema accepts: the mutated
    profiles above almost never load (2 of 400 drawn did), so their sane-numbers half
    would otherwise go unexercised."""
    data = json.loads(json.dumps(BASE))
    clearance = draw(st.floats(0.1, 1000.0))
    pk = data["pk"]
    pk["apparent_clearance"] = f"{clearance!r} L/h"
    pk["fraction_unbound"] = draw(st.floats(0.001, 1.0))
    pk["kp_uu_brain"] = draw(st.floats(0.01, 1.0))
    pk["half_life"] = f"{draw(st.floats(1.0, 1000.0))!r} h"
    ratios = {"PM": 0.4, "IM": 0.7, "NM": 1.0, "RM": 1.2, "UM": 1.4}
    pk["phenotypes"]["apparent_clearance"] = {
        p: f"{clearance * r!r} L/h" for p, r in ratios.items()
    }
    data["targets"]["SERT"]["ki"] = f"{draw(st.floats(0.01, 1e4))!r} nM"
    data["targets"]["NET"]["ki"] = f"{draw(st.floats(0.01, 1e5))!r} nM"
    data["molar_mass"] = f"{draw(st.floats(100.0, 1000.0))!r} g/mol"
    return data


@FUZZ
@given(valid_profiles(), st.floats(0.01, 1000.0), st.floats(0.01, 0.99))
def test_generated_valid_profiles_give_sane_numbers(tmp_path, data, dose, target):
    path = tmp_path / "valid.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    profile = load_profile_file(path)
    answer = occupancy_at(profile, dose)
    assert_sane(answer.record())
    occupancy = answer.occupancy["SERT"]
    assert 0 < occupancy < 1
    try:
        found = dose_for_target(profile, target)
    except SertError:
        return  # a dose beyond what the model computes is refused, not answered
    assert_sane(found.record())
    # the dose for a target gives that target back (docs/model.md section 5)
    assert occupancy_at(profile, found.dose_mg).occupancy["SERT"] == pytest.approx(target, rel=1e-6)
