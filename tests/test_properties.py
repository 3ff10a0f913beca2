"""Properties of the model that must hold for any drug the format can describe."""

import pytest
from conftest import dose_for_target, occupancy_at
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sert_cli.pk.dosing import MAX_UNITS_PER_DOSE
from sert_cli.profiles.schema import build_profile

positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


def dose_or_none(profile, target, **kwargs):
    """The dose query's answer; a target at or above the plateau has none, by design."""
    from sert_cli.errors import ModelError

    try:
        return dose_for_target(profile, target, **kwargs)
    except ModelError as exc:
        assert "levels off" in str(exc)
        assume(False)


fraction = st.floats(min_value=1e-3, max_value=1.0)


@st.composite
def profiles(draw):
    nm = draw(positive)
    pm_ratio = draw(st.floats(min_value=1.0, max_value=10.0))
    data = {
        "schema": 1,
        "name": "drug",
        "molar_mass": f"{draw(st.floats(100, 600))} g/mol",
        "dosing": {
            "interval": "24 h",
            "label_range": ["1 mg", "1e6 mg"],
            "strengths": ["1 mg", "5 mg"],
        },
        "pk": {
            "apparent_clearance": f"{nm} L/h",
            "fraction_unbound": draw(fraction),
            "kp_uu_brain": draw(st.floats(0.05, 1.0)),
            "phenotypes": {"gene": "CYP2D6", "exposure_ratio": {"PM": pm_ratio, "NM": 1.0}},
        },
        "targets": {"SERT": {"ki": f"{draw(positive)} nM"}},
        "sources": ["hypothesis"],
    }
    if draw(st.booleans()):  # on the PET scale, with a plateau below 100 %
        data["targets"]["SERT"].update(
            pet_ec50_plasma=f"{draw(positive)} ng/mL",
            pet_emax=draw(st.floats(0.5, 1.0)),
            pet_basis="fitted",
        )
    if draw(st.booleans()):
        data["metabolites"] = [
            {
                "name": "metabolite",
                "molar_mass": "300 g/mol",
                "pk": {
                    "apparent_clearance": f"{draw(positive)} L/h",
                    "fraction_unbound": draw(fraction),
                },
                "targets": {"SERT": {"ki": f"{draw(positive)} nM"}},
            }
        ]
    return build_profile(data)


@settings(max_examples=200, deadline=None)
@given(profiles(), st.floats(1e-3, 1e3), st.floats(1.001, 10.0))
def test_occupancy_rises_with_dose_and_stays_below_the_plateau(profile, dose, factor):
    """Strictly, while a float can still tell the two apart: near the plateau (a load past
    about 1e12) the model refuses a dose whose occupancy rounds to 100 %, by design."""
    from sert_cli.errors import ModelError

    try:
        low = occupancy_at(profile, dose).occupancy["SERT"]
        high = occupancy_at(profile, dose * factor).occupancy["SERT"]
    except ModelError as exc:
        assert "indistinguishable from 100 %" in str(exc)
        assume(False)
    emax = profile.with_affinity("pet").emax.get("SERT", 1.0)
    assert 0 <= low <= high * (1 + 1e-12) and high <= emax * (1 + 1e-12) and emax <= 1
    if high < emax * (1 - 1e-9):  # (at the plateau two doses differ by a rounding only)
        assert low < high


@settings(max_examples=200, deadline=None)
@given(profiles(), st.floats(0.01, 0.99))
def test_dose_and_occupancy_invert_each_other(profile, target):
    target *= profile.with_affinity("pet").emax.get("SERT", 1.0)
    dose = dose_or_none(profile, target).dose_mg
    assert occupancy_at(profile, dose).occupancy["SERT"] == pytest.approx(target, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(profiles(), st.floats(0.05, 0.95))
def test_poor_metabolizer_never_needs_more_drug(profile, target):
    target *= profile.with_affinity("pet").emax.get("SERT", 1.0)
    pm = dose_or_none(profile, target, requested={"CYP2D6": "PM"}).dose_mg
    nm = dose_or_none(profile, target, requested={"CYP2D6": "NM"}).dose_mg
    assert pm <= nm * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(profiles(), st.floats(0.05, 0.95))
def test_recommended_dose_reaches_the_target(profile, target):
    """The recommended strength reaches the target and is the smallest that does, or it is
    the largest the label maximum allows and the result says the target is not reached;
    it never exceeds the label maximum."""
    target *= profile.with_affinity("pet").emax.get("SERT", 1.0)
    result = dose_or_none(profile, target)
    cap = profile.label_max_mg * profile.interval_h / 24  # a dose per administration
    if result.recommended_dose_mg is not None:
        assert result.recommended_dose_mg <= cap * (1 + 1e-9)
        assert result.target_reached == (result.occupancy_at_recommended >= target - 1e-12)
        if result.target_reached:
            assert result.recommended_dose_mg >= result.dose_mg * (1 - 1e-9)
        else:
            # the maximum, or the most units a recommendation can mean (MAX_UNITS_PER_DOSE)
            most = min(cap, MAX_UNITS_PER_DOSE * min(profile.strengths_mg))
            assert result.dose_mg > most * (1 - 1e-9) - min(profile.strengths_mg)
            assert any("not reached within the label" in w for w in result.warnings)
        # the same number, to the last digit, as an occupancy query at that dose
        at_dose = occupancy_at(profile, result.recommended_dose_mg).occupancy["SERT"]
        assert result.occupancy_at_recommended == at_dose
