"""A switch (docs/model.md section 19): the dose of the new drug at the old one's SERT
occupancy, on the one PET scale both use, and the days of the change, where the two drugs
compete for the same sites (section 4) while each follows its own kinetics.
"""

import math

import numpy as np

from sert_cli.errors import InputError, ModelError
from sert_cli.model import formulas
from sert_cli.pgx.patient import Prepared, advised_against
from sert_cli.pk.dosing import (
    above_label,
    check_dose_taken_now,
    dose_within_label,
    label_cap_mg,
    nearest_practical_dose,
    per_day,
    shortfall_text,
    unit_pieces,
    unit_step_mg,
)
from sert_cli.pk.steady_state import transporter_loads
from sert_cli.pk.timecourse import MAX_DOSES, Regimen, dose_events, event_levels
from sert_cli.queries.levels import level_ceiling_text, level_ceilings_mg, shortfall_words
from sert_cli.queries.results import SwitchResult, at
from sert_cli.queries.values import DoseQuery, OccupancyQuery, positive
from sert_cli.trace import Step, model_section
from sert_cli.units import percent
from sert_cli.vocabulary import HOURS_PER_DAY, PRIMARY_TRANSPORTER, TRANSPORTERS

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
# A day's SERT occupancy more than this many points above both the starting and the matched
# level is an overshoot, warned with its day and peak.
OVERSHOOT_POINTS = 1.0


def check(strategy: str | None, days: int | None) -> None:
    if strategy is not None and strategy not in STRATEGIES:
        raise InputError(f"must be one of {', '.join(STRATEGIES)}", field="strategy")
    if days is not None and not 1 <= days <= 180:
        raise InputError("must be a whole number of days from 1 to 180", field="days")
    if days is not None and strategy == "direct":
        raise InputError(
            "a direct switch has no length: the days are those of a cross-taper or a washout",
            field="days",
        )


def check_doses(name: str, days: int, interval_h: float) -> None:
    """A plan simulates every dose of `days` days one by one (dose_events): refused before
    any is built where there would be more than the time course computes."""
    count = days * max(1, math.ceil(HOURS_PER_DAY / interval_h - 1e-9))
    if count > MAX_DOSES:
        raise ModelError(
            f"the switch would simulate {count:,} doses of {name} ({days:,} days, a dose every "
            f"{interval_h:g} h); at most {MAX_DOSES:,}: the model cannot plan it"
        )


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
    doses, dose = [], min(pieces_mg)  # a multiple of the step: the step is their gcd
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


def exposure_ratios(engine, drug: str, dose_mg: float, patient, perpetrator: str, affinity):
    """Each moiety's exposure ratio of `drug` with the old drug at its steady state, by
    the enzyme arithmetic `sert occupancy --with` uses; None where it changes nothing
    (the old drug is no known perpetrator, or already a co-medication)."""
    from sert_cli.pgx.patient import known_comedications

    if perpetrator not in known_comedications() or perpetrator in patient.comedications:
        return None
    both = patient._replace(comedications=(*patient.comedications, perpetrator))
    alone = engine.answer(OccupancyQuery(drug, dose_mg, patient=patient, affinity=affinity))
    with_it = engine.answer(OccupancyQuery(drug, dose_mg, patient=both, affinity=affinity))
    ratios = tuple(
        w.css_plasma_ng_ml / a.css_plasma_ng_ml
        for w, a in zip(with_it.moiety_levels(), alone.moiety_levels(), strict=True)
    )
    if all(abs(r - 1) < 0.05 for r in ratios):
        return None
    genes = ", ".join(with_it.prepared.functional_phenotypes) or "its enzymes"
    return ratios, genes, with_it.prepared.profile


def plan_switch(engine, query, prepared: Prepared, interval: float) -> SwitchResult:
    """The switch query's answer (the engine dispatches here). The new drug's dose at the
    old one's SERT occupancy (the dose query's own inverse, within the new drug's label
    maximum), then the days of the change with both drugs competing for the sites, the old
    one's inhibition of the new one's enzymes included, and the new dose held while the
    old drug remains."""

    check(query.strategy, query.days)
    patient, affinity = query.patient, query.affinity
    target = engine.prepared(query.to_drug, affinity, patient)
    new = target.profile
    if new.name == prepared.profile.name:
        raise InputError(f"{new.name} is the drug taken now: nothing to switch", field="to_drug")
    if target.avoid:
        raise ModelError(
            f"no switch to {new.name}: the label says to avoid it for this patient: "
            + "; ".join(target.avoid),
            field="patient",
        )
    if advised_against(target.guidance):
        raise ModelError(
            f"no switch to {new.name}: the guideline advises against it for this patient: "
            + "; ".join(advised_against(target.guidance)),
            field="patient",
        )
    own = own_patient(patient, prepared.profile, new)
    if own != patient:
        prepared = engine.prepared(query.drug, affinity, own)
    old = prepared.profile
    dose = positive(query.dose_mg, "dose_mg", "mg")
    check_dose_taken_now(old, dose, interval, "dose_mg")
    before = engine.answer(
        OccupancyQuery(query.drug, dose, interval_h=interval, patient=own, affinity=affinity)
    )
    theta = before.occupancy[PRIMARY_TRANSPORTER]
    pieces = unit_pieces(new)
    warnings = list(prepared.warnings) + [w for w in target.warnings if w not in prepared.warnings]
    try:
        exact = engine.answer(
            DoseQuery(
                drug=query.to_drug,
                target=theta,
                transporter=PRIMARY_TRANSPORTER,
                patient=patient,
                affinity=affinity,
            )
        ).dose_mg
    except ModelError:  # theta at or above the new drug's plateau
        exact = None
    # as `dose` recommends: the smallest the pieces make at or above the equivalent,
    # never above the new drug's label maximum for this patient, nor a dose whose expected
    # level passes the top of its reference range (docs/model.md section 5)
    ceiling = level_ceilings_mg([target], new.interval_h)[0]
    held_by_range = ceiling < label_cap_mg(new, new.interval_h)
    cap = min(label_cap_mg(new, new.interval_h), ceiling)
    made = dose_within_label(
        new, math.inf if exact is None else exact, new.interval_h, pieces, ceiling
    )
    if made is None:
        raise ModelError(
            f"no marketed strength of {new.name} fits within its label maximum of "
            f"{new.label_max_mg:g} mg/day for this patient",
            field="patient",
        )
    practical, units = made
    after = engine.answer(
        OccupancyQuery(query.to_drug, practical, patient=patient, affinity=affinity)
    )
    matched = after.occupancy[PRIMARY_TRANSPORTER]
    matched_within_label = matched >= theta - 1e-12
    range_held = held_by_range and (exact is None or exact > ceiling * (1 + 1e-9))
    if range_held:
        warnings.append(
            level_ceiling_text(new, ceiling, new.interval_h, made)
            + ("" if matched_within_label else shortfall_words(theta, PRIMARY_TRANSPORTER, matched))
        )
    elif not matched_within_label:
        warnings.append(
            shortfall_text(
                new,
                theta,
                PRIMARY_TRANSPORTER,
                None if exact is None else exact * per_day(new.interval_h),
                made,
                matched,
            )
        )

    slow_name, slow_h = slowest_moiety(old, prepared.phenotypes)
    history = (dose, math.ceil(HISTORY_HALF_LIVES * slow_h / HOURS_PER_DAY))
    check_doses(old.name, history[1] + MAX_DAYS, interval)
    check_doses(new.name, MAX_DAYS, new.interval_h)
    # how long the old drug stays once stopped: the default plan follows it
    stopped = MAX_DAYS
    stop_times = np.concatenate(([-1e-6], (np.arange(stopped) + 1.0) * HOURS_PER_DAY - 1e-6))
    stop_levels = levels_over_time(
        old, prepared.phenotypes, stop_times, [0.0] * stopped, interval, history
    )
    # the washout: the days until the old drug (its latest moiety) is under 3 % of its
    # steady-state level, as simulated (a saturable drug or a late metabolite is not
    # five of its linear half-lives)
    wash_days = days_present(presence(stop_levels))
    strategy = query.strategy or default_strategy(wash_days)
    if query.days is not None and strategy == "direct":
        raise InputError(
            f"the plan for {old.name}, which stays {wash_days} days once stopped, is a direct "
            "switch, which has no length: choose the cross-taper or the washout strategy to "
            "set its days",
            field="days",
        )
    days = query.days or (wash_days if strategy == "washout" else DEFAULT_CROSS_TAPER_DAYS)
    old_cap = label_cap_mg(old, interval)
    if above_label(old, dose * per_day(interval)):
        warnings.append(
            f"the dose taken now, {dose * per_day(interval):g} mg/day, is above this "
            f"patient's label maximum of {old.label_max_mg:g} mg/day: the plan's doses of "
            f"{old.name} stay within it"
        )
    steps = plan(strategy, days, min(dose, old_cap), practical, unit_pieces(old), pieces)
    _, new_slow_h = slowest_moiety(new, target.phenotypes)
    settle_days = math.ceil(SETTLE_HALF_LIVES * new_slow_h / HOURS_PER_DAY)
    changes = sum(d for _, _, d in steps[:-1])

    def old_course(days_shown: int):
        """The old drug's daily doses, the new one's planned doses, the times (the
        first just before day 0: the old steady state, for presence) and old levels."""
        old_doses, planned = daily_doses(steps, days_shown)
        times_h = np.concatenate(([-1e-6], (np.arange(days_shown) + 1.0) * HOURS_PER_DAY - 1e-6))
        levels = levels_over_time(old, prepared.phenotypes, times_h, old_doses, interval, history)
        return old_doses, planned, times_h, levels

    # on to the new drug's own steady state once the old drug has gone (its inhibition,
    # and the hold, last until then; a metabolite formed late, norfluoxetine, lags the
    # washout of 5 half-lives)
    horizon = min(MAX_DAYS, 2 * max(changes, wash_days) + settle_days + 1)
    present = presence(old_course(horizon)[3])
    gone = days_present(present, horizon)
    total_days = min(MAX_DAYS, max(changes, gone) + settle_days + 1)
    old_doses, planned, times_h, old_levels = old_course(total_days)
    old_loads = transporter_loads(old, old_levels) if old_levels else {}
    present = presence(old_levels)
    interaction = exposure_ratios(engine, query.to_drug, practical, patient, old.name, affinity)
    ratios = None if interaction is None else interaction[0]
    # the new drug's label cap while the old one inhibits its enzymes (citalopram with a
    # CYP2C19 inhibitor: 20 mg/day), and its own cap once the old drug has gone
    cap_with = cap if interaction is None else label_cap_mg(interaction[2], new.interval_h)
    caps = [cap_with if p > PRESENT_FRACTION else cap for p in present[1:]]

    def new_loads_over(new_doses):
        new_levels = with_interaction(
            levels_over_time(new, target.phenotypes, times_h, new_doses, new.interval_h),
            ratios,
            present,
        )
        return transporter_loads(new, new_levels) if new_levels else {}

    def sert_load(new_doses):
        new_load = new_loads_over(new_doses).get(PRIMARY_TRANSPORTER, 0.0)
        return (old_loads[PRIMARY_TRANSPORTER] + new_load)[1:]

    ceiling = max(
        old_loads[PRIMARY_TRANSPORTER][0],
        at(after.state.loads[PRIMARY_TRANSPORTER], after.index),
    ) * (1 + OVERLAP_ALLOWANCE)
    new_doses, held = hold_within(
        planned, ceiling, sert_load, practical_doses(practical, pieces), caps
    )
    combined = {
        t: (None if v is None else v[1:])
        for t, v in combined_occupancy(((old, old_loads), (new, new_loads_over(new_doses)))).items()
    }
    for values in combined.values():
        if values is not None and not np.isfinite(values).all():
            raise ModelError("the switch gave values too large to represent")
    schedule = [
        {
            "day": day,
            "from_dose_mg": old_doses[day],
            "to_dose_mg": new_doses[day],
            "from_daily_dose_mg": old_doses[day] * per_day(interval),
            "to_daily_dose_mg": new_doses[day] * per_day(new.interval_h),
            "occupancy": {t: (None if v is None else float(v[day])) for t, v in combined.items()},
        }
        for day in range(total_days)
    ]
    sert = combined[PRIMARY_TRANSPORTER]
    peak_day = int(np.argmax(sert))
    who = old.name if slow_name == old.name else f"{old.name} ({slow_name})"
    notes = [
        f"washout: {wash_days} days after the last dose, until {who} is under "
        f"{percent(PRESENT_FRACTION)} of its steady-state level",
        "occupancy is at trough, just before the next day's doses; the two drugs compete "
        "for the same sites (docs/model.md section 4)",
    ]
    if query.strategy is None and strategy == "direct":
        how = (
            f"starts {new.name} low, raising it as {old.name} leaves"
            if new_doses[0] < practical
            else f"starts {new.name} at its dose, which the two together allow"
        )
        notes.append(
            f"{old.name} stays for weeks after the last dose: the plan stops it on day 0 "
            f"and {how} (--strategy washout waits {wash_days} days instead)"
        )
    if interaction is not None:
        notes.append(
            f"while {old.name} is present it inhibits {interaction[1]}: {new.name}'s level "
            f"is up to x{max(ratios, key=lambda r: abs(r - 1)):.2f} (as `sert occupancy "
            f"{new.name} --with {old.name}` computes), fading as {old.name}'s level falls; "
            "the schedule's doses and occupancies include it"
        )
    if held:
        reached = next((d for d in range(total_days) if new_doses[d] >= practical - 1e-9), None)
        notes.append(
            f"while {old.name} remains, {new.name} is held below the planned dose: the two "
            f"together bind SERT at most {percent(OVERLAP_ALLOWANCE)} more than the "
            "larger of either alone (their summed load; near the plateau occupancy alone "
            "would hide it)"
            + (
                f", and within {cap_with * per_day(new.interval_h):g} mg/day, {new.name}'s "
                f"label maximum with an inhibitor of {interaction[1]}"
                if cap_with < cap
                else ""
            )
            + (
                f"; it reaches {practical:g} mg on day {reached}"
                if reached is not None
                else f"; it is still below {practical:g} mg on the last day shown"
            )
        )
    if strategy == "washout":
        left = schedule[days - 1]["occupancy"][PRIMARY_TRANSPORTER]
        notes.append(
            f"on the last day of the washout {old.name} still occupies {percent(left)} of SERT "
            "(occupancy falls more slowly than the level near the plateau)"
        )
    overshoot = float(sert[peak_day]) - max(theta, matched)
    if overshoot > OVERSHOOT_POINTS / 100:
        warnings.append(
            f"while both drugs are taken SERT occupancy peaks at {percent(sert[peak_day])} on day "
            f"{peak_day}, above either drug alone: watch for serotonergic adverse effects"
        )
    fields = {
        "from": {
            "drug": old.name,
            "dose_mg": dose,
            "interval_h": interval,
            "daily_dose_mg": dose * per_day(interval),
            "occupancy": dict(before.occupancy),
            "affinity": dict(old.affinity),
            "phenotypes": dict(prepared.phenotypes),
            "guidance": list(prepared.guidance),
        },
        "to": {
            "drug": new.name,
            "equivalent_dose_mg": exact,
            "recommended_dose_mg": practical,
            "recommended_daily_dose_mg": practical * per_day(new.interval_h),
            "recommended_units_mg": list(units),
            "occupancy_at_recommended": dict(after.occupancy),
            "target_reached": matched_within_label,
            "held_by": "reference range" if range_held else "label maximum",
            "label_max_mg": new.label_max_mg,
            "interval_h": new.interval_h,
            "affinity": dict(new.affinity),
            "phenotypes": dict(target.phenotypes),
            "guidance": list(target.guidance),
        },
        "strategy": strategy,
        "days": days,
        "washout_days": wash_days,
        "exposure_ratio_with_old_drug": None if ratios is None else list(ratios),
        "overlap_ceiling_load": ceiling,
        "peak_occupancy": {"SERT": float(sert[peak_day]), "day": peak_day},
        # the peak above both the starting and the matched occupancy (warned), else null
        "overshoot": {
            "day": peak_day,
            "SERT": float(sert[peak_day]),
            "points_above_both": 100 * overshoot,
        }
        if overshoot > OVERSHOOT_POINTS / 100
        else None,
        "schedule": schedule,
    }
    step = Step(
        name="switch",
        formula="to dose for theta_from; theta(t) = sum_i Emax_i x_i(t) / (1 + sum_j x_j(t)); "
        "new levels x (1 + (r - 1) * presence of the old drug); new dose held so that "
        "theta(t) <= max(theta_from, theta_to) + 1 point",
        values=(("SERT occupancy matched", theta, ""), ("days", total_days, "d")),
        source=model_section(19),
    )
    return SwitchResult(
        query=query,
        prepared=target,
        from_prepared=prepared,
        fields=fields,
        warnings=tuple(warnings),
        notes_=tuple(notes),
        steps=(step,),
    )
