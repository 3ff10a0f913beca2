"""Issue 26, untrusted text: PharmCAT files of every wrong shape, files that are not files,
text from a file that would act on a terminal, messages that name only what was typed,
narrow terminals, and options that contradict one another.

Each error is one line on stderr, `sert: error: ...`, with its exit status and no
traceback; nothing from an input reaches the terminal as a control character.
"""

import io
import json
import os
import re
from pathlib import Path

import pytest
from conftest import EXAMPLAMINE, sert

from sert_cli.pgx import pharmcat

DATA = Path(__file__).parent / "data"
REPORT = DATA / "pharmcat_minimal.report.json"
PHENOTYPE = DATA / "pharmcat_minimal.phenotype.json"


def error_line(done) -> str:
    """The one line an error ends with: nothing on stdout, no traceback."""
    assert done.stdout == "", done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sert: error: "), lines[0]
    return lines[0]


def terminal_safe(text: str) -> bool:
    """No character that could act on a terminal: only printable ones and new lines."""
    return all(c.isprintable() or c == "\n" for c in text)


def report(**changes) -> dict:
    """The minimal report fixture, parsed, for a test to break."""
    data = json.loads(REPORT.read_text(encoding="utf-8"))
    for path, value in changes.items():
        *parents, last = path.split("/")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


CYP2C19_CALL = "genes/CYP2C19/recommendationDiplotypes/0"
SERTRALINE = "drugs/CPIC Guideline Annotation/sertraline/guidelines/0/annotations/0"


def without(data: dict, path: str) -> dict:
    *parents, last = path.split("/")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    del node[last]
    return data


# --- 1. PharmCAT files of the wrong shape -------------------------------------------------

SHAPES = [
    # (id, the file's text, words the message must have)
    ("a list", "[1, 2]", "expected a JSON object, not a list"),
    ("a string", '"report"', "expected a JSON object, not a string"),
    ("null", "null", "expected a JSON object, not null"),
    ("a number", "42", "expected a JSON object, not a number"),
    ("an empty object", "{}", "neither 'genes'"),
    ("genes a list", '{"genes": []}', "'genes' is a list"),
    ("genes null", '{"genes": null}', "'genes' is null"),
    ("geneReports a string", '{"geneReports": "x"}', "'geneReports' is a string"),
    ("3.0 CPIC a list", '{"genes": {"CPIC": []}}', "'genes.CPIC' is a list"),
    (
        "calls a dict",
        json.dumps(report(**{"genes/CYP2C19/recommendationDiplotypes": {"a": 1}})),
        "no 'recommendationDiplotypes' list",
    ),
    ("gene a number", json.dumps(report(**{"genes/CYP2C19": 7})), "CYP2C19"),
    ("diplotype a number", json.dumps(report(**{CYP2C19_CALL: 5})), "is a number, not an object"),
    (
        "diplotype without a label",
        json.dumps(without(report(), f"{CYP2C19_CALL}/label")),
        "has no 'label'",
    ),
    (
        "diplotype without phenotypes",
        json.dumps(without(report(), f"{CYP2C19_CALL}/phenotypes")),
        "has no 'phenotypes'",
    ),
    (
        "phenotypes a string",
        json.dumps(report(**{f"{CYP2C19_CALL}/phenotypes": "Poor Metabolizer"})),
        "phenotypes' is a string, not a list",
    ),
    (
        "a phenotype a number",
        json.dumps(report(**{f"{CYP2C19_CALL}/phenotypes": [1]})),
        "is a number, not a string",
    ),
    (
        "phenotypes numbers",
        json.dumps(report(**{f"{CYP2C19_CALL}/phenotypes": [1, 2]})),
        "is a number, not a string",
    ),
    (
        "a label an object",
        json.dumps(report(**{f"{CYP2C19_CALL}/label": {"a": 1}})),
        "label' is an object, not a string",
    ),
    (
        "an activity score an object",
        json.dumps(report(**{f"{CYP2C19_CALL}/activityScore": {"a": 1}})),
        "activityScore' is an object",
    ),
    (
        "a version an object",
        json.dumps(report(pharmcatVersion={"v": 3})),
        "'pharmcatVersion' is an object",
    ),
    (
        "a gene's version a list",
        json.dumps(report(**{"genes/CYP2C19/phenotypeVersion": [1]})),
        "phenotypeVersion' is a list",
    ),
    ("drugs a list", json.dumps(report(drugs=[])), "'drugs' is a list"),
    (
        "guidelines an object",
        json.dumps(report(**{"drugs/CPIC Guideline Annotation/sertraline/guidelines": {}})),
        "guidelines' is an object, not a list",
    ),
    (
        "an annotation a number",
        json.dumps(report(**{SERTRALINE: 3})),
        "annotations[0]' is a number",
    ),
    (
        "a huge label",
        json.dumps(report(**{f"{CYP2C19_CALL}/label": "A" * 1_000_000})),
        "1,000,000 characters long",
    ),
    ("NaN", '{"genes": {}, "x": NaN}', "NaN is not a JSON value"),
    ("cut short", REPORT.read_text(encoding="utf-8")[:300], "not JSON, or cut short"),
    ("deeply nested lists", "[" * 100_000, "nested too deeply"),
    ("deeply nested objects", '{"genes": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001, "nested"),
    (
        "many phenotypes",
        json.dumps(report(**{f"{CYP2C19_CALL}/phenotypes": [f"p{i}" for i in range(10_000)]})),
        "several phenotypes (p0, p1, p2 and 9,997 more)",
    ),
    (
        "two calls",
        json.dumps(report(**{"genes/CYP2C19/recommendationDiplotypes": [{}, {}]})),
        "CYP2C19: PharmCAT gives 2 calls; sert needs one",
    ),
]


@pytest.mark.parametrize(("text", "said"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_a_pharmcat_file_of_the_wrong_shape_is_one_line_naming_it(tmp_path, text, said):
    path = tmp_path / "patient.report.json"
    path.write_text(text, encoding="utf-8")
    done = sert("dose", "sertraline", "--pharmcat", str(path))
    line = error_line(done)
    assert done.returncode == 2, line
    assert line.startswith(f"sert: error: --pharmcat: {path}: "), line
    assert said in line, line
    assert len(line) < 400  # a huge input never makes a huge message


def test_bytes_that_are_not_utf8_or_a_bom_are_read_as_text_should_be(tmp_path):
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"genes": {"CYP2C19": "\xff"}}')
    assert "not UTF-8 text (byte 23)" in error_line(sert("dose", "x", "--pharmcat", str(latin)))
    bom = tmp_path / "bom.report.json"  # a BOM (Windows editors) is not an error
    bom.write_bytes(b"\xef\xbb\xbf" + REPORT.read_bytes())
    assert sert("dose", "sertraline", "--pharmcat", str(bom)).returncode == 0


def test_the_real_shapes_still_read():
    for path in (REPORT, PHENOTYPE, DATA / "pharmcat_v30_outside.report.json"):
        read = pharmcat.read(str(path))
        assert [c.gene for c in read.calls] == ["CYP2B6", "CYP2C19", "CYP2D6"]
    read = pharmcat.read(str(REPORT))
    assert read.calls[1].label == "*2/*2" and read.calls[1].phenotype == "Poor Metabolizer"
    assert read.classifications("sertraline") == ("Moderate",)
    assert read.data_version == "2025-01-01-00-00"


# --- 2. only a regular file, and only so much of it ----------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/null", "folder"])
def test_a_pharmcat_path_that_is_not_a_file_is_refused_without_reading(tmp_path, kind):
    """Before: /dev/zero was read until memory ran out; a FIFO waited for a writer."""
    if kind == "fifo":
        path = tmp_path / "report.json"
        os.mkfifo(path)  # nobody writes to it: opening it to read must not wait
    elif kind == "folder":
        path = tmp_path
    else:
        path = Path(kind)
    done = sert("dose", "sertraline", "--pharmcat", str(path))
    line = error_line(done)
    assert done.returncode == 2
    assert line.startswith(f"sert: error: --pharmcat: {path}: ")
    assert "not a file" in line


def test_a_pharmcat_file_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "big.report.json"
    with open(path, "wb") as handle:  # sparse: costs no disk
        handle.truncate(pharmcat.MAX_BYTES + 1)
    line = error_line(sert("dose", "sertraline", "--pharmcat", str(path)))
    assert f"larger than {pharmcat.MAX_BYTES >> 20} MiB" in line
    assert pharmcat.MAX_BYTES == 16 << 20  # as README says


def test_a_missing_pharmcat_file_is_named():
    line = error_line(sert("dose", "sertraline", "--pharmcat", "/no/such/report.json"))
    assert "/no/such/report.json: cannot read it (No such file or directory)" in line


# --- 3. text from the file never acts on the terminal ---------------------------------------

HOSTILE = "\x1b[31mred\x1b]0;title\x07\r\x9b2J\u202e\ud800"


def hostile_report(tmp_path) -> Path:
    data = report(
        pharmcatVersion="v3\x1b[2J",
        dataVersion="\x1b]52;c;aGk=\x07",
        **{
            f"{CYP2C19_CALL}/label": "*2/*2" + HOSTILE,
            "genes/CYP2C19/callSource": "MATCHER\x1b[5m",
            f"{SERTRALINE}/classification": "Str" + HOSTILE + "ong",
        },
    )
    path = tmp_path / ("patient\x1b[7m.report.json")
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_pharmcat_labels_versions_and_classifications_are_escaped(tmp_path, fmt):
    path = hostile_report(tmp_path)
    done = sert("dose", "sertraline", "--pharmcat", str(path), "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert terminal_safe(done.stdout) and terminal_safe(done.stderr)
    shown = done.stdout + done.stderr
    if fmt == "table":
        flat = " ".join(shown.split())
        assert "*2/*2\\x1b[31mred" in flat  # shown, as escapes
        assert "(PharmCAT v3\\x1b[2J, data \\x1b]52;c;aGk=\\x07)" in flat
        assert "patient\\x1b[7m.report.json" in flat
        assert "Str\\x1b[31m" in flat  # the classification, in a note and a warning
    if fmt == "json":
        notes = " ".join(json.loads(done.stdout)["notes"])
        assert "*2/*2\\x1b[31mred\\x1b]0;title\\x07\\r\\x9b2J\\u202e\\ud800" in notes


def test_what_read_returns_is_printable(tmp_path):
    read = pharmcat.read(str(hostile_report(tmp_path)))
    texts = [read.pharmcat_version, read.data_version, read.describe()]
    texts += [t for call in read.calls for t in call if t is not None]
    texts += [c for _, found in read.cpic for c in found]
    assert all(text.isprintable() for text in texts), texts


def test_a_phenotype_with_control_characters_is_refused_escaped(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        json.dumps(report(**{f"{CYP2C19_CALL}/phenotypes": ["Poor\x1b]0;x\x07 Metabolizer"]})),
        encoding="utf-8",
    )
    line = error_line(sert("dose", "sertraline", "--pharmcat", str(path)))
    assert line.isprintable() and "unknown phenotype" in line
    # a separator control character is not whitespace that makes a known phenotype
    path.write_text(
        json.dumps(report(**{f"{CYP2C19_CALL}/phenotypes": ["No Result\x1c"]})), encoding="utf-8"
    )
    line = error_line(sert("dose", "sertraline", "--pharmcat", str(path), "--assume-nm"))
    assert "unknown phenotype" in line and line.isprintable()


@pytest.mark.parametrize(
    "classification",
    ["[/]", "[link=https://evil.example]Strong[/link]", "[bold red]x", ":warning: [/bold]"],
)
def test_text_from_a_file_is_never_read_as_rich_markup(tmp_path, classification):
    """Before: a classification `[/]` ended in Rich's MarkupError traceback, and
    `[link=...]` wrote a hyperlink escape to the terminal."""
    path = tmp_path / "p.report.json"
    path.write_text(json.dumps(report(**{f"{SERTRALINE}/classification": classification})))
    done = sert("dose", "sertraline", "--pharmcat", str(path))
    assert done.returncode == 0, done.stderr
    assert f"differs from PharmCAT's ({classification})" in " ".join(done.stderr.split())


def test_in_colour_a_warning_is_styled_but_its_text_is_only_text():
    from sert_cli.cli.environment import Environment
    from sert_cli.render.table_format import _console, print_warnings

    out = io.StringIO()
    env = Environment(None, out, out, True, 80, colour=True, stderr_colour=True)
    print_warnings(["see [link=https://evil.example]here[/link] \x1b[5m[/]"], _console(env, True))
    written = out.getvalue()
    assert "\x1b[1;33mwarning:" in written  # the style sert gives
    assert "\x1b]8" not in written and "\x1b[5m" not in written  # none the text asks for
    assert "see [link=https://evil.example]here[/link] \\x1b[5m[/]" in written


def test_a_profile_path_with_escapes_and_markup_is_shown_as_text(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "\x1b[31mred\x07[bold]x:smile:.yaml").write_text(EXAMPLAMINE, encoding="utf-8")
    done = sert("profiles", "list", env={"SERT_PROFILES_DIR": str(folder), "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert terminal_safe(done.stdout)
    assert "\\x1b[31mred\\x07[bold]x:smile:.yaml" in done.stdout
    checked = sert("profiles", "check", *map(str, folder.iterdir()))
    assert checked.returncode == 0 and terminal_safe(checked.stdout)
    assert "ok: " in checked.stdout and "\\x1b[31mred" in checked.stdout


def test_an_invalid_profile_path_with_escapes_is_escaped_in_every_format(tmp_path):
    bad = tmp_path / "\x1b[2Jbad.yaml"
    bad.write_text("x: 1\n", encoding="utf-8")
    for fmt in ("table", "json"):
        done = sert("profiles", "check", str(bad), "--format", fmt)
        assert done.returncode == 2
        assert terminal_safe(done.stderr) and "\\x1b[2Jbad.yaml" in done.stderr


# --- 4. a message names only the options typed ----------------------------------------------


@pytest.fixture
def low_plateaus(tmp_path) -> str:
    """A profile whose SERT and NET occupancy level off at 70 %: the default target of
    80 % is out of reach on either transporter."""
    text = EXAMPLAMINE.replace(
        "SERT: {ki: 2 nM}",
        "SERT: {ki: 2 nM, pet_ec50_plasma: 1 ng/mL, pet_emax: 0.7, pet_basis: fitted}",
    ).replace(
        "NET: {ki: 5000 nM}",
        "NET: {ki: 5000 nM, pet_ec50_plasma: 1 ng/mL, pet_emax: 0.7, pet_basis: fitted}",
    )
    assert text.count("pet_emax: 0.7") == 2
    (tmp_path / "examplamine.yaml").write_text(text, encoding="utf-8")
    return str(tmp_path)


def test_net_with_the_default_target_names_the_default(low_plateaus):
    asked = ("dose", "examplamine", "--transporter", "NET", "--profiles-dir", low_plateaus)
    line = error_line(sert(*asked))
    assert line.startswith("sert: error: the default target of 80 %: no dose reaches 80 % NET")
    typed = error_line(sert(*asked, "--target", "0.8"))
    assert typed.startswith("sert: error: --target: no dose reaches 80 % NET")


FAILING = [
    "dose escitalopram --target 0.95",
    "dose escitalopram --interval 0",
    "dose escitalopram --interval abc",
    f"dose paroxetine --pharmcat {REPORT}",
    "dose paroxetine --phenotype CYP2D6=foo",
    "dose paroxetine --genotype CYP2D6=*999/*1",
    "dose paroxetine --with nonsense",
    "dose escitalopram --age -5",
    f"dose escitalopram --phenotype CYP2C19=PM --pharmcat {REPORT}",
    "occupancy escitalopram",
    "occupancy escitalopram --dose 0",
    "occupancy escitalopram 0",
    "occupancy escitalopram 1e300",
    "occupancy escitalopram 10 --dose 20",
    "occupancy escitalopram --dose 10mL",
    "compare escitalopram:0 sertraline",
    "compare escitalopram:1e300 sertraline",
    "compare escitalopram sertraline --target 1.5",
    "table escitalopram --doses 0",
    "table escitalopram --doses 1:1000000:0.001",
    "simulate escitalopram",
    "simulate escitalopram 10 --days 0",
    "simulate escitalopram 10 --days 1e9",
    "simulate escitalopram 10 --step 1e-9",
    "simulate escitalopram 10 --until 1e9",
    "simulate escitalopram 1e300",
    "population escitalopram --dose 10 --n 0",
    "population escitalopram",
    "population escitalopram 0",
    "taper escitalopram",
    "taper escitalopram --from 0",
    "taper escitalopram 1e300",
    "taper escitalopram 20 --from 10",
    "taper escitalopram --from 20 --step 5 --fraction 0.1",
    "switch paroxetine 0 sertraline",
    "switch paroxetine sertraline",
    "switch paroxetine 20 paroxetine",
    "tdm escitalopram --dose 10 --level 0",
    "tdm escitalopram --level 38",
    "tdm escitalopram 10 --level 38 --hours-after-dose 1000",
    "phenotype CYP2D6 foo",
    "profiles check",
    "dose escitalopram --explain --format csv",
    "dose escitalopram --genotype CYP2C19=*1/*1 --genotype CYP2C19=*2/*2",
]
# Where a message may name an option as what to do: "(use --x)", "give --x", "(or --x)".
REMEDY = re.compile(r"\(use --[\w-]+[^)]*\)|\bgive --.*$|\(or --[\w-]+\)")


@pytest.mark.parametrize("command", FAILING)
def test_a_message_names_no_option_that_was_not_typed(command):
    args = command.split()
    done = sert(*args)
    line = error_line(done)
    assert done.returncode in (1, 2)
    named = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", REMEDY.sub("", line)))
    typed = {a.partition("=")[0] for a in args if a.startswith("--")}
    assert named <= typed, (line, named - typed)


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("compare escitalopram:0 sertraline", "DRUG:DOSE: must be a positive number"),
        ("simulate escitalopram 10 --days 1e9", "--days: must be between 1 and"),
        ("simulate escitalopram 10 --step 1e-9", "--step: asks for 294,000,000,001 time points"),
        ("simulate escitalopram 10 --until 1e9", "--until: asks for 1,000,000,001 time points"),
    ],
)
def test_an_error_names_the_option_that_set_it(command, named):
    """Before: `--dose` (compare has none), `the default doses` (--days was typed), `the
    default end` (--step was typed)."""
    assert named in error_line(sert(*command.split()))


# --- 5. narrow, zero, nonsense and huge widths -----------------------------------------------

WIDTH_COMMANDS = [
    ("occupancy", "escitalopram", "10"),
    ("dose", "sertraline", "--pharmcat", str(REPORT)),
    ("compare", "escitalopram", "sertraline", "venlafaxine"),
    ("table", "escitalopram"),
    ("taper", "venlafaxine", "--from", "150"),
    ("switch", "paroxetine", "20", "sertraline"),
    ("phenotype", "CYP2D6", "*1/*4", "*4/*10", "*1/*2x2"),
    ("validate",),
]
# COLUMNS -> the width drawn at: 40 at least (README), 80 for what is not a width
WIDTHS = {"1": 40, "10": 40, "20": 40, "0": 80, "-5": 80, "abc": 80, "99999": 99999}


def numbers(text: str) -> list[str]:
    return sorted(set(re.findall(r"\d+(?:[.,]\d+)*", text)))


def assert_every_value_at_any_columns(args) -> None:
    wide = sert(*args, env={"COLUMNS": "80"})
    assert wide.returncode == 0, wide.stderr
    expected = numbers(wide.stdout)
    assert expected
    for columns, width in WIDTHS.items():
        done = sert(*args, env={"COLUMNS": columns})
        assert done.returncode == 0, (columns, done.stderr)
        assert done.stdout.strip(), columns
        lines = (done.stdout + done.stderr).splitlines()
        assert max(map(len, lines)) <= width, columns
        assert "…" not in done.stdout
        assert numbers(done.stdout) == expected, columns


@pytest.mark.parametrize("args", WIDTH_COMMANDS[:-1], ids=lambda a: a[0])
def test_every_value_prints_at_any_columns(args):
    """COLUMNS=10 printed blank tables, COLUMNS=0 was reported to print nothing: every
    value is on the page at every width, no line wider than the width drawn at."""
    assert_every_value_at_any_columns(args)


def test_validate_prints_at_ten_columns():
    """validate's tables are large (a second each): here at one narrow width; every width
    under SERT_FUZZ_EXAMPLES (make fuzz)."""
    done = sert("validate", env={"COLUMNS": "10"})
    assert done.returncode == 0, done.stderr
    assert max(map(len, done.stdout.splitlines())) <= 40 and "…" not in done.stdout
    assert "Klein2006" in done.stdout.split() and len(numbers(done.stdout)) > 100


@pytest.mark.skipif(not os.environ.get("SERT_FUZZ_EXAMPLES"), reason="slow: make fuzz")
def test_validate_prints_every_value_at_any_columns():
    assert_every_value_at_any_columns(WIDTH_COMMANDS[-1])


# --- 6. options that contradict one another ---------------------------------------------------


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("dose escitalopram --phenotype CYP2C19=PM --phenotype CYP2C19=IM", "given twice"),
        ("dose escitalopram --phenotype CYP2C19=PM --genotype CYP2C19=*1/*1", "as a phenotype"),
        (
            "dose escitalopram --genotype CYP2C19=*1/*1 --genotype CYP2C19=*2/*2",
            "--genotype CYP2C19=*1/*1: genotype given twice (*1/*1 and *2/*2)",
        ),
        (f"dose escitalopram --genotype CYP2C19=*1/*1 --pharmcat {REPORT}", "in the PharmCAT"),
        ("occupancy escitalopram 10 --dose 20", "give the dose once"),
        ("taper escitalopram 20 --from 10", "give the dose once"),
        ("taper escitalopram --from 20 --step 5 --fraction 0.1", "not both"),
        ("simulate escitalopram 10 --days 3 --doses 4", "not both"),
        ("dose escitalopram --explain --format csv", "CSV holds the result's rows only"),
        ("dose escitalopram --with smoking --smoker", None),  # the same thing twice: fine
    ],
)
def test_contradictory_options_are_refused(command, said):
    done = sert(*command.split())
    if said is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2
    assert said in error_line(done)


def test_the_same_genotype_twice_is_taken_once():
    done = sert("dose", "escitalopram", "-g", "CYP2C19=*2/*2", "-g", "cyp2c19=*2/*2", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["genotypes"]) == 1


def test_the_drug_itself_or_twice_as_a_co_medication_is_said_in_a_note():
    done = sert("dose", "escitalopram", "--with", "escitalopram", "--format", "json")
    assert (
        "co-medication escitalopram is the drug itself; ignored" in json.loads(done.stdout)["notes"]
    )
    twice = sert(
        "dose", "escitalopram", "--with", "fluvoxamine", "--with", "Fluvoxamine", "-f", "json"
    )
    notes = json.loads(twice.stdout)["notes"]
    assert "co-medication fluvoxamine given more than once; counted once" in notes


def test_compare_warns_of_a_drug_at_one_dose_in_two_columns():
    """escitalopram's usual dose is its label minimum, 10 mg: the same column twice."""
    done = sert("compare", "escitalopram", "escitalopram:10", "sertraline", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "escitalopram at 10 mg is in more than one column" in json.loads(done.stdout)["warnings"]
    table = sert("compare", "escitalopram", "escitalopram:10")
    assert "warning: escitalopram at 10 mg is in more than one column" in table.stderr
    other = sert("compare", "escitalopram:10", "escitalopram:20", "--format", "json")
    assert not [w for w in json.loads(other.stdout)["warnings"] if "more than one" in w]


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "folder"])
@pytest.mark.parametrize("command", ["schedule", "profile"])
def test_other_named_files_that_are_not_files_are_refused_at_once(tmp_path, kind, command):
    """Before: `--schedule-file /dev/zero` ended in MemoryError; a FIFO given to it or to
    `profiles check` waited forever for a writer."""
    if kind == "fifo":
        path = tmp_path / "steps.csv"
        os.mkfifo(path)
    else:
        path = tmp_path if kind == "folder" else Path(kind)
    if command == "schedule":
        done = sert("simulate", "escitalopram", "--schedule-file", str(path), timeout=30)
    else:
        done = sert("profiles", "check", str(path), timeout=30)
    line = error_line(done)
    assert done.returncode == 2 and str(path) in line and "not a file" in line


def test_a_schedule_file_still_reads_and_is_bounded(tmp_path):
    from sert_cli.cli.options import MAX_SCHEDULE_FILE_BYTES

    steps = tmp_path / "steps.csv"
    steps.write_bytes(b"\xef\xbb\xbfdose_mg,days\n10,14\n5 mg,14\n")
    done = sert("simulate", "escitalopram", "--schedule-file", str(steps), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [s["dose_mg"] for s in json.loads(done.stdout)["schedule"]] == [10, 5]
    with open(steps, "ab") as handle:
        handle.truncate(MAX_SCHEDULE_FILE_BYTES + 1)
    line = error_line(sert("simulate", "escitalopram", "--schedule-file", str(steps)))
    assert "larger than 1 MiB" in line


def test_json_escapes_c1_and_bidirectional_controls_and_means_the_same():
    from sert_cli.render import json_format

    value = {"path": "a\u009b31mb\u202ec", "n": [1.5, None], "ok": "µ–"}
    for text in (json_format.render(value), json_format.compact(value)):
        assert "\u009b" not in text and "\u202e" not in text and "µ–" in text
        assert json.loads(text) == value
