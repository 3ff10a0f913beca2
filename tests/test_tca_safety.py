"""Tricyclics on the safe side (issue 27): no dose recommended whose expected level passes
the top of the reference range (AGNP), a dose the user gives that reaches the laboratory
alert level said in every format,
the PET scale of a drug without PET taken from its class (not from the SSRIs' rule of the
label minimum) or from its own fitted metabolite, and the "Assumed:" line saying each
assumption once."""

import math

import pytest
from conftest import sert, sert_json

from sert_cli.profiles.library import load_library
from sert_cli.units import ng_ml_to_nm

RANGED = ("amitriptyline", "nortriptyline", "clomipramine", "imipramine", "desipramine")


def counted_level(record: dict, profile) -> float:
    """The level the reference range is of: the parent, or parent + metabolites (ng/mL)."""
    level = record["css_plasma_ng_ml"]
    if profile.therapeutic_range_of == "active_moiety":
        level += sum(m["css_plasma_ng_ml"] for m in record["metabolites"])
    return level


@pytest.mark.parametrize("drug", [*RANGED, "paroxetine", "citalopram"])
@pytest.mark.parametrize("phenotypes", [(), ("-p", "CYP2D6=IM"), ("-p", "CYP2C19=PM")])
def test_no_recommended_dose_is_expected_past_the_top_of_the_range(drug, phenotypes):
    profile = load_library(use_cache=False).get(drug)
    answer = sert_json("dose", drug, "--target", "0.86", *phenotypes)
    recommended = answer["recommended_dose_mg"]
    if recommended is None:
        return  # the guideline advises against the drug for this patient: nothing to check
    at = sert_json("occupancy", drug, "--dose", str(recommended), *phenotypes)
    assert counted_level(at, profile) <= profile.therapeutic_range_ng_ml[1] * (1 + 1e-9)


def test_the_ceiling_is_the_linear_dose_that_reaches_the_top_of_the_range():
    """Clomipramine, CYP2D6 IM: the level is proportional to the dose, so the ceiling is
    range top / (level per mg) (450 ng/mL, also AGNP's alert); the 86 % target asks for
    more, the recommendation is held under it and one warning names the ceiling (3
    significant digits) and the shortfall, not the label maximum."""
    profile = load_library(use_cache=False).get("clomipramine")
    per_mg = counted_level(
        sert_json("occupancy", "clomipramine", "--dose", "1", "-p", "CYP2D6=IM"), profile
    )
    ceiling = profile.therapeutic_range_ng_ml[1] / per_mg
    answer = sert_json("dose", "clomipramine", "--target", "0.86", "-p", "CYP2D6=IM")
    assert answer["dose_mg"] > ceiling  # what the target asks for passes the alert
    assert answer["recommended_dose_mg"] <= ceiling
    assert answer["recommended_dose_mg"] == 150.0  # 75 mg + 75 mg, the most under it
    said = [w for w in answer["warnings"] if "top of its reference range, 450 ng/mL" in w]
    assert said and f"above {ceiling:.3g} mg/day" in said[0], answer["warnings"]
    assert "points short" not in said[0] and "point(s) short of 86 %" in said[0]
    assert not any("label maximum" in w for w in answer["warnings"])


def test_a_dose_given_that_reaches_the_alert_is_said_in_every_format():
    args = ("occupancy", "clomipramine", "--dose", "250", "-p", "CYP2D6=IM")
    record = sert_json(*args)
    warning = [w for w in record["warnings"] if "laboratory alert level of 450" in w]
    assert warning and "active moiety" in warning[0]
    assert "alert level" in sert(*args, "-f", "csv").stdout
    table = sert(*args, env={"COLUMNS": "200"})
    assert "alert level of 450 ng/mL" in table.stderr + table.stdout
    calm = sert_json("occupancy", "clomipramine", "--dose", "75")
    assert not any("alert level" in w for w in calm["warnings"])


def _scale(profile, transporter: str) -> float:
    """The PET scale of a profile's parent: in vivo unbound K over in vitro K."""
    parent = profile.parent
    ec50_nm = ng_ml_to_nm(parent.pet[transporter].ec50_plasma_ng_ml, parent.molar_mass_g_mol)
    return ec50_nm * parent.fraction_unbound * parent.kp_uu_brain / parent.k_nm[transporter]


def test_tricyclics_without_pet_share_one_class_ratio_for_sert():
    """Not the rule of the label minimum (which gave desipramine, NET-selective, 77 % SERT at
    25 mg): imipramine, clomipramine and desipramine, none with SERT PET, take the same
    geometric-mean ratio, so their in vivo constants keep their in vitro order."""
    library = load_library(use_cache=False)
    scales = [_scale(library.get(d), "SERT") for d in ("imipramine", "clomipramine", "desipramine")]
    assert scales[1] == pytest.approx(scales[0], rel=0.01)
    assert scales[2] == pytest.approx(scales[0], rel=0.01)
    for drug in ("imipramine", "clomipramine", "desipramine"):
        assert library.get(drug).parent.pet["SERT"].basis == "extrapolated"
    desipramine = sert_json("occupancy", "desipramine", "--dose", "25")["occupancy"]
    assert (
        desipramine["SERT"] < 0.5 < desipramine["NET"] or desipramine["SERT"] < desipramine["NET"]
    )


def test_a_parent_without_pet_takes_its_fitted_metabolites_constant():
    """One molecule, one constant: nortriptyline's NET constant is fitted (Sekine 2010,
    Takano 2014); amitriptyline, with none of its own, carries the same scale, so
    nortriptyline formed from amitriptyline binds NET as nortriptyline taken as a drug."""
    library = load_library(use_cache=False)
    nortriptyline, amitriptyline = library.get("nortriptyline"), library.get("amitriptyline")
    assert nortriptyline.parent.pet["NET"].basis == "fitted"
    assert _scale(amitriptyline, "NET") == pytest.approx(_scale(nortriptyline, "NET"), rel=0.01)
    as_metabolite = amitriptyline.with_affinity("pet").metabolites[0].k_nm["NET"]
    as_drug = nortriptyline.with_affinity("pet").parent.k_nm["NET"]
    assert as_metabolite == pytest.approx(as_drug, rel=0.01)
    assert math.isfinite(as_drug)


def test_the_assumed_line_says_a_class_activity_once():
    text = sert(
        "occupancy",
        "amitriptyline",
        "--dose",
        "75",
        "-p",
        "CYP2D6=PM",
        "-p",
        "CYP2C19=UM",
        env={"COLUMNS": "200"},
    ).stdout
    assumed = " ".join(text[text.index("Assumed:") :].split())
    assert assumed.count("CYP2D6 PM class activity") == 1
    assert assumed.count("CYP2C19 UM class activity") == 1


def test_a_switch_to_a_tricyclic_stays_within_the_top_of_its_range():
    """Sertraline 100 mg to nortriptyline in a CYP2D6 IM: the label maximum, 150 mg, would
    be expected at about 320 ng/mL (above the 70-170 range and the 300 alert); the plan's
    dose is held under the range's top and the heading says what held it."""
    profile = load_library(use_cache=False).get("nortriptyline")
    plan = sert_json("switch", "sertraline", "100", "nortriptyline", "-p", "CYP2D6=IM")
    new = plan["to"]
    at = sert_json(
        "occupancy", "nortriptyline", "--dose", str(new["recommended_dose_mg"]), "-p", "CYP2D6=IM"
    )
    assert counted_level(at, profile) <= profile.therapeutic_range_ng_ml[1] * (1 + 1e-9)
    assert new["held_by"] == "reference range" and new["recommended_dose_mg"] < 150
    assert max(row["to_dose_mg"] for row in plan["schedule"]) <= new["recommended_dose_mg"]
    text = sert("switch", "sertraline", "100", "nortriptyline", "-p", "CYP2D6=IM").stdout
    assert "SHORT: the reference range" in " ".join(text.split())
