"""Levels against a drug's reference range: the dose ceiling no recommendation may pass
(docs/model.md section 5), the warning at a dose that reaches the alert level, and the
per-patient PK columns steady_state takes for a group's rows. Used by the engine and by the
workflows (switch), so it imports neither."""

import math

from sert_cli.model.profile import Profile
from sert_cli.pgx.patient import Prepared
from sert_cli.pk.dosing import label_cap_mg, per_day
from sert_cli.pk.steady_state import SteadyState, steady_state
from sert_cli.queries.arrays import as_lists, vector
from sert_cli.queries.results import at
from sert_cli.units import percent


def ceiling_level_ng_ml(profile: Profile) -> float | None:
    """The level no recommendation may be expected to pass: the top of the reference range
    (AGNP: above it tolerability falls and no further gain is expected), else the alert."""
    if profile.therapeutic_range_ng_ml is not None:
        return profile.therapeutic_range_ng_ml[1]
    return profile.therapeutic_alert_ng_ml


def level_ceilings_mg(patients: list[Prepared], interval_h: float) -> list[float]:
    """Per patient, the largest dose per administration whose average steady-state level
    (of what the profile's reference range is of: the parent or the active moiety) stays at
    the top of the reference range (ceiling_level_ng_ml), so that no recommendation is
    expected to pass it; inf where the profile gives no range. The interval average lies
    above the trough the consensus levels are measured at, so the ceiling errs low for the
    model's average patient. Linear clearance: level is proportional to dose; saturable:
    bisection."""
    profile = patients[0].profile
    alert = ceiling_level_ng_ml(profile)
    if alert is None:
        return [math.inf] * len(patients)
    caps = [label_cap_mg(p.profile, interval_h) for p in patients]
    pk = patient_pk(patients)

    def levels(doses: list[float]) -> list[float]:
        state = as_lists(steady_state(profile, vector(doses), interval_h, *pk))
        columns = [lv.css_plasma_ng_ml for lv in profile.range_counted(state.levels)]
        columns = [c if isinstance(c, list) else [c] * len(doses) for c in columns]
        return [sum(values) for values in zip(*columns, strict=True)]

    at_cap = levels(caps)
    if not profile.saturable:
        return [
            math.inf if level <= alert else cap * alert / level
            for cap, level in zip(caps, at_cap, strict=True)
        ]
    low, high = [0.0] * len(caps), list(caps)
    for _ in range(60):  # the level rises with the dose: halve the bracket 60 times
        middle = [(a + b) / 2 for a, b in zip(low, high, strict=True)]
        above = [level > alert for level in levels(middle)]
        low = [a if up else m for a, m, up in zip(low, middle, above, strict=True)]
        high = [m if up else b for b, m, up in zip(high, middle, above, strict=True)]
    return [math.inf if level <= alert else a for a, level in zip(low, at_cap, strict=True)]


def alert_level_warning(profile: Profile, state: SteadyState, index: int) -> list[str]:
    """A dose whose expected average level (of what the reference range is of) reaches the
    laboratory alert level: said beside the occupancy, as the consensus asks for action."""
    alert = profile.therapeutic_alert_ng_ml
    if alert is None:
        return []
    level = sum(at(lv.css_plasma_ng_ml, index) for lv in profile.range_counted(state.levels))
    if not level >= alert:
        return []
    return [
        f"this patient's expected {profile.range_of_words} level at this dose, "
        f"{level:.3g} ng/mL, reaches the "
        f"laboratory alert level of {alert:g} ng/mL (therapeutic_range.alert in the profile, "
        "with its source): reduce the dose and check the level"
    ]


def shortfall_words(target, transporter: str, occupancy: float | None) -> str:
    """How far the held dose leaves the target (a clause of the ceiling's line)."""
    if occupancy is None:
        return ""
    short = max(round((float(target) - occupancy) * 100), 1)
    return (
        f", which gives {percent(occupancy)} {transporter}, {short} point(s) short of "
        f"{percent(float(target))}"
    )


def level_ceiling_text(profile: Profile, ceiling_mg: float, interval_h: float, found) -> str:
    """Why the recommendation stops below the dose the target asks for."""
    of = profile.range_of_words
    held_at = (
        "no dose from the strengths stays below it"
        if found is None
        else f"the dose recommended is held at {found[0]:g} mg"
    )
    return (
        f"above {ceiling_mg * per_day(interval_h):.3g} mg/day this patient's expected "
        f"{of} level passes the top of its reference range, "
        f"{ceiling_level_ng_ml(profile):g} ng/mL: {held_at}"
    )


def patient_pk(patients: list[Prepared]) -> tuple:
    """(phenotypes, clearances, saturation, formation) as steady_state takes them over the
    rows, each row its patient's: a float where they all have the same (as the rows of one
    patient do), else an array; the first row's phenotypes (one patient's, where they
    matter)."""

    def column(values: list):
        return values[0] if values.count(values[0]) == len(values) else vector(values)

    first = patients[0]
    clearances = [
        column([p.clearances[m][0] for p in patients]) for m in range(len(first.clearances))
    ]
    saturation = [
        None
        if pair is None
        else (
            column([p.saturation[m][0] for p in patients]),
            column([p.saturation[m][1] for p in patients]),
        )
        for m, pair in enumerate(first.saturation)
    ]
    formation = [column([p.formation[m] for p in patients]) for m in range(len(first.formation))]
    return first.phenotypes, clearances, saturation, formation or None
