"""Issue 26, the clinical commands (switch, taper, tdm, population, occupancy): answers that
were wrong but plausible, and crashes, each reproduced from the outside attack and checked
against a number computed here, not read back from the code under test.
"""

import json
import math
import os
import re
import time

import numpy as np
import pytest
from conftest import EXAMPLAMINE, sert, sert_json
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hostile import assert_clean, invoke

from sert_cli.errors import SertError
from sert_cli.profiles.library import load_library
from sert_cli.queries.engine import Engine
from sert_cli.queries.values import (
    OccupancyQuery,
    PopulationQuery,
    SwitchQuery,
    TdmQuery,
)
from sert_cli.units import percent

FUZZ = bool(os.environ.get("SERT_FUZZ_EXAMPLES"))
slow = pytest.mark.skipif(not FUZZ, reason="several seconds: run with SERT_FUZZ_EXAMPLES set")

# examplamine with an absorption rate (the time course needs one): one compartment, linear,
# half-life 30 h, so every level after the last dose is the trough times 2^(-t / 30 h)
ABSORBED = EXAMPLAMINE.replace(
    "  half_life: 30 h\n", "  half_life: 30 h\n  absorption: {ka: 1 /h}\n"
)


def profile_dir(tmp_path, text: str, name: str = "examplamine"):
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return str(tmp_path)


def engine() -> Engine:
    return Engine(load_library())


def sert_ok(*args):
    result = invoke(*args)
    assert_clean(result, 0)
    return result


def json_of(*args):
    return json.loads(sert_ok(*args, "--format", "json").stdout)


# --- 1. tdm: a sample more than one interval after the last dose ------------------------


def test_tdm_a_sample_past_the_interval_is_the_washout_with_no_dose_since(tmp_path):
    """A linear one-compartment drug (t1/2 30 h, ka 1/h: absorption over long before 24 h):
    100 h after the last dose the level is the 24 h trough times 2^(-76 / 30), not the
    4 h level a modulo of the interval would read."""
    folder = profile_dir(tmp_path, ABSORBED)
    base = ("tdm", "examplamine", "--dose", "10", "--level", "1", "--profiles-dir", folder)
    trough = json_of(*base)
    late = json_of(*base, "--hours-after-dose", "100")
    four = json_of(*base, "--hours-after-dose", "4")
    assert trough["expected_as"] == "steady state" and four["expected_as"] == "steady state"
    assert late["expected_as"] == "no dose since"
    assert late["expected_level_ng_ml"] == pytest.approx(
        trough["expected_level_ng_ml"] * 2 ** (-76 / 30), rel=1e-6
    )
    assert late["expected_level_ng_ml"] < four["expected_level_ng_ml"] / 5
    assert sum("no dose since" in w for w in late["warnings"]) == 1
    # a level above the washout's expectation is not blamed on a sample "soon after a dose"
    high = json_of(*base[:5], "50", *base[6:], "--hours-after-dose", "100")
    assert high["ratio_to_expected"] > 2
    assert "soon after a dose" not in high["interpretation"]
    assert "a dose taken since" in high["interpretation"]


def test_tdm_a_saturable_drugs_washout_follows_its_own_time_course():
    """paroxetine leaves faster as its level falls (its CYP2D6 clearance saturates less):
    100 h after the last 20 mg dose the model has under 3 % of the trough left and refuses
    to read a level there; its linear part alone (t1/2 about 32 h) would have left about
    19 %, 2^(-76 / 32)."""
    done = sert("tdm", "paroxetine", "--dose", "20", "--level", "5", "--hours-after-dose", "100")
    assert done.returncode == 1 and done.stdout == ""
    assert "under 3 %: too little to read a level against" in done.stderr
    assert done.stderr.count("\n") == 1
    fine = sert_json(
        "tdm", "paroxetine", "--dose", "20", "--level", "5", "--hours-after-dose", "60"
    )
    assert fine["expected_as"] == "no dose since"


def test_tdm_an_expected_level_of_zero_is_a_one_line_error_not_a_division_by_zero(tmp_path):
    """A valid profile (t1/2 30 h) dosed every 100,000 h: 8,000 h after a dose the model
    expects 1e-80 ng/mL, and 0 h after one (the previous dose long gone) 0 ng/mL, which no
    level can be compared with (it was a ZeroDivisionError)."""
    text = ABSORBED.replace("interval: 24 h", "interval: 100000 h")
    folder = profile_dir(tmp_path, text)
    for hours in ("8000", "0"):
        result = invoke(
            "tdm",
            "examplamine",
            "--dose",
            "10",
            "--level",
            "5",
            "--hours-after-dose",
            hours,
            "--profiles-dir",
            folder,
        )
        assert_clean(result, 1, "too little to read a level against")
        assert result.stderr.count("\n") == 1


# --- 2. a cross-taper never raises the drug taken now ------------------------------------


def old_doses_never_rise(out: dict, dose_mg: float) -> None:
    doses = [day["from_dose_mg"] for day in out["schedule"]]
    assert doses, out
    assert all(d <= dose_mg + 1e-9 for d in doses), doses
    assert all(b <= a + 1e-9 for a, b in zip(doses, doses[1:], strict=False)), doses


@pytest.mark.parametrize(
    ("drug", "dose", "to", "days"),
    [
        ("escitalopram", 2.5, "sertraline", 14),  # the attack's case: 2.5 -> 5 mg
        ("escitalopram", 5, "paroxetine", 28),
        ("sertraline", 25, "citalopram", 21),
        ("paroxetine", 10, "escitalopram", 14),
        ("venlafaxine", 37.5, "duloxetine", 28),
    ],
)
def test_a_cross_taper_never_raises_the_outgoing_dose(drug, dose, to, days):
    out = engine().answer(
        SwitchQuery(drug=drug, dose_mg=dose, to_drug=to, strategy="cross-taper", days=days)
    )
    old_doses_never_rise(out.fields, dose)


@slow
@settings(max_examples=int(os.environ.get("SERT_FUZZ_EXAMPLES", "1")), deadline=None)
@given(
    pair=st.permutations(sorted(load_library().profiles)).map(lambda p: p[:2]),
    share=st.floats(0.05, 1.5),
    days=st.integers(1, 60),
)
def test_property_a_cross_taper_never_raises_the_outgoing_dose(pair, share, days):
    drug, to = pair
    profile = load_library().get(drug)
    dose = round(profile.label_max_mg * share * profile.interval_h / 24, 2) or 0.01
    try:
        out = engine().answer(
            SwitchQuery(drug=drug, dose_mg=dose, to_drug=to, strategy="cross-taper", days=days)
        )
    except SertError:
        return  # refused cleanly (a dose beyond the label's tenfold, an avoided drug)
    old_doses_never_rise(out.fields, dose)


# --- 3. the washout of a saturable drug ---------------------------------------------------

# A saturable parent with no metabolite and no first pass: its ODE is written again here,
# dA_gut/dt = -ka A_gut, dA/dt = ka A_gut - (CL C + Vmax C / (Km + C)), C = A / V. Linear
# part alone: t1/2 = ln 2 * 600 / 4 = 104 h; below Km, CL + Vmax / Km = 79 L/h: 5.3 h.
WASHAMINE = """\
schema: 1
name: washamine
class: SSRI
molar_mass: 300 g/mol
dosing:
  interval: 24 h
  label_range: [10 mg, 40 mg]
  strengths: [10 mg]
pk:
  apparent_clearance: 4 L/h
  saturable_clearance: {vmax: 1.5 mg/h, km: 20 ng/mL}
  fraction_unbound: 0.2
  kp_uu_brain: 0.8
  volume: 600 L
  absorption: {ka: 0.5 /h}
targets:
  SERT: {ki: 1.5 nM}
  NET: {ki: 300 nM}
sources:
  - "a test profile for tests/test_attack_clinical.py"
"""


def reference_washout_days(dose_mg: float, doses: int = 60) -> int:
    """The first day d of the plan (day 0 starts one interval after the last dose) at whose
    end (24 (d + 2) h after the last dose) the level is at most 3 % of the trough, by
    scipy's LSODA on the equations above."""
    integrate = pytest.importorskip("scipy.integrate")
    ka, cl, vmax, km, volume = 0.5, 4.0, 1.5, 0.020, 600.0

    def rhs(_t, y):
        c = y[1] / volume
        return [-ka * y[0], ka * y[0] - cl * c - vmax * c / (km + c)]

    y = np.zeros(2)
    for _ in range(doses):
        y[0] += dose_mg
        y = integrate.solve_ivp(rhs, (0, 24), y, method="LSODA", rtol=1e-10, atol=1e-14).y[:, -1]
    trough = y[1]
    ends = 24.0 * np.arange(1, 60)
    after = integrate.solve_ivp(
        rhs, (0, ends[-1]), y, method="LSODA", t_eval=ends, rtol=1e-10, atol=1e-16
    )
    left = after.y[1] / trough
    return int(np.nonzero(left <= 0.03)[0][0])


@pytest.mark.parametrize("dose", [10, 40])
def test_a_saturable_drugs_washout_is_its_simulated_time_course(tmp_path, dose):
    folder = profile_dir(tmp_path, WASHAMINE, "washamine")
    out = json_of("switch", "washamine", str(dose), "sertraline", "--profiles-dir", folder)
    expected = reference_washout_days(dose)
    assert out["washout_days"] == expected
    linear_days = 5 * 104 / 24  # 5 half-lives of the linear part alone: 21.7 days
    assert out["washout_days"] < linear_days / 2


def test_paroxetines_washout_grows_with_the_dose_as_a_saturable_drugs_does():
    """A washout from a linear half-life would be the same at every dose."""
    low = engine().answer(SwitchQuery(drug="paroxetine", dose_mg=10, to_drug="sertraline"))
    high = engine().answer(SwitchQuery(drug="paroxetine", dose_mg=50, to_drug="sertraline"))
    assert low.fields["washout_days"] < high.fields["washout_days"]
    assert any(f"washout: {high.fields['washout_days']} days" in n for n in high.notes_)


# --- 4. taper volumes ---------------------------------------------------------------------


def volumes(out: dict) -> list[tuple[float, float, float]]:
    """(dose mg, mL, mg/mL) of every liquid step."""
    found = []
    for step in out["steps"]:
        text = step["formulation"]["description"]
        match = re.match(r"([0-9.e+-]+) mL of .*, ([0-9.]+) mg/mL", text)
        if match:
            found.append((step["dose_mg"], float(match[1]), float(match[2])))
    return found


@pytest.mark.parametrize(
    ("drug", "dose"),
    [
        ("sertraline", "125"),  # 12.5 mL, once written 12 mL (120 mg)
        ("sertraline", "12.5"),  # 1.25 mL, once 1.2
        ("sertraline", "0.01"),  # 0.001 mL: below a syringe's measure, never "0.00"
        ("escitalopram", "7.5"),
        ("paroxetine", "15"),
        ("fluoxetine", "30"),
        ("citalopram", "10"),
    ],
)
def test_a_liquid_tapers_volumes_say_the_dose_they_measure(drug, dose):
    out = json_of("taper", drug, "--from", dose, "--liquid")
    found = volumes(out)
    assert found, out["steps"]
    for dose_mg, ml, mg_per_ml in found:
        assert ml > 0
        assert ml * mg_per_ml == pytest.approx(dose_mg, rel=5e-4)
    table = sert_ok("taper", drug, "--from", dose, "--liquid").stdout
    assert not re.search(r"(?<![0-9.])0(\.0+)? mL", table)


# --- 5. a dose above the label maximum is warned, once ------------------------------------

ABOVE = "above the label maximum"


@pytest.mark.parametrize(
    "args",
    [
        ("tdm", "sertraline", "--dose", "5000", "--level", "100"),
        ("population", "sertraline", "--dose", "5000", "--n", "100"),
        ("occupancy", "sertraline", "--dose", "5000"),  # the wording the others reuse
    ],
)
def test_a_dose_above_the_label_maximum_is_warned_once(args):
    out = json_of(*args)
    said = [w for w in out["warnings"] if ABOVE in w]
    assert len(said) == 1, out["warnings"]
    assert "the daily dose 5000 mg/day is above the label maximum of 200 mg/day" in said[0]


def test_a_dose_within_the_label_is_not_warned():
    for args in (
        ("tdm", "sertraline", "--dose", "100", "--level", "30"),
        ("population", "sertraline", "--dose", "100", "--n", "100"),
    ):
        assert not [w for w in json_of(*args)["warnings"] if ABOVE in w]


def test_a_taper_above_the_label_is_warned_once_and_a_tenfold_typo_refused():
    out = json_of("taper", "sertraline", "--from", "500")
    said = [w for w in out["warnings"] if "above this patient's label maximum" in w]
    assert len(said) == 1 and "500 mg/day" in said[0]
    assert_clean(invoke("taper", "sertraline", "--from", "5000"), 2, "10 times the label maximum")


# --- 6. a number that is not 0 never prints as 0 -----------------------------------------


@pytest.mark.parametrize(
    ("fraction", "places", "text"),
    [
        (0.0001, 0, "0.01 %"),
        (0.004, 0, "0.4 %"),
        (0.00004, 1, "0.004 %"),
        (1e-9, 0, "< 0.0001 %"),
        (0.0, 0, "0 %"),
        (0.8, 0, "80 %"),
        (0.668, 1, "66.8 %"),
    ],
)
def test_percent_never_reads_zero_for_a_fraction_that_is_not(fraction, places, text):
    assert percent(fraction, places) == text


def test_a_tiny_targets_dose_and_target_print_with_their_digits():
    out = sert_ok("dose", "escitalopram", "--target", "0.0001").stdout
    assert "dose for 0.01 % SERT occupancy" in out
    exact = json_of("dose", "escitalopram", "--target", "0.0001")["dose_mg"]
    assert 0 < exact < 0.001
    assert f"{exact:.4g} mg every 24 h" in out
    assert not re.search(r"(?<![0-9.])0 mg", out)
    warned = sert("dose", "escitalopram", "--target", "0.0001").stderr
    assert "the dose for 0.01 % SERT occupancy" in warned


# --- 7. no occupancy printed above the plateau printed -----------------------------------


def whole(text: str) -> int:
    return int(re.match(r"(\d+) %", text)[1])


@pytest.mark.parametrize("drug", sorted(load_library().profiles))
def test_printed_occupancy_never_exceeds_the_printed_plateau(drug):
    """At ten times the label maximum, where occupancy is nearest its plateau: the table's
    SERT occupancy against the plateau its "Assumed:" line prints."""
    profile = load_library().get(drug)
    dose = 10 * profile.label_max_mg * profile.interval_h / 24
    out = sert_ok("occupancy", drug, "--dose", f"{dose:g}").stdout
    plateau = whole(re.search(r"SERT\s+PET\s+\w+,\s+EC50\s+[^,]+,\s+plateau\s+(\d+ %)", out)[1])
    shown = [whole(m) for m in re.findall(r"SERT occupancy\s+(\d+ %)", out)]
    assert shown and all(v <= plateau for v in shown), (shown, plateau)
    ranges = re.findall(r"90 % range \(patients, model\)\s+(\d+)(?:–(\d+))? %", out)
    assert all(int(high or low) <= plateau for low, high in ranges[:1])


def test_population_and_tdm_occupancies_stay_under_the_plateau_at_absurd_doses():
    e = engine()
    plateau = load_library().get("sertraline").with_affinity("pet").emax["SERT"]
    population = e.answer(PopulationQuery(drug="sertraline", dose_mg=2000, n=2000, seed=1))
    top = population.numbers["occupancy_percentiles"]["SERT"]["95"]
    assert round(top * 100) <= round(plateau * 100)
    tdm = e.answer(TdmQuery(drug="sertraline", dose_mg=50, level_ng_ml=90000))
    implied = tdm.fields["occupancy_implied"]["SERT"]
    assert implied < plateau and round(implied * 100) <= round(plateau * 100)
    single = e.answer(OccupancyQuery("sertraline", 2000)).occupancy["SERT"]
    assert round(single * 100) <= round(plateau * 100)


# --- 8. CYP2D6 copy numbers ---------------------------------------------------------------


@pytest.mark.parametrize("allele", ["*1x0", "*1x1", "*2x00", "*4X1"])
def test_a_copy_number_below_two_is_no_duplication_and_refused(allele):
    result = invoke("phenotype", "CYP2D6", f"{allele}/*1")
    assert_clean(result, 2, "no duplication")
    assert result.stderr.count("\n") == 1
    assert_clean(
        invoke("occupancy", "paroxetine", "--dose", "20", "-g", f"CYP2D6={allele}/*1"),
        2,
        "no duplication",
    )


def test_a_copy_number_of_two_or_more_still_reads():
    out = json_of("phenotype", "CYP2D6", "*1x2/*1")
    assert out[0]["activity_score"] == 3.0
    assert json_of("phenotype", "CYP2D6", "*1x3/*1")[0]["activity_score_at_least"] is True


# --- 9. an overshoot of SERT occupancy in a switch is said -------------------------------


def test_a_switch_overshoot_is_warned_with_its_day_and_peak_and_in_json():
    """paroxetine 10 mg to vortioxetine, cross-taper: on the last day of the overlap the two
    together occupy SERT more than either alone (found by a scan of drug pairs)."""
    out = sert_json("switch", "paroxetine", "10", "vortioxetine", "--strategy", "cross-taper")
    over = out["overshoot"]
    assert over is not None
    start = out["from"]["occupancy"]["SERT"]
    matched = out["to"]["occupancy_at_recommended"]["SERT"]
    day = out["schedule"][over["day"]]
    assert (
        over["SERT"]
        == day["occupancy"]["SERT"]
        == max(d["occupancy"]["SERT"] for d in out["schedule"])
    )
    assert over["points_above_both"] == pytest.approx(100 * (over["SERT"] - max(start, matched)))
    assert over["points_above_both"] > 1
    said = [w for w in out["warnings"] if "peaks at" in w]
    assert len(said) == 1
    assert f"peaks at {percent(over['SERT'])} on day {over['day']}" in said[0]


def test_a_switch_without_an_overshoot_says_null():
    out = sert_json("switch", "paroxetine", "20", "sertraline")
    peak = out["peak_occupancy"]["SERT"]
    assert (
        peak
        <= max(out["from"]["occupancy"]["SERT"], out["to"]["occupancy_at_recommended"]["SERT"])
        + 0.01
    )
    assert out["overshoot"] is None
    assert not [w for w in out["warnings"] if "peaks at" in w]


# --- 10. valid profiles with extreme times: a result or one line, in bounded time --------


def extreme(hl="30 h", interval="24 h", absorption="{ka: 1 /h}", tiny=False) -> str:
    text = EXAMPLAMINE.replace("half_life: 30 h", f"half_life: {hl}\n  absorption: {absorption}")
    text = text.replace("interval: 24 h", f"interval: {interval}")
    if tiny:  # a dose a 0.05 h interval can take within the label
        text = text.replace("strengths: [5 mg, 10 mg]", "strengths: [0.001 mg]")
        text = text.replace("label_range: [5 mg, 20 mg]", "label_range: [1 mg, 20 mg]")
    return text


EXTREMES = {
    "half-life 0.001 h": extreme(hl="0.001 h"),
    "interval 100,000 h": extreme(interval="100000 h"),
    "tmax 0.001 h": extreme(absorption="{tmax: 0.001 h}"),
    "absorption half-life 100,000 h": extreme(absorption="{half_life: 100000 h}"),
    "half-life 0.001 h, interval 100,000 h": extreme(hl="0.001 h", interval="100000 h"),
    "interval 0.05 h": extreme(interval="0.05 h", tiny=True),
    "half-life 100,000 h, interval 0.05 h": extreme(hl="100000 h", interval="0.05 h", tiny=True),
}


def bounded(*args, seconds: float = 5.0):
    started = time.monotonic()
    result = invoke(*args, "--format", "json")
    took = time.monotonic() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 1, 2), result.exit_code
    assert "Traceback" not in result.stderr
    if result.exit_code:
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("sert: error: ")
    else:
        json.loads(result.stdout)
    assert took < seconds, (args, took)
    return result


@pytest.mark.parametrize("name", list(EXTREMES))
def test_extreme_profiles_in_switch_and_tdm_answer_or_refuse_in_one_line(tmp_path, name):
    folder = profile_dir(tmp_path, EXTREMES[name])
    dose = "0.01" if "0.05 h" in name else "10"
    where = ("--profiles-dir", folder)
    bounded("switch", "examplamine", dose, "sertraline", *where)
    bounded("switch", "sertraline", "50", "examplamine", *where)
    bounded("tdm", "examplamine", "--dose", dose, "--level", "5", *where)
    for hours in ("0", "30", "8000"):
        bounded(
            "tdm",
            "examplamine",
            "--dose",
            dose,
            "--level",
            "5",
            "--hours-after-dose",
            hours,
            *where,
        )


def test_a_switch_that_would_simulate_millions_of_doses_is_refused_before_building_them(
    tmp_path,
):
    """t1/2 100,000 h dosed every 0.05 h: its steady state before day 0 is 20 million doses
    (it ran out of memory after seconds); refused at once, exit 1, naming the count."""
    folder = profile_dir(tmp_path, EXTREMES["half-life 100,000 h, interval 0.05 h"])
    result = bounded("switch", "examplamine", "0.01", "sertraline", "--profiles-dir", folder)
    assert_clean(result, 1, "doses of examplamine")
    assert "at most 100,000" in result.stderr


@slow
def test_a_switch_from_a_drug_of_extreme_half_life_ends_in_bounded_time(tmp_path):
    """t1/2 100,000 h once a day: 42,000 doses of history, simulated (about 3-10 s)."""
    folder = profile_dir(tmp_path, extreme(hl="100000 h"))
    bounded("switch", "examplamine", "10", "sertraline", "--profiles-dir", folder, seconds=60)


# --- 11. contradictory switch options ----------------------------------------------------


def test_days_with_a_direct_switch_is_refused():
    result = invoke(
        "switch", "escitalopram", "10", "sertraline", "--strategy", "direct", "--days", "5"
    )
    assert_clean(result, 2, "--days")
    assert "direct switch has no length" in result.stderr
    assert result.stderr.count("\n") == 1


def test_days_with_a_default_plan_that_is_direct_is_refused_and_washout_days_are_taken():
    """fluoxetine stays for weeks: its default plan is a direct switch, which --days cannot
    lengthen; with a washout or a cross-taper the days are taken."""
    result = invoke("switch", "fluoxetine", "20", "sertraline", "--days", "5")
    assert_clean(result, 2, "--days")
    assert "direct switch" in result.stderr and "cross-taper or the washout" in result.stderr
    washout = sert_json(
        "switch", "fluoxetine", "20", "sertraline", "--days", "5", "--strategy", "washout"
    )
    assert washout["days"] == 5 and washout["strategy"] == "washout"
    taper = sert_json("switch", "escitalopram", "10", "sertraline", "--days", "21")
    assert taper["days"] == 21 and taper["strategy"] == "cross-taper"
    assert math.isfinite(taper["peak_occupancy"]["SERT"])


def test_tdm_whose_default_trough_is_beyond_a_year_is_the_profiles_limit_not_the_users(
    tmp_path,
):
    """The user typed no time: a one-line exit 1 that says the interval puts the trough
    past a year, and asks for the sampling time."""
    folder = profile_dir(tmp_path, EXTREMES["interval 100,000 h"])
    result = bounded("tdm", "examplamine", "--dose", "10", "--level", "5", "--profiles-dir", folder)
    assert result.exit_code == 1
    assert "interval, 100000 h, puts the trough more than a year" in result.stderr


def test_population_at_a_dose_the_model_cannot_resolve_is_refused_as_occupancy_refuses_it():
    """paroxetine 1e300 mg printed 87 % for every patient once the division by zero was
    gone; now exit 1 in one line, as `sert occupancy` at that dose."""
    for args in (
        ("population", "paroxetine", "--dose", "1e300", "--n", "10"),
        ("occupancy", "paroxetine", "--dose", "1e300"),
    ):
        result = bounded(*args)
        assert result.exit_code == 1 and "indistinguishable from 100 %" in result.stderr
