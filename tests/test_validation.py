"""The library against human data: a profile edit cannot silently make predictions worse."""

import pytest
from conftest import sert, sert_json

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
    """Every drug within 8 pp with its own study left out, except milnacipran: its only PET
    study is the one left out, and it is dosed (for fibromyalgia) far below 80 %."""
    for drug in report["drugs"]:
        if drug["kind"] == "steady_state" and drug["transporter"] == "SERT":
            if drug["drug"] != "milnacipran":
                assert drug["mae_left_out_pp"] <= MAX_DRUG_MAE_PP, drug


def test_kinds_of_points_are_reported_separately(report):
    assert {"SERT_steady_state", "SERT_time_course", "SERT_single"} <= set(report["summary"])
    assert report["unverified"], "unverified points are listed, not hidden"
    assert all(r["status"] not in ("verified", "approximate") for r in report["unverified"])


def test_net_error_is_reported(report):
    net = {d["drug"]: d for d in report["drugs"] if d["transporter"] == "NET"}
    assert "milnacipran" in net
    assert all(d["mae_in_vitro_pp"] is not None for d in net.values())


def test_every_point_is_predicted_in_range(report):
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
    for check in report["eighty_percent_rule"]:
        assert check["inside_70_90"] or check["reason"], check["drug"]


def test_label_maximum_stays_on_the_pet_plateau(report):
    """No 99 %: at the label maximum SERT stays below the [11C]DASB plateau of 85 %."""
    plateau = report["model"]["emax"]["SERT"]
    assert plateau == pytest.approx(0.85)
    for check in report["eighty_percent_rule"]:
        assert check["sert_occupancy_at_max"] < plateau, check["drug"]


@pytest.mark.parametrize("drug", LABEL_MINIMUM_DRUGS)
def test_dose_for_eighty_percent_is_near_the_label_minimum(drug):
    out = sert_json("dose", drug)
    assert 0.67 <= out["dose_mg"] * 24 / out["interval_h"] / out["label_min_mg"] <= 1.5


def test_duloxetine_time_course_after_repeated_doses(report):
    """Takano 2006: 71.9 % and 47.1 % 49 h and 78 h after the last of repeated 60 mg doses."""
    late = [
        r
        for r in report["points"]
        if r["drug"] == "duloxetine" and r["kind"] == "time_course" and r["status"] == "verified"
    ]
    assert {r["hours_after_last_dose"] for r in late} == {49.0, 78.0}
    for r in late:
        assert abs(r["predicted"] - r["observed"]) <= 0.10


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
    for name in TWELVE:
        pet = library.profiles[name].parent.pet
        assert set(pet) == {"SERT", "NET"}, name
        assert {c.basis for c in pet.values()} <= {"fitted", "published", "extrapolated"}


# paroxetine's PK was refitted to Sindrup 1992 (issue 22); its PET constant is refitted
# separately, so until then its fit does not reproduce the profile's EC50
REFIT_PENDING = {("paroxetine", "SERT")}


def test_fitted_constants_are_reproducible():
    library = load_library(use_cache=False)
    for result in fit(library)["fits"]:
        if (result["drug"], result["transporter"]) in REFIT_PENDING:
            continue
        assert result["pet_ec50_plasma_ng_ml"] == pytest.approx(
            result["profile_value_ng_ml"], rel=0.01
        ), (result["drug"], result["transporter"])


@pytest.mark.xfail(
    reason="issue 22: the paroxetine PK refit (Sindrup 1992) moved its PET fit to EC50 "
    "0.65 ng/mL; the profile keeps 1.63 until the PET constants are refitted",
    strict=True,
)
def test_paroxetine_pet_constant_is_refitted_after_its_pk():
    library = load_library(use_cache=False)
    (result,) = [r for r in fit(library, "paroxetine")["fits"] if r["transporter"] == "SERT"]
    assert result["pet_ec50_plasma_ng_ml"] == pytest.approx(result["profile_value_ng_ml"], rel=0.01)


def test_output_says_which_constant_and_scale_was_used():
    calibrated = sert_json("dose", "escitalopram")
    assert calibrated["affinity"]["SERT"].startswith("PET fitted")
    assert "plateau 85%" in calibrated["affinity"]["SERT"]
    assert calibrated["affinity"]["NET"].startswith("PET extrapolated")
    in_vitro = sert_json("dose", "escitalopram", "--affinity", "in-vitro")
    assert in_vitro["affinity"]["SERT"] == "in vitro (binding scale)"
    table = sert("occupancy", "escitalopram", "--dose", "10").stdout
    assert "PET fitted" in table


def test_a_target_above_the_plateau_is_refused():
    done = sert("dose", "sertraline", "--target", "0.9")
    assert done.returncode == 1
    assert "levels off at 85%" in done.stderr


def test_a_recommended_strength_does_not_flip_on_noise():
    """Issue 10: 10 mg gives 79.96 % for *1/*17; the model cannot tell that from 80 %."""
    out = sert_json("dose", "escitalopram", "-g", "CYP2C19=*1/*17")
    assert out["recommended_dose_mg"] <= out["dose_mg"] * 1.5
    assert out["occupancy_at_recommended"] >= 0.79


def test_ranges_cover_the_point_and_widen_for_extrapolated_constants():
    """Issue 10: beside the point, the range of 90 % of patients of this phenotype."""
    out = sert_json("occupancy", "escitalopram", "--dose", "10")
    low, high = out["occupancy_range"]["SERT"]
    assert low < out["occupancy"]["SERT"] < high < 0.85
    # CV 51 %: sigma = sqrt(ln(1 + 0.51^2)) = 0.4806, spread exp(1.645 * 0.4806) = 2.205
    dose = sert_json("dose", "escitalopram")
    assert dose["dose_range_mg"][1] / dose["dose_mg"] == pytest.approx(2.205, rel=1e-3)
    assert dose["dose_range_mg"][0] * dose["dose_range_mg"][1] == pytest.approx(
        dose["dose_mg"] ** 2
    )
    # levomilnacipran: CV 25 % (spread 1.49), its SERT constant extrapolated: wider
    levomilnacipran = sert_json("dose", "levomilnacipran")
    spread = levomilnacipran["dose_range_mg"][1] / levomilnacipran["dose_mg"]
    assert spread > 1.5 * 1.49
    # no sourced variability: no range, rather than an invented one
    assert sert_json("occupancy", "milnacipran", "--dose", "100")["occupancy_range"]["SERT"] is None


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
