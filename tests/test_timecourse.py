"""The time course against hand-computed cases and the steady-state model."""

import dataclasses
import math

import numpy as np
import pytest
from conftest import occupancy_at

from sert_cli.pk.timecourse import Regimen, chain_response, delayed, simulate, superposed
from sert_cli.profiles.schema import build_profile

BASE = {
    "schema": 1,
    "name": "drug",
    "molar_mass": "300 g/mol",
    "dosing": {"interval": "24 h", "label_range": ["5 mg", "20 mg"], "strengths": ["5 mg"]},
    "pk": {
        "apparent_clearance": "20 L/h",
        "fraction_unbound": 0.5,
        "half_life": "30 h",
        "absorption": {"ka": "0.8 /h"},
    },
    "targets": {"SERT": {"ki": "2 nM"}, "NET": {"ki": "5000 nM"}},
    "sources": ["test"],
}


def make(**pk):
    merged = {**BASE["pk"], **pk}
    return build_profile({**BASE, "pk": {k: v for k, v in merged.items() if v is not None}})


def test_two_doses_superpose_by_hand():
    # V/F = 20 * 30 / ln 2; k = ln 2 / 30; C(t) = D ka / (V (ka - k)) (e^-kt - e^-ka t)
    volume, k, ka = 20 * 30 / math.log(2), math.log(2) / 30, 0.8

    def one(t):
        return 10 * ka / (volume * (ka - k)) * (math.exp(-k * t) - math.exp(-ka * t))

    regimen = Regimen(make(), 10.0, 24.0, {})
    t = np.array([0.0, 5.0, 24.0, 30.0, 50.0])
    ((plasma, _),) = regimen.concentrations(t, doses=2)
    expected = [one(x) + (one(x - 24) if x >= 24 else 0.0) for x in t]
    assert plasma.tolist() == pytest.approx(expected, rel=1e-12)


def test_steady_state_average_equals_css():
    profile = make()
    regimen = Regimen(profile, 10.0, 24.0, {})
    s = np.linspace(0, 24, 200_001)
    ((plasma, _),) = regimen.concentrations(s, doses=None)
    average = np.trapezoid(plasma, s) / 24
    css = occupancy_at(profile, 10.0).parent.css_plasma_ng_ml / 1000
    assert average == pytest.approx(css, rel=1e-6)


def test_single_dose_auc_is_f_dose_over_clearance():
    profile = build_profile(
        {
            **BASE,
            "pk": {
                "clearance": "16 L/h",
                "bioavailability": 0.8,
                "fraction_unbound": 0.5,
                "half_life": "30 h",
                "absorption": {"tmax": "4 h"},
            },
        }
    )
    response = chain_response(
        [profile.parent.absorption_rate_per_h, 16 / 0.8 / profile.parent.volume_l],
        profile.parent.volume_l,
    )
    auc_per_mg = (response.coefficients / response.rates_per_h).sum()
    assert 10 * auc_per_mg == pytest.approx(0.8 * 10 / 16, rel=1e-12)


def test_tmax_gives_the_peak_time():
    profile = make(absorption={"tmax": "6 h"})
    t = np.linspace(0, 24, 240_001)
    ((plasma, _),) = Regimen(profile, 10.0, 24.0, {}).concentrations(t, doses=1)
    assert t[plasma.argmax()] == pytest.approx(6.0, abs=1e-3)


def test_effect_compartment_delays_but_keeps_the_area():
    profile = make(brain_equilibration_half_life="3 h")
    t = np.linspace(0, 2000, 400_001)
    ((plasma, brain),) = Regimen(profile, 10.0, 24.0, {}).concentrations(t, doses=1)
    assert t[brain.argmax()] > t[plasma.argmax()]
    assert np.trapezoid(brain, t) == pytest.approx(np.trapezoid(plasma, t), rel=1e-4)


def test_equal_rates_stay_finite():
    response = chain_response([0.1, 0.1], 10.0)
    t = np.array([1.0, 10.0, 50.0])
    exact = 0.1 * t * np.exp(-0.1 * t) / 10.0  # the ka = k limit
    values = superposed(response, t, 1e9, 1)
    assert values.tolist() == pytest.approx(exact.tolist(), rel=1e-5)
    assert np.isfinite(superposed(delayed(response, 0.1), t, 24.0, 3)).all()


def test_metabolite_steady_state_average_equals_css():
    profile = build_profile(
        {
            **BASE,
            "metabolites": [
                {
                    "name": "m",
                    "molar_mass": "280 g/mol",
                    "pk": {
                        "apparent_clearance": "8 L/h",
                        "fraction_unbound": 0.7,
                        "half_life": "100 h",
                    },
                    "targets": {"SERT": {"ki": "5 nM"}},
                }
            ],
        }
    )
    s = np.linspace(0, 24, 100_001)
    levels = Regimen(profile, 10.0, 24.0, {}).levels(s, None)
    expected = occupancy_at(profile, 10.0)
    average = np.trapezoid(levels[1].css_plasma_nm, s) / 24
    assert average == pytest.approx(expected.metabolites[0].css_plasma_nm, rel=1e-6)


def test_saturable_clearance_reduces_to_linear_when_km_is_large():
    pytest.importorskip("scipy")
    # CL = 10 L/h linear + Vmax/Km = 1e6 mg/h / 1e5 mg/L = 10 L/h -> 20 L/h in total
    linear = make()
    saturable = make(
        apparent_clearance="10 L/h",
        half_life=None,
        volume=f"{linear.parent.volume_l} L",
        saturable_clearance={"vmax": "1e6 mg/h", "km": "1e8 ng/mL"},
    )
    t = np.linspace(0, 200, 401)
    ((a, _),) = Regimen(linear, 10.0, 24.0, {}).concentrations(t, doses=5)
    ((b, _),) = Regimen(saturable, 10.0, 24.0, {}).concentrations(t, doses=5)
    assert b.tolist() == pytest.approx(a.tolist(), rel=1e-5, abs=1e-12)
    assert occupancy_at(saturable, 10.0).occupancy["SERT"] == pytest.approx(
        occupancy_at(linear, 10.0).occupancy["SERT"], rel=1e-6
    )


def test_saturable_clearance_accumulates_more_than_linear():
    pytest.importorskip("scipy")
    profile = make(
        apparent_clearance="2 L/h",
        half_life=None,
        volume="800 L",
        saturable_clearance={"vmax": "1 mg/h", "km": "10 ng/mL"},
    )
    low = occupancy_at(profile, 10.0).parent.css_plasma_ng_ml
    high = occupancy_at(profile, 20.0).parent.css_plasma_ng_ml
    assert high > 2 * low  # more than dose-proportional, as paroxetine's label reports
    result = simulate(profile, {}, 20.0, 24.0, doses=60, until_h=60 * 24, step_h=1)
    ss = occupancy_at(profile, 20.0).parent.css_plasma_ng_ml
    last_interval = result.levels[0].css_plasma_ng_ml[-25:]
    assert last_interval.min() < ss < last_interval.max() * 1.05


def test_simulate_summary_and_defaults():
    profile = make()
    result = simulate(profile, {}, 10.0, 24.0)
    summary = result.summary
    # one definition in every command: t1/2 * log2(1 / (1 - f)), t1/2 = 30 h
    assert summary["time_to_90pct_steady_state_h"] == pytest.approx(30 * math.log2(10))
    single = occupancy_at(profile, 10.0).record()
    assert summary["time_to_95pct_steady_state_h"] == single["time_to_95pct_steady_state_h"]
    assert summary["steady_state_trough_ng_ml"] < 20.8333 < summary["steady_state_peak_ng_ml"]
    assert 0 < summary["days_after_last_dose_to_sert_below_20pct"]
    assert (
        summary["days_after_last_dose_to_sert_below_50pct"]
        < summary["days_after_last_dose_to_sert_below_20pct"]
    )
    assert result.t_h[-1] == pytest.approx((result.doses - 1) * 24 + 150)
    occ = result.occupancy["SERT"]
    assert ((occ >= 0) & (occ < 1)).all()


def test_simulate_refuses_profiles_without_absorption():
    from sert_cli.errors import ModelError

    profile = build_profile(
        {**BASE, "pk": {k: v for k, v in BASE["pk"].items() if k != "absorption"}}
    )
    with pytest.raises(ModelError, match="no pk.absorption"):
        simulate(profile, {}, 10.0, 24.0)


def test_too_late_a_tmax_is_a_profile_error():
    from sert_cli.errors import ProfileError

    with pytest.raises(ProfileError, match="too late"):
        make(absorption={"tmax": "60 h"})


def test_replace_keeps_profiles_immutable():
    profile = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.parent.volume_l = 1.0


def test_linear_profiles_never_import_scipy():
    import subprocess
    import sys

    code = (
        "import sys; from sert_cli.profiles.library import load_library; "
        "from sert_cli.pk.timecourse import simulate; "
        "simulate(load_library().get('venlafaxine'), {}, 75.0, 24.0); "
        "print('scipy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_saturable_dose_for_target_inverts_occupancy():
    from conftest import dose_for_target

    profile = make(
        apparent_clearance="2 L/h",
        half_life=None,
        volume="800 L",
        saturable_clearance={"vmax": "1 mg/h", "km": "10 ng/mL"},
    )
    for target in (0.2, 0.5, 0.8, 0.95):
        dose = dose_for_target(profile, target).dose_mg
        assert occupancy_at(profile, dose).occupancy["SERT"] == pytest.approx(target, rel=1e-9)


def test_saturable_parent_with_a_metabolite_is_bisected_to_the_target():
    from conftest import dose_for_target

    data = {
        **BASE,
        "pk": {
            "apparent_clearance": "2 L/h",
            "fraction_unbound": 0.5,
            "volume": "800 L",
            "absorption": {"ka": "0.8 /h"},
            "saturable_clearance": {"vmax": "1 mg/h", "km": "10 ng/mL"},
        },
        "metabolites": [
            {
                "name": "m",
                "molar_mass": "280 g/mol",
                "pk": {"apparent_clearance": "8 L/h", "fraction_unbound": 0.7},
                "targets": {"SERT": {"ki": "5 nM"}},
            }
        ],
    }
    profile = build_profile(data)
    dose = dose_for_target(profile, 0.8).dose_mg
    assert occupancy_at(profile, dose).occupancy["SERT"] == pytest.approx(0.8, rel=1e-9)


def test_simulated_occupancy_never_leaves_zero_to_one():
    """Issue 10: venlafaxine's curve started at -5.6e-15 (exponentials cancelling)."""
    from sert_cli.profiles.library import load_library

    library = load_library()
    for name, profile in library.profiles.items():
        profile = profile.with_affinity("pet")
        dose = profile.label_min_mg * profile.interval_h / 24
        course = simulate(profile, {}, dose, profile.interval_h, days=7, until_h=24 * 9, step_h=1.0)
        for transporter, values in course.occupancy.items():
            if values is not None:
                assert values.min() >= 0.0, (name, transporter)
                assert values.max() < 1.0, (name, transporter)


def test_a_schedule_follows_the_dose_down():
    """Issue 13: `simulate --schedule`: occupancy follows the dose down, step by step."""
    from conftest import sert_json

    out = sert_json(
        "simulate", "escitalopram", "--schedule", "20mg x14d, 10mg x14d, 5mg x28d", "--step", "6"
    )
    t, sert = out["t_h"], out["occupancy"]["SERT"]
    ends = [sert[t.index(d * 24.0)] for d in (13, 27, 55)]
    assert ends[0] > ends[1] > ends[2]
    assert [s["dose_mg"] for s in out["schedule"]] == [20.0, 10.0, 5.0]
    # each step's end is near that dose's steady state (escitalopram settles in about a week);
    # the ends are troughs (a dose is due), the steady state an average: within 5 points
    for dose, value in zip((20, 10, 5), ends, strict=True):
        steady = sert_json("occupancy", "escitalopram", "--dose", str(dose))["occupancy"]["SERT"]
        assert steady - 0.05 <= value <= steady


def test_a_schedule_file_is_the_same_schedule(tmp_path):
    from conftest import sert, sert_json

    written = tmp_path / "schedule.csv"
    written.write_text("dose_mg,days,interval_h\n20,14,\n10,14,\n5,28,48\n", encoding="utf-8")
    from_file = sert_json("simulate", "escitalopram", "--schedule-file", str(written))
    inline = sert_json(
        "simulate", "escitalopram", "--schedule", "20mg x14d, 10mg x14d, 5mg every 48h x28d"
    )
    assert from_file["schedule"] == inline["schedule"]
    assert from_file["occupancy"]["SERT"] == inline["occupancy"]["SERT"]
    written.write_text("dose,days\n20,14\n", encoding="utf-8")
    done = sert("simulate", "escitalopram", "--schedule-file", str(written))
    assert done.returncode == 2 and "needs a header with dose_mg and days" in done.stderr


def test_missed_doses_and_alternate_days():
    from conftest import sert, sert_json

    full = sert_json("simulate", "paroxetine", "--dose", "20", "--days", "28", "--step", "6")
    missed = sert_json(
        "simulate",
        "paroxetine",
        "--dose",
        "20",
        "--days",
        "28",
        "--missed",
        "20,21,22",
        "--step",
        "6",
    )
    day = missed["t_h"].index(22 * 24.0)
    assert missed["occupancy"]["SERT"][day] < full["occupancy"]["SERT"][day] - 0.1
    assert missed["summary"]["doses_taken"] == 25
    alternate = sert_json("simulate", "escitalopram", "--schedule", "10mg every 48h x28d")
    assert alternate["summary"]["doses_taken"] == 14
    bad = sert("simulate", "escitalopram", "--schedule", "20mg for two weeks")
    assert bad.returncode == 2 and "--schedule" in bad.stderr


def test_adaptation_follows_a_taper():
    """Issue 14: a taper moves through the adaptation layer: transmission falls with each
    step down, and the autoreceptors resensitize only slowly once the drug is gone."""
    from conftest import sert_json

    args = ("10mg x28d, 5mg x14d, 2.5mg x14d", "--adaptation", "--step", "6", "--until", "2400")
    out = sert_json("simulate", "escitalopram", "--schedule", *args)
    t, layer = out["t_h"], out["adaptation"]
    transmission = [layer["serotonergic_transmission"][t.index(d * 24.0)] for d in (27, 41, 55)]
    assert transmission[0] > transmission[1] > transmission[2]
    sensitivity = layer["autoreceptor_sensitivity"]
    assert sensitivity[t.index(99 * 24.0)] > sensitivity[t.index(55 * 24.0)]


def test_the_adaptation_day_counts_do_not_depend_on_the_output_grid():
    """The 5-HT1A layer runs on its own half-hour grid: a daily, a 6-hourly and an hourly
    output give the same day counts, and CSV carries the hypothesis statement."""
    from conftest import sert, sert_json

    args = ("simulate", "escitalopram", "--dose", "10", "--days", "60", "--adaptation")
    counts = {
        step: (
            sert_json(*args, "--step", step)["summary"]["days_to_50pct_adaptation"],
            sert_json(*args, "--step", step)["summary"]["days_to_90pct_adaptation"],
        )
        for step in ("1", "6", "24")
    }
    assert len(set(counts.values())) == 1
    assert 17 < counts["24"][1] < 19
    csv_text = sert(*args, "--step", "24", "--format", "csv").stdout
    assert "rat electrophysiology" in csv_text.splitlines()[1]
