"""`sert taper` (issue 13): equal steps of SERT occupancy, or NICE's proportional steps."""

from itertools import pairwise

import pytest
from conftest import sert, sert_json

FORMULATION_KINDS = {"tablet", "split tablet", "liquid", "compounded"}


@pytest.fixture(scope="module")
def escitalopram():
    return sert_json("taper", "escitalopram", "--from", "20", "--step", "10")


def test_escitalopram_from_20_mg_in_10_point_steps(escitalopram):
    """Near the plateau a 10-point step would cut 85 % of the dose: the cut is capped at a
    half there, and the occupancy steps take over once they are gentler."""
    steps = escitalopram["steps"][:-1]
    doses = [s["dose_mg"] for s in steps]
    sert_occupancy = [s["occupancy"]["SERT"] for s in steps]
    assert doses[:3] == [20, 10, 5]  # the cap: a half each time, while 10 points cut more
    assert all(b < a and b >= a * 0.5 - 1e-9 for a, b in pairwise(doses))
    # once gentler, a step is 10 points of occupancy (a measurable volume: within 2)
    assert all((a - b) * 100 <= 12 for a, b in pairwise(sert_occupancy))
    assert 0.1 <= min(doses) <= 0.5  # down to a measurable volume of the liquid
    assert all(s["formulation"]["kind"] in FORMULATION_KINDS for s in steps)
    assert all(s["formulation"]["description"] for s in steps)
    assert escitalopram["step_pp"] == 10


def test_the_plan_ends_with_an_explicit_stop(escitalopram):
    last = escitalopram["steps"][-1]
    assert last["dose_mg"] == 0 and last["formulation"]["kind"] == "stop"
    assert last["cut_from_previous"] == 1.0


@pytest.mark.parametrize(
    "drug",
    [
        "citalopram",
        "desvenlafaxine",
        "duloxetine",
        "escitalopram",
        "fluoxetine",
        "fluvoxamine",
        "levomilnacipran",
        "milnacipran",
        "paroxetine",
        "sertraline",
        "venlafaxine",
        "vortioxetine",
    ],
)
def test_every_drug_tapers_from_its_usual_dose_in_steps_a_patient_can_take(drug):
    # the label minimum, e.g. '75 mg' (the JSON nests the profile under "profile")
    usual = sert_json("profiles", "show", drug)["profile"]["dosing"]["label_range"][0]
    out = sert_json("taper", drug, "--from", usual)
    steps = out["steps"]
    assert steps[0]["dose_mg"] == float(usual.removesuffix(" mg"))
    assert len(steps) >= 3  # the start, at least one step down, the stop
    assert steps[-1]["formulation"]["kind"] == "stop"
    for before, after in pairwise(steps[:-1]):
        assert after["dose_mg"] < before["dose_mg"]
        assert after["cut_from_previous"] <= 0.5 + 1e-9
        assert after["dose_mg"] >= before["dose_mg"] * 0.5 - 1e-9
    for s in steps[:-1]:
        if s["formulation"]["kind"] == "liquid":
            volume_ml = float(s["formulation"]["description"].split(" mL")[0])
            assert volume_ml >= 0.1
            assert volume_ml * 10 == pytest.approx(round(volume_ml * 10))


def test_max_cut_changes_the_largest_cut():
    out = sert_json("taper", "escitalopram", "--from", "20", "--max-cut", "0.25")
    steps = out["steps"][1:-1]
    assert len(steps) > 10
    for s in steps:
        # only where 0.1 mL of the 1 mg/mL solution is itself more than a quarter
        coarse = "allows no smaller cut" in s["formulation"]["description"]
        assert s["cut_from_previous"] <= 0.25 + 1e-9 or (coarse and s["dose_mg"] < 0.4)
        assert s["cut_from_previous"] <= 0.5 + 1e-9


def test_an_extended_release_capsule_says_when_the_formulation_changes():
    out = sert_json("taper", "venlafaxine", "--from", "150")
    steps = out["steps"]
    assert steps[1]["formulation"]["description"] == "75 mg extended-release capsule"
    changed = [s for s in steps if "change" in s["formulation"]]
    assert len(changed) == 1
    assert "immediate-release" in changed[0]["formulation"]["change"]
    table = sert("taper", "venlafaxine", "--from", "150")
    assert "changes from the extended-release capsule" in table.stdout


def test_each_step_is_what_sert_occupancy_gives_at_its_dose(escitalopram):
    for s in escitalopram["steps"][1:4]:
        single = sert_json("occupancy", "escitalopram", repr(s["dose_mg"]))
        assert single["occupancy"]["SERT"] == pytest.approx(s["occupancy"]["SERT"], abs=1e-9)


def test_steps_follow_each_other_day_by_day(escitalopram):
    steps = escitalopram["steps"]
    assert steps[0]["start_day"] == 0
    for before, after in pairwise(steps[:-1]):
        assert after["start_day"] == before["start_day"] + before["duration_days"]
    assert 14 <= steps[0]["duration_days"] <= 28


def test_a_tablet_step_is_made_by_the_tablets_it_names(escitalopram):
    first = escitalopram["steps"][0]
    assert first["formulation"] == {"kind": "tablet", "description": "20 mg tablet"}


def test_the_liquid_gives_the_volume_of_the_exact_dose():
    steps = sert_json("taper", "escitalopram", "--from", "10", "--liquid")["steps"]
    assert len(steps) > 5 and steps[-1]["formulation"]["kind"] == "stop"
    for s in steps[:-1]:
        assert s["formulation"]["kind"] == "liquid"
        volume_ml = float(s["formulation"]["description"].split(" mL")[0])
        assert volume_ml == pytest.approx(s["dose_mg"] / 1.0, abs=1e-9)


def test_nice_proportional_steps():
    out = sert_json("taper", "sertraline", "--from", "100", "--fraction", "0.25")
    doses = [s["dose_mg"] for s in out["steps"][:-1]]
    assert out["fraction"] == 0.25 and "step_pp" not in out
    assert doses[:2] == [100, 75]  # 50 + 25 mg tablets
    # made measurable (whole mg of the 10 mg/mL suspension): a quarter, give or take the
    # rounding, down to 10 mg; below, never more than the 50 % cap
    assert all(0.18 <= 1 - b / a <= 0.3 for a, b in pairwise(doses) if b >= 10)
    assert all(1 - b / a <= 0.5 for a, b in pairwise(doses))
    assert doses[-1] >= 1.0 > doses[-1] * 0.75  # 0.1 mL of 10 mg/mL is the floor


def test_a_step_is_never_shorter_than_five_half_lives():
    # norfluoxetine's half-life is days: two weeks would not let a step settle
    out = sert_json("taper", "fluoxetine", "--from", "20", "--weeks", "2")
    assert out["steps"][0]["duration_days"] >= 5 * 4
    assert any("half-lives" in n for n in out["notes"])


def test_a_poor_metabolizer_tapers_from_their_own_occupancy(escitalopram):
    pm = sert_json("taper", "escitalopram", "--from", "20", "--phenotype", "CYP2C19=PM")
    assert pm["steps"][0]["occupancy"]["SERT"] > escitalopram["steps"][0]["occupancy"]["SERT"]

    # the same occupancy needs lower doses in a poor metabolizer
    def first_dose_below(out, occupancy):
        return next(s["dose_mg"] for s in out["steps"] if s["occupancy"]["SERT"] < occupancy)

    assert first_dose_below(pm, 0.5) < first_dose_below(escitalopram, 0.5)


def test_compounding_is_warned_where_no_liquid_is_marketed():
    out = sert_json("taper", "duloxetine", "--from", "60")
    assert any(s["formulation"]["kind"] == "compounded" for s in out["steps"])
    assert any("compound" in w for w in out["warnings"])


def test_the_table_and_csv():
    table = sert("taper", "escitalopram", "--from", "20")
    assert table.returncode == 0 and "how to take it" in table.stdout
    csv = sert("taper", "escitalopram", "--from", "20", "--format", "csv")
    header = csv.stdout.splitlines()[0].split(",")
    assert {"step", "dose_mg", "occupancy_SERT", "formulation_kind"} <= set(header)


@pytest.mark.parametrize(
    "args",
    [
        ("--step", "50"),
        ("--step", "5", "--fraction", "0.2"),
        ("--fraction", "0.9"),
        ("--weeks", "0"),
    ],
)
def test_nonsense_is_refused(args):
    done = sert("taper", "escitalopram", "--from", "20", *args)
    assert done.returncode == 2 and done.stderr.startswith("sert: error: --")


def test_a_gentler_max_cut_never_ends_in_a_larger_cut():
    """fluoxetine 4 mg/mL: below 1.2 mg a quarter is less than 0.1 mL; the plan goes on in
    0.1 mL steps (saying so) rather than stopping from 44 % occupancy."""
    out = sert_json("taper", "fluoxetine", "--from", "20", "--max-cut", "0.25")
    assert out["steps"][-2]["dose_mg"] == pytest.approx(0.4)
    assert all(s["cut_from_previous"] <= 0.5 + 1e-9 for s in out["steps"][1:-1])


def test_a_dose_above_the_patients_maximum_comes_down_to_it_and_says_so():
    out = sert_json("taper", "citalopram", "--from", "60", "--age", "70")
    doses = [s["dose_mg"] for s in out["steps"]]
    assert doses[:3] == [60, 30, 15]  # a half each time: step 1 stays above the maximum
    assert all(d <= 20 for d in doses[2:])
    assert any("above this patient's label maximum of 20 mg/day" in w for w in out["warnings"])


def test_a_patient_the_label_says_to_avoid_the_drug_for_can_taper_off_it():
    out = sert_json("taper", "duloxetine", "--from", "60", "--hepatic", "severe")
    assert out["steps"][-1]["formulation"]["kind"] == "stop"


def test_without_a_marketed_liquid_the_taper_reaches_a_quarter_of_the_smallest_unit():
    out = sert_json("taper", "duloxetine", "--from", "60")
    assert out["steps"][-2]["dose_mg"] == 5  # a quarter of the 20 mg capsule


@pytest.mark.parametrize("args", [("--max-cut", "0.05"), ("--from", "1e9")])
def test_a_max_cut_too_small_to_measure_or_an_absurd_dose_is_refused(args):
    base = {"--from": "20", "--max-cut": None}
    base[args[0]] = args[1]
    cli = [x for k, v in base.items() if v is not None for x in (k, v)]
    done = sert("taper", "sertraline", *cli)
    assert done.returncode == 2 and args[0] in done.stderr


def test_a_step_above_the_patients_maximum_is_marked_in_every_format():
    out = sert_json("taper", "citalopram", "--from", "60", "--age", "70")
    marked = [s["dose_mg"] for s in out["steps"] if s["above_label_max"]]
    assert marked == [60, 30]
    assert (
        sert("taper", "citalopram", "--from", "60", "--age", "70").stdout.count("(above max)") == 2
    )
