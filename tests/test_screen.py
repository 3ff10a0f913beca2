"""An answer that fits a screen (issue 25): a note's citation is --explain's."""

import pytest
from conftest import sert, sert_json

PATIENT = ("sertraline", "-p", "CYP2C19=PM", "--with", "omeprazole", "--age", "72")


def test_notes_are_short_in_the_table_and_whole_with_explain_and_in_json():
    short = sert("dose", *PATIENT, env={"COLUMNS": "80"}).stdout
    whole = sert("dose", *PATIENT, "--explain", env={"COLUMNS": "80"}).stdout
    assert "Note: age>=65 (age 72): sertraline exposure x1.67\n" in short
    assert "Zoloft" not in short and "Zoloft PI" in whole  # the source of that factor
    assert "drug-interaction-visualizer" not in short
    notes = sert_json("dose", *PATIENT)["notes"]
    assert any(
        n.startswith("age>=65 (age 72): sertraline exposure x1.67 (measured:") for n in notes
    )


def test_explain_is_never_dropped_silently():
    as_csv = sert("occupancy", "escitalopram", "--dose", "10", "--explain", "--format", "csv")
    assert as_csv.returncode == 2 and as_csv.stdout == ""
    assert as_csv.stderr.startswith("sert: error: --explain: the steps are in the table and")
    steps = sert_json("occupancy", "escitalopram", "--dose", "10", "--explain")["trace"]
    assert any(s["step"] == "time to steady state" for s in steps)


def test_the_heading_names_the_patient_and_the_assumed_line_is_short():
    text = sert("dose", *PATIENT, env={"COLUMNS": "80"}).stdout
    # the heading names both genes the CPIC advice rests on, CYP2B6 not given (issue 27)
    first = (
        "sertraline: dose for 80 % SERT occupancy (CYP2C19 PM, CYP2B6 not given, with "
        "omeprazole, age 72)"
    )
    assert " ".join(text.split()).startswith(first)
    assumed = " ".join(text[text.index("Assumed:") : text.index("Note:")].split())
    assert "SERT PET assumed, EC50 1.48 ng/mL, plateau 87 %" in assumed
    assert "K (unbound brain)" not in assumed and "95 % interval" not in assumed
    explained = sert("dose", *PATIENT, "--explain", env={"COLUMNS": "80"}).stdout
    assert "sertraline K (unbound brain): SERT" in explained and "fu 0.02" in explained


def test_explain_can_be_followed_with_a_calculator():
    """The age factor's clearance before and after, and the PET-scale inverse with its Emax:
    x* = r / (1 - r), r = theta* / Emax."""
    steps = {
        s["step"]: s for s in sert_json("dose", "sertraline", "--age", "72", "--explain")["trace"]
    }
    factor = steps["patient factor age>=65"]["values"]
    assert factor["CL/F after"] == pytest.approx(factor["CL/F before"] / factor["exposure ratio"])
    inverse = steps["dose for the SERT target"]
    assert "r = theta* / Emax (PET scale)" in inverse["formula"]
    r = 0.8 / inverse["values"]["Emax"]
    assert inverse["values"]["x*"] == pytest.approx(r / (1 - r), rel=1e-12)


@pytest.mark.parametrize(
    "args",
    [
        ("dose", *PATIENT),
        ("occupancy", *PATIENT, "--dose", "50"),
        ("dose", "escitalopram", "-p", "CYP2C19=PM", "--with", "omeprazole", "--age", "72"),
        (
            "occupancy",
            "escitalopram",
            "--dose",
            "10",
            "-p",
            "CYP2C19=PM",
            "--with",
            "omeprazole",
            "--age",
            "72",
        ),
    ],
)
def test_an_answer_with_a_comedication_and_a_factor_fits_24_lines_of_80(args):
    """Issue 25: the answer, the patient, the warnings and one line of assumptions; the
    sources are --explain's. Warnings (stderr) count too. Issue 28 adds one line, the
    platelet SERT row of `occupancy` (its screen budget: one line)."""
    done = sert(*args, env={"COLUMNS": "80"})
    lines = done.stdout.splitlines() + done.stderr.splitlines()
    assert len(lines) <= 24 + (args[0] == "occupancy") and max(len(line) for line in lines) <= 80
    heading = " ".join(" ".join(done.stdout.splitlines()[:2]).split())
    assert "with omeprazole, age 72)" in heading
    assert "(CYP2C19 PM, with" in heading or "(CYP2C19 PM, CYP2B6 not given, with" in heading


def test_a_guideline_is_one_brief_line_in_the_table_and_whole_with_explain():
    short = sert("dose", *PATIENT, env={"COLUMNS": "200"}).stdout
    assert (
        "CPIC 2023 Moderate, CYP2C19 PM, CYP2B6 (not given): start lower, titrate slowly, "
        "50 % lower maintenance, or another drug; weigh CYP2B6 too\n"
    ) in short
    whole = sert("dose", *PATIENT, "--explain", env={"COLUMNS": "400"}).stdout
    assert (
        "CYP2C19+CYP2B6 Poor Metabolizer + No Result (CYP2B6 not given): Consider a lower "
        "starting dose"
    ) in whole
    advice = sert_json("dose", *PATIENT)["guidance"]
    assert {a["source"]: a["brief"] for a in advice}["DPWG"].startswith("at most 75 mg/day")


def test_a_phenotype_not_given_is_said_to_be_assumed_not_shown_as_entered():
    text = sert("occupancy", "escitalopram", "--dose", "10", env={"COLUMNS": "200"}).stdout
    assert text.splitlines()[0] == "escitalopram 10 mg every 24 h (no phenotype given)"
    assert "CYP2C19 NM (not given); CYP2D6 NM (not given)." in " ".join(text.split())


def test_no_shipped_source_an_output_prints_names_a_code_repository():
    """A citation names the publication; the copy a SECONDARY row was read in (a code
    repository's transcription) is kept in the table's read_in column, never printed."""
    import csv
    from pathlib import Path

    data = Path(__file__).parent.parent / "sert_cli" / "data"
    for path in [*data.glob("*.csv"), *data.glob("cpic/*.csv")]:
        lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
        for row in csv.DictReader(lines):
            for column, text in row.items():
                if column != "read_in" and text:
                    for word in ("github", ".sql", ".tsv", "akarales", "dianabar"):
                        assert word not in text.lower(), f"{path.name} {column}: {text[:80]}"


def test_an_occupancy_under_half_a_percent_reads_below_one_not_zero():
    from sert_cli.render.table_format import pct

    assert (pct(0.0), pct(0.0002), pct(0.006), pct(0.99999)) == ("0 %", "< 1 %", "1 %", "> 99 %")
    text = sert("occupancy", "escitalopram", "--dose", "10", env={"COLUMNS": "80"}).stdout
    assert " NET occupancy                           < 1 %" in text
