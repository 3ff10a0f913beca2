"""Tables at the width they are drawn at (issue 25 item 3): at 80 columns and at 60 no
line is wider than the width and no value is cut (Rich's `…`); the full words a reader
needs are on the page; a COLUMNS of 0, negative, not a number or too small for a table
falls back to a sane width.

`profiles show` is not here: it writes the profile's YAML byte for byte, so that
`sert profiles show X > x.yaml` round-trips, whatever the width (tests/test_conventions.py).
"""

import io
import re
from pathlib import Path

import pytest
from conftest import sert

from sert_cli.cli.environment import DEFAULT_WIDTH_COLUMNS, MIN_WIDTH_COLUMNS, Environment

DATA = Path(__file__).parent / "data"
REPORT = str(DATA / "pharmcat_minimal.report.json")
PHENOTYPES = ("phenotype", "CYP2D6", "*1/*4", "*4/*10", "*1/*2x2")

COMMANDS = [
    ("occupancy", "escitalopram", "--dose", "10"),
    ("occupancy", "venlafaxine", "--dose", "150"),  # O-desmethylvenlafaxine, a long heading
    ("occupancy", "vortioxetine", "--dose", "10", "--with", "paroxetine"),
    ("dose", "escitalopram", "--phenotype", "CYP2C19=PM"),
    ("dose", "sertraline", "--pharmcat", REPORT),
    ("table", "sertraline"),
    ("table", "escitalopram"),  # five phenotype columns
    ("table", "vortioxetine", "--phenotype", "CYP2D6=PM"),
    ("table", "venlafaxine"),
    ("curve", "escitalopram"),
    ("simulate", "escitalopram", "--dose", "10"),
    ("switch", "paroxetine", "20", "sertraline"),
    ("switch", "sertraline", "100", "venlafaxine"),
    ("taper", "escitalopram", "--from", "20"),
    ("taper", "venlafaxine", "--from", "150"),  # "extended-release" in a narrow column
    ("tdm", "escitalopram", "--dose", "10", "--level", "38"),
    ("population", "escitalopram", "--dose", "10", "--n", "1000"),
    PHENOTYPES,
    ("phenotype", "CYP2D6", "*1/*4", "*1/*1x>=3", "*1/*43"),
    ("phenotype", "CYP2C19", "*1/*17", "*2/*2", "*2/*17"),
    ("validate",),
    ("validate", "--fit", "escitalopram"),
    ("profiles", "list"),
    ("profiles", "check", "--sources"),
    ("compare", "escitalopram", "sertraline", "citalopram:20", "-p", "CYP2C19=PM"),
    (
        "compare",
        *("escitalopram sertraline citalopram paroxetine fluoxetine".split()),
        *("venlafaxine", "duloxetine", "vortioxetine"),
    ),
]


def drawn(width: int, *args: str) -> str:
    done = sert(*args, env={"COLUMNS": str(width)})
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def assert_fits(text: str, width: int) -> None:
    assert "…" not in text, text
    wide = [line for line in text.splitlines() if len(line) > width]
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_line_is_wider_than_the_width_and_nothing_is_cut(args, width):
    assert_fits(drawn(width, *args), width)


@pytest.mark.parametrize("width", [80, 60, 40])
def test_the_phenotype_table_keeps_each_term_and_allele_whole(width):
    """Before: at 80 columns `Intermedia…`, at 60 `Interm…` and `diplot…`."""
    text = drawn(width, *PHENOTYPES)
    assert_fits(text, width)
    words = set(re.findall(r"\S+", text))
    for word in ("Intermediate", "Metabolizer", "Ultrarapid", "diplotype", "*1/*2x2"):
        assert word in words
    if width >= 80:  # a phenotype term on one line where it fits
        assert "Intermediate Metabolizer" in text
        assert "Ultrarapid Metabolizer" in text
    for word in ("*10", "Decreased", "(0.25)", "*2x2", "Increased", "(2)"):
        assert word in words  # the alleles: wrapped where need be, whole words


@pytest.mark.parametrize("width", [80, 60])
def test_validate_keeps_study_drug_and_status_whole(width):
    """Before: at 80 `Klei… esci…` and `out…`; the reason a drug misses 70-90 % was cut at
    60 characters in the middle of a word."""
    text = drawn(width, "validate")
    assert_fits(text, width)
    lines = [line.strip() for line in text.splitlines()]
    assert "Klein2006" in lines  # a study's name, a row of its own
    assert re.search(r"^escitalopram\s+5\s+6 h\s+60\b", text, re.M)
    assert re.search(r"^citalopram\s.*\boutside\b", text, re.M)
    assert re.search(r"\bapproximate\b", text)
    flat = " ".join(text.split())
    assert "milnacipran, not 70-90 % at min: PET shows only about 40 % SERT occupancy" in flat
    assert "(Nogami" in flat and "(Noga " not in flat


@pytest.mark.parametrize("width", [80, 60])
def test_profiles_list_keeps_every_name_whole(width):
    """Before: at 60 `citalopr…`, `desvenla…`."""
    text = drawn(width, "profiles", "list")
    assert_fits(text, width)
    for name in ("desvenlafaxine", "levomilnacipran", "escitalopram", "vortioxetine"):
        assert re.search(rf"^\s*{name}\s", text, re.M)
    assert "modulator" in text


@pytest.mark.parametrize("width", [80, 60])
def test_a_long_user_path_in_profiles_list_is_folded_not_cut(width, examplamine_dir):
    deep = examplamine_dir / ("a-directory-name-longer-than-a-narrow-terminal-" * 2)
    deep.mkdir()
    (deep / "examplamine.yaml").write_bytes((examplamine_dir / "examplamine.yaml").read_bytes())
    done = sert("profiles", "list", env={"COLUMNS": str(width), "SERT_PROFILES_DIR": str(deep)})
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout, width)
    assert "".join(done.stdout.split()).count("".join(str(deep).split())) == 1


@pytest.mark.parametrize("width", [80, 60])
def test_phenotype_columns_name_their_gene(width):
    """A column headed `PM` does not say of which gene: `CYP2C19 PM`."""
    text = drawn(width, "table", "sertraline")
    assert_fits(text, width)
    assert "by CYP2C19 phenotype;" in " ".join(text.split())
    if width >= 80:
        assert re.search(r"dose mg\s+CYP2C19 PM\s+CYP2C19 IM\s+CYP2C19 NM", text)
    else:  # the headings wrap, gene above phenotype
        assert re.search(r"^\s*dose\s+CYP2C19\s+CYP2C19", text, re.M)
        assert re.search(r"^\s*mg\s+PM\s+IM\s+NM\s+RM\s+UM\s*$", text, re.M)
    # two genes (escitalopram: CYP2C19 measured, CYP2D6 through its fm): the reference,
    # then each gene's phenotypes, gene above phenotype
    both = drawn(width, "table", "escitalopram")
    assert_fits(both, width)
    assert "by CYP2C19 or CYP2D6 phenotype (other genes NM)" in " ".join(both.split())
    assert re.search(r"^\s*all\s+CYP2C19\s+CYP2C19", both, re.M)
    assert re.search(r"^\s*dose mg\s+NM\s+PM\s+IM\s+RM\s+UM\s+PM", both, re.M)
    patient = drawn(width, "table", "vortioxetine", "--phenotype", "CYP2D6=PM")
    assert re.search(r"dose mg\s+CYP2D6 NM\s+CYP2D6 PM", patient)
    assert "column 2 (CYP2D6 PM) 10 mg/day" in " ".join(patient.split())


@pytest.mark.parametrize("width", [80, 60])
def test_the_population_table_keeps_its_row_names(width):
    """Before: at 60 `occupa…`."""
    text = drawn(width, "population", "escitalopram", "--dose", "10", "--n", "1000")
    assert_fits(text, width)
    assert re.search(r"^\s*SERT\s.*%", text, re.M)
    assert "occupancy" in text


@pytest.mark.parametrize(
    ("columns", "width"),
    [
        ("abc", DEFAULT_WIDTH_COLUMNS),
        ("-5", DEFAULT_WIDTH_COLUMNS),
        ("0", DEFAULT_WIDTH_COLUMNS),
        ("", DEFAULT_WIDTH_COLUMNS),
        ("8O", DEFAULT_WIDTH_COLUMNS),
        ("60.5", DEFAULT_WIDTH_COLUMNS),
        ("1", MIN_WIDTH_COLUMNS),
        ("39", MIN_WIDTH_COLUMNS),
        ("40", 40),
        (" 100 ", 100),
    ],
)
def test_a_columns_that_is_not_a_sane_width_falls_back(columns, width):
    out = io.StringIO()  # not a terminal: no width of its own
    assert Environment.of(None, out, out, {"COLUMNS": columns}).width_columns == width


@pytest.mark.parametrize(("columns", "width"), [("abc", 80), ("-5", 80), ("1", 40), ("0", 80)])
def test_the_tables_are_drawn_at_the_fallback_width(columns, width):
    done = sert("table", "escitalopram", env={"COLUMNS": columns})
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout, width)
    # drawn at that width, not one character a line: the heading's first line fills it
    assert width - 10 < len(done.stdout.splitlines()[0].rstrip()) <= width
    # the phenotype headings side by side (two genes: gene above phenotype)
    assert re.search(r"CYP2C19 +CYP2C19", done.stdout) or width < 60


def render(table, width: int) -> str:
    from rich.console import Console

    from sert_cli.render.fit import print_table

    out = io.StringIO()
    print_table(Console(file=out, width=width, color_system=None), table, keys=1)
    return out.getvalue()


def test_a_table_too_wide_for_any_wrapping_is_stacked_each_part_naming_its_rows():
    from rich import box
    from rich.table import Table

    table = Table(title="T", box=box.SIMPLE_HEAD)  # as sert's tables
    for name in ("name", *(f"column-{i}" for i in range(8))):
        table.add_column(name)
    for row in range(3):
        table.add_row(f"row-{row}", *(f"value-{row}-{i}" for i in range(8)))
    text = render(table, 40)
    assert_fits(text, 40)
    words = re.findall(r"\S+", text)
    for row in range(3):
        assert all(words.count(f"value-{row}-{i}") == 1 for i in range(8))
        parts = words.count(f"row-{row}")
        assert parts >= 3  # the row's name in every part
    assert words.count("name") == parts and words.count("T") == 1  # the title once


def test_a_table_that_fits_is_drawn_as_rich_draws_it():
    from rich.console import Console
    from rich.table import Table

    def table():
        made = Table(title="short")
        made.add_column("a")
        made.add_column("b", justify="right")
        made.add_row("one", "1")
        return made

    out = io.StringIO()
    Console(file=out, width=60, color_system=None).print(table())
    assert render(table(), 60) == out.getvalue()
