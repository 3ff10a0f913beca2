"""The bleeding warning on the shipped tables (review of issue 28, findings 1, 2, 3, 10):
the estimate follows the antidepressant's class, each estimate states its comparator,
compare says one warning per co-medication and the platelet SERT at the dose for the
target, the --with help, no repeated names or citations."""

import csv
import io
import json
import pickle

import pytest
from test_hostile import assert_clean, invoke

from sert_cli.datafiles import read_table
from sert_cli.pgx import bleeding
from sert_cli.pgx.bleeding import BleedingWarning, CoMedication


def _json(*args):
    done = invoke(*args, "--format", "json")
    assert_clean(done, 0)
    return json.loads(done.stdout)


def _bleeding(record: dict) -> list[str]:
    return [w for w in record["warnings"] if "bleeding risk:" in w]


# --- finding 1: the antidepressant's class ------------------------------------------------


def test_a_tricyclic_with_an_nsaid_is_not_given_the_ssri_figure_as_its_own():
    [said] = _bleeding(_json("occupancy", "amitriptyline", "--dose", "50", "--with", "Advil"))
    assert said.startswith(
        "bleeding risk: ibuprofen (an NSAID) with amitriptyline (a tricyclic): "
        "no published estimate for a tricyclic + NSAID in sert's table; "
        "for SSRIs, SSRI + NSAID: OR 2.93 (95 % CI 2.25-3.82) vs neither drug"
    )
    # the class's own estimate vs no use (Opatrny 2008)
    assert "tricyclics alone: RR 1.0 (95 % CI 0.8-1.3) vs non-use for upper GI bleeding" in said
    assert "(Opatrny 2008, Br J Clin Pharmacol)" in said


def test_nortriptyline_with_aspirin_and_venlafaxine_with_warfarin():
    [said] = _bleeding(_json("occupancy", "nortriptyline", "--dose", "50", "--with", "aspirin"))
    assert "no published estimate for a tricyclic + aspirin in sert's table" in said
    assert "for SSRIs, SSRI + aspirin: HR 1.42 (95 % CI 1.08-1.87) vs aspirin alone" in said
    [said] = _bleeding(_json("occupancy", "venlafaxine", "--dose", "75", "--with", "warfarin"))
    assert "with venlafaxine (an SNRI): no published estimate for an SNRI + anticoagulant" in said
    assert "IRR 1.33 (95 % CI 1.24-1.42) vs anticoagulant alone" in said
    assert "venlafaxine alone: RR 1.9 (95 % CI 1.3-2.6) vs non-use" in said


def test_an_ssri_gets_its_own_figure_without_a_caveat():
    [said] = _bleeding(_json("occupancy", "sertraline", "--dose", "50", "--with", "Advil"))
    assert "with sertraline (an SSRI): SSRI + NSAID: OR 2.93" in said
    assert "no published estimate" not in said and "for SSRIs" not in said


def test_the_class_is_the_callers_not_looked_up_by_name():
    """pgx reads no profile: the class comes in the CoMedication (the patient layer puts the
    profile's class there)."""
    as_tca = bleeding.bleeding_warnings("sertraline", [CoMedication("ibuprofen", "TCA")], None)
    as_ssri = bleeding.bleeding_warnings("sertraline", [CoMedication("ibuprofen", "SSRI")], None)
    assert "no published estimate for a tricyclic + NSAID" in as_tca[0]
    assert "no published estimate" not in as_ssri[0]
    odd = bleeding.bleeding_warnings(
        "vortioxetine", [CoMedication("aspirin", "serotonin modulator")], 0.5
    )
    assert "no published estimate for a serotonin modulator + aspirin" in odd[0]
    assert "platelet SERT occupancy at this dose 50 % (modelled)" in odd[0]


def test_simulate_follows_the_class_too():
    record = _json("simulate", "amitriptyline", "--dose", "50", "--days", "3", "--with", "Advil")
    [said] = _bleeding(record)
    assert "no published estimate for a tricyclic + NSAID" in said


# --- finding 2: each estimate's comparator -------------------------------------------------


def test_every_risk_row_states_its_comparator_and_each_exposure_one_lead():
    rows = read_table("bleeding_risk.csv")[1]
    assert len(rows) == 29  # (every row kept)
    assert all(r["versus"].startswith("vs ") and r["source"] for r in rows)
    leads = [r["exposure"] for r in rows if r["lead"] == "yes"]
    assert len(leads) == len(set(leads)) == len({r["exposure"] for r in rows})


def test_the_antiplatelet_lead_is_the_ssris_own_contribution():
    [said] = _bleeding(_json("occupancy", "sertraline", "--dose", "50", "--with", "plavix"))
    assert (
        "SSRI + antiplatelet: HR 1.57 (95 % CI 1.07-2.32) vs dual antiplatelet alone "
        "for bleeding requiring hospital admission (Labos 2011, CMAJ)"
    ) in said
    assert "2.35" not in said


def test_the_nsaid_lead_has_the_nsaid_alone_beside_it():
    [said] = _bleeding(_json("occupancy", "sertraline", "--dose", "50", "--with", "naproxen"))
    assert (
        "SSRI + NSAID: OR 2.93 (95 % CI 2.25-3.82) vs neither drug, "
        "NSAID alone OR 2.15 (95 % CI 2.02-2.28) vs non-use, for upper GI bleeding"
    ) in said


# --- finding 3: compare -------------------------------------------------------------------


def test_compare_says_each_bleeding_warning_once():
    record = _json(
        "compare", "sertraline", "amitriptyline", "--with", "warfarin", "--with", "Advil"
    )
    warnings = record["warnings"]
    assert len(warnings) == len(set(warnings))
    said = _bleeding(record)
    assert len(said) == 2
    warfarin, advil = said
    assert warfarin.startswith(
        "bleeding risk: warfarin (an anticoagulant) with sertraline (an SSRI), "
        "amitriptyline (a tricyclic): SSRI + anticoagulant: IRR 1.33"
    )
    assert "no published estimate for a tricyclic + anticoagulant" in warfarin
    assert warfarin.count("IRR 1.33") == 1  # (the SSRI figure once, not per drug)
    assert "ibuprofen (an NSAID)" in advil
    # the per-drug platelet numbers are in the table, not in the warning
    assert "at this dose" not in warfarin and "in the table" in warfarin
    # both drugs' affinity classes, the classification cited once
    assert warfarin.count("(Meijer 2004, Arch Intern Med") == 1
    assert "sertraline high" in warfarin and "amitriptyline intermediate" in warfarin


def test_compare_platelet_at_the_dose_for_the_target_is_the_dose_answers():
    record = _json("compare", "sertraline", "escitalopram", "--with", "warfarin")
    for column in record["drugs"]:
        dose = _json("dose", column["drug"], "--with", "warfarin")
        expected = dose["platelet_sert_occupancy"]  # at the recommended dose
        assert expected is not None and 0.5 < expected < 1
        assert column["platelet_sert_occupancy_at_dose_for_target"] == pytest.approx(expected)
    # the dose for 80 % SERT, made by the strengths: sertraline 75 mg -> 84 % of platelet
    # SERT, escitalopram 15 mg -> 95 % (the shipped model's numbers)
    sertraline, escitalopram = record["drugs"]
    assert sertraline["recommended_dose_mg"] == 75 and escitalopram["recommended_dose_mg"] == 15
    assert sertraline["platelet_sert_occupancy_at_dose_for_target"] == pytest.approx(0.84, abs=0.01)
    assert escitalopram["platelet_sert_occupancy_at_dose_for_target"] == pytest.approx(
        0.95, abs=0.01
    )


def test_compare_table_and_csv_show_the_platelet_row():
    done = invoke("compare", "sertraline", "escitalopram", "--target", "0.8")
    assert_clean(done, 0)
    assert "platelet SERT at the dose for 80 %" in done.stdout
    done = invoke("compare", "sertraline", "escitalopram", "--format", "csv")
    assert_clean(done, 0)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [float(r["platelet_sert_occupancy_at_dose_for_target"]) > 0.5 for r in rows] == [
        True,
        True,
    ]


def test_a_bleeding_warning_carries_its_comedication_as_data():
    warning = bleeding.bleeding_warnings("sertraline", [CoMedication("warfarin", "SSRI")], None)[0]
    assert isinstance(warning, BleedingWarning) and warning.comedication == "warfarin"
    again = pickle.loads(pickle.dumps(warning))
    assert again == warning and again.comedication == "warfarin"


# --- finding 10: help and words -----------------------------------------------------------


def test_with_help_says_what_it_takes():
    done = invoke("occupancy", "--help")
    assert_clean(done, 0)
    text = " ".join(done.stdout.split())
    assert "may inhibit a CYP enzyme" not in text
    assert "serotonergic drug" in text and "anticoagulant" in text


def test_no_name_repeated_as_its_class_and_no_doubled_citation():
    [said] = _bleeding(_json("occupancy", "sertraline", "--dose", "50", "--with", "aspirin"))
    assert "aspirin (aspirin)" not in said
    assert said.startswith("bleeding risk: aspirin with sertraline (an SSRI): ")
    assert ") (" not in said  # no two citations side by side
    assert said.count("(Meijer 2004, Arch Intern Med") == 1
