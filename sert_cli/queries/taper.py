"""A taper (docs/model.md section 18): equal steps of SERT occupancy (Horowitz & Taylor,
Lancet Psychiatry 2019), so the doses fall hyperbolically, down to doses far below the
smallest tablet; or NICE NG222's proportional reductions (each step a fixed fraction of
the last). Each step's dose is the engine's own dose for that occupancy, and how to take
it comes from the profile's marketed forms: whole or scored tablets, or a volume of the
marketed oral liquid; where neither makes the dose, a compounded liquid is named.
"""

import math

from sert_cli.errors import InputError
from sert_cli.pk.dosing import smallest_dose_from_strengths
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
    """How to take a dose per administration: tablets (whole or halves of scored ones),
    else the marketed liquid's volume, else a compounded liquid."""
    if not liquid_only:
        halves = tuple(s / 2 for s in profile.scored_mg)
        pieces = tuple(sorted({*profile.strengths_mg, *halves}))
        made = smallest_dose_from_strengths(dose_mg, pieces)
        if made is not None and made[0] <= dose_mg * (1 + TABLET_TOLERANCE):
            parts = " + ".join(
                f"half a {2 * u:g} mg tablet"
                if u in halves and u not in profile.strengths_mg
                else f"{u:g} mg tablet"
                for u in made[1]
            )
            kind = "split tablet" if any(u in halves for u in made[1]) else "tablet"
            return {"kind": kind, "description": parts, "dose_mg": made[0]}
    for form, mg_per_ml in profile.oral_liquids:
        volume = dose_mg / mg_per_ml
        return {
            "kind": "liquid",
            "description": f"{volume:.2f} mL of the {mg_per_ml:g} mg/mL oral {form}",
            "dose_mg": dose_mg,
        }
    return {
        "kind": "compounded",
        "description": f"{dose_mg:.3g} mg as a compounded liquid",
        "dose_mg": dose_mg,
    }
