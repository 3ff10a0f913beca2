"""A taper (docs/model.md section 18): equal steps of SERT occupancy (Horowitz & Taylor,
Lancet Psychiatry 2019), so the doses fall hyperbolically; or NICE NG222's proportional
reductions (each step a fixed fraction of the last). Near the PET plateau an equal step of
occupancy is a huge cut of dose, so no step cuts more than --max-cut of the one before
(default a half: NICE NG222 1.4.17 reduces "for example, 50 % of previous dose"): each
step is the gentler of the two. How a step is taken comes from the profile's marketed
forms: whole or scored units, or a measurable volume of the marketed oral liquid (the
formulation change said in the step), or a compounded liquid; a dose below what can be
measured is no step, and the plan ends with an explicit stop.
"""

import math

from sert_cli.errors import InputError
from sert_cli.pk.dosing import largest_dose_below, smallest_dose_from_strengths, unit_pieces
from sert_cli.vocabulary import HOURS_PER_DAY

DEFAULT_WEEKS = 2.0  # 2-4 weeks a step (Horowitz & Taylor 2019; NICE NG222 1.4.17)
HALF_LIVES_PER_STEP = 5  # never shorter: the step's level must settle
LAST_OCCUPANCY = 0.05  # taper until the occupancy is below this, then stop
MAX_STEPS = 40
DEFAULT_MAX_CUT = 0.5  # NICE NG222 1.4.17: "for example, 50% of previous dose"
MIN_CUT = 0.05  # a step that cuts less than this is no step
UNIT_TOLERANCE = 0.10  # marketed units within 10 % of the step's dose make it
SMALLEST_VOLUME_ML = 0.1  # an oral syringe measures no less
VOLUME_STEP_ML = 0.1
SMALLEST_UNIT_PART = 0.25  # a quarter of the smallest unit: no smaller part is a dose
MODIFIED_RELEASE = ("extended-release", "delayed-release", "modified-release", "prolonged")


def check(step_pp, fraction, weeks, max_cut=None) -> None:
    if step_pp is not None and fraction is not None:
        raise InputError("give --step or --fraction, not both", field="fraction")
    if step_pp is not None and not 1 <= step_pp <= 40:
        raise InputError("must be between 1 and 40 percentage points", field="step_pp")
    if fraction is not None and not 0.05 <= fraction <= 0.75:
        raise InputError("must be a fraction between 0.05 and 0.75", field="fraction")
    if weeks is not None and not 0.5 <= weeks <= 52:
        raise InputError("must be between 0.5 and 52 weeks", field="weeks")
    if max_cut is not None and not 0.05 <= max_cut <= 0.75:
        raise InputError("must be a fraction between 0.05 and 0.75", field="max_cut")


def step_days(profile, weeks: float | None, longest_half_life_h: float) -> float:
    """The step's length: the weeks asked (default 2), never under 5 half-lives."""
    wanted = (DEFAULT_WEEKS if weeks is None else weeks) * 7
    settle = HALF_LIVES_PER_STEP * longest_half_life_h / HOURS_PER_DAY
    return float(math.ceil(max(wanted, settle)))


def measurable_floor_mg(profile) -> float:
    """The smallest dose that can be measured: 0.1 mL of the most dilute marketed liquid,
    else a quarter of the smallest unit. A dose below it is no step."""
    if profile.oral_liquids:
        return SMALLEST_VOLUME_ML * min(mg_per_ml for _, mg_per_ml in profile.oral_liquids)
    return SMALLEST_UNIT_PART * min(profile.strengths_mg)


def modified_release(profile) -> bool:
    return any(word in profile.dose_form for word in MODIFIED_RELEASE)


def practical_step(profile, wanted_mg: float, previous_mg: float, max_cut: float, liquid_only):
    """The dose a patient can take for a step that wants `wanted_mg`: marketed units where
    they make it within 10 %, else a volume of the most dilute liquid rounded to 0.1 mL,
    else a compounded liquid; never a cut of more than max_cut, nor of less than MIN_CUT.
    Returns (dose_mg, formulation dict), or None where no measurable dose fits."""
    lowest = previous_mg * (1 - max_cut)
    highest = previous_mg * (1 - MIN_CUT)
    if not liquid_only:
        made = smallest_dose_from_strengths(wanted_mg, unit_pieces(profile))
        if made is not None:
            for candidate in (made, largest_dose_below(wanted_mg, unit_pieces(profile))):
                if (
                    candidate is not None
                    and lowest * (1 - 1e-9) <= candidate[0] <= highest
                    and abs(candidate[0] - wanted_mg) <= UNIT_TOLERANCE * wanted_mg
                ):
                    return candidate[0], _units_formulation(profile, candidate[1])
    if profile.oral_liquids:
        form, mg_per_ml = min(profile.oral_liquids, key=lambda liquid: liquid[1])
        volume = round(wanted_mg / mg_per_ml / VOLUME_STEP_ML) * VOLUME_STEP_ML
        volume = max(volume, math.ceil(lowest / mg_per_ml / VOLUME_STEP_ML - 1e-9) * VOLUME_STEP_ML)
        volume = min(
            volume, math.floor(highest / mg_per_ml / VOLUME_STEP_ML + 1e-9) * VOLUME_STEP_ML
        )
        volume = round(volume, 1)
        if volume * mg_per_ml < lowest * (1 - 1e-9):
            return None  # no measurable volume within the cap: the taper has reached its end
        if volume >= SMALLEST_VOLUME_ML:
            return volume * mg_per_ml, {
                "kind": "liquid",
                "description": f"{volume:.1f} mL of {form}, {mg_per_ml:g} mg/mL",
            }
    dose = float(f"{min(max(wanted_mg, lowest), highest):.2g}")
    return dose, {
        "kind": "compounded",
        "description": f"{dose:g} mg as a compounded liquid",
    }


def starting_formulation(profile, dose_mg: float, liquid_only: bool) -> dict:
    """How the dose taken now is taken: the marketed units that make it, else a volume."""
    made = None if liquid_only else smallest_dose_from_strengths(dose_mg, unit_pieces(profile))
    if made is not None and made[0] <= dose_mg * (1 + 1e-9):
        return _units_formulation(profile, made[1])
    if profile.oral_liquids:
        form, mg_per_ml = min(profile.oral_liquids, key=lambda liquid: liquid[1])
        return {
            "kind": "liquid",
            "description": f"{dose_mg / mg_per_ml:.1f} mL of {form}, {mg_per_ml:g} mg/mL",
        }
    return {"kind": "compounded", "description": f"{dose_mg:.3g} mg as a compounded liquid"}


def _units_formulation(profile, units: tuple[float, ...]) -> dict:
    split = [u for u in units if u not in profile.strengths_mg]
    parts = [f"{u:g} mg" for u in units if u in profile.strengths_mg]
    parts += [f"half a {2 * u:g} mg" for u in split]
    return {
        "kind": "split tablet" if split else "tablet",
        "description": f"{' + '.join(parts)} {profile.dose_form}",
    }


def formulation_change(profile, kind: str) -> str:
    """What a step says when it leaves the patient's marketed units for a liquid."""
    what = "the marketed units make no dose this small"
    if modified_release(profile):
        what += (
            f"; unlike the {profile.dose_form}, the liquid is immediate-release: the day's "
            "dose may need dividing as its label says"
        )
    to = "the oral liquid" if kind == "liquid" else "a compounded liquid"
    return f"changes from the {profile.dose_form} to {to}: {what}"
