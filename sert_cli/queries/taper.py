"""A taper (docs/model.md section 18): equal steps of SERT occupancy (Horowitz & Taylor,
Lancet Psychiatry 2019), so the doses fall hyperbolically, down to doses far below the
smallest tablet; or NICE NG222's proportional reductions (each step a fixed fraction of
the last). Each step's dose is the engine's own dose for that occupancy, and how to take
it comes from the profile's marketed forms: whole or scored tablets, or a volume of the
marketed oral liquid; where neither makes the dose, a compounded liquid is named.
"""

import math

from sert_cli.errors import InputError
from sert_cli.pk.dosing import smallest_dose_from_strengths, unit_pieces
from sert_cli.vocabulary import HOURS_PER_DAY

DEFAULT_WEEKS = 2.0  # 2-4 weeks a step (Horowitz & Taylor 2019; NICE NG222 1.9)
HALF_LIVES_PER_STEP = 5  # never shorter: the step's level must settle
LAST_OCCUPANCY = 0.05  # taper until the occupancy is below this, then stop
MAX_STEPS = 40
TABLET_TOLERANCE = 0.02  # a tablet dose within 2 % of the step's dose makes it


def check(step_pp, fraction, weeks) -> None:
    if step_pp is not None and fraction is not None:
        raise InputError("give --step or --fraction, not both", field="fraction")
    if step_pp is not None and not 1 <= step_pp <= 40:
        raise InputError("must be between 1 and 40 percentage points", field="step_pp")
    if fraction is not None and not 0.05 <= fraction <= 0.75:
        raise InputError("must be a fraction between 0.05 and 0.75", field="fraction")
    if weeks is not None and not 0.5 <= weeks <= 52:
        raise InputError("must be between 0.5 and 52 weeks", field="weeks")


def step_days(profile, weeks: float | None, longest_half_life_h: float) -> float:
    """The step's length: the weeks asked (default 2), never under 5 half-lives."""
    wanted = (DEFAULT_WEEKS if weeks is None else weeks) * 7
    settle = HALF_LIVES_PER_STEP * longest_half_life_h / HOURS_PER_DAY
    return float(math.ceil(max(wanted, settle)))


def formulation(profile, dose_mg: float, liquid_only: bool) -> dict:
    """How to take a dose per administration: the marketed units (whole, or halves of
    scored tablets), else a volume of the most dilute marketed liquid (the most measurable
    volume), else a compounded liquid."""
    if not liquid_only:
        made = smallest_dose_from_strengths(dose_mg, unit_pieces(profile))
        if made is not None and made[0] <= dose_mg * (1 + TABLET_TOLERANCE):
            split = [u for u in made[1] if u not in profile.strengths_mg]
            parts = [f"{u:g} mg" for u in made[1] if u in profile.strengths_mg]
            parts += [f"half a {2 * u:g} mg" for u in split]
            return {
                "kind": "split tablet" if split else "tablet",
                "description": f"{' + '.join(parts)} {profile.dose_form}",
                "dose_mg": made[0],
            }
    if profile.oral_liquids:
        form, mg_per_ml = min(profile.oral_liquids, key=lambda liquid: liquid[1])
        return {
            "kind": "liquid",
            "description": f"{dose_mg / mg_per_ml:.2f} mL of {form}, {mg_per_ml:g} mg/mL",
            "dose_mg": dose_mg,
        }
    return {
        "kind": "compounded",
        "description": f"{dose_mg:.3g} mg as a compounded liquid",
        "dose_mg": dose_mg,
    }
