"""A switch (docs/model.md section 19): the dose of the new drug at the old one's SERT
occupancy, on the one PET scale both use, and the days of the change, where the two drugs
compete for the same sites (section 4) while each follows its own kinetics.
"""

import math

import numpy as np

from sert_cli.errors import InputError
from sert_cli.pk import formulas
from sert_cli.pk.dosing import nearest_practical_dose
from sert_cli.pk.steady_state import transporter_loads
from sert_cli.pk.timecourse import Regimen, dose_events, event_levels
from sert_cli.vocabulary import HOURS_PER_DAY, TRANSPORTERS

STRATEGIES = ("direct", "cross-taper", "washout")
DEFAULT_STRATEGY = "cross-taper"
DEFAULT_CROSS_TAPER_DAYS = 14
DAYS_PER_STEP = 7  # a cross-taper changes both doses once a week
HALF_LIVES_TO_WASH_OUT = 5  # about 97 % of the old drug gone
HISTORY_HALF_LIVES = 10  # the old drug's doses before day 0: its steady state
SETTLE_HALF_LIVES = 5  # the schedule runs on until the new drug has settled
MAX_DAYS = 366


def check(strategy: str, days: int | None) -> None:
    if strategy not in STRATEGIES:
        raise InputError(f"must be one of {', '.join(STRATEGIES)}", field="strategy")
    if days is not None and not 1 <= days <= 180:
        raise InputError("must be a whole number of days from 1 to 180", field="days")


def slowest_moiety(profile, phenotypes) -> tuple[str, float]:
    """(name, half-life in h) of the moiety that leaves last."""
    regimen = Regimen(profile, 1.0, profile.interval_h, phenotypes)
    rates = regimen.elimination_rates()
    slowest = min(range(len(rates)), key=rates.__getitem__)
    return profile.moieties[slowest].name, math.log(2) / rates[slowest]


def washout_days(half_life_h: float) -> int:
    return math.ceil(HALF_LIVES_TO_WASH_OUT * half_life_h / HOURS_PER_DAY)


def plan(strategy: str, days: int, from_dose_mg, to_dose_mg, from_pieces, to_pieces):
    """Day-long steps (from_dose_mg, to_dose_mg, days) of the switch, from day 0: direct
    (the new drug at once), washout (nothing for `days`, then the new drug) or cross-taper
    (weekly steps, the old dose falling and the new one rising in equal fractions)."""
    if strategy == "direct":
        return [(0.0, to_dose_mg, days)]
    if strategy == "washout":
        return [(0.0, 0.0, days), (0.0, to_dose_mg, 1)]
    count = max(1, round(days / DAYS_PER_STEP))
    bounds = [round(days * i / count) for i in range(count + 1)]
    steps = []
    for i in range(1, count + 1):
        share = i / (count + 1)
        old = from_dose_mg * (1 - share)
        steps.append(
            (
                nearest_practical_dose(old, from_pieces),
                nearest_practical_dose(to_dose_mg * share, to_pieces),
                bounds[i] - bounds[i - 1],
            )
        )
    return [*steps, (0.0, to_dose_mg, 1)]


def daily_doses(steps, total_days: int) -> tuple[list[float], list[float]]:
    """Each day's dose of each drug; the last step lasts to the end."""
    old, new = [], []
    for from_mg, to_mg, days in steps:
        old += [from_mg] * days
        new += [to_mg] * days
    old += [steps[-1][0]] * (total_days - len(old))
    new += [steps[-1][1]] * (total_days - len(new))
    return old[:total_days], new[:total_days]


def loads_over_time(profile, phenotypes, t_h, doses_by_day, interval_h, history=(0.0, 0)):
    """Each transporter's load from one drug over t_h: its doses day by day, after
    history = (dose_mg, days) before day 0 (the steady state it starts from)."""
    history_mg, history_days = history
    steps = [(history_mg, history_days, interval_h)] if history_days else []
    steps += [(dose, 1, interval_h) for dose in doses_by_day]
    times, amounts = dose_events(steps)
    times = times - history_days * HOURS_PER_DAY
    given = amounts > 0
    if not given.any():
        return {}
    levels = event_levels(profile, phenotypes, t_h, times[given], amounts[given])
    return transporter_loads(profile, levels)


def combined_occupancy(profiles_and_loads) -> dict[str, np.ndarray | None]:
    """theta = sum_i Emax_i * x_i / (1 + sum_j x_j) over both drugs (section 4)."""
    out = {}
    for transporter in TRANSPORTERS:
        present = [
            (p, loads[transporter]) for p, loads in profiles_and_loads if transporter in loads
        ]
        if not present:
            out[transporter] = None
            continue
        total = sum(load for _, load in present)
        out[transporter] = sum(
            formulas.ligand_share(load, total, p.emax.get(transporter, 1.0)) for p, load in present
        )
    return out
