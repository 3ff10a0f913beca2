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
from sert_cli.model import formulas
from sert_cli.pgx.patient import Prepared
from sert_cli.pk.dosing import (
    above_label,
    check_dose_taken_now,
    label_cap_mg,
    largest_dose_below,
    per_day,
    smallest_dose_from_strengths,
    unit_pieces,
)
from sert_cli.pk.steady_state import dose_for_load
from sert_cli.queries.results import TaperResult, at
from sert_cli.queries.values import OccupancyQuery, positive
from sert_cli.trace import Step, model_section
from sert_cli.units import percent
from sert_cli.vocabulary import (
    DEFAULT_MAX_CUT,
    DEFAULT_TAPER_STEP_PP,
    HOURS_PER_DAY,
    PRIMARY_TRANSPORTER,
)

DEFAULT_WEEKS = 2.0  # 2-4 weeks a step (Horowitz & Taylor 2019; NICE NG222 1.4.17)
HALF_LIVES_PER_STEP = 5  # never shorter: the step's level must settle
LAST_OCCUPANCY = 0.05  # taper until the occupancy is below this, then stop
NOTABLE_LAST_OCCUPANCY = 0.20  # a stop from above this is a large step, and said
MAX_STEPS = 40
MIN_CUT = 0.05  # a step that cuts less than this is no step
UNIT_TOLERANCE = 0.10  # marketed units within 10 % of the step's dose make it
SMALLEST_VOLUME_ML = 0.1  # an oral syringe measures no less
VOLUME_STEP_ML = 0.1
SMALLEST_UNIT_PART = 0.25  # a quarter of the smallest unit: no smaller part is a dose
COARSE = "a 0.1 mL measure allows no smaller cut"
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
    if max_cut is not None and not 0.1 <= max_cut <= 0.75:
        raise InputError("must be a fraction between 0.1 and 0.75", field="max_cut")


def step_days(profile, weeks: float | None, longest_half_life_h: float) -> float:
    """The step's length: the weeks asked (default 2), never under 5 half-lives."""
    wanted = (DEFAULT_WEEKS if weeks is None else weeks) * 7
    settle = HALF_LIVES_PER_STEP * longest_half_life_h / HOURS_PER_DAY
    return float(math.ceil(max(wanted, settle)))


def measurable_floor_mg(profile) -> float:
    """The smallest dose that can be measured: 0.1 mL of the most dilute marketed liquid,
    else a quarter of the smallest unit. A dose below it is no step."""
    if profile.oral_liquids:
        return SMALLEST_VOLUME_ML * most_dilute_liquid(profile)[1]
    return SMALLEST_UNIT_PART * min(profile.strengths_mg)


def most_dilute_liquid(profile) -> tuple[str, float]:
    """(form, mg per mL) of the marketed liquid that measures a dose most finely."""
    return min(profile.oral_liquids, key=lambda liquid: liquid[1])


def _liquid(profile, volume_text: str, note: str = "") -> dict:
    form, mg_per_ml = most_dilute_liquid(profile)
    return {
        "kind": "liquid",
        "description": f"{volume_text} mL of {form}, {mg_per_ml:g} mg/mL"
        + (f" ({note})" if note else ""),
    }


def modified_release(profile) -> bool:
    return any(word in profile.dose_form for word in MODIFIED_RELEASE)


def practical_step(profile, wanted_mg: float, previous_mg: float, max_cut: float, liquid_only):
    """The dose a patient can take for a step that wants `wanted_mg`: marketed units where
    they make it within 10 %, else whole 0.1 mL of the most dilute marketed liquid, else a
    compounded liquid; a cut of at most max_cut and at least MIN_CUT where the measure
    allows, else the smallest cut it allows up to DEFAULT_MAX_CUT (a liquid measured in
    0.1 mL near its floor). Returns (dose_mg, formulation dict), or None where no
    measurable dose below the previous one fits."""
    lowest = previous_mg * (1 - max_cut)
    highest = previous_mg * (1 - MIN_CUT)
    wanted_mg = min(max(wanted_mg, lowest), highest)
    if not liquid_only:
        pieces = unit_pieces(profile)
        made = smallest_dose_from_strengths(wanted_mg, pieces)
        for candidate in (made, largest_dose_below(wanted_mg, pieces)):
            if (
                candidate is not None
                and lowest * (1 - 1e-9) <= candidate[0] <= highest * (1 + 1e-9)
                and abs(candidate[0] - wanted_mg) <= UNIT_TOLERANCE * wanted_mg
            ):
                return candidate[0], _units_formulation(profile, candidate[1])
    if profile.oral_liquids:
        mg_per_ml = most_dilute_liquid(profile)[1]
        tenths = _tenths_of_ml(wanted_mg, previous_mg, lowest, highest, mg_per_ml)
        if tenths is None:
            return None  # no measurable volume below the previous one: the taper has ended
        dose = tenths * VOLUME_STEP_ML * mg_per_ml
        coarse = COARSE if dose < lowest * (1 - 1e-9) else ""
        return dose, _liquid(profile, f"{tenths * VOLUME_STEP_ML:.1f}", coarse)
    dose = min(max(float(f"{wanted_mg:.3g}"), lowest), highest)
    return dose, {"kind": "compounded", "description": f"{dose:.3g} mg as a compounded liquid"}


def _tenths_of_ml(wanted_mg, previous_mg, lowest, highest, mg_per_ml) -> int | None:
    """Whole tenths of a mL for a step: the wanted dose rounded up (a step never cuts more
    than asked for) within [lowest, highest], else the nearest below the previous dose
    whose cut is at most DEFAULT_MAX_CUT."""
    per_tenth = VOLUME_STEP_ML * mg_per_ml
    low = math.ceil(lowest / per_tenth - 1e-9)
    high = math.floor(highest / per_tenth + 1e-9)
    if 1 <= low <= high:
        return min(max(math.ceil(wanted_mg / per_tenth - 1e-9), low), high)
    below = math.ceil(previous_mg / per_tenth - 1e-9) - 1  # the largest under the previous
    if below >= 1 and below * per_tenth >= previous_mg * (1 - DEFAULT_MAX_CUT) * (1 - 1e-9):
        return below
    return None


def measurable_kind(form: dict) -> str:
    """units, liquid or compounded: a change between them is said in the step."""
    return "units" if form["kind"] in ("tablet", "split tablet") else form["kind"]


def starting_formulation(profile, dose_mg: float, liquid_only: bool) -> dict:
    """How the dose taken now is taken: the marketed units that make it, else a volume."""
    made = None if liquid_only else smallest_dose_from_strengths(dose_mg, unit_pieces(profile))
    if made is not None and made[0] <= dose_mg * (1 + 1e-9):
        return _units_formulation(profile, made[1])
    if profile.oral_liquids:
        return _liquid(profile, volume_text(dose_mg / most_dilute_liquid(profile)[1]))
    return {"kind": "compounded", "description": f"{dose_mg:.3g} mg as a compounded liquid"}


def volume_text(volume_ml: float) -> str:
    """A volume as the dose it measures: 4 significant digits (12.5 mL, not 12), and never
    0 for a volume that is not (0.001 mL, below what a syringe measures, is still said)."""
    return f"{volume_ml:.4g}"


def _units_formulation(profile, units: tuple[float, ...]) -> dict:
    split = [u for u in units if u not in profile.strengths_mg]
    parts = [f"{u:g} mg" for u in units if u in profile.strengths_mg]
    parts += [f"half a {2 * u:g} mg" for u in split]
    return {
        "kind": "split tablet" if split else "tablet",
        "description": f"{' + '.join(parts)} {profile.dose_form}",
    }


def formulation_change(profile, before: dict, after: dict) -> str | None:
    """What a step says when it changes how the dose is taken, and why; None if it does
    not."""
    was, now = measurable_kind(before), measurable_kind(after)
    if was == now:
        return None
    if now == "units":
        return f"changes back to the {profile.dose_form}: the marketed units make this dose"
    to = "the oral liquid" if now == "liquid" else "a compounded liquid"
    why = "the marketed units make no dose near this one"
    if was == "liquid":
        why = "the liquid measures no dose near this one"
    if now == "liquid" and modified_release(profile):
        why += (
            f"; unlike the {profile.dose_form}, the liquid is immediate-release: the day's "
            "dose may need dividing as its label says"
        )
    names = {"units": profile.dose_form, "liquid": "oral liquid", "compounded": "compounded liquid"}
    return f"changes from the {names[was]} to {to}: {why}"


def plan_taper(engine, query, prepared: Prepared, interval: float) -> TaperResult:
    """The taper query's answer (the engine dispatches here; `engine` answers the
    occupancy of each step). Each step is the gentler of an equal step of occupancy and
    the largest cut allowed, made into a dose the patient can measure; its occupancy is
    what `sert occupancy` gives at that dose. The plan ends with a stop step."""
    max_cut = DEFAULT_MAX_CUT if query.max_cut is None else query.max_cut
    check(query.step_pp, query.fraction, query.weeks, query.max_cut)
    profile = prepared.profile
    start = positive(query.from_dose_mg, "from_dose_mg", "mg")

    def at_dose(dose_mg: float):
        # one at a time: a batch of one stays in floats, so a taper needs no numpy
        return engine.answer(
            OccupancyQuery(
                query.drug,
                dose_mg,
                interval_h=interval,
                patient=query.patient,
                affinity=query.affinity,
            )
        )

    daily = per_day(interval)
    check_dose_taken_now(profile, start, interval, "from_dose_mg")
    first = at_dose(start)
    floor = measurable_floor_mg(profile)
    cap = label_cap_mg(profile, interval)
    emax = profile.emax.get(PRIMARY_TRANSPORTER, 1.0)
    step = (DEFAULT_TAPER_STEP_PP if query.step_pp is None else query.step_pp) / 100
    planned = [(start, first, starting_formulation(profile, start, query.liquid))]
    ended = False
    while len(planned) < MAX_STEPS:
        dose, result, before = planned[-1]
        if query.fraction is not None:
            wanted = dose * (1 - query.fraction)
        else:
            level = result.occupancy[PRIMARY_TRANSPORTER] - step
            if level < LAST_OCCUPANCY:
                ended = True
                break
            # the inverse itself, not a dose query: a patient the label says to avoid
            # the drug for needs a taper off it all the more
            wanted = dose_for_load(
                profile,
                PRIMARY_TRANSPORTER,
                formulas.load_for_occupancy(level, emax),
                interval,
                prepared.phenotypes,
                [clearance for clearance, _ in prepared.clearances],
                prepared.saturation,
                prepared.formation or None,
            )[0]
        # down to the patient's label maximum as fast as the largest cut allows
        wanted = max(min(wanted, cap), dose * (1 - max_cut))
        made = practical_step(profile, wanted, dose, max_cut, query.liquid)
        if made is not None and made[0] < floor * (1 - 1e-9) < dose * (1 - 1e-9):
            # the smallest measurable dose itself, where the cut allows it
            made = practical_step(profile, floor, dose, max_cut, query.liquid)
        if made is None or made[0] < floor * (1 - 1e-9):
            ended = True
            break
        change = formulation_change(profile, before, made[1])
        form = made[1] if change is None else {**made[1], "change": change}
        planned.append((made[0], at_dose(made[0]), form))
        if planned[-1][1].occupancy[PRIMARY_TRANSPORTER] < LAST_OCCUPANCY:
            ended = True
            break
    fraction, settle_h = next(iter(first.state.time_to_steady_state_h.items()))
    longest = formulas.half_life_from_time_to_fraction_h(at(settle_h, first.index), fraction)
    days = step_days(profile, query.weeks, longest)
    steps, warnings = [], list(prepared.warnings)
    if above_label(profile, start * daily):
        over = [d for d, _, _ in planned[1:] if above_label(profile, d * daily)]
        warnings.append(
            f"the dose taken now, {start * daily:g} mg/day, is above this patient's label "
            f"maximum of {profile.label_max_mg:g} mg/day"
            + (
                f": the first {len(over)} step(s) stay above it so that no cut exceeds "
                f"{percent(max_cut)}; discuss a faster first step"
                if over
                else ""
            )
        )
    if not ended:
        warnings.append(
            f"the plan reached {MAX_STEPS} steps at {planned[-1][0]:.3g} mg before "
            "the smallest measurable dose: a larger --max-cut or --fraction shortens it"
        )
    for number, (dose, result, form) in enumerate(planned):
        steps.append(
            {
                "step": number,
                "start_day": number * days,
                "duration_days": days,
                "dose_mg": dose,
                "daily_dose_mg": dose * per_day(interval),
                "cut_from_previous": 0.0 if number == 0 else 1 - dose / planned[number - 1][0],
                "above_label_max": above_label(profile, dose * daily),
                "occupancy": dict(result.occupancy),
                "formulation": form,
            }
        )
    steps.append(
        {
            "step": len(planned),
            "start_day": len(planned) * days,
            "duration_days": None,
            "dose_mg": 0.0,
            "daily_dose_mg": 0.0,
            "cut_from_previous": 1.0,
            "above_label_max": False,
            "occupancy": {t: (None if v is None else 0.0) for t, v in first.occupancy.items()},
            "formulation": {"kind": "stop", "description": "stop"},
        }
    )
    last = planned[-1][1].occupancy[PRIMARY_TRANSPORTER]
    if len(planned) > 1 and last >= NOTABLE_LAST_OCCUPANCY:
        warnings.append(
            f"the last measurable step still gives {percent(last)} SERT occupancy: stopping from "
            "it is a large step; a liquid made up by a pharmacy could go lower"
        )
    if any(s["formulation"]["kind"] == "compounded" for s in steps):
        warnings.append(
            f"{profile.name}: no marketed oral liquid makes the doses below the marketed units "
            "(or none is in the profile): a pharmacy must compound one"
        )
    notes = (
        f"each step lasts {days:g} days: {query.weeks or DEFAULT_WEEKS:g} weeks, and "
        f"never under {HALF_LIVES_PER_STEP} half-lives of the slowest moiety "
        f"(its half-life: {longest / HOURS_PER_DAY:.1f} days)",
        f"no step cuts more than {percent(max_cut)} of the dose before it (NICE NG222 1.4.17: "
        "for example 50 %, smaller as the dose gets lower; --max-cut); the last step is the "
        f"smallest measurable dose at or above {floor:.3g} mg, then stop",
        "withdrawal symptoms set the pace: the next step waits until they have resolved or "
        "are tolerable (NICE NG222 1.4.17; Horowitz & Taylor, Lancet Psychiatry 2019)",
    )
    trace_step = Step(
        name="taper",
        formula="dose_k+1 = max(dose for theta_k - step, (1 - max_cut) * dose_k), made measurable"
        if query.fraction is None
        else "dose_k+1 = max((1 - fraction), (1 - max_cut)) * dose_k, made measurable",
        values=(("steps", len(steps), ""), ("days per step", days, "d"), ("max cut", max_cut, "")),
        source=model_section(18),
    )
    return TaperResult(
        query=query,
        prepared=prepared,
        interval_h=interval,
        steps_=tuple(steps),
        warnings=tuple(warnings),
        notes_=notes,
        steps=(trace_step,),
    )
