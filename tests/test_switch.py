"""`sert switch` (issue 13): the new drug's dose at the old one's SERT occupancy, and the
days of the change with both drugs on the same sites."""

from itertools import pairwise

import pytest
from conftest import SERT_PLATEAU, sert, sert_json


@pytest.fixture(scope="module")
def paroxetine_to_sertraline():
    # 40 mg: about 82 % SERT since the paroxetine refit to Sindrup 1992 (issue 22), the
    # high-occupancy switch this module was written for (20 mg gave 81.7 % before it)
    return sert_json("switch", "paroxetine", "40", "sertraline")


def test_the_equivalent_dose_has_the_same_occupancy(paroxetine_to_sertraline):
    out = paroxetine_to_sertraline
    exact = out["to"]["equivalent_dose_mg"]
    assert 25 <= exact <= 150
    at_exact = sert_json("occupancy", "sertraline", repr(exact))["occupancy"]["SERT"]
    assert at_exact == pytest.approx(out["from"]["occupancy"]["SERT"], abs=0.01)
    # the dose to take is one the strengths make, still within a point
    recommended = out["to"]["recommended_dose_mg"]
    assert sum(out["to"]["recommended_units_mg"]) == pytest.approx(recommended)
    assert out["to"]["occupancy_at_recommended"]["SERT"] == pytest.approx(at_exact, abs=0.01)


def test_the_schedule_runs_by_day_and_ends_on_the_new_drug_alone(paroxetine_to_sertraline):
    days = paroxetine_to_sertraline["schedule"]
    assert [d["day"] for d in days] == list(range(len(days)))
    assert days[-1]["from_dose_mg"] == 0
    assert days[-1]["to_dose_mg"] == paroxetine_to_sertraline["to"]["recommended_dose_mg"]
    # a cross-taper: the old dose never rises, the new one never falls
    assert all(a["from_dose_mg"] >= b["from_dose_mg"] for a, b in pairwise(days))
    assert all(a["to_dose_mg"] <= b["to_dose_mg"] for a, b in pairwise(days))
    # at the end the combined occupancy is the new drug's own steady state: the schedule's
    # is at trough, the steady state an average, so a little below it
    alone = paroxetine_to_sertraline["to"]["occupancy_at_recommended"]["SERT"]
    assert alone - 0.02 <= days[-1]["occupancy"]["SERT"] <= alone


def test_both_drugs_are_on_the_same_pet_scale(paroxetine_to_sertraline):
    for side in ("from", "to"):
        assert (
            f"plateau {SERT_PLATEAU * 100:.0f} %"
            in paroxetine_to_sertraline[side]["affinity"]["SERT"]
        )


def test_fluoxetine_is_stopped_and_the_new_drug_starts_low():
    """The default plan follows the washout it asks for: fluoxetine stops on day 0 and
    escitalopram starts low, rising as norfluoxetine leaves; no note contradicts it."""
    out = sert_json("switch", "fluoxetine", "40", "escitalopram")
    assert out["washout_days"] >= 14 and out["strategy"] == "direct"
    days = out["schedule"]
    goal = out["to"]["recommended_dose_mg"]
    assert all(d["from_dose_mg"] == 0 for d in days)
    assert days[0]["to_dose_mg"] < goal and days[-1]["to_dose_mg"] == goal
    assert all(a["to_dose_mg"] <= b["to_dose_mg"] for a, b in pairwise(days))
    assert any("starts escitalopram low" in n for n in out["notes"])
    assert not any("leaves this out" in n for n in out["notes"])
    assert not any("washout of" in w for w in out["warnings"])


def test_the_schedule_includes_the_old_drugs_inhibition():
    """Fluoxetine inhibits CYP2C19 and CYP2D6: while it is present escitalopram's level is
    higher, so each day's occupancy is above what escitalopram alone at that dose and
    fluoxetine's remainder would give; the ratio is what `occupancy --with` computes."""
    out = sert_json("switch", "fluoxetine", "40", "escitalopram")
    dose = out["to"]["recommended_dose_mg"]
    alone = sert_json("occupancy", "escitalopram", repr(dose))
    both = sert_json("occupancy", "escitalopram", repr(dose), "--with", "fluoxetine")
    ratio = both["css_plasma_ng_ml"] / alone["css_plasma_ng_ml"]
    assert out["exposure_ratio_with_old_drug"][0] == pytest.approx(ratio, rel=1e-9)
    assert any("the schedule's doses and occupancies include it" in n for n in out["notes"])
    plain = sert_json(
        "switch", "fluoxetine", "40", "escitalopram", "--with", "fluoxetine", "--strategy", "direct"
    )
    # with fluoxetine named as a co-medication for good, no fading interaction is added
    assert plain["exposure_ratio_with_old_drug"] is None


def test_citalopram_stays_within_its_inhibitor_maximum_while_fluoxetine_remains():
    """Citalopram's label maximum with a CYP2C19 inhibitor is 20 mg/day (QT): while
    fluoxetine is present the plan never gives more, and 40 mg only once it has gone."""
    out = sert_json("switch", "fluoxetine", "40", "citalopram", "--age", "50")
    days = out["schedule"]
    washout = out["washout_days"]
    assert max(d["to_dose_mg"] for d in days[: washout - 7]) <= 20
    assert max(d["to_dose_mg"] for d in days) <= out["to"]["label_max_mg"]


@pytest.mark.parametrize("drug", ["citalopram", "escitalopram", "paroxetine", "sertraline"])
def test_no_switch_schedules_above_the_label_maximum(drug):
    for extra in ((), ("--age", "70")):
        out = sert_json("switch", "fluoxetine", "40", drug, *extra)
        assert out["to"]["recommended_dose_mg"] <= out["to"]["label_max_mg"] + 1e-9
        assert all(d["to_dose_mg"] <= out["to"]["label_max_mg"] + 1e-9 for d in out["schedule"])


def test_the_new_drugs_phenotype_and_guidance_are_shown():
    out = sert_json("switch", "fluoxetine", "40", "escitalopram", "-p", "CYP2C19=PM")
    assert out["to"]["phenotypes"]["CYP2C19"] == "PM"
    assert not any("CYP2C19=PM was not used" in w for w in out["warnings"])
    assert any(g["gene"] == "CYP2C19" and g["phenotype"] == "PM" for g in out["guidance"])
    table = sert("switch", "fluoxetine", "40", "escitalopram", "-p", "CYP2C19=PM")
    assert "CPIC 2023 Strong, CYP2C19 PM: consider another drug" in table.stdout
    assert "not used" not in table.stderr


def test_a_washout_leaves_a_gap_then_the_new_drug():
    out = sert_json("switch", "escitalopram", "10", "sertraline", "--strategy", "washout")
    days = out["schedule"]
    gap = out["days"]
    assert gap == out["washout_days"]
    assert all(d["from_dose_mg"] == 0 and d["to_dose_mg"] == 0 for d in days[:gap])
    assert days[gap]["to_dose_mg"] > 0
    sert_by_day = [d["occupancy"]["SERT"] for d in days[:gap]]
    assert all(a > b for a, b in pairwise(sert_by_day))


def test_a_direct_switch_overlaps_the_old_drug_that_remains():
    out = sert_json("switch", "fluoxetine", "40", "escitalopram", "--strategy", "direct")
    first = out["schedule"][0]
    assert first["from_dose_mg"] == 0 and first["to_dose_mg"] > 0
    # norfluoxetine and escitalopram together occupy more than escitalopram alone
    assert first["occupancy"]["SERT"] > out["to"]["occupancy_at_recommended"]["SERT"] - 0.05


def test_an_unreachable_occupancy_takes_the_label_maximum_and_says_so():
    out = sert_json("switch", "paroxetine", "30", "vortioxetine")  # 81 % SERT
    assert out["to"]["equivalent_dose_mg"] > 20  # the model's number, not a recommendation
    assert out["to"]["recommended_dose_mg"] == 20 and out["to"]["target_reached"] is False
    assert any("not reached within the label" in w for w in out["warnings"])


def test_the_table_and_csv():
    table = sert("switch", "paroxetine", "20", "sertraline")
    assert table.returncode == 0 and "sertraline, mg" in table.stdout
    csv = sert("switch", "paroxetine", "20", "sertraline", "--format", "csv")
    header = csv.stdout.splitlines()[0].split(",")
    assert {"day", "from_dose_mg", "to_dose_mg", "occupancy_SERT"} <= set(header)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("escitalopram", "10", "sertraline", "--strategy", "slow"), "--strategy"),
        (("escitalopram", "10", "sertraline", "--days", "0"), "--days"),
        (("escitalopram", "10", "escitalopram"), "TO_DRUG"),
        (("escitalopram", "0", "sertraline"), "DOSE"),  # as typed: positional
        (("escitalopram", "--dose", "0", "sertraline"), "--dose"),
    ],
)
def test_nonsense_is_refused(args, flag):
    done = sert("switch", *args)
    assert done.returncode == 2 and done.stderr.startswith(f"sert: error: {flag}")
