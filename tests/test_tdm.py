"""`sert tdm` (issue 13): a measured level read against the model."""

import json

import pytest
from conftest import sert, sert_json


def test_a_high_escitalopram_level_points_to_a_poor_metabolizer():
    out = sert_json("tdm", "escitalopram", "--dose", "10", "--level", "38")
    assert "PM" in out["consistent_phenotypes"]["CYP2C19"]
    assert out["reference_range_ng_ml"] == [15, 80]
    assert out["ratio_to_expected"] > 2 and "poor metabolism" in out["interpretation"]
    # the implied clearance is the model's scaled by expected / measured
    assert out["implied_clearance_l_h"] == pytest.approx(36 / out["ratio_to_expected"], rel=1e-6)


def test_a_low_sertraline_level_points_to_adherence_or_ultrarapid_metabolism():
    out = sert_json("tdm", "sertraline", "--dose", "100", "--level", "3")
    assert "non-adherence" in out["interpretation"]
    assert "ultrarapid" in out["interpretation"]
    assert out["occupancy_implied"]["SERT"] < out["occupancy_at_expected"]["SERT"]


def test_levels_in_molar_units_and_the_active_moiety():
    molar = sert_json("tdm", "escitalopram", "--dose", "10", "--level", "117 nmol/L")
    assert molar["level_ng_ml"] == pytest.approx(117 * 324.4 / 1000, rel=1e-3)
    venlafaxine = sert_json("tdm", "venlafaxine", "--dose", "150", "--level", "250")
    assert venlafaxine["level_of"] == "active moiety"
    assert 0.5 < venlafaxine["ratio_to_expected"] < 2


@pytest.mark.parametrize("level", ["-3", "0", "1e9", "38 mg", "lots"])
def test_impossible_levels_are_refused(level):
    done = sert("tdm", "escitalopram", "--dose", "10", "--level", level)
    assert done.returncode == 2 and done.stderr.startswith("sert: error: --level")


def test_a_batch_row_with_a_level_is_the_tdm_query():
    text = (
        "id,drug,dose_mg,level_ng_ml,hours_after_dose,CYP2C19\n"
        "a,escitalopram,10,38,,\n"
        "b,sertraline,100,3,12,\n"
        "c,escitalopram,10,,,PM\n"
        "d,escitalopram,,38,,\n"
    )
    done = sert("batch", "-", "--format", "jsonl", "--fields", "all", stdin=text)
    rows = {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}
    single = sert_json("tdm", "escitalopram", "--dose", "10", "--level", "38")
    assert rows["a"]["query"] == "tdm"
    for field in ("expected_level_ng_ml", "ratio_to_expected", "consistent_phenotypes"):
        assert rows["a"][field] == single[field]
    later = sert_json(
        "tdm", "sertraline", "--dose", "100", "--level", "3", "--hours-after-dose", "12"
    )
    assert rows["b"]["expected_level_ng_ml"] == later["expected_level_ng_ml"]
    assert rows["c"]["query"] == "occupancy"
    assert rows["d"]["error"].startswith("column dose_mg")
    assert done.returncode == 1


def test_a_level_above_the_laboratory_alert_level_is_said():
    """AGNP 2017 (as laboratory catalogues give it, SECONDARY): sertraline's alert level is
    300 ng/mL; a level at or above it is named, one below it is not."""
    high = sert_json("tdm", "sertraline", "--dose", "200", "--level", "350")
    assert high["alert_level_ng_ml"] == 300
    assert any("alert level of 300 ng/mL" in w for w in high["warnings"])
    fine = sert_json("tdm", "sertraline", "--dose", "200", "--level", "120")
    assert not any("alert level" in w for w in fine["warnings"])
    # no alert level given: none invented
    assert (
        sert_json("tdm", "duloxetine", "--dose", "60", "--level", "50")["alert_level_ng_ml"] is None
    )
