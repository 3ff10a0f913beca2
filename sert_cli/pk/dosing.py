"""Doses as a patient takes them: whole units of the marketed strengths, the label's
range, and the doses a table shows."""

import functools
from math import ceil, gcd, inf, isfinite

from sert_cli.errors import InputError
from sert_cli.model.profile import Profile
from sert_cli.units import percent
from sert_cli.vocabulary import HOURS_PER_DAY

# Beyond this many units of the smallest strength a "recommended dose" means nothing.
MAX_UNITS_PER_DOSE = 1000
MAX_SEARCH_STEPS = 200_000
RELATIVE_SLACK = 1e-9


def smallest_dose_from_strengths(
    dose_mg: float, strengths_mg: tuple[float, ...]
) -> tuple[float, tuple[float, ...]] | None:
    """Smallest sum of whole units of the marketed strengths that is >= dose_mg, made
    with the fewest units; None when it would take more than MAX_UNITS_PER_DOSE units."""
    step, sizes = _unit_sizes(strengths_mg)
    return _smallest_units(ceil(dose_mg * 1000 / step - 1e-9), step, sizes)


@functools.cache
def _unit_sizes(strengths_mg: tuple[float, ...]) -> tuple[int, tuple[int, ...]]:
    """(step, sizes): the strengths' common step in micrograms, and each strength in steps,
    largest first."""
    micrograms = [round(s * 1000) for s in strengths_mg]
    step = 0
    for m in micrograms:
        step = gcd(step, m)
    return step, tuple(sorted({m // step for m in micrograms}, reverse=True))


@functools.lru_cache(maxsize=1 << 12)
def _smallest_units(
    need: int, step: int, sizes: tuple[int, ...]
) -> tuple[float, tuple[float, ...]] | None:
    """The smallest_dose_from_strengths of `need` steps (doses round to whole steps, so a
    batch of many doses asks for few of these)."""
    if need > MAX_UNITS_PER_DOSE * sizes[-1]:
        return None
    limit = need + sizes[0]
    if limit > MAX_SEARCH_STEPS:  # strengths with no common step: whole units of one strength
        total, size = min((ceil(need / s) * s, -s) for s in sizes)
        units = (-size * step / 1000,) * (total // -size)
        return total * step / 1000, units
    fewest: list[tuple[int, ...] | None] = [None] * (limit + 1)
    fewest[0] = ()
    for total in range(1, limit + 1):
        best = None
        for size in sizes:
            if size <= total and fewest[total - size] is not None:
                candidate = fewest[total - size] + (size,)
                if best is None or len(candidate) < len(best):
                    best = candidate
        fewest[total] = best
        if total >= need and best is not None:
            return total * step / 1000, tuple(sorted((u * step / 1000 for u in best), reverse=True))
    return None


def largest_dose_below(
    dose_mg: float, strengths_mg: tuple[float, ...]
) -> tuple[float, tuple[float, ...]] | None:
    """The largest sum of whole units of the strengths that is < dose_mg (fewest units),
    or None below the smallest strength."""
    step_mg = _unit_sizes(strengths_mg)[0]  # (in micrograms)
    below = ceil(dose_mg * 1000 / step_mg - 1e-9) * step_mg / 1000 - step_mg / 1000
    while below >= min(strengths_mg) * (1 - RELATIVE_SLACK):
        made = smallest_dose_from_strengths(below, strengths_mg)
        if made is not None and made[0] < dose_mg * (1 - RELATIVE_SLACK):
            return made
        below -= step_mg / 1000
    return None


# A dose taken now beyond this multiple of the label maximum is a typo, not a patient.
ABSURD_LABEL_MULTIPLE = 10


def check_dose_taken_now(profile: Profile, dose_mg: float, interval_h: float, field: str):
    """A taper or switch starts from the dose taken now: one beyond ten times the label is
    a typo (a unit, a digit), refused before anything is planned from it."""
    if dose_mg * per_day(interval_h) > ABSURD_LABEL_MULTIPLE * profile.label_range_max_mg:
        raise InputError(
            f"{dose_mg:g} mg every {interval_h:g} h is more than {ABSURD_LABEL_MULTIPLE:g} "
            f"times the label maximum of {profile.label_range_max_mg:g} mg/day: check the "
            "number and its unit",
            field=field,
        )


def label_cap_mg(profile: Profile, interval_h: float) -> float:
    """The patient's label maximum as a dose per administration (age, organ function,
    phenotype and interaction caps are already in profile.label_max_mg): a day's maximum
    shared over the day's doses, and never more than a day's maximum in one dose (an
    interval over 24 h does not let a dose grow past it)."""
    return profile.label_max_mg / max(per_day(interval_h), 1.0)


def dose_within_label(
    profile: Profile,
    dose_mg: float,
    interval_h: float,
    strengths_mg: tuple[float, ...],
    ceiling_mg: float = inf,
) -> tuple[float, tuple[float, ...]] | None:
    """What the strengths make for dose_mg without crossing the patient's label maximum
    (nor `ceiling_mg` per dose, e.g. the alert level's: alert_ceiling_mg): the smallest sum
    at or above dose_mg, or, where that sum is above the maximum, the largest at or below it
    (None when even the smallest unit is above it). A recommendation is made here, so none
    can exceed the label (issue: safe by construction)."""
    cap = min(label_cap_mg(profile, interval_h), ceiling_mg)
    if isfinite(dose_mg) and dose_mg <= cap * (1 + RELATIVE_SLACK):
        made = smallest_dose_from_strengths(dose_mg, strengths_mg)
        if made is not None and made[0] <= cap * (1 + RELATIVE_SLACK):
            return made
    # no more units than a recommendation can mean (MAX_UNITS_PER_DOSE)
    limit = min(cap, MAX_UNITS_PER_DOSE * min(strengths_mg))
    made = smallest_dose_from_strengths(limit, strengths_mg)
    if made is not None and made[0] <= limit * (1 + RELATIVE_SLACK):
        return made
    return largest_dose_below(limit, strengths_mg)


def unit_pieces(profile: Profile) -> tuple[float, ...]:
    """The doses one unit gives: a strength whole, or half of a tablet the label calls scored."""
    return tuple(sorted({*profile.strengths_mg, *(s / 2 for s in profile.scored_mg)}))


def unit_step_mg(pieces_mg: tuple[float, ...]) -> float:
    """The common step of the pieces: every practical dose is a multiple of it."""
    return _unit_sizes(pieces_mg)[0] / 1000


def nearest_practical_dose(dose_mg: float, pieces_mg: tuple[float, ...]) -> float:
    """The multiple of the pieces' common step nearest dose_mg, at least the smallest piece."""
    step = _unit_sizes(pieces_mg)[0]
    return max(min(pieces_mg), round(dose_mg * 1000 / step) * step / 1000)


def per_day(interval_h: float) -> float:
    return HOURS_PER_DAY / interval_h


def label_maximum_text(profile: Profile) -> str:
    text = f"the label maximum of {profile.label_max_mg:g} mg/day"
    return f"{text} ({profile.label_max_source})" if profile.label_max_source else text


def above_label(profile: Profile, daily_dose_mg: float) -> bool:
    return daily_dose_mg > profile.label_max_mg * (1 + RELATIVE_SLACK)


def below_label(profile: Profile, daily_dose_mg: float) -> bool:
    return daily_dose_mg < profile.label_min_mg * (1 - RELATIVE_SLACK)


def label_warnings(profile: Profile, daily_dose_mg: float, what: str) -> list[str]:
    if above_label(profile, daily_dose_mg):
        return [f"{what} {daily_dose_mg:.4g} mg/day is above {label_maximum_text(profile)}"]
    if below_label(profile, daily_dose_mg):
        return [
            f"{what} {daily_dose_mg:.4g} mg/day is below the label minimum of "
            f"{profile.label_min_mg:g} mg/day"
        ]
    return []


def shortfall_text(
    profile: Profile,
    target: float,
    transporter: str,
    exact_daily_mg: float | None,
    made: tuple[float, tuple[float, ...]] | None,
    occupancy: float | None,
    interval_h: float | None = None,
) -> str:
    """The one line that says a target is not reached within the label, and by how much
    (exact_daily_mg None: no dose reaches it, the target being above the drug's plateau)."""
    whole = abs(target * 100 - round(target * 100)) < 1e-9
    what = f"{target:.{0 if whole else 1}%} {transporter} occupancy is not reached within the label"
    exact = (
        f"no dose of {profile.name} reaches it (above its PET plateau)"
        if exact_daily_mg is None
        else f"the model's exact dose, {exact_daily_mg:.4g} mg/day, is not a recommendation"
    )
    if made is None or occupancy is None:
        return (
            f"{what}: no marketed strength fits within the label maximum of "
            f"{profile.label_max_mg:g} mg/day; {exact}"
        )
    daily = per_day(profile.interval_h if interval_h is None else interval_h)
    return (
        f"{what}: {made[0] * daily:g} mg/day, the most the marketed strengths make within "
        f"the label maximum of {profile.label_max_mg:g} mg/day, gives {percent(occupancy)}, "
        f"{max(round((target - occupancy) * 100), 1)} point(s) short; {exact}"
    )


def label_range_doses(profile: Profile, max_rows: int = 12) -> tuple[float, ...]:
    """Doses per interval the marketed strengths make within the label range: the patient's
    maximum (a lower label maximum for a phenotype) is reported, not used to cut rows."""
    daily = per_day(profile.interval_h)
    low, high = profile.label_min_mg / daily, profile.label_range_max_mg / daily
    doses, dose = [], low
    while dose <= high * (1 + RELATIVE_SLACK):
        made = smallest_dose_from_strengths(dose, profile.strengths_mg)
        if made is None or made[0] > high * (1 + RELATIVE_SLACK):
            break
        doses.append(made[0])
        dose = made[0] + 1e-6
    if len(doses) > max_rows:
        picks = {round(i * (len(doses) - 1) / (max_rows - 1)) for i in range(max_rows)}
        doses = [d for i, d in enumerate(doses) if i in picks]
    return tuple(doses) or (low,)
