"""The library against human data: a profile edit cannot silently make predictions worse."""

import pytest
from conftest import sert, sert_json

from sert_cli.calibration import MAX_DRUG_MAE_PP, MAX_OVERALL_MAE_PP, fit
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


@pytest.fixture(scope="module")
def report():
    return sert_json("validate")


def test_sert_error_stays_within_the_figures(report):
    summary = report["summary"]
    assert summary["sert_mae_calibrated_pp"] <= MAX_OVERALL_MAE_PP
    assert summary["worst_drug_sert_mae_calibrated_pp"] <= MAX_DRUG_MAE_PP
    assert summary["sert_points_calibrated"] >= 15
    # calibration must beat the in vitro constants on the same points
    assert summary["sert_mae_calibrated_pp"] < summary["sert_mae_in_vitro_same_points_pp"]


def test_net_error_is_reported_for_the_snris(report):
    net = {d["drug"]: d for d in report["drugs"] if d["transporter"] == "NET"}
    assert {"milnacipran", "duloxetine"} <= set(net)
    assert all(d["mae_in_vitro_pp"] is not None for d in net.values())


def test_every_point_is_predicted_in_range(report):
    for row in report["points"]:
        assert 0 <= row["predicted_in_vitro"] < 1
        assert row["source"]


def test_exposure_ratios_match_the_clinical_data(report):
    assert report["exposure_ratios"]
    assert all(c["within_15pct"] for c in report["exposure_ratios"]), report["exposure_ratios"]


def test_eighty_percent_rule_holds_or_has_a_reason(report):
    for check in report["eighty_percent_rule"]:
        assert check["inside_70_90"] or check["reason"], check["drug"]


def test_the_twelve_profiles_are_bundled_and_pass_check():
    library = load_library(use_cache=False)
    assert TWELVE <= set(library.profiles)
    paths = [library.profiles[name].path for name in sorted(TWELVE)]
    done = sert("profiles", "check", *paths)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr


@pytest.mark.parametrize("drug", ["escitalopram", "citalopram", "fluvoxamine", "milnacipran"])
def test_fitted_constants_are_reproducible(drug):
    library = load_library(use_cache=False)
    for result in fit(library, drug)["fits"]:
        assert result["pet_ec50_plasma_ng_ml"] == pytest.approx(
            result["profile_value_ng_ml"], rel=0.02
        )


def test_output_says_which_constant_was_used():
    calibrated = sert_json("dose", "escitalopram")
    assert calibrated["affinity"]["SERT"].startswith("PET-calibrated")
    in_vitro = sert_json("dose", "escitalopram", "--affinity", "in-vitro")
    assert in_vitro["affinity"]["SERT"] == "in vitro"
    assert in_vitro["dose_mg"] < calibrated["dose_mg"]
