"""One vocabulary of options (issue 25 item 4): --format in any case, times with units,
--dose on every command that takes a dose, errors that name only what the user typed,
`sert help` and -V, and batch --quiet."""

import json

import pytest
from conftest import EXAMPLAMINE, sert, sert_json

from sert_cli.cli.common import flag_namer
from sert_cli.errors import InputError, ModelError


def error_line(done) -> str:
    """The one line a user error ends with (and nothing else on stderr)."""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sert: error: ")
    return lines[0]


# --- 1. --format in any case --------------------------------------------------------------

FORMAT_COMMANDS = [
    ("occupancy", "escitalopram", "--dose", "10"),
    ("dose", "escitalopram"),
    ("table", "escitalopram", "--doses", "5,10"),
    ("simulate", "escitalopram", "--dose", "10", "--doses", "2", "--step", "12"),
    ("population", "escitalopram", "10", "--n", "200"),
    ("taper", "escitalopram", "--from", "20"),
    ("switch", "paroxetine", "20", "sertraline"),
    ("tdm", "escitalopram", "--dose", "10", "--level", "38"),
    ("curve", "escitalopram"),
    ("phenotype", "CYP2D6", "*1/*4"),
    ("profiles", "list"),
    ("profiles", "show", "escitalopram"),
]


@pytest.mark.parametrize("args", FORMAT_COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("written", ["JSON", "Json"])
def test_format_json_is_read_in_any_case(args, written):
    done = sert(*args, "--format", written)
    assert done.returncode == 0, done.stderr
    assert done.stdout == sert(*args, "--format", "json").stdout
    json.loads(done.stdout)


@pytest.mark.parametrize("written", ["Csv", "CSV"])
def test_format_csv_and_table_are_read_in_any_case(written):
    args = ("occupancy", "escitalopram", "--dose", "10")
    assert sert(*args, "-f", written).stdout == sert(*args, "-f", "csv").stdout
    assert sert(*args, "--format", "TABLE").stdout == sert(*args).stdout


def test_an_unknown_format_is_still_refused():
    done = sert("occupancy", "escitalopram", "--dose", "10", "--format", "XML")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


BATCH_INPUT = "id,drug,dose_mg,site\nr1,escitalopram,10,north\n"


@pytest.mark.parametrize("written", ["JSONL", "Jsonl", "JSON", "CSV"])
def test_batch_format_is_read_in_any_case(written):
    args = ("batch", "-", "--fields", "drug,occupancy_SERT")
    done = sert(*args, "--format", written, stdin=BATCH_INPUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == sert(*args, "--format", written.lower(), stdin=BATCH_INPUT).stdout


# --- 2. times with units -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "hours"),
    [("12", 12), ("12 h", 12), ("12h", 12), ("720 min", 12), ("0.5 day", 12), ("48", 48)]
    + [("2d", 48), ("2 days", 48), ("1 day", 24), ("1 week", 168)],
)
def test_interval_takes_units(written, hours):
    out = sert_json("occupancy", "escitalopram", "--dose", "10", "--interval", written)
    assert out["interval_h"] == pytest.approx(hours)


@pytest.mark.parametrize(
    "args",
    [
        ("occupancy", "escitalopram", "--dose", "10"),
        ("dose", "escitalopram"),
        ("population", "escitalopram", "10", "--n", "200"),
        ("taper", "escitalopram", "--from", "20"),
        ("switch", "paroxetine", "20", "sertraline"),
        ("tdm", "escitalopram", "--dose", "10", "--level", "38"),
        ("simulate", "escitalopram", "--dose", "10", "--doses", "2", "--step", "24"),
    ],
    ids=lambda a: a[0],
)
def test_every_command_with_an_interval_takes_one_day(args):
    assert sert_json(*args, "--interval", "1 day") == sert_json(*args, "--interval", "24")


def test_a_time_in_the_wrong_unit_names_the_option():
    done = sert("occupancy", "escitalopram", "--dose", "10", "--interval", "12 mg")
    assert done.returncode == 2
    assert error_line(done) == (
        "sert: error: --interval '12 mg': 'mg' is a unit of mass, expected time such as '24 h'"
    )


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("simulate", "escitalopram", "--dose", "10"), "--until"),
        (("simulate", "escitalopram", "--dose", "10"), "--step"),
        (("simulate", "escitalopram", "--dose", "10"), "--days"),
        (("tdm", "escitalopram", "--dose", "10", "--level", "38"), "--hours-after-dose"),
        (("taper", "escitalopram", "--from", "20"), "--weeks"),
        (("dose", "escitalopram"), "--interval"),
    ],
    ids=lambda a: a if isinstance(a, str) else a[0],
)
def test_every_time_option_names_itself_in_its_errors(args, flag):
    for value in ("3 mL", "soon"):
        done = sert(*args, flag, value)
        assert done.returncode == 2
        assert error_line(done).startswith(f"sert: error: {flag} '{value}': ")


def test_simulate_times_take_units():
    base = ("simulate", "escitalopram", "--dose", "10")
    plain = sert_json(*base, "--days", "2", "--until", "72", "--step", "6")
    assert sert_json(*base, "--days", "48 h", "--until", "3 days", "--step", "360 min") == plain
    assert plain["t_h"][-1] == pytest.approx(72.0)
    assert plain["t_h"][1] == pytest.approx(6.0)


def test_tdm_hours_after_dose_takes_units():
    base = ("tdm", "escitalopram", "--dose", "10", "--level", "38", "--hours-after-dose")
    assert sert_json(*base, "0.5 day")["hours_after_dose"] == pytest.approx(12.0)
    assert sert_json(*base, "90 min")["hours_after_dose"] == pytest.approx(1.5)


def test_taper_weeks_take_units():
    base = ("taper", "escitalopram", "--from", "20", "--weeks")
    three = sert_json(*base, "3")
    assert three["steps"][0]["duration_days"] == pytest.approx(21.0)
    assert sert_json(*base, "21 days") == three


# --- 3. --dose everywhere, and errors that name only what was typed -------------------------


def test_switch_takes_dose_as_an_option():
    positional = sert_json("switch", "paroxetine", "20", "sertraline")
    assert sert_json("switch", "paroxetine", "--dose", "20", "sertraline") == positional
    assert sert_json("switch", "paroxetine", "sertraline", "--dose", "20 mg") == positional


def test_switch_without_a_dose_or_a_drug_says_which():
    no_dose = sert("switch", "paroxetine", "sertraline")
    assert no_dose.returncode == 2
    assert "missing the dose" in error_line(no_dose)
    no_drug = sert("switch", "paroxetine", "--dose", "20")
    assert no_drug.returncode == 2
    assert "missing TO_DRUG" in error_line(no_drug)
    twice = sert("switch", "paroxetine", "20", "sertraline", "--dose", "30")
    assert twice.returncode == 2
    assert "give the dose once" in error_line(twice)


def test_taper_takes_dose_as_an_alias_of_from():
    start = sert_json("taper", "escitalopram", "--from", "20")
    assert sert_json("taper", "escitalopram", "--dose", "20") == start
    assert sert_json("taper", "escitalopram", "20 mg") == start
    assert sert_json("taper", "escitalopram", "--from", "20", "--dose", "20") == start
    differ = sert("taper", "escitalopram", "--from", "20", "--dose", "10")
    assert differ.returncode == 2
    assert "--from and --dose differ" in error_line(differ)
    missing = sert("taper", "escitalopram")
    assert missing.returncode == 2
    assert "--from MG (or --dose MG)" in error_line(missing)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("occupancy", "escitalopram", "--dose", "-5"), "--dose"),
        (("occupancy", "escitalopram", "--", "-5"), "DOSE"),
        (("switch", "paroxetine", "--", "-5", "sertraline"), "DOSE"),
        (("switch", "paroxetine", "--dose", "-5", "sertraline"), "--dose"),
        (("taper", "escitalopram", "--from", "0"), "--from"),
        (("taper", "escitalopram", "--dose", "0"), "--dose"),
        (("taper", "escitalopram", "0"), "DOSE"),
    ],
)
def test_a_dose_error_names_the_form_it_was_typed_in(args, named):
    done = sert(*args)
    assert done.returncode == 2
    assert error_line(done).startswith(f"sert: error: {named}: must be a positive number")


@pytest.fixture
def low_plateau_dir(tmp_path):
    """A profile whose SERT occupancy levels off at 70 %: the default target of 80 % is
    out of reach."""
    text = EXAMPLAMINE.replace(
        "SERT: {ki: 2 nM}",
        "SERT: {ki: 2 nM, pet_ec50_plasma: 1 ng/mL, pet_emax: 0.7, pet_basis: fitted}",
    )
    (tmp_path / "examplamine.yaml").write_text(text, encoding="utf-8")
    return str(tmp_path)


def test_an_error_about_the_default_target_does_not_name_target(low_plateau_dir):
    done = sert("dose", "examplamine", "--profiles-dir", low_plateau_dir)
    assert done.returncode == 1
    line = error_line(done)
    assert "--target" not in line
    assert line.startswith("sert: error: the default target of 80 %: no dose reaches 80 %")
    typed = sert("dose", "examplamine", "--target", "0.8", "--profiles-dir", low_plateau_dir)
    assert error_line(typed).startswith("sert: error: --target: no dose reaches 80 %")


def test_the_namer_describes_unset_fields_as_their_defaults():
    set_by_user = {"target": False, "transporter": True, "interval": False}
    name = flag_namer({"target": 0.8}, set_by_user.get)
    assert name("target") == "the default target of 80 %"
    assert name("transporter") == "--transporter"
    assert name("interval_h") == "the profile's dosing interval (the default)"
    assert name("CYP2D6") == "CYP2D6"  # not a parameter: as before
    # the remedy is an option to type: named as the option
    error = InputError("is Indeterminate", field="target", remedy="assume_nm")
    assert error.worded(name, flag_namer({})) == (
        "the default target of 80 %: is Indeterminate (use --assume-nm)"
    )
    # without a command line (the API), fields are named as before
    assert ModelError("x", field="target").worded(flag_namer({})) == "--target: x"


# --- 4. sert help, -V ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [(), ("occupancy",), ("switch",), ("batch",), ("profiles",), ("profiles", "show")],
    ids=lambda c: " ".join(c) or "sert",
)
def test_help_prints_what_help_option_prints(command):
    asked = sert("help", *command)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout == sert(*command, "--help").stdout
    assert asked.stdout.startswith("Usage: ")
    assert asked.stderr == ""


def test_help_of_profiles_show_in_one_word():
    assert sert("help", "profiles show").stdout == sert("profiles", "show", "-h").stdout


def test_help_lists_itself_and_has_its_own_help():
    assert "  help " in sert("--help").stdout
    own = sert("help", "help")
    assert own.returncode == 0
    assert "Show the help of sert or of a COMMAND" in own.stdout


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (("ocupancy",), "sert: error: no command 'ocupancy'; did you mean 'occupancy'?"),
        (("profiles", "shw"), "sert: error: no command 'profiles shw'; did you mean 'show'?"),
        (("occupancy", "dose"), "sert: error: give one command to show the help of"),
    ],
)
def test_help_of_an_unknown_command_is_one_line(command, said):
    done = sert("help", *command)
    assert done.returncode == 2
    assert done.stdout == ""
    assert error_line(done).startswith(said)


def test_v_is_version():
    assert sert("-V").stdout == sert("--version").stdout
    assert sert("-V").stdout.startswith("sert ")


def test_help_builds_only_the_command_it_shows():
    from typer.main import get_command

    from sert_cli.cli.app import build_app

    group = get_command(build_app(["help", "occupancy"]))
    assert list(group.commands) == ["help"]


# --- 5. batch --quiet ----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--quiet", "-q"])
def test_batch_quiet_keeps_stderr_empty(flag):
    loud = sert("batch", "-", "--carry", "id", stdin=BATCH_INPUT)
    assert "not read: site" in loud.stderr
    assert "rows read" in loud.stderr
    quiet = sert("batch", "-", "--carry", "id", flag, stdin=BATCH_INPUT)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout


def test_batch_quiet_still_prints_errors_and_their_status():
    bad = BATCH_INPUT + "r2,nosuch,10,south\n"
    rows = sert("batch", "-", "-q", stdin=bad)
    assert rows.returncode == 1  # a row failed: said in its error column and the status
    assert rows.stderr == ""
    assert "unknown drug 'nosuch'" in rows.stdout
    strict = sert("batch", "-", "-q", "--strict", stdin=bad)
    assert strict.returncode == 1
    assert "unknown drug 'nosuch'" in error_line(strict)
    missing = sert("batch", "no-such-file.csv", "--quiet")
    assert missing.returncode == 2
    assert "cannot read no-such-file.csv" in error_line(missing)
