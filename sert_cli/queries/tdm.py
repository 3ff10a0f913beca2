"""Therapeutic drug monitoring (docs/model.md section 17): a measured plasma level read
against the model for this patient and dose.

The expected level is the steady-state level at the sampling time after a dose (the time
course of section 10, at steady state), of the parent or, where the reference range is of
the active moiety, of parent and metabolites together. Its 90 % range comes from the
profile's between-patient CV (section 14). The phenotypes consistent with the level are
those whose 90 % range holds it.
"""

import math

from sert_cli.errors import InputError, ModelError, SertError
from sert_cli.model import formulas
from sert_cli.pgx.patient import Prepared
from sert_cli.pk.dosing import above_label, label_warnings, per_day
from sert_cli.pk.steady_state import level_spread, moiety_clearance
from sert_cli.queries.results import TdmResult, source_of
from sert_cli.queries.values import TdmQuery, positive
from sert_cli.trace import Step, model_section
from sert_cli.units import percent
from sert_cli.vocabulary import GENES_WITH_RM, PHENOTYPES

# A level this far outside the expected one, relative, is worth a word.
LOW_RATIO, HIGH_RATIO = 0.5, 2.0
STEADY_HALF_LIVES = 10  # doses before the last one: its steady state
STOPPED_FRACTION = 0.03  # a washout sample below this fraction of the trough says nothing
MAX_HISTORY_DOSES = 10_000
MAX_HOURS_AFTER_DOSE = 24 * 365  # a sample a year after the last dose says nothing
MAX_LEVEL_NG_ML = 1e5  # beyond any level a laboratory reports (fatal overdoses included)


def check_level(level_ng_ml: float) -> float:
    if not 0 < level_ng_ml <= MAX_LEVEL_NG_ML:
        raise InputError(
            f"must be a plasma level above 0 and at most {MAX_LEVEL_NG_ML:g} ng/mL "
            "(check the number and its unit)",
            field="level",
        )
    return level_ng_ml


def expected(profile, phenotypes, dose_mg, interval_h, hours_after_dose):
    """(the level the model expects at that time, ng/mL, the transporter loads and the
    occupancies at the same time). Within one interval of the last dose: the steady state
    at that time after a dose. Later: a sample after doses stopped (or were missed), the
    washout from the steady state: its last dose, then nothing more, on the drug's own time
    course (a saturable drug leaves as its clearance changes with its level, not at its
    linear half-life)."""
    import numpy as np

    from sert_cli.pk.steady_state import transporter_loads
    from sert_cli.pk.timecourse import Regimen, occupancies

    regimen = Regimen(profile, dose_mg, interval_h, phenotypes)
    if hours_after_dose <= interval_h:
        # the time asked, then the steady-state interval (for its peak)
        grid = np.linspace(0.0, interval_h, 65)
        times = np.concatenate(([hours_after_dose % interval_h], grid))
        every = regimen.levels(times, None)
        reference = max(_reported(profile, every, i) for i in range(1, len(times)))
        against = "the steady-state peak"
    else:
        if not profile.parent.saturable:
            # a linear drug's steady state read past its interval is the washout itself: the
            # sum over every earlier dose, exactly (the trough at one interval)
            every = regimen.levels(np.array([hours_after_dose, interval_h]), None)
        else:  # its steady state's doses, then none, integrated
            slowest_h = math.log(2) / min(regimen.elimination_rates())
            doses = min(
                MAX_HISTORY_DOSES, math.ceil(STEADY_HALF_LIVES * slowest_h / interval_h) + 1
            )
            last_dose_h = (doses - 1) * interval_h
            times = np.array([last_dose_h + hours_after_dose, last_dose_h + interval_h])
            every = regimen.levels(times, doses)
        reference = _reported(profile, every, 1)
        against = "the trough"
    left = _reported(profile, every, 0)
    if not left > STOPPED_FRACTION * reference:
        raise ModelError(
            f"{hours_after_dose:g} h after the last dose the model expects "
            f"{percent(left / reference if reference > 0 else 0.0, 1)} of {against}, under "
            f"{percent(STOPPED_FRACTION)}: too little to read a level against",
            field="hours_after_dose",
        )
    levels = [lv._replace(**{f: getattr(lv, f)[:1] for f in LEVEL_FIELDS}) for lv in every]
    level = _reported(profile, levels, 0)
    loads = transporter_loads(profile, levels)
    occupancy = occupancies(profile, levels)
    return (
        level,
        {t: float(v[0]) for t, v in loads.items()},
        {t: (None if v is None else float(v[0])) for t, v in occupancy.items()},
    )


LEVEL_FIELDS = ("css_plasma_ng_ml", "css_plasma_nm", "cu_plasma_nm", "cu_brain_nm")


def _reported(profile, levels, index: int) -> float:
    """The level a laboratory reports at the index-th time: of the parent, or of parent and
    metabolites together where the reference range is of the active moiety."""
    level = float(levels[0].css_plasma_ng_ml[index])
    if profile.therapeutic_range_of == "active_moiety":
        level += sum(float(lv.css_plasma_ng_ml[index]) for lv in levels[1:])
    return level


def gene_phenotypes(profile, gene: str) -> list[str]:
    return [p for p in PHENOTYPES if p != "RM" or gene in GENES_WITH_RM]


def position(value: float, reference) -> str | None:
    """below, within or above a (low, high) range; None without one."""
    if reference is None:
        return None
    return "below" if value < reference[0] else "above" if value > reference[1] else "within"


def interpret(
    ratio: float,
    given: bool,
    level: float,
    expected: float,
    expected_range,
    reference,
    washout: bool = False,
) -> str:
    """One reading of the level: against the model's 90 % range for this patient (the one
    the table shows; without one, half to twice the expected level) and against the
    consensus range, naming the disagreement where the model's own expectation lies
    outside that range (then a level "as expected" can still be outside it)."""
    low, high = expected_range or (expected * LOW_RATIO, expected * HIGH_RATIO)
    if level < low:
        causes = "possible non-adherence, ultrarapid metabolism, an inducing co-medication"
        if not given:
            causes += " or a phenotype other than NM"
        against_model = (
            f"the level is {ratio:.2f} times the model's expected one: {causes}, or a sample "
            "taken long after the dose"
        )
    elif level > high:
        against_model = (
            f"the level is {ratio:.2f} times the model's expected one: possible poor "
            "metabolism, an inhibiting co-medication, impaired elimination, or "
            + (
                "a dose taken since the one assumed last (the expected level assumes none)"
                if washout
                else "a sample taken soon after a dose rather than at trough"
            )
        )
    else:
        against_model = (
            f"the level is {ratio:.2f} times the model's expected one, within the model's "
            "90 % range for this patient"
        )
    if reference is None:
        return against_model + "; no consensus range in the profile"
    where, model_where = position(level, reference), position(expected, reference)
    range_text = f"the consensus range of {reference[0]:g}-{reference[1]:g} ng/mL"
    said = f"{against_model}; it is {where} {range_text}"
    if model_where != "within":
        said += (
            f"; the model's own expectation, {expected:.3g} ng/mL, lies {model_where} that "
            f"range{' too' if where == model_where else ''}: the model and the consensus "
            "disagree for this dose, so read the level against the consensus range and the "
            "patient, not against the model alone"
        )
    return said


def implied_occupancy(profile, loads: dict, ratio: float) -> dict:
    """The occupancy the measured level implies: the model's loads scaled by the ratio
    (the unbound brain level follows the plasma level)."""
    return {
        t: formulas.occupancy_from_load(load * ratio, profile.emax.get(t, 1.0))
        for t, load in loads.items()
    }


def spread_of(profile):
    """The 5th-95th percentile factor of the level over patients: PK only."""
    return level_spread(profile)


def answer_tdm(engine, query: TdmQuery, prepared: Prepared, interval: float) -> TdmResult:
    """The TDM query's answer (the engine dispatches here; no further queries)."""
    profile = prepared.profile
    dose = positive(query.dose_mg, "dose_mg", "mg")
    level = check_level(positive(query.level_ng_ml, "level", "ng/mL"))
    after = interval if query.hours_after_dose is None else query.hours_after_dose
    if query.hours_after_dose is None and after > MAX_HOURS_AFTER_DOSE:  # the profile's
        raise ModelError(
            f"{profile.name}'s dosing interval, {interval:g} h, puts the trough more than a "
            "year after the dose; give the sampling time",
            field="hours_after_dose",
        )
    if not math.isfinite(after) or not 0 <= after <= MAX_HOURS_AFTER_DOSE:
        raise InputError(
            f"must be from 0 to {MAX_HOURS_AFTER_DOSE:g} hours", field="hours_after_dose"
        )
    expected_level, loads, occupancy = expected(profile, prepared.phenotypes, dose, interval, after)
    stopped = (
        [
            f"the sample was taken {after:g} h after the last dose, longer than the "
            f"{interval:g} h interval: the expected level assumes no dose since (doses stopped "
            "or missed)"
        ]
        if after > interval
        else []
    )
    ratio = level / expected_level
    if not math.isfinite(ratio):
        raise ModelError(
            f"the model expects {expected_level:.3g} ng/mL {after:g} h after a dose: too "
            "little to read a level against",
            field="hours_after_dose",
        )
    spread = spread_of(profile)
    expected_range = (expected_level / spread, expected_level * spread) if spread else None
    consistent = {}
    for gene in prepared.phenotypes:
        hits = []
        for phenotype in gene_phenotypes(profile, gene):
            try:
                other = expected(
                    profile, {**prepared.phenotypes, gene: phenotype}, dose, interval, after
                )[0]
            except SertError:
                continue
            low, high = (other / spread, other * spread) if spread else (other, other)
            if low <= level <= high:
                hits.append(phenotype)
        consistent[gene] = hits
    clearance = moiety_clearance(profile.parent, prepared.phenotypes)[0]
    reference = profile.therapeutic_range_ng_ml
    alert = profile.therapeutic_alert_ng_ml
    above_alert = (
        [
            f"the level, {level:g} ng/mL ({profile.therapeutic_range_of.replace('_', ' ')}), is "
            f"at or above the laboratory alert level of {alert:g} ng/mL "
            "(AGNP consensus; its source in the profile, therapeutic_range.alert): the consensus "
            "asks for a check of tolerability and the dose"
        ]
        if alert is not None and level >= alert
        else []
    )
    # as `sert occupancy` says it: a dose above the label maximum is read, and said
    daily = dose * per_day(interval)
    above = label_warnings(profile, daily, "the daily dose") if above_label(profile, daily) else []
    warnings = list(prepared.warnings) + above + stopped + above_alert
    fields = {
        "dose_mg": dose,
        "interval_h": interval,
        "hours_after_dose": after,
        # how the expected level was read: at steady state that long after a dose, or (a
        # sample more than one interval after the last dose) the washout with no dose since
        "expected_as": "no dose since" if after > interval else "steady state",
        "level_ng_ml": level,
        "level_of": profile.therapeutic_range_of.replace("_", " "),
        "expected_level_ng_ml": expected_level,
        "expected_range_ng_ml": list(expected_range) if expected_range else None,
        "ratio_to_expected": ratio,
        "implied_clearance_l_h": clearance / ratio,
        "phenotypes": dict(prepared.phenotypes),
        "consistent_phenotypes": consistent,
        "reference_range_ng_ml": list(reference) if reference else None,
        "reference_source": source_of(profile, "therapeutic_range") if reference else None,
        "alert_level_ng_ml": profile.therapeutic_alert_ng_ml,
        "occupancy_at_expected": occupancy,
        "occupancy_implied": implied_occupancy(profile, loads, ratio),
        "level_vs_reference": position(level, reference),
        "expected_vs_reference": position(expected_level, reference),
        "interpretation": interpret(
            ratio,
            query.patient.given,
            level,
            expected_level,
            expected_range,
            reference,
            washout=after > interval,
        ),
    }
    step = Step(
        name="level against the model",
        formula="expected = steady-state level at t after a dose; ratio = measured / expected; "
        "implied CL = CL * expected / measured; 90 % range = expected x/ spread",
        values=(("expected", expected_level, "ng/mL"), ("ratio", ratio, ""), ("t", after, "h")),
        source=model_section(17),
    )
    return TdmResult(
        query=query,
        prepared=prepared,
        interval_h=interval,
        fields=fields,
        warnings=tuple(warnings),
        steps=(step,),
    )
