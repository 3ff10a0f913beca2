"""`sert compare`: drugs side by side, each number the single commands' own."""

import csv
import io

import pytest
from conftest import sert, sert_json

PM = ("-p", "CYP2C19=PM")


def test_each_column_holds_what_the_single_commands_answer():
    found = sert_json("compare", "escitalopram", "sertraline:100", *PM)
    escitalopram, sertraline = found["drugs"]
    alone = sert_json("occupancy", "escitalopram", "--dose", "10", *PM)  # its usual dose
    assert escitalopram["dose_given"] is False and escitalopram["dose_mg"] == 10.0
    assert escitalopram["occupancy"] == alone["occupancy"]
    assert escitalopram["css_plasma_ng_ml"] == alone["css_plasma_ng_ml"]
    dose = sert_json("dose", "escitalopram", *PM)
    assert escitalopram["dose_for_target_mg"] == dose["dose_mg"]
    assert escitalopram["recommended_dose_mg"] == dose["recommended_dose_mg"]
    assert escitalopram["dose_for_target_range_mg"] == dose["dose_range_mg"]
    average = sert_json("occupancy", "escitalopram", "--dose", "10")
    ratio = alone["clearance_l_h"] / average["clearance_l_h"]
    assert escitalopram["clearance_vs_average_patient"] == pytest.approx(ratio, rel=1e-12)
    assert sertraline["dose_given"] is True and sertraline["daily_dose_mg"] == 100.0
    assert sertraline["occupancy"] == sert_json("occupancy", "sertraline", "100", *PM)["occupancy"]


def test_the_table_names_the_patient_and_each_drug():
    done = sert("compare", "escitalopram", "sertraline", *PM, "--with", "omeprazole")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("escitalopram, sertraline for CYP2C19 poor metabolizer")
    assert "with omeprazole" in " ".join(done.stdout.split())  # (the title may wrap)
    assert "dose for 80 % SERT, mg/day" in done.stdout and "10 (usual)" in done.stdout


def test_csv_has_a_row_per_drug_and_errors_are_one_line():
    rows = list(
        csv.DictReader(
            io.StringIO(sert("compare", "escitalopram", "citalopram:20", "--format", "csv").stdout)
        )
    )
    assert [r["drug"] for r in rows] == ["escitalopram", "citalopram"]
    assert rows[1]["dose_given"] == "true"
    unknown = sert("compare", "escitalopram", "prozacc")
    assert unknown.returncode == 2 and "did you mean 'Prozac'" in unknown.stderr
    bad = sert("compare", "escitalopram:ten")
    assert bad.returncode == 2 and bad.stderr.startswith("sert: error: escitalopram:DOSE 'ten'")
