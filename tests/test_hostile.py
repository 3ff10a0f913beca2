"""Hostile input: every way a user, a script or a file can be wrong, answered cleanly.

Each case ends in a result or a one-line error of the documented kind (exit 2 for input
and usage, 1 for requests the model cannot meet), never a traceback, never a hang, never
a wrong number printed as if it were right.
"""

import json
import subprocess
import sys

import pytest
from conftest import EXAMPLAMINE, LEVELS_OFF, sert
from typer.testing import CliRunner

from sert_cli.cli.app import build_app
from sert_cli.errors import ProfileError
from sert_cli.profiles.library import load_library, load_profile_file

RUNNER = CliRunner()


def invoke(*args: str):
    """The real command line, in process (fast enough for hundreds of cases)."""
    return RUNNER.invoke(build_app(list(args)), list(args), catch_exceptions=True)


def assert_clean(result, code: int, message: str = "") -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    if message:
        assert message in result.stderr, result.stderr
    if code:
        assert result.stdout == ""
        assert "Traceback" not in result.stderr


def assert_sane(value) -> None:
    """No NaN, no inf, no negative concentration, every occupancy in [0, 1)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("occupancy", "occupancy_at_recommended") and item is not None:
                items = item.values() if isinstance(item, dict) else [item]
                for v in items:
                    if isinstance(v, list):
                        assert all(0 <= x < 1 for x in v)
                    elif v is not None:
                        assert 0 <= v < 1, (key, v)
            assert_sane(item)
    elif isinstance(value, list):
        for item in value:
            assert_sane(item)
    elif isinstance(value, float):
        assert value == value and abs(value) != float("inf")
        assert value >= 0


# --- profiles ---------------------------------------------------------------------------


def edit(old: str, new: str) -> str:
    assert old in EXAMPLAMINE
    return EXAMPLAMINE.replace(old, new)


PROFILE_CASES = [
    ("empty", "", "the file is empty"),
    ("list", "- 1\n- 2\n", "expected a mapping"),
    ("scalar", "42\n", "expected a mapping"),
    ("python tag", "!!python/object/apply:os.system ['true']\n", "invalid YAML"),
    ("custom tag", "name: !custom x\n", "invalid YAML"),
    ("binary tag", edit("name: examplamine", "name: !!binary aGVsbG8="), "expected text"),
    ("timestamp", edit("name: examplamine", "name: 2001-12-14"), "expected text"),
    ("duplicate top", EXAMPLAMINE + "name: again\n", "duplicate key 'name'"),
    ("duplicate deep", edit("PM: 8 L/h,", "PM: 8 L/h, PM: 9 L/h,"), "duplicate key 'PM'"),
    ("unknown key", edit("half_life:", "halflife:"), "did you mean 'half_life'"),
    ("typo top", edit("targets:", "target:"), "did you mean 'targets'"),
    ("no unit", edit("molar_mass: 300 g/mol", "molar_mass: 300"), "has no unit"),
    ("wrong dimension", edit("24 h", "24 mg"), "unit of mass"),
    ("unknown unit", edit("20 L/h  ", "20 gallons/h  "), "unknown unit"),
    ("nan", edit("fraction_unbound: 0.5", "fraction_unbound: .nan"), "finite"),
    ("inf", edit("half_life: 30 h", "half_life: inf h"), "finite"),
    ("zero", edit("SERT: {ki: 2 nM}", "SERT: {ki: 0 nM}"), "greater than 0"),
    ("negative", edit("300 g/mol", "-300 g/mol"), "greater than 0"),
    ("huge", edit("fraction_unbound: 0.5", "fraction_unbound: 1e308"), "fraction in (0, 1]"),
    (
        "fraction > 1",
        edit("kp_uu_brain: 1.0", "kp_uu_brain: 1.0\n  bioavailability: 1.2"),
        "not both",
    ),
    ("no NM", edit("NM: 20 L/h, ", ""), "missing required key 'NM'"),
    ("not a gene", edit("gene: CYP2C19", "gene: BRCA1"), "not a gene"),
    ("bool number", edit("fraction_unbound: 0.5", "fraction_unbound: yes"), "boolean"),
    ("anchors", "a: &x 1\nb: *x\n", "aliases are not allowed"),
    ("merge key", "a: {x: 1}\nb:\n  <<: {y: 2}\n", "merge keys"),
    ("label min > max", edit("[5 mg, 20 mg]", "[50 mg, 20 mg]"), "above the maximum"),
    ("schema", edit("schema: 1", "schema: 2"), "unsupported schema"),
    ("name caps", edit("name: examplamine", "name: ExamPlamine"), "lower case"),
    (
        "tmax too late",
        edit("half_life: 30 h", "half_life: 30 h\n  absorption: {tmax: 100 h}"),
        "too late",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "message"), PROFILE_CASES, ids=[c[0] for c in PROFILE_CASES]
)
def test_bad_profiles_are_refused_with_file_line_and_field(tmp_path, case, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    result = invoke("profiles", "check", str(path))
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("case", ["billion laughs", "50 MB", "binary", "latin-1"])
def test_big_and_binary_files_finish_fast_and_small(tmp_path, case):
    path = tmp_path / "bad.yaml"
    if case == "billion laughs":
        lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 12)]
        path.write_text("\n".join(lines) + "\n")
    elif case == "50 MB":
        with open(path, "w") as handle:
            handle.write("# " + "x" * 1000 + "\n")
            for _ in range(50_000):
                handle.write("# " + "y" * 1000 + "\n")
    elif case == "binary":
        path.write_bytes(bytes(range(256)) * 1000)
    else:
        path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    # A small Python between pytest and sert: a child's ru_maxrss counts what it had before
    # exec, and a child forked from pytest (hundreds of MB) would report pytest's size.
    code = (
        f"import resource, subprocess, sys, time; t = time.perf_counter(); "
        f"p = subprocess.run([sys.executable, '-m', 'sert_cli', 'profiles', 'check', "
        f"{str(path)!r}], capture_output=True, text=True); "
        f"print(p.returncode, time.perf_counter() - t, "
        f"resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); "
        f"sys.stderr.write(p.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    returncode, seconds, peak_mb = done.stdout.split()
    assert returncode == "2", done.stderr
    assert float(seconds) < 2.0 and float(peak_mb) < 200, (seconds, peak_mb)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_two_profiles_one_name_and_bad_folders(tmp_path):
    (tmp_path / "a.yaml").write_text(EXAMPLAMINE)
    (tmp_path / "b.yaml").write_text(EXAMPLAMINE)
    assert_clean(invoke("profiles", "list", "--profiles-dir", str(tmp_path)), 2, "also used by")
    assert_clean(
        invoke("profiles", "list", "--profiles-dir", str(tmp_path / "nope")), 2, "does not exist"
    )
    assert_clean(
        invoke("profiles", "list", "--profiles-dir", str(tmp_path / "a.yaml")), 2, "is not a folder"
    )
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "self.yaml").symlink_to(loop / "self.yaml")
    assert_clean(invoke("profiles", "list", "--profiles-dir", str(loop)), 2, "cannot read")


def test_huge_numbers_in_a_profile_never_print_inf(tmp_path):
    (tmp_path / "examplamine.yaml").write_text(
        edit("20 L/h  ", "1e-300 L/h  ").replace("NM: 20 L/h", "NM: 1e-300 L/h")
    )
    result = invoke(
        "occupancy",
        "examplamine",
        "--dose",
        "10",
        "--profiles-dir",
        str(tmp_path),
        "--format",
        "json",
    )
    # refused when the profile is read: the model cannot compute with it
    assert_clean(result, 2)
    assert "outside what the model can compute with" in result.stderr


# --- command line -----------------------------------------------------------------------

NUMERIC_OPTIONS = {
    ("occupancy", "escitalopram", "--dose"): ["", "-1", "0", "nan", "inf", "-inf", "ten"],
    ("occupancy", "escitalopram", "--dose", "10", "--interval"): ["", "-1", "0", "nan", "inf", "x"],
    ("dose", "escitalopram", "--target"): ["", "-1", "0", "1", "1.5", "80", "nan", "inf", "x"],
    ("simulate", "escitalopram", "--dose", "10", "--step"): ["0", "-1", "nan", "inf", "x"],
    ("simulate", "escitalopram", "--dose", "10", "--until"): ["0", "-5", "nan", "1e300"],
    ("simulate", "escitalopram", "--dose", "10", "--doses"): ["0", "-1", "1e9", "x"],
    ("simulate", "escitalopram", "--dose", "10", "--days"): ["0", "-1", "nan", "1e300"],
}
CASES = [(*prefix, value) for prefix, values in NUMERIC_OPTIONS.items() for value in values]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c[-2:]) for c in CASES])
def test_bad_numbers_are_usage_errors(args):
    result = invoke(*args)
    assert_clean(result, 2)
    assert "Traceback" not in result.stderr


def test_target_of_80_suggests_a_fraction():
    assert_clean(invoke("dose", "escitalopram", "--target", "80"), 2, "did you mean 0.8 (80 %)")
    assert_clean(invoke("dose", "escitalopram", "--target", "1"), 2, "infinite concentration")


@pytest.mark.parametrize(
    "args",
    [
        ("occupancy", "escitalopram", "--dose", "1e300"),
        ("occupancy", "escitalopram", "--dose", "1e308"),
        ("occupancy", "escitalopram", "--dose", "10", "--interval", "1e-300"),
        ("simulate", "escitalopram", "--dose", "1e300", "--doses", "2"),
    ],
)
def test_absurd_but_valid_requests_are_refused_not_printed(args):
    result = invoke(*args, "--format", "json")
    assert_clean(result, 1)


@pytest.mark.parametrize(
    "args",
    [
        ("occupancy", "escitalopram", "--dose", "1e-300"),
        ("occupancy", "escitalopram", "--dose", "10", "--interval", "1e300"),
        ("dose", "escitalopram", "--target", "1e-300"),
        ("dose", "paroxetine", "--target", "0.84"),  # 45.8 mg/day: within the 50 mg maximum
        ("dose", "escitalopram", "-p", "CYP2C19=UM", "--target", "0.84"),  # 39.3: above 20
    ],
)
def test_extreme_valid_requests_give_sane_numbers(args):
    result = invoke(*args, "--format", "json")
    assert_clean(result, 0)
    out = json.loads(result.stdout)
    assert_sane(out)
    if args[0] == "dose":  # (the flag was checked only when set, and never was)
        daily = out["dose_mg"] * 24 / out["interval_h"]
        assert out["exceeds_label_max"] is (daily > out["label_max_mg"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("occupancy", "nosuchdrug", "--dose", "10"), 2, "unknown drug"),
        (("occupancy", "escitalopram", "--dose", "10", "-p", "CYP9Z9=PM"), 2, "unknown gene"),
        (("occupancy", "escitalopram", "--dose", "10", "-p", "CYP2C19=pm"), 0, ""),
        (("occupancy", "escitalopram", "--dose", "10", "-p", "CYP2C19=XX"), 2, "unknown phenotype"),
        (("occupancy", "escitalopram", "--dose", "10", "-p", ""), 2, "GENE=VALUE"),
        (
            ("occupancy", "escitalopram", "--dose", "10", "-p", "CYP2C19=PM", "-p", "CYP2C19=NM"),
            2,
            "given twice",
        ),
        (
            (
                "occupancy",
                "escitalopram",
                "--dose",
                "10",
                "-g",
                "CYP2C19=*1/*17",
                "-p",
                "CYP2C19=PM",
            ),
            2,
            "both as a phenotype and as a genotype",
        ),
        (("occupancy", "escitalopram", "--dose", "10", "-g", "CYP2C19=*1"), 2, "two alleles"),
        (("occupancy", "escitalopram", "--dose", "10", "-g", "CYP2C19=*1/*99"), 2, "not in CPIC"),
        (("occupancy", "escitalopram", "--dose", "10", "--with", ""), 2, "no interaction data"),
        (("occupancy", "escitalopram", "--dose", "10", "--format", "yaml"), 2, "yaml"),
        (("occupancy", "escitalopram", "--dose", "10", "--affinity", "best"), 2, "best"),
        (("dose", "escitalopram", "--transporter", "DAT"), 2, "DAT"),
        (("dose", "escitalopram", "--transporter", "net"), 0, "not reached within the label"),
        (("dose", "escitalopram", "--target", "0.9999999999999999"), 1, LEVELS_OFF),
        (("dose", "paroxetine", "--target", "0.99"), 1, LEVELS_OFF),
        (("dose", "venlafaxine", "-p", "CYP2D6=PM"), 0, ""),
        (("dose", "citalopram", "-p", "CYP2C19=IM"), 0, ""),
        (
            ("simulate", "escitalopram", "--dose", "10", "--doses", "2", "--days", "2"),
            2,
            "not both",
        ),
        (("phenotype", "CYP2D6"), 2, ""),
        (("phenotype", "CYP2D6", "*1/*1xN"), 2, "copy number is unknown"),
        (("nosuchcommand",), 2, ""),
        ((), 2, ""),
    ],
)
def test_command_line_cases(args, code, message):
    result = invoke(*args)
    if code == 0:
        assert result.exit_code == 0, result.stderr
    else:
        assert_clean(result, code, message)


def test_repeated_scalar_options_take_the_last():
    result = invoke("occupancy", "escitalopram", "--dose", "5", "--dose", "10", "-f", "json")
    assert json.loads(result.stdout)["dose_mg"] == 10.0


# --- output -------------------------------------------------------------------------------


def test_stdout_closed_early_ends_quietly():
    shell = f"{sys.executable} -m sert_cli table escitalopram | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True)
    assert "Traceback" not in done.stderr and done.stderr == ""
    assert done.stdout.count("\n") == 1


def test_no_terminal_no_colour_and_no_color_set():
    for env in ({}, {"NO_COLOR": "1"}, {"TERM": "dumb"}):
        done = sert("dose", "escitalopram", "-p", "CYP2C19=PM", env=env)
        assert done.returncode == 0
        assert "\x1b[" not in done.stdout and "\x1b[" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("occupancy", "venlafaxine", "--dose", "75"),
        ("dose", "sertraline"),
        ("table", "escitalopram"),
        ("simulate", "fluoxetine", "--dose", "20"),
        ("curve", "milnacipran"),
        ("profiles", "list"),
        ("phenotype", "CYP2D6", "*1/*4"),
    ],
)
def test_tables_read_at_60_columns(command):
    done = sert(*command, env={"COLUMNS": "60"})
    assert done.returncode == 0, done.stderr
    widest = max(len(line) for line in done.stdout.splitlines())
    assert widest <= 60, widest


def test_every_bundled_profile_answers_every_command_sanely():
    for name in sorted(load_library().profiles):
        for args in (
            ("occupancy", name, "--dose", "10"),
            ("dose", name),
            ("dose", name, "--transporter", "NET"),
            ("table", name),
            ("curve", name),
        ):
            result = invoke(*args, "--format", "json")
            assert result.exit_code in (0, 1), (args, result.stderr)
            if result.exit_code == 0:
                assert_sane(json.loads(result.stdout))
