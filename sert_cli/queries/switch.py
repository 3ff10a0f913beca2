"""A switch (docs/model.md section 19): the dose of the new drug at the old one's SERT
occupancy, on the one PET scale both use, and the days of the change, where the two drugs
compete for the same sites (section 4) while each follows its own kinetics.
"""

import math

import numpy as np

from sert_cli.errors import InputError
from sert_cli.pk import formulas
from sert_cli.pk.dosing import nearest_practical_dose, unit_step_mg
from sert_cli.pk.timecourse import Regimen, dose_events, event_levels
from sert_cli.vocabulary import HOURS_PER_DAY, TRANSPORTERS

STRATEGIES = ("direct", "cross-taper", "washout")
DEFAULT_CROSS_TAPER_DAYS = 14
# An old drug that takes longer than this to wash out is stopped, not cross-tapered: the new
# one starts low and rises as the old one leaves (the default plan then follows the washout
# the output itself asks for).
LONG_WASHOUT_DAYS = 14
DAYS_PER_STEP = 7  # a cross-taper changes both doses once a week
HISTORY_HALF_LIVES = 10  # the old drug's doses before day 0: its steady state
SETTLE_HALF_LIVES = 5  # the schedule runs on until the new drug has settled
MAX_DAYS = 366
# While both drugs are present the new drug's dose is held so that the two together bind
# SERT no more than the larger of either alone at its own dose (their summed load, C/K: near
# the PET plateau occupancy hides a doubled exposure), give or take 10 %.
OVERLAP_ALLOWANCE = 0.10
# The old drug counts as present (its inhibition, and the label cap that comes with it)
# until this fraction of its steady-state level is left: the 5 half-lives of the washout.
PRESENT_FRACTION = 0.03


def check(strategy: str | None, days: int | None) -> None:
    if strategy is not None and strategy not in STRATEGIES:
        raise InputError(f"must be one of {', '.join(STRATEGIES)}", field="strategy")
    if days is not None and not 1 <= days <= 180:
        raise InputError("must be a whole number of days from 1 to 180", field="days")


def default_strategy(stays_days: int) -> str:
    """A cross-taper, unless the old drug, once stopped, stays for weeks: then it is
    stopped and the new one starts as low as the hold below requires."""
    return "direct" if stays_days > LONG_WASHOUT_DAYS else "cross-taper"


def days_present(present, horizon: int | None = None) -> int:
    """The first day on which the old drug is below PRESENT_FRACTION of its steady state
    (present[0] is just before day 0); horizon (or the days given) if never."""
    gone = (d for d, p in enumerate(present[1:]) if p <= PRESENT_FRACTION)
    return next(gone, len(present) - 1 if horizon is None else horizon)


def own_patient(patient, old_profile, new_profile):
    """The patient as the old drug sees it: without the genes only the new drug uses (the
    old drug's "not used" warning for them would contradict the plan)."""

    def keep(pairs):
        return tuple(
            (gene, value)
            for gene, value in pairs
            if str(gene).strip().upper() in old_profile.genes
            or str(gene).strip().upper() not in new_profile.genes
        )

    return patient._replace(phenotypes=keep(patient.phenotypes), genotypes=keep(patient.genotypes))


def slowest_moiety(profile, phenotypes) -> tuple[str, float]:
    """(name, half-life in h) of the moiety that leaves last."""
    regimen = Regimen(profile, 1.0, profile.interval_h, phenotypes)
    rates = regimen.elimination_rates()
    slowest = min(range(len(rates)), key=rates.__getitem__)
    return profile.moieties[slowest].name, math.log(2) / rates[slowest]


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
                # never above the dose taken now (rounding up a small dose would raise it)
                min(nearest_practical_dose(old, from_pieces), from_dose_mg),
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


def levels_over_time(profile, phenotypes, t_h, doses_by_day, interval_h, history=(0.0, 0)):
    """Each moiety's levels from one drug over t_h: its doses day by day, after
    history = (dose_mg, days) before day 0 (the steady state it starts from); None when
    no dose is given."""
    history_mg, history_days = history
    steps = [(history_mg, history_days, interval_h)] if history_days else []
    steps += [(dose, 1, interval_h) for dose in doses_by_day]
    times, amounts = dose_events(steps)
    times = times - history_days * HOURS_PER_DAY
    given = amounts > 0
    if not given.any():
        return None
    return event_levels(profile, phenotypes, t_h, times[given], amounts[given])


def presence(levels) -> np.ndarray:
    """How much of the old drug is left, as a fraction of its level at the first time
    (its steady state): the largest over its moieties, so an inhibition lasts as long as
    its longest-lived inhibitor (norfluoxetine after fluoxetine)."""
    if levels is None:
        return None
    fractions = [
        np.asarray(lv.css_plasma_nm) / max(float(np.asarray(lv.css_plasma_nm)[0]), 1e-300)
        for lv in levels
    ]
    return np.clip(np.max(fractions, axis=0), 0.0, 1.0)


def with_interaction(levels, ratios, present):
    """The new drug's levels while the old drug inhibits (or induces) its enzymes: each
    moiety's exposure ratio with the old drug at steady state (the `--with` arithmetic),
    scaled by how much of the old drug is left: r(t) = 1 + (r - 1) * presence(t)."""
    if levels is None or ratios is None or present is None:
        return levels
    scaled = []
    for lv, ratio in zip(levels, ratios, strict=True):
        factor = 1.0 + (ratio - 1.0) * present
        scaled.append(lv._replace(**{f: getattr(lv, f) * factor for f in CONCENTRATIONS}))
    return scaled


CONCENTRATIONS = ("css_plasma_ng_ml", "css_plasma_nm", "cu_plasma_nm", "cu_brain_nm")


def practical_doses(goal_mg: float, pieces_mg: tuple[float, ...]) -> list[float]:
    """The doses the pieces make from the smallest piece up to goal_mg, ascending."""
    unit = unit_step_mg(pieces_mg)
    doses, dose = [], nearest_practical_dose(min(pieces_mg), pieces_mg)
    while dose <= goal_mg * (1 + 1e-9):
        doses.append(dose)
        dose = round((dose + unit) * 1000) / 1000
    return doses or [goal_mg]


def hold_within(planned, ceiling: float, load_of, doses: list[float], caps_mg):
    """The planned doses of the new drug, lowered where needed: a week at a time (or a run
    of equal planned doses, if shorter), the largest of the practical `doses` (ascending)
    not above the plan nor above that week's label cap (caps_mg, day by day: lower while
    the old drug's inhibition lasts) that keeps the two drugs' summed SERT load on those
    days at or below `ceiling`; 0 while even the smallest piece would not fit. Once
    started, the new drug is never lowered again (a stop and restart is no plan).
    load_of(daily doses) is the summed load day by day. Returns (daily doses, whether any
    was lowered)."""
    chosen = [0.0] * len(planned)
    held = False
    start = 0
    while start < len(planned):
        end = start + 1
        while end < len(planned) and planned[end] == planned[start] and end - start < DAYS_PER_STEP:
            end += 1
        want = planned[start]
        started = max(chosen[:start], default=0.0)
        cap = min(caps_mg[start:end])
        if want > cap * (1 + 1e-9):
            held = True
            want = max((d for d in doses if d <= cap * (1 + 1e-9)), default=0.0)

        def fits(dose, start=start, end=end):
            trial = chosen[:start] + [dose] * (end - start)
            trial += [0.0] * (len(planned) - end)
            return float(np.max(load_of(trial)[start:end])) <= ceiling * (1 + 1e-12)

        if want > started and not fits(want):
            held = True
            options = [started, *(d for d in doses if started + 1e-9 < d < want - 1e-9)]
            low, high = 0, len(options) - 1  # options[0] stays whatever: 0, or what was started
            while low < high:
                middle = (low + high + 1) // 2
                if fits(options[middle]):
                    low = middle
                else:
                    high = middle - 1
            want = options[low]
        chosen[start:end] = [max(want, started)] * (end - start)
        start = end
    return chosen, held


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
