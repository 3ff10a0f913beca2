"""Clinical outputs that are safe by construction (issue 23): no recommendation above the
patient's label maximum, a shortfall said in the same line, TDM that says one thing, a
serotonergic co-medication named, and the statement that an output is a model estimate."""

import csv
import io

import pytest
from conftest import SERT_PLATEAU, sert, sert_json

from sert_cli.vocabulary import STATEMENT


def test_vortioxetine_is_answered_at_its_maximum_not_above_it():
    out = sert_json("dose", "vortioxetine")
    assert out["dose_mg"] > 20  # the model's number
    assert out["recommended_dose_mg"] == 20 and out["recommended_units_mg"] == [20.0]
    assert out["target_reached"] is False and out["exceeds_label_max"] is True
    short = (0.8 - out["occupancy_at_recommended"]) * 100
    assert any(f"{max(round(short), 1)} point(s) short" in w for w in out["warnings"])


def test_a_recommended_dose_reaches_the_target_or_says_it_does_not():
    out = sert_json("dose", "duloxetine")
    # the strength just below the exact dose (20 mg, 79.5 %) is no longer recommended
    assert out["target_reached"] is True
    assert out["occupancy_at_recommended"] >= 0.8
    assert out["recommended_dose_mg"] >= out["dose_mg"]


def test_citalopram_over_60_is_capped_at_20_mg_and_says_the_exact_dose_is_above():
    out = sert_json("dose", "citalopram", "--age", "70")
    assert out["label_max_mg"] == 20 and out["recommended_dose_mg"] == 20
    table = sert("dose", "citalopram", "--age", "70")
    assert "exact dose above label maximum" in table.stdout
    assert "YES: capped at the maximum" in table.stdout


def test_the_table_does_not_show_doses_above_a_columns_maximum():
    rows = sert_json("table", "citalopram")
    pm_rows = [r for r in rows if r["phenotypes"].get("CYP2C19") == "PM"]
    assert {r["dose_mg"]: r["above_label_max"] for r in pm_rows} == {
        20.0: False,
        30.0: True,
        40.0: True,
    }
    table = sert("table", "citalopram").stdout
    assert table.count("above max") == 2


def test_the_population_dose_for_90_percent_stays_within_the_label():
    out = sert_json("population", "vortioxetine", "--dose", "10", "--n", "2000")
    assert out["dose_for_target_in_90pct_mg"] is None
    # CYP2D6 poor metabolizers among them have a 10 mg/day maximum
    assert any("within the label maximum of 10 mg/day" in w for w in out["warnings"])
    fine = sert_json("population", "escitalopram", "--dose", "10", "--n", "2000", "--target", "0.7")
    assert fine["dose_for_target_in_90pct_mg"] * 24 / fine["interval_h"] <= fine["label_max_mg"]


def test_tdm_names_the_disagreement_between_model_and_consensus():
    """escitalopram 10 mg: the model expects 8.9 ng/mL, below the 15-80 consensus range; a
    level of 5 is as the model expects and below the range, and the reading says both."""
    out = sert_json("tdm", "escitalopram", "--dose", "10", "--level", "5")
    assert out["level_vs_reference"] == "below" and out["expected_vs_reference"] == "below"
    text = out["interpretation"]
    assert "within the model's 90 % range" in text and "below the reference range" in text
    assert "the model and the reference range disagree" in text
    assert not any("reference range" in w for w in out["warnings"])
    inside = sert_json("tdm", "escitalopram", "--dose", "20", "--level", "20")
    if inside["expected_vs_reference"] == "within":
        assert "disagree" not in inside["interpretation"]


@pytest.mark.parametrize("other", ["tramadol", "linezolid", "lithium", "st john's wort"])
def test_a_serotonergic_comedication_is_named_with_its_risk(other):
    out = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", other)
    assert any(w.startswith("serotonin toxicity:") for w in out["warnings"])
    explained = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", other, "--explain")
    cited = [s for s in explained["trace"] if s["step"].startswith("serotonergic")]
    assert cited and all(s["source"] for s in cited)


def test_a_maoi_is_called_contraindicated():
    out = sert_json("occupancy", "sertraline", "--dose", "50", "--with", "phenelzine")
    assert any("contraindicated" in w for w in out["warnings"])


def test_a_sert_inhibitor_with_a_profile_says_its_own_occupancy():
    out = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", "paroxetine")
    alone = sert_json("occupancy", "paroxetine", "--dose", "20")["occupancy"]["SERT"]
    assert any(
        w.startswith("paroxetine occupies SERT itself") and f"{alone * 100:.0f} %" in w
        for w in out["warnings"]
    )


@pytest.mark.parametrize(
    "args",
    [
        ("dose", "escitalopram"),
        ("taper", "escitalopram", "--from", "10"),
        ("switch", "paroxetine", "20", "sertraline"),
        ("tdm", "escitalopram", "--dose", "10", "--level", "20"),
        ("population", "escitalopram", "--dose", "10", "--n", "500"),
    ],
)
def test_every_clinical_command_says_once_that_it_is_a_model_estimate(args):
    assert sert_json(*args)["statement"] == STATEMENT
    rows = list(csv.DictReader(io.StringIO(sert(*args, "--format", "csv").stdout)))
    assert rows and all(r["statement"] == STATEMENT for r in rows)
    table = " ".join(sert(*args).stdout.split())  # (a narrow table wraps the line)
    assert table.count("not medical advice or a prescribing device") == 1


def test_tdm_reads_the_level_against_the_range_its_table_shows():
    """citalopram 20 mg, level 20: below the model's 90 % range (the table's), so the
    reading names low-exposure causes; venlafaxine 75 mg, level 50: inside its range."""
    low = sert_json("tdm", "citalopram", "--dose", "20", "--level", "20")
    assert 20 < low["expected_range_ng_ml"][0]
    assert "non-adherence" in low["interpretation"]
    inside = sert_json("tdm", "venlafaxine", "--dose", "75", "--level", "50")
    lo, hi = inside["expected_range_ng_ml"]
    assert lo <= 50 <= hi and "within the model's 90 % range" in inside["interpretation"]


def test_the_population_dose_respects_every_phenotypes_maximum_and_avoid():
    """citalopram: CYP2C19 poor metabolizers in the population have a 20 mg/day maximum,
    so no dose for 90 % above it; duloxetine in severe liver disease: the label says avoid."""
    out = sert_json("population", "citalopram", "--dose", "20", "--n", "2000")
    assert out["label_max_mg"] == 20
    dose = out["dose_for_target_in_90pct_mg"]
    assert dose is None or dose <= 20
    avoid = sert_json("population", "duloxetine", "--dose", "60", "--hepatic", "severe")
    assert avoid["dose_for_target_in_90pct_mg"] is None
    assert any("avoid" in w for w in avoid["warnings"])


def test_a_switch_to_a_drug_the_label_says_to_avoid_is_refused():
    done = sert("switch", "citalopram", "20", "duloxetine", "--hepatic", "severe")
    assert done.returncode == 1 and "avoid" in done.stderr


def test_a_switch_reaches_the_old_occupancy_or_says_how_far_short():
    out = sert_json("switch", "citalopram", "20", "fluoxetine")
    theta = out["from"]["occupancy"]["SERT"]
    assert out["to"]["recommended_dose_mg"] >= out["to"]["equivalent_dose_mg"]
    assert out["to"]["occupancy_at_recommended"]["SERT"] >= theta
    assert out["to"]["target_reached"] is True


def test_a_switch_never_stops_and_restarts_the_new_drug():
    out = sert_json("switch", "citalopram", "20", "fluoxetine")
    doses = [d["to_dose_mg"] for d in out["schedule"]]
    first = next(i for i, d in enumerate(doses) if d > 0)
    assert all(b >= a for a, b in zip(doses[first:], doses[first + 1 :], strict=False))


def test_a_single_dose_is_never_above_a_days_maximum():
    out = sert_json("dose", "sertraline", "--interval", "720", "--target", "0.84")
    assert out["recommended_dose_mg"] <= out["label_max_mg"]


def test_a_sample_long_after_the_last_dose_is_read_as_doses_stopped():
    """escitalopram 10 mg: trough (24 h) 8.875 ng/mL; 100 h after the last dose the level
    has fallen for 76 h more, not risen to the 4 h peak as a modulo would have it."""
    trough = sert_json("tdm", "escitalopram", "--dose", "10", "--level", "5")
    late = sert_json(
        "tdm", "escitalopram", "--dose", "10", "--level", "5", "--hours-after-dose", "100"
    )
    assert late["expected_level_ng_ml"] < trough["expected_level_ng_ml"] / 4
    assert any("no dose since" in w for w in late["warnings"])


def test_a_cross_taper_never_raises_the_drug_taken_now():
    out = sert_json("switch", "escitalopram", "2.5", "sertraline")
    assert all(d["from_dose_mg"] <= 2.5 for d in out["schedule"])


def test_a_co_medicated_sert_inhibitor_adds_its_own_occupancy_to_the_answer():
    """escitalopram 10 mg with paroxetine (at its usual 20 mg): on the one PET scale (plateau
    E for both) the two compete, theta = E (x_a + x_b) / (1 + x_a + x_b), with each x from
    its own occupancy alone, x = theta / (E - theta)."""
    out = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", "paroxetine")
    alone = sert_json("occupancy", "paroxetine", "--dose", "20")["occupancy"]["SERT"]
    mine, plateau = out["occupancy"]["SERT"], SERT_PLATEAU
    x_a, x_b = mine / (plateau - mine), alone / (plateau - alone)
    both = plateau * (x_a + x_b) / (1 + x_a + x_b)
    assert any(
        f"occupy about {both * 100:.0f} % of SERT at this dose" in w for w in out["warnings"]
    )


def test_a_population_of_poor_metabolizers_is_computed_as_poor_metabolizers():
    out = sert_json("population", "escitalopram", "--dose", "10", "-p", "CYP2C19=PM", "--n", "5000")
    single = sert_json("occupancy", "escitalopram", "--dose", "10", "-p", "CYP2C19=PM")
    median = out["occupancy_percentiles"]["SERT"]["50"]
    assert median == pytest.approx(single["occupancy"]["SERT"], abs=0.005)
    nm = sert_json("dose", "escitalopram")["dose_mg"]
    assert out["dose_for_target_in_90pct_mg"] < nm


def test_a_sample_taken_after_the_drug_has_gone_is_refused_not_a_traceback():
    done = sert("tdm", "paroxetine", "--dose", "20", "--level", "50", "--hours-after-dose", "1000")
    assert done.returncode == 1 and "too little to read a level against" in done.stderr


def test_a_switch_keeps_the_old_drug_within_its_maximum_and_refuses_a_typo():
    out = sert_json("switch", "citalopram", "40", "escitalopram", "--age", "70")
    assert all(d["from_dose_mg"] <= 20 for d in out["schedule"])
    assert any("dose taken now, 40 mg/day, is above" in w for w in out["warnings"])
    done = sert("switch", "paroxetine", "1000", "sertraline")
    assert done.returncode == 2 and "check the number and its unit" in done.stderr


def test_the_washout_is_the_one_the_schedule_follows():
    """fluvoxamine is saturable: its washout is simulated, not five linear half-lives."""
    out = sert_json("switch", "fluvoxamine", "300", "citalopram", "--strategy", "washout")
    gap = out["washout_days"]
    assert out["days"] == gap
    assert out["schedule"][gap]["to_dose_mg"] > 0
    assert any(f"washout: {gap} days after the last dose" in n for n in out["notes"])
