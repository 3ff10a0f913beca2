"""The table format (the default, for people) of the commands no other test read in that
format (issue 24 item 6): each is rendered in process and read for what a reader needs
from it, a number, a heading or a row, checked against the JSON contract, a published or
hand-computed value, or a property of the table itself.

Covered elsewhere, in table format with content: occupancy, dose, table, simulate, switch,
taper and tdm (tests/test_readme.py compares the README's printed examples), profiles show
(tests/test_conventions.py reads it back as YAML), profiles check (tests/test_cli.py,
tests/test_readme.py), curve's headings (tests/test_cli.py). batch has no table format."""

import csv
import re
from pathlib import Path

import pytest
from conftest import sert, sert_json

DATA = Path(__file__).parent / "data"
REPORT = str(DATA / "pharmcat_minimal.report.json")
WIDE = {"COLUMNS": "200"}  # no cell cut short with an ellipsis
GE = "(?:≥|>=)"  # the table writes >= as ≥ where the encoding has it


def table(*args: str) -> str:
    done = sert(*args, env=WIDE)
    assert done.returncode == 0, done.stderr
    return done.stdout


def row(text: str, *cells: str) -> re.Match:
    """The table line whose cells are these, in order, separated by blanks."""
    found = re.search(r"^\s*" + r"\s+".join(cells) + r"\s*$", text, re.M)
    assert found, (cells, text)
    return found


def test_phenotype_table_gives_each_diplotype_its_score_and_phenotype():
    """CPIC's CYP2D6 activity values: *1 normal (1), *4 no function (0), so *1/*4 scores 1,
    an Intermediate Metabolizer; *1x>=3 counts at least 3, so *1/*1x>=3 scores at least 4,
    an Ultrarapid Metabolizer; *43 has uncertain function: Indeterminate, no score."""
    text = table("phenotype", "CYP2D6", "*1/*4", "*1/*1x>=3", "*1/*43")
    for heading in ("gene", "diplotype", "activity score", "phenotype", "CPIC term"):
        assert heading in text
    row(text, "CYP2D6", r"\*1/\*4", "1", "IM", "Intermediate Metabolizer", r"\*1 Normal \(1\);",
        r"\*4 No \(0\)")  # fmt: skip
    row(text, "CYP2D6", rf"\*1/\*1x{GE}3", f"{GE}4", "UM", "Ultrarapid Metabolizer", ".*")
    row(text, "CYP2D6", r"\*1/\*43", "-", "Indeterminate", "Indeterminate", ".*Uncertain")
    version = sert_json("phenotype", "CYP2D6", "*1/*4")[0]["cpic_data_version"]
    assert f"CPIC data version {version}" in text


def test_a_pharmcat_report_in_the_dose_table():
    """--pharmcat in table format: the phenotype PharmCAT called (CYP2C19 *2/*2, a poor
    metabolizer) heads the answer, the dose is the JSON's, and the report is named."""
    text = table("dose", "sertraline", "--pharmcat", REPORT)
    out = sert_json("dose", "sertraline", "--pharmcat", REPORT)
    assert out["phenotypes"] == {"CYP2C19": "PM"}
    assert text.splitlines()[0] == "sertraline: dose for 80 % SERT occupancy (CYP2C19 PM)"
    row(text, "exact dose \\(the model's number\\)", f"{out['dose_mg']:.2f} mg every 24 h")
    row(text, "dose from marketed strengths", "25 mg \\(25 mg\\)")
    assert out["recommended_dose_mg"] == 25.0
    row(
        text,
        "SERT occupancy at that dose",
        f"{out['occupancy_at_recommended'] * 100:.0f} %",
    )
    assert "from PharmCAT report pharmcat_minimal.report.json" in text
    assert "CYP2C19 *2/*2 Poor Metabolizer" in text
    assert "CYP2D6 No Result: sertraline's profile does not use CYP2D6" in text


def test_population_table_shows_the_percentiles_and_the_share_reaching_80():
    args = ("population", "escitalopram", "--dose", "10", "--n", "1000")
    text = table(*args)
    out = sert_json(*args)
    assert "1,000 virtual patients of European ancestry (seed 0)" in text.splitlines()[0]
    row(text, "5th pct", "25th pct", "50th pct", "75th pct", "95th pct")
    sert_pct = out["occupancy_percentiles"]["SERT"]
    cells = [f"{round(100 * sert_pct[p])} %" for p in ("5", "25", "50", "75", "95")]
    row(text, "SERT occupancy", *cells)
    assert 0.6 < sert_pct["5"] < sert_pct["50"] < sert_pct["95"] < 0.87  # below the plateau
    reaching = out["fraction_reaching_target"]
    assert f"Reaching 80 % SERT: {reaching * 100:.1f} % of patients" in text
    # the by-phenotype table: one line per phenotype pair, the largest group first
    first = out["by_phenotype"][0]
    pair = ", ".join(f"{g} {p}" for g, p in first["phenotypes"].items())
    median = f"{round(100 * first['median_occupancy'])} %"
    share, reaching = first["fraction"] * 100, first["fraction_reaching_target"] * 100
    row(text, pair, f"{share:.1f} %", median, f"{reaching:.1f} %")
    assert len(re.findall(r"^\s+CYP2C19 \w\w, CYP2D6 \w\w\s", text, re.M)) == len(
        out["by_phenotype"]
    )


def test_validate_table_lists_every_pet_point_and_flags_those_outside_their_range():
    """A table a transporter, each study's points under its name (a row of its own)."""
    text = table("validate")
    assert text.startswith("SERT PET occupancy, observed vs predicted (%)")
    assert "NET PET occupancy, observed vs predicted (%)" in text
    assert "Mean absolute error by drug and kind of point (percentage points)" in text
    row(text, "drug", "mg/day", "when", "obs", "in vitro", "model", "left out", "90 % range")
    point = re.compile(
        r"^\s*(\S+)\s+([\d.]+)\s+(steady|(?:rep )?\d+ h)\s+(\d+)\s+(\d+)"
        r"\s+(\d+)\s+(\d+|-)\s+(\d+–\d+|\d+|-)\s*(\S*)\s*$"
    )
    points, transporter, study = [], None, None
    for line in text.split("Mean absolute error")[0].splitlines():
        if line.rstrip().endswith("PET occupancy, observed vs predicted (%)"):
            transporter = line.split()[0]
        elif re.fullmatch(r"\s*\S+\s*", line) and not line.strip().startswith("─"):
            study = line.strip()
        elif found := point.match(line):
            drug, *rest = found.groups()
            points.append((study, drug, transporter, *rest))
    with open(Path(__file__).parent.parent / "sert_cli/data/pet_occupancy.csv") as handle:
        data = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    # one line per point of the data file but the excluded ones
    assert len(points) == sum(r["status"] != "excluded" for r in data) >= 40
    assert {p[2] for p in points} == {"SERT", "NET"}
    # published: Meyer 2001, 83 % SERT occupancy on paroxetine 20 mg/day at steady state
    (meyer,) = [p for p in points if p[0] == "Meyer2001" and p[1] == "paroxetine"]
    assert meyer[2:6] == ("SERT", "20", "steady", "83")
    # the status column says 'outside' exactly where the observation is outside the range
    checked = 0
    for p in points:
        if p[9] == "-" or p[10] not in ("", "outside"):
            continue
        observed, ends = int(p[5]), p[9].split("–")
        low, high = int(ends[0]), int(ends[-1])
        if observed in (low, high):
            continue  # rounded to the edge: either side
        assert (p[10] == "outside") == (not low <= observed <= high), p
        checked += 1
    assert checked >= 20
    assert sum(p[10] == "outside" for p in points) >= 1


def test_validate_fit_prints_the_constant_the_profile_carries():
    """`validate --fit paroxetine` refits the PET constant: what it prints rounds to what
    drug_profiles/paroxetine.yaml carries (EC50 2.3 ng/mL, 95 % interval 1.22-4.19 ng/mL,
    plateau 0.870), and the YAML line to paste is the profile's own."""
    text = table("validate", "--fit", "paroxetine")
    found = re.search(
        r"^paroxetine SERT: EC50 ([\d.]+) ng/mL \(total plasma; 95 % interval ([\d.]+)-([\d.]+)\), "
        r"plateau (\d+) %, fitted",
        text,
        re.M,
    )
    assert found, text
    ec50, low, high, plateau = found.groups()
    assert float(ec50) == pytest.approx(2.30, abs=0.005)
    assert (low, high, plateau) == ("1.22", "4.19", "87")
    assert "profile has 2.3 ng/mL" in text
    assert "pet_ec50_plasma: 2.3 ng/mL, pet_ec50_interval: [1.22 ng/mL, 4.19 ng/mL]" in text
    assert re.search(r"^paroxetine NET: EC50 [\d.]+ ng/mL .*extrapolated", text, re.M)


def test_profiles_list_table_has_a_row_per_profile():
    text = table("profiles", "list")
    listed = sert_json("profiles", "list")
    assert len(listed) == 17  # 12 SSRIs/SNRIs/vortioxetine and 5 tricyclics
    row(text, "drug", "class", "genes", "label mg/day", "from")
    for p in listed:
        label = f"{p['label_min_mg']:g}–{p['label_max_mg']:g}"
        row(text, p["name"], re.escape(p["class"]), re.escape(", ".join(p["genes"]) or "-"),
            label, "bundled")  # fmt: skip
    # paroxetine: SSRI, its saturable CYP2D6 path, 20-50 mg/day (the US label)
    row(text, "paroxetine", "SSRI", "CYP2D6", "20–50", "bundled")


def test_curve_chart_spans_twice_the_label_maximum_with_every_phenotype():
    text = table("curve", "escitalopram")
    assert text.splitlines()[0] == "escitalopram: steady-state SERT occupancy by dose, every 24 h"
    axis = next(line for line in text.splitlines() if re.match(r"^\s+10\s+20\s+30\s+40\s*$", line))
    assert axis.split()[-1] == "40"  # twice the 20 mg label maximum
    for phenotype in ("PM", "IM", "NM", "RM", "UM"):
        assert f"CYP2C19 {phenotype} CYP2D6 NM" in text
    assert "80 % target" in text and "label minimum" in text and "label maximum" in text


CHANGING_REGIMENS = [
    # (arguments, doses taken: 14 + 14 daily; 10 daily with day 3 missed)
    (("escitalopram", "--schedule", "20mg x14d, 10mg x14d"), 28),
    (("paroxetine", "--dose", "20", "--days", "10", "--missed", "3"), 9),
]


@pytest.mark.parametrize(("args", "taken"), CHANGING_REGIMENS)
def test_a_changing_regimen_counts_its_doses(args, taken):
    assert sert_json("simulate", *args)["summary"]["doses_taken"] == taken


@pytest.mark.parametrize(("args", "taken"), CHANGING_REGIMENS)
def test_a_changing_regimen_in_the_simulate_table(args, taken):
    done = sert("simulate", *args, env=WIDE)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"{taken} doses" in done.stdout.splitlines()[0]
    summary = sert_json("simulate", *args)["summary"]
    assert re.search(rf"doses taken +{taken}\b", done.stdout)
    highest = round(100 * summary["peak_occupancy_SERT"])
    assert re.search(rf"SERT occupancy, highest / at the end +{highest} % /", done.stdout)
