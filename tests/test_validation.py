"""The library against human data: a profile edit cannot silently make predictions worse."""

import pytest
from conftest import LEVELS_OFF, SERT_PLATEAU, sert, sert_json

from sert_cli.calibration import MAX_DRUG_MAE_PP, fit
from sert_cli.profiles.library import load_library

TWELVE = {
    "escitalopram",
    "citalopram",
    "sertraline",
    "paroxetine",
    "fluoxetine",
    "fluvoxamine",
    "venlafaxine",
    "desvenlafaxine",
    "duloxetine",
    "milnacipran",
    "levomilnacipran",
    "vortioxetine",
}
TRICYCLICS = {"amitriptyline", "nortriptyline", "clomipramine", "imipramine", "desipramine"}
BUNDLED = TWELVE | TRICYCLICS
# Issue 10: the dose for 80 % SERT (NM) lies within 0.67-1.5x the label minimum, where PET
# finds about 80 % (Meyer 2004).
LABEL_MINIMUM_DRUGS = (
    "citalopram",
    "escitalopram",
    "sertraline",
    "paroxetine",
    "fluoxetine",
    "venlafaxine",
)


@pytest.fixture(scope="module")
def report():
    return sert_json("validate")


def test_steady_state_error_in_sample_and_left_out(report):
    steady = report["summary"]["SERT_steady_state"]
    assert steady["points"] >= 15
    assert steady["mae_pp"] <= 5.0
    assert steady["mae_pp"] < steady["mae_in_vitro_pp"]
    # leave-one-study-out is reported; where the drug keeps another study it stays close
    assert steady["mae_left_out_pp"] is not None
    assert steady["mae_left_out_own_drug_pp"] <= MAX_DRUG_MAE_PP


def test_left_out_error_by_drug(report):
    """Every drug within 8 pp with its own study left out, but three, each held where it is
    so that it cannot grow unseen: milnacipran (its only PET study is the one left out, and
    it is dosed, for fibromyalgia, far below 80 %), escitalopram (its one steady-state point,
    Klein 2007's SPECT 81.5 %, is then predicted from single doses and the estimated SPECT
    plateau, 72 %) and paroxetine (its studies disagree: Meyer 2001's 83 % and Catafau
    2006's SPECT 66 % at the same 20 mg/day)."""
    held = {"milnacipran": 31.0, "escitalopram": 10.0, "paroxetine": 9.0}
    steady = [
        d for d in report["drugs"] if d["kind"] == "steady_state" and d["transporter"] == "SERT"
    ]
    assert set(held) <= {d["drug"] for d in steady} and len(steady) >= 9
    for drug in steady:
        limit = held.get(drug["drug"], MAX_DRUG_MAE_PP)
        assert drug["mae_left_out_pp"] <= limit, drug


def test_kinds_of_points_are_reported_separately(report):
    assert {"SERT_steady_state", "SERT_time_course", "SERT_single"} <= set(report["summary"])
    assert report["unverified"], "unverified points are listed, not hidden"
    assert all(r["status"] not in ("verified", "approximate") for r in report["unverified"])


def test_net_error_is_reported(report):
    net = {d["drug"]: d for d in report["drugs"] if d["transporter"] == "NET"}
    assert "milnacipran" in net
    assert all(d["mae_in_vitro_pp"] is not None for d in net.values())


def test_every_point_is_predicted_in_range(report):
    assert len(report["points"]) >= 40
    for row in report["points"]:
        assert 0 <= row["predicted_in_vitro"] < 1
        assert row["source"] and row["study"]


def _ratio_cells(report) -> dict:
    cells: dict = {}
    for c in report["exposure_ratios"]:
        cells.setdefault((c["drug"], c["gene"], c["phenotype"]), []).append(c["within_15pct"])
    return cells


def test_exposure_ratios_match_the_clinical_data(report):
    """Within 15 % of a cited ratio, each compared at the dose it was measured at; where
    cohorts disagree, of one of them. Paroxetine is the test below."""
    assert report["exposure_ratios"]
    cells = _ratio_cells(report)
    assert all(any(v) for k, v in cells.items() if k[0] != "paroxetine"), cells


def test_paroxetine_pm_ratio_matches_at_the_dose_it_was_measured_at(report):
    assert any(_ratio_cells(report)[("paroxetine", "CYP2D6", "PM")])


def test_each_ratio_is_compared_at_its_measured_dose(report):
    doses = {(c["drug"], c["cited_ratio"]): c["daily_dose_mg"] for c in report["exposure_ratios"]}
    assert doses[("paroxetine", 1.86)] == 30.0  # Sindrup: 30 mg/day
    assert doses[("sertraline", 2.68)] == 100.0  # Braten 2020 Table 3: 100 mg/day


def test_eighty_percent_rule_holds_or_has_a_reason(report):
    assert {c["drug"] for c in report["eighty_percent_rule"]} == BUNDLED  # one per drug
    for check in report["eighty_percent_rule"]:
        assert check["inside_70_90"] or check["reason"], check["drug"]


def test_label_maximum_stays_on_the_pet_plateau(report):
    """No 99 %: at the label maximum SERT stays below the [11C]DASB plateau, which the fit
    estimates (Meyer 2001 reported about 85 %) and the profiles carry."""
    plateau = report["model"]["emax"]["SERT"]
    assert plateau == pytest.approx(SERT_PLATEAU, abs=1e-3)
    low, high = next(
        i["interval"] for i in report["model"]["plateau_intervals"] if i["tracer"] == "[11C]DASB"
    )
    assert low < 0.85 < high  # Meyer 2001 inside the 95 % interval
    for check in report["eighty_percent_rule"]:
        assert check["sert_occupancy_at_max"] < plateau, check["drug"]


@pytest.mark.parametrize("drug", LABEL_MINIMUM_DRUGS)
def test_dose_for_eighty_percent_is_near_the_label_minimum(drug):
    """Meyer 2004: 76-85 % at the minimum therapeutic dose. With the plateau estimated and
    every constant fitted to its drug's own points (not to the rule), the dose for 80 % may
    leave 0.67-1.5x the minimum (citalopram: about 1.7x, from the SPECT studies) but stays
    within 0.5-2x."""
    out = sert_json("dose", drug)
    assert 0.5 <= out["dose_mg"] * 24 / out["interval_h"] / out["label_min_mg"] <= 2.0


def test_duloxetine_time_course_after_repeated_doses(report):
    """Takano 2006: 71.9 % and 47.1 % 49 h and 78 h after the last of repeated 60 mg doses.
    The single-dose washout of the same study falls faster (44.9 % at 53 h) than one set
    of PK constants allows with this one, so the fit splits the difference: 49 h within 10
    points, 78 h inside the range printed for patients with the study left out."""
    late = {
        r["hours_after_last_dose"]: r
        for r in report["points"]
        if r["drug"] == "duloxetine" and r["kind"] == "time_course" and r["status"] == "verified"
    }
    assert set(late) == {49.0, 78.0}
    assert abs(late[49.0]["predicted"] - late[49.0]["observed"]) <= 0.10
    low, high = late[78.0]["left_out_range"]
    assert low <= late[78.0]["observed"] <= high


def test_duloxetine_needs_30_mg_or_more_for_80_percent():
    """Issue 22: 80 % needs 30 mg or more (Takano 2006, abstract: '40 mg and more of
    duloxetine was needed to attain 80% occupancy', on a hyperbola to 100 % per a secondary
    copy, where sert's plateau is estimated at about 87 %). The joint fit puts the exact
    dose at the low end, 30 mg/day; the marketed strengths make 40 mg."""
    out = sert_json("dose", "duloxetine")
    assert 30 <= out["dose_mg"] <= 45
    assert out["recommended_dose_mg"] == 40


def test_the_twelve_profiles_are_bundled_and_pass_check():
    library = load_library(use_cache=False)
    assert TWELVE <= set(library.profiles)
    paths = [library.profiles[name].path for name in sorted(TWELVE)]
    done = sert("profiles", "check", *paths)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr


def test_desvenlafaxine_is_venlafaxines_metabolite_on_the_pet_scale():
    """One molecule, one in vivo constant: ODV in venlafaxine's fit and desvenlafaxine."""
    library = load_library(use_cache=False)
    venlafaxine = library.profiles["venlafaxine"].with_affinity("pet")
    desvenlafaxine = library.profiles["desvenlafaxine"].with_affinity("pet")
    odv = venlafaxine.metabolites[0]
    assert desvenlafaxine.parent.k_nm["SERT"] == pytest.approx(odv.k_nm["SERT"], rel=0.01)


def test_every_profile_says_how_each_constant_was_found():
    library = load_library(use_cache=False)
    for name in BUNDLED:
        pet = library.profiles[name].parent.pet
        assert set(pet) == {"SERT", "NET"}, name
        assert {c.basis for c in pet.values()} <= {"fitted", "assumed", "extrapolated"}
        for c in pet.values():
            assert c.basis != "assumed" or c.note, name  # an assumed constant says why


def test_fitted_constants_are_reproducible():
    library = load_library(use_cache=False)
    fits = fit(library)["fits"]
    assert len(fits) == 2 * len(BUNDLED)  # SERT and NET of every bundled drug
    for result in fits:
        assert result["pet_ec50_plasma_ng_ml"] == pytest.approx(
            result["profile_value_ng_ml"], rel=0.01
        ), (result["drug"], result["transporter"])


def test_output_says_which_constant_and_scale_was_used():
    calibrated = sert_json("dose", "escitalopram")
    assert calibrated["affinity"]["SERT"].startswith("PET fitted")
    assert f"plateau {SERT_PLATEAU * 100:.0f} %" in calibrated["affinity"]["SERT"]
    assert calibrated["affinity"]["NET"].startswith("PET extrapolated")
    in_vitro = sert_json("dose", "escitalopram", "--affinity", "in-vitro")
    assert in_vitro["affinity"]["SERT"] == "in vitro (binding scale)"
    table = sert("occupancy", "escitalopram", "--dose", "10").stdout
    assert "PET fitted" in table


def test_a_target_above_the_plateau_is_refused():
    done = sert("dose", "sertraline", "--target", "0.9")
    assert done.returncode == 1
    assert LEVELS_OFF in done.stderr


def test_a_recommended_strength_does_not_flip_on_noise():
    """Issue 10: 10 mg gives 79.96 % for *1/*17; the model cannot tell that from 80 %."""
    out = sert_json("dose", "escitalopram", "-g", "CYP2C19=*1/*17")
    assert out["recommended_dose_mg"] <= out["dose_mg"] * 1.5
    assert out["occupancy_at_recommended"] >= 0.79


def test_ranges_cover_the_point_and_widen_for_extrapolated_constants():
    """Issue 10 and 22: beside the point, the range of 90 % of patients of this phenotype,
    with PK, the constant's uncertainty and the between-study spread added (docs/model.md
    section 14)."""
    import math

    from sert_cli.datafiles import read_table

    out = sert_json("occupancy", "escitalopram", "--dose", "10")
    low, high = out["occupancy_range"]["SERT"]
    assert low < out["occupancy"]["SERT"] < high
    # by hand from the shipped numbers: CV 51 %, the EC50's 95 % interval, omega
    pet = load_library(use_cache=False).profiles["escitalopram"].parent.pet["SERT"]
    (lo, hi), ec50 = pet.ec50_interval_ng_ml, pet.ec50_plasma_ng_ml
    sigma_k = max(math.log(ec50 / lo), math.log(hi / ec50)) / 1.96
    rows = read_table("pet_spread.csv")[1]
    between, within = (
        next(float(r["value"]) for r in rows if r["quantity"] == f"{part}_study_log_sd")
        for part in ("between", "within")
    )
    omega = math.hypot(between, within)
    sigma = math.sqrt(math.log(1 + 0.51**2) + sigma_k**2 + omega**2)
    dose = sert_json("dose", "escitalopram")
    assert dose["dose_range_mg"][1] / dose["dose_mg"] == pytest.approx(
        math.exp(1.645 * sigma), rel=1e-3
    )
    assert dose["dose_range_mg"][0] * dose["dose_range_mg"][1] == pytest.approx(
        dose["dose_mg"] ** 2
    )
    # the PK part alone would be exp(1.645 * 0.4806) = 2.205: the range is wider
    assert dose["dose_range_mg"][1] / dose["dose_mg"] > 2.205 * 1.1
    # levomilnacipran: CV 25 % (1.49 alone), its SERT constant extrapolated (3-fold): wider
    levomilnacipran = sert_json("dose", "levomilnacipran")
    spread = levomilnacipran["dose_range_mg"][1] / levomilnacipran["dose_mg"]
    sigma = math.sqrt(math.log(1 + 0.25**2) + (math.log(3) / 1.645) ** 2 + omega**2)
    assert spread == pytest.approx(math.exp(1.645 * sigma), rel=1e-3)
    # no sourced variability: no range, rather than an invented one
    assert sert_json("occupancy", "milnacipran", "--dose", "100")["occupancy_range"]["SERT"] is None


def test_held_out_study_means_fall_inside_the_printed_ranges(report):
    """Issue 22: the share of study means inside the 90 % range printed for patients under
    the study's conditions, the study left out of the fit. The goal is 80 %; the value is
    reported, and this guards it from falling further."""
    cover = report["coverage"]["all"]
    assert cover["points"] >= 30
    assert cover["share"] >= 0.75, cover


def test_fluvoxamine_levels_at_steady_state_are_nonlinear_and_in_range():
    """Issue 10: 100 mg/day inside 60-230 ng/mL; AUC about 3.1x per doubling (Spigset 1998)."""
    at_100 = sert_json("occupancy", "fluvoxamine", "--dose", "100")["css_plasma_ng_ml"]
    at_200 = sert_json("occupancy", "fluvoxamine", "--dose", "200")["css_plasma_ng_ml"]
    assert 60 <= at_100 <= 230
    assert at_200 / at_100 == pytest.approx(3.14, rel=0.02)


def test_paroxetine_single_dose_and_accumulation():
    """Sindrup et al. 1992 (EMs, 30 mg): median AUC 550 nmol.h/L (181 ng.h/mL) after the
    first dose, AUCss,tau 2550 nmol.h/L (35.0 ng/mL on average), 4.6-fold; within 30 %.
    Issue 10 asked for a single 20 mg dose peaking near 5.25 ng/mL (Shi 2012, Chinese men)
    and about 8-fold accumulation (the label, a SECONDARY quotation): the Western data the
    profile is now fitted to give 3.1 ng/mL and 5.6-fold at 20 mg (issue 22)."""
    single = sert_json("simulate", "paroxetine", "--dose", "30", "--doses", "1", "--until", "400")
    daily = sert_json("occupancy", "paroxetine", "--dose", "30")
    concentrations, times = single["c_plasma_ng_ml"], single["t_h"]
    auc = sum(
        (a + b) / 2 * (t1 - t0)
        for a, b, t0, t1 in zip(concentrations, concentrations[1:], times, times[1:], strict=False)
    )
    assert auc == pytest.approx(550 * 329.37 / 1000, rel=0.3)
    assert daily["css_plasma_ng_ml"] == pytest.approx(2550 / 24 * 329.37 / 1000, rel=0.3)
    assert daily["css_plasma_ng_ml"] * 24 / auc == pytest.approx(2550 / 550, rel=0.3)


def test_fluvoxamine_cyp2d6_effect_fades_with_dose():
    """Issue 22: CYP2D6 is in fluvoxamine's clearance, as its saturable path. A poor
    metabolizer lacks it: about 6-fold the exposure at low concentration (Carrillo 1996:
    'fivefold lower oral clearance' after one 50 mg dose), fading as the path saturates
    (Watanabe 2008: a genotype effect at 50 mg/day, none at 100-200 mg/day)."""

    def level(dose, phenotype):
        out = sert_json("occupancy", "fluvoxamine", "--dose", dose, "-p", f"CYP2D6={phenotype}")
        return out["css_plasma_ng_ml"]

    ratios = [level(d, "PM") / level(d, "NM") for d in ("25", "100", "300")]
    assert ratios[0] > ratios[1] > ratios[2] > 1
    assert ratios[0] == pytest.approx((16.9 + 2.57 / 0.0289) / 16.9, rel=0.35)  # ~6 at low C
    # a CYP2D6 inhibitor acts on the same path
    inhibited = sert_json("occupancy", "fluvoxamine", "--dose", "100", "--with", "paroxetine")
    assert inhibited["css_plasma_ng_ml"] > level("100", "NM") * 1.3
