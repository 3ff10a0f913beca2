"""The compare workflow (`sert compare`): several drugs for one patient, side by side.

Each drug is asked what `sert occupancy` (at the dose given, or its usual dose: the label
minimum as the marketed units make it) and `sert dose` (for the target) answer, all in one
call of the engine, and its
clearance for this patient is set beside a normal metabolizer's: the question "which of
these suits this patient?" in one table.
"""

from sert_cli.errors import InputError, SertError
from sert_cli.pgx.bleeding import BleedingWarning, bleeding_summary
from sert_cli.pgx.patient import Patient, Prepared
from sert_cli.pk.dosing import (
    RELATIVE_SLACK,
    label_cap_mg,
    per_day,
    smallest_dose_from_strengths,
    unit_pieces,
)
from sert_cli.queries.results import CompareResult
from sert_cli.queries.values import CompareQuery, DoseQuery, OccupancyQuery, check_target
from sert_cli.vocabulary import HOURS_PER_DAY

MAX_DRUGS = 8


def answer_compare(engine, query: CompareQuery, _prepared: Prepared, _interval) -> CompareResult:
    """The compare query's answer (the engine dispatches here)."""
    if not 1 <= len(query.drugs) <= MAX_DRUGS:
        raise InputError(f"give 1 to {MAX_DRUGS} drugs", field="drugs")
    target = check_target(query.target)
    asked, seen, repeated = [], set(), []
    for drug, dose in query.drugs:
        profile = engine.library.get(drug)
        usual = usual_dose_mg(profile)
        common = {"patient": query.patient, "affinity": query.affinity}
        dose_mg = usual if dose is None else dose
        if (profile.name, dose_mg) in seen:  # an alias, or the usual dose written out
            repeated.append(f"{profile.name} at {dose_mg:g} mg is in more than one column")
        seen.add((profile.name, dose_mg))
        asked += [
            OccupancyQuery(drug=drug, dose_mg=dose_mg, **common),
            DoseQuery(drug=drug, target=target, transporter=query.transporter, **common),
            # the average patient at the same dose (a saturable clearance depends on it)
            OccupancyQuery(drug=drug, dose_mg=dose_mg, affinity=query.affinity, patient=Patient()),
        ]
    answers = engine.answer_many(asked)
    columns, warnings = [], list(dict.fromkeys(repeated))
    for n, (_, dose) in enumerate(query.drugs):
        at_dose, for_target, average = answers[3 * n : 3 * n + 3]
        for found in (at_dose, average):
            if isinstance(found, SertError):
                raise found
        column = _column(at_dose, for_target, average, given=dose is not None)
        columns.append(column)
        said = [*at_dose.warnings, *getattr(for_target, "warnings", ())]
        # (the bleeding warnings are said once for the whole comparison, below)
        warnings += [f"{column['drug']}: {w}" for w in said if not isinstance(w, BleedingWarning)]
    warnings += _bleeding(answers[0::3])
    # each drug's notes and guidance are its own command's (`sert dose DRUG`); the patient
    # as given is the heading
    patient = answers[0].prepared._replace(guidance=(), notes=())
    return CompareResult(
        query=query,
        prepared=patient,
        columns=tuple(columns),
        warnings=tuple(dict.fromkeys(warnings)),
    )


# what a comparison's bleeding warning says of the platelet numbers (they are in its table)
PLATELET_IN_TABLE = (
    "platelet SERT occupancy of each drug at its dose and at its dose for the target: "
    "in the table (modelled)"
)


def _bleeding(at_doses) -> list[str]:
    """One bleeding warning per co-medication for all the drugs compared (each drug's
    class and SERT-affinity class in it), from each drug's patient data (`bleeding`), not
    from the words of its own warnings."""
    by_comedication: dict[str, dict[str, str]] = {}
    for found in at_doses:
        for item in found.prepared.bleeding:
            drugs = by_comedication.setdefault(item.name, {})
            drugs.setdefault(found.prepared.profile.name, item.antidepressant_class)
    return [
        bleeding_summary(name, list(drugs.items()), PLATELET_IN_TABLE)
        for name, drugs in by_comedication.items()
    ]


def usual_dose_mg(profile) -> float:
    """The usual dose per interval: the label's daily minimum shared over the day's doses,
    as the marketed units (whole, or half a scored tablet) make it: the smallest dose they
    make at or above it within the label maximum (amitriptyline, 10 mg/day every 12 h: 10
    mg, the 10 mg tablet, not 5 mg, which no tablet makes); the minimum itself where they
    make none within the label."""
    usual = profile.label_min_mg / per_day(profile.interval_h)
    made = smallest_dose_from_strengths(usual, unit_pieces(profile))
    cap = label_cap_mg(profile, profile.interval_h)
    if made is None or made[0] > cap * (1 + RELATIVE_SLACK):
        return usual
    return made[0]


def _column(at_dose, for_target, average, given: bool) -> dict:
    """One drug's column: its record's numbers a resident compares."""
    record = at_dose.record(patient=False)
    clearance, typical = record["clearance_l_h"], average.record(patient=False)
    column = {
        "drug": record["drug"],
        "dose_mg": record["dose_mg"],
        "dose_given": given,
        "interval_h": record["interval_h"],
        "daily_dose_mg": record["daily_dose_mg"],
        "occupancy": record["occupancy"],
        # docs/model.md section 20: beside the brain's, never inside `occupancy`
        "platelet_sert_occupancy": record["platelet_sert_occupancy"],
        "css_plasma_ng_ml": record["css_plasma_ng_ml"],
        "phenotypes": record["phenotypes"],
        "clearance_l_h": clearance,
        "clearance_vs_average_patient": clearance / typical["clearance_l_h"],
        "time_to_95pct_steady_state_days": _days(record["time_to_95pct_steady_state_h"]),
        "label_range_mg_day": [record["label_min_mg"], record["label_max_mg"]],
    }
    if isinstance(for_target, SertError):
        column |= {
            "dose_for_target_mg": None,
            "platelet_sert_occupancy_at_dose_for_target": None,
            "no_dose_because": str(for_target),
        }
        return column
    target = for_target.record(patient=False)
    return column | {
        "dose_for_target_mg": target["dose_mg"],
        "dose_for_target_range_mg": target["dose_range_mg"],
        "recommended_dose_mg": target["recommended_dose_mg"],
        "target_reached": target["target_reached"],
        # docs/model.md section 20: at the recommended dose for the target (None: no dose)
        "platelet_sert_occupancy_at_dose_for_target": for_target.platelet_at_recommended,
    }


def _days(hours: float | None) -> float | None:
    return None if hours is None else hours / HOURS_PER_DAY
