"""The simulate workflow: concentrations and occupancy over time for a constant regimen,
a changing schedule or missed days, with the 5-HT1A adaptation layer where asked."""

from sert_cli.errors import InputError, ModelError
from sert_cli.pgx.bleeding import bleeding_warnings
from sert_cli.pgx.patient import Prepared
from sert_cli.pk.dosing import label_warnings, per_day
from sert_cli.queries.results import SimulationResult
from sert_cli.queries.values import SimulateQuery, positive
from sert_cli.vocabulary import HOURS_PER_DAY

# A time course above this dose (a tonne) is refused before any computing, so that
# `simulate --dose 1e300` cannot keep the ODE solver busy or overflow. Steady-state
# queries need no bound: they are closed form and say when a result is unresolvable.
MAX_SIMULATED_DOSE_MG = 1e9


def check_simulated_dose(dose_mg: float) -> None:
    if dose_mg > MAX_SIMULATED_DOSE_MG:
        raise ModelError(
            f"{dose_mg:g} mg is more than {MAX_SIMULATED_DOSE_MG:g} mg (a tonne); the time "
            "course says nothing that far out",
            field="dose_mg",
        )


# Missed days in a constant regimen without --doses or --days: four weeks of daily doses.
DEFAULT_MISSED_DOSES = 28


def regimen_days(doses, days, interval_h: float) -> tuple[float, str]:
    """(days, the field that set them) of a constant regimen with missed days: the number
    of doses or of days asked (not both), checked as `simulate` checks them."""
    from sert_cli.pk.timecourse import MAX_DOSES

    if doses is not None and days is not None:
        raise InputError("give the number of doses or of days, not both", field="days")
    if days is not None:
        return positive(days, "days", "days"), "days"
    if doses is None:
        return DEFAULT_MISSED_DOSES * interval_h / HOURS_PER_DAY, "doses"
    if isinstance(doses, bool) or not isinstance(doses, int) or not 1 <= doses <= MAX_DOSES:
        raise InputError(f"must be between 1 and {MAX_DOSES} (got {doses!r})", field="doses")
    return doses * interval_h / HOURS_PER_DAY, "doses"


def answer_simulate(
    engine, query: SimulateQuery, prepared: Prepared, interval: float
) -> SimulationResult:
    """The simulate query's answer (the engine dispatches here; no further queries)."""
    from sert_cli.pk.timecourse import simulate, simulate_schedule

    profile = prepared.profile
    if query.schedule and (query.doses is not None or query.days is not None):
        raise InputError(
            "a schedule's steps set how long each dose is taken: give them or a number of "
            "doses or days, not both",
            field="doses" if query.doses is not None else "days",
        )
    if query.schedule or query.missed_days:
        schedule = (
            tuple(
                (
                    positive(d, "schedule", "mg"),
                    positive(days, "schedule", "days"),
                    interval if every is None else positive(every, "schedule", "hours"),
                )
                for d, days, every in (query.schedule or ((query.dose_mg, None, None),))
            )
            if query.schedule
            else None
        )
        length = "schedule"  # what sets how many doses there are, for the limit's message
        if schedule is None:  # missed days in a constant regimen
            dose = positive(query.dose_mg, "dose_mg", "mg")
            total, length = regimen_days(query.doses, query.days, interval)
            schedule = ((dose, total, interval),)
        for d, _, _ in schedule:
            check_simulated_dose(d)

        def run(step_h):
            return simulate_schedule(
                profile,
                prepared.phenotypes,
                schedule,
                query.missed_days,
                query.until_h,
                step_h,
                length_field=length,
            )

        simulation = run(query.step_h)
        dose = max(d * per_day(i) for d, _, i in schedule)
        interval = schedule[0][2]
    else:
        dose = positive(query.dose_mg, "dose_mg", "mg")
        check_simulated_dose(dose)
        single = dose

        def run(step_h):
            return simulate(
                profile,
                prepared.phenotypes,
                dose_mg=single,
                interval_h=interval,
                doses=query.doses,
                days=query.days,
                until_h=query.until_h,
                step_h=step_h,
            )

        simulation = run(query.step_h)
        dose = dose * per_day(interval)
    simulation = with_platelets(simulation, prepared)
    steady = simulation.summary.get("platelet_sert_occupancy_steady_state")
    warnings = prepared.warnings + tuple(label_warnings(profile, dose, "the daily dose"))
    warnings += tuple(bleeding_warnings(profile.name, prepared.bleeding, steady))
    adapted = None
    if query.adaptation:
        from sert_cli.pk.adaptation import adapt_on_own_grid

        adapted = adapt_on_own_grid(simulation, run)
    return SimulationResult(
        query=query, prepared=prepared, simulation=simulation, warnings=warnings, adaptation=adapted
    )


def with_platelets(simulation, prepared: Prepared):
    """The time course with platelet SERT occupancy and platelet 5-HT content at each time
    (docs/model.md section 20), and the summary's platelet lines: the steady state of the
    first dose taken, days to 50 % and 20 % of baseline content, recovery to 80 % after the
    last dose. Unchanged where no moiety binds SERT."""
    from dataclasses import replace

    from sert_cli.pk import platelets
    from sert_cli.pk.steady_state import steady_state

    profile = prepared.profile
    theta = platelets.platelet_occupancy(profile, simulation.levels)
    if theta is None:
        return simulation
    model = platelets.platelet_model()
    content = platelets.content_course(simulation.t_h, theta, model.tau_h)
    first_dose, first_interval = (
        (simulation.schedule[0][0], simulation.schedule[0][2])
        if simulation.schedule
        else (simulation.dose_mg, simulation.interval_h)
    )
    average = steady_state(profile, first_dose, first_interval, prepared.phenotypes)
    steady = platelets.platelet_occupancy(profile, average.levels)
    last_dose_h = simulation.summary.get(
        "last_dose_h", (simulation.doses - 1) * simulation.interval_h
    )
    summary = {
        **simulation.summary,
        **platelets.course_summary(simulation.t_h, content, steady, 0.0, last_dose_h),
        # what the steady state is of (a schedule's: its first dose), and where the time
        # window ends (a level not reached by then is beyond it, or never at that dose)
        "platelet_steady_state_dose_mg": first_dose,
        "platelet_steady_state_interval_h": first_interval,
        "window_end_h": float(simulation.t_h[-1]),
        "platelet_evidence": f"{model.occupancy_words}; {model.content_words}",
    }
    return replace(
        simulation,
        platelet_sert_occupancy=theta,
        platelet_serotonin_fraction=content,
        summary=summary,
        steps=(*simulation.steps, platelets.occupancy_step(profile, average.levels, steady)),
    )
