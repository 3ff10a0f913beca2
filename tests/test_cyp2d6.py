"""Issue 22 item 3: CYP2D6 in venlafaxine (ODV's formation), fluvoxamine and paroxetine,
each through one mechanism for phenotype and inhibitor. Expected numbers are computed by
hand from the profiles' values (docs/model.md sections 2, 7 and 8)."""

import numpy as np
import pytest
from conftest import EXAMPLAMINE, sert_json

from sert_cli.errors import ProfileError
from sert_cli.pgx.patient import Patient, prepare
from sert_cli.pk.timecourse import Regimen
from sert_cli.profiles.library import load_library, load_profile_file

# venlafaxine.yaml: CL/F 91 L/h (NM), CYP2D6 fm 0.80; ODV 28 L/h per parent dose, its
# formation 88 % through CYP2D6; MW 277.4 (parent) and 263.4 (ODV)
VEN_NM = 150 / (91 * 24) * 1000  # 68.681 ng/mL
ODV_NM = 150 / (28 * 24) * 1000 * 263.4 / 277.4  # 211.949 ng/mL


def venlafaxine(*patient: str) -> tuple[float, float]:
    out = sert_json("occupancy", "venlafaxine", "--dose", "150", *patient)
    return out["css_plasma_ng_ml"], out["metabolites"][0]["css_plasma_ng_ml"]


def test_venlafaxine_nm_is_unchanged():
    assert venlafaxine() == pytest.approx((VEN_NM, ODV_NM), rel=1e-12)


@pytest.mark.parametrize(
    ("patient", "parent_ratio", "odv_ratio"),
    [
        # PM: CL 1 - 0.8 = 0.2 of NM -> parent x5; formation 0.12 -> ODV 0.12 / 0.2 = 0.6
        (("-p", "CYP2D6=PM"), 5.0, 0.6),
        # IM (class a 0.5): CL 0.6 -> x1.667; formation 0.88 * 0.5 + 0.12 = 0.56 -> 0.56/0.6
        (("-p", "CYP2D6=IM"), 1 / 0.6, 0.56 / 0.6),
        # UM (class a 1.5): CL 1.4; formation 1.44 -> ODV 1.44 / 1.4
        (("-p", "CYP2D6=UM"), 1 / 1.4, 1.44 / 1.4),
        # paroxetine, a strong CYP2D6 inhibitor (class m 0.2): CL 0.36; formation 0.296
        (("--with", "paroxetine"), 1 / 0.36, 0.296 / 0.36),
        # terbinafine, measured 4.9 (Hynninen 2008) read as m = 1 - (1 - 1/4.9) / 0.8
        # = 0.005102: CL 1/4.9; formation 0.88 * 0.005102 + 0.12 = 0.124490 -> x0.6100
        (("--with", "terbinafine"), 4.9, (0.88 * (1 - (1 - 1 / 4.9) / 0.8) + 0.12) * 4.9),
    ],
)
def test_cyp2d6_raises_venlafaxine_and_lowers_odv(patient, parent_ratio, odv_ratio):
    parent, odv = venlafaxine(*patient)
    assert parent / VEN_NM == pytest.approx(parent_ratio, rel=1e-9)
    assert odv / ODV_NM == pytest.approx(odv_ratio, rel=1e-9)


def test_terbinafine_matches_hynninen_through_the_enzyme():
    """Venlafaxine AUC 490 % and ODV 57 % of control; the model: 4.90 and 0.61."""
    out = sert_json("occupancy", "venlafaxine", "--dose", "150", "--with", "terbinafine")
    parent, odv = out["css_plasma_ng_ml"], out["metabolites"][0]["css_plasma_ng_ml"]
    assert parent / VEN_NM == pytest.approx(4.9, rel=1e-9)
    assert odv / ODV_NM == pytest.approx(0.57, rel=0.08)
    assert any("CYP2D6 activity x0.0051" in n for n in out["notes"])
    assert out["functional_phenotypes"] == {"CYP2D6": "PM"}  # a strong inhibitor


def test_the_explain_step_shows_the_formation_change():
    out = sert_json("occupancy", "venlafaxine", "--dose", "150", "-p", "CYP2D6=PM", "--explain")
    step = next(s for s in out["trace"] if s["step"] == "clearance of O-desmethylvenlafaxine")
    values = step["values"]
    assert values["CL_form/CL_form,NM"] == pytest.approx(0.12)
    assert values["CL_parent/CL_parent,NM"] == pytest.approx(0.2)
    assert values["f"] == pytest.approx(0.6)
    assert values["CL/F"] == pytest.approx(28 / 0.6)


def test_odv_leaves_at_its_own_rate_in_the_time_course():
    """The formation change scales what is formed, not ODV's half-life (11 h); the
    interval average of the time course is the steady state's."""
    library = load_library()
    prepared = prepare(library.get("venlafaxine"), Patient((("CYP2D6", "PM"),)))
    regimen = Regimen(prepared.profile, 150.0, 24.0, prepared.phenotypes)
    half_lives = [np.log(2) / k for k in regimen.elimination_rates()]
    assert half_lives == pytest.approx([5.0 * 5, 11.0], rel=1e-3)  # parent: CL / 5
    t = np.linspace(0, 24, 24001)
    parent, odv = regimen.levels(t, None)
    assert np.trapezoid(parent.css_plasma_ng_ml, t) / 24 == pytest.approx(5 * VEN_NM, rel=1e-6)
    assert np.trapezoid(odv.css_plasma_ng_ml, t) / 24 == pytest.approx(0.6 * ODV_NM, rel=1e-6)


def test_time_to_steady_state_follows_the_slowest_own_half_life():
    nm = sert_json("occupancy", "venlafaxine", "--dose", "150")
    pm = sert_json("occupancy", "venlafaxine", "--dose", "150", "-p", "CYP2D6=PM")
    # NM: ODV's 11 h is the longest; PM: the parent's 25 h. t95 = t1/2 * log2(20)
    assert nm["time_to_95pct_steady_state_h"] == pytest.approx(11 * np.log2(20), rel=1e-3)
    assert pm["time_to_95pct_steady_state_h"] == pytest.approx(25 * np.log2(20), rel=1e-3)


FORMED = (
    EXAMPLAMINE
    + """\
metabolites:
  - name: examplamine-m
    molar_mass: 286 g/mol
    pk:
      apparent_clearance: 40 L/h
      fraction_unbound: 0.5
      half_life: 10 h
      formation: {gene: CYP2D6, share: 0.5}
    targets:
      SERT: {ki: 4 nM}
"""
)


def test_formation_needs_the_gene_in_the_parents_clearance(write_profile):
    text = FORMED.replace("gene: CYP2D6, share", "gene: CYP2C19, share")
    assert "CYP2C19" in EXAMPLAMINE  # the example's table is CYP2C19
    load_profile_file(write_profile(text))
    with pytest.raises(ProfileError, match="has no CYP2D6 part"):
        load_profile_file(write_profile(FORMED))


def test_formation_is_a_metabolites(write_profile):
    text = EXAMPLAMINE.replace(
        "  half_life: 30 h\n", "  half_life: 30 h\n  formation: {gene: CYP2C19, share: 0.5}\n"
    )
    with pytest.raises(ProfileError, match="the parent is not formed"):
        load_profile_file(write_profile(text))


# paroxetine.yaml: CL_lin 22 L/h, Vmax 0.487 mg/h, Km 0.472 ng/mL (Sindrup 1992 refit)
def test_paroxetine_at_30_mg_matches_sindrup():
    nm = sert_json("occupancy", "paroxetine", "--dose", "30", "--explain")
    pm = sert_json("occupancy", "paroxetine", "--dose", "30", "-p", "CYP2D6=PM")
    c = nm["css_plasma_ng_ml"] / 1000  # mg/L: the balance R = CL C + Vmax C / (Km + C)
    assert 22 * c + 0.487 * c / (0.000472 + c) == pytest.approx(30 / 24, rel=1e-9)
    assert nm["css_plasma_ng_ml"] == pytest.approx(34.98, rel=1e-3)
    assert pm["css_plasma_ng_ml"] == pytest.approx(30 / 24 / 22 * 1000, rel=1e-12)  # 56.82
    assert 1.6 <= pm["css_plasma_ng_ml"] / nm["css_plasma_ng_ml"] <= 2.2  # Sindrup 1.73-1.86
    trough = sert_json("simulate", "paroxetine", "--dose", "30")["summary"]
    assert 20 <= trough["steady_state_trough_ng_ml"] <= 35  # Sindrup: 26.7 ng/mL


def test_paroxetine_taper_steps_fall_steadily():
    doses = [s["dose_mg"] for s in sert_json("taper", "paroxetine", "--from", "20")["steps"]]
    assert all(a > b for a, b in zip(doses, doses[1:], strict=False)), doses
