"""The one query engine: `answer_many` takes queries of any kind and returns, in order, a
result or the error for each. A single command is a batch of one (`answer`).

Equal parts are computed once: the patient (genotypes, co-medications, label limits, each
moiety's CL/F and saturable Vmax) per drug and patient, and steady states per group of a
drug's queries, as numpy arrays with each row's own CL/F and Vmax. Errors name query
fields, never command-line flags.
"""

import math
from collections.abc import Iterable
from dataclasses import replace

from sert_cli.errors import InputError, ModelError, SertError
from sert_cli.pgx.patient import Patient, Prepared, label_maximum_for, prepare
from sert_cli.pk import formulas
from sert_cli.pk.dosing import (
    above_label,
    below_label,
    dose_within_label,
    label_cap_mg,
    label_range_doses,
    label_warnings,
    per_day,
    shortfall_text,
    unit_pieces,
)
from sert_cli.pk.steady_state import (
    SteadyState,
    check_finite,
    check_resolvable,
    dose_for_load,
    moiety_clearance,
    steady_state,
    transporter_loads,
)
from sert_cli.profiles.library import Library
from sert_cli.profiles.types import Profile
from sert_cli.queries.results import (
    DoseResult,
    GridResult,
    OccupancyResult,
    PopulationResult,
    SimulationResult,
    SwitchResult,
    TaperResult,
    TdmResult,
    at,
    source_of,
)
from sert_cli.queries.values import DoseQuery, GridQuery, OccupancyQuery, SimulateQuery
from sert_cli.trace import Step, model_section
from sert_cli.vocabulary import (
    AFFINITIES,
    DEFAULT_TAPER_STEP_PP,
    HOURS_PER_DAY,
    PHENOTYPES,
    PRIMARY_TRANSPORTER,
    TRANSPORTERS,
)

# A time course above this dose (a tonne) is refused before any computing, so that
# `simulate --dose 1e300` cannot keep the ODE solver busy or overflow. Steady-state
# queries need no bound: they are closed form and say when a result is unresolvable.
MAX_SIMULATED_DOSE_MG = 1e9
CURVE_POINTS = 80
CURVE_BEYOND_LABEL = 2.0
# A dose taken now beyond this multiple of the label maximum is a typo, not a patient.
ABSURD_LABEL_MULTIPLE = 10
# Patients (drug, affinity, patient) kept prepared; a batch of millions stays flat.
CONTEXT_LIMIT = 20_000


def positive(value, field: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"must be a number of {what} (got {value!r})", field=field)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"must be a positive number of {what} (got {value:g})", field=field)
    return float(value)


def check_target(target) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise InputError(f"must be a fraction between 0 and 1 (got {target!r})", field="target")
    if not math.isfinite(target) or not 0 < target < 1:
        hint = ""
        if 1 < target < 100:
            hint = f"; did you mean {target / 100:g} ({target:g} %)?"
        elif target == 1:
            hint = "; 100 % occupancy is reached only at infinite concentration"
        raise InputError(
            f"must be a fraction between 0 and 1, exclusive (got {target:g}){hint}",
            field="target",
        )
    return float(target)


def check_transporter(transporter: str) -> str:
    name = str(transporter).strip().upper()
    if name not in TRANSPORTERS:
        raise InputError(f"must be one of {', '.join(TRANSPORTERS)}", field="transporter")
    return name


def _check_simulated_dose(dose_mg: float) -> None:
    if dose_mg > MAX_SIMULATED_DOSE_MG:
        raise ModelError(
            f"{dose_mg:g} mg is more than {MAX_SIMULATED_DOSE_MG:g} mg (a tonne); the time "
            "course says nothing that far out",
            field="dose_mg",
        )


class Engine:
    """Answers queries against one library; remembers prepared patients between calls
    (a batch calls it chunk by chunk)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.contexts: dict[tuple, Prepared | SertError] = {}
        self.profiles: dict[tuple[str, str], Profile] = {}  # (drug, affinity): on its scale

    def prepared(self, drug: str, affinity: str, patient: Patient) -> Prepared:
        key = (drug, affinity, patient)
        found = self.contexts.get(key)
        if found is None:
            try:
                if affinity not in AFFINITIES:
                    raise InputError(f"must be one of {', '.join(AFFINITIES)}", field="affinity")
                if not str(drug).strip():
                    raise InputError("missing drug", field="drug")
                profile = self.profiles.get((drug, affinity))
                if profile is None:
                    profile = self.library.get(drug).with_affinity(affinity)
                    self.profiles[drug, affinity] = profile
                found = prepare(profile, patient)
                found = self._with_own_occupancy(found, affinity)
            except SertError as exc:
                found = _held(exc)
            if len(self.contexts) >= CONTEXT_LIMIT:
                self.contexts.clear()
            self.contexts[key] = found
        if isinstance(found, SertError):
            raise found.with_traceback(None)
        return found

    def _with_own_occupancy(self, prepared: Prepared, affinity: str) -> Prepared:
        """A co-medication that is itself a SERT inhibitor with a profile here adds its own
        occupancy: said at its usual dose (its label minimum), as `sert occupancy` gives it."""
        from sert_cli.pgx.patient import serotonergic

        said, others = [], []
        for name in prepared.comedications:
            row = serotonergic().get(name)
            if row is None or row["kind"] != "sert_inhibitor" or name not in self.library.entries:
                continue
            other = self.library.get(name)
            usual = other.label_min_mg / per_day(other.interval_h)
            alone = self.answer(OccupancyQuery(name, usual, None, Patient(), affinity))
            theta = alone.occupancy[PRIMARY_TRANSPORTER]
            if theta is None:
                continue
            load = at(alone.state.loads[PRIMARY_TRANSPORTER], alone.index)
            emax = alone.prepared.profile.emax.get(PRIMARY_TRANSPORTER, 1.0)
            others.append((name, usual, theta, load, emax))
            said.append(
                f"{name} occupies SERT itself: {theta:.0%} at its usual {usual:g} mg "
                f"(`sert occupancy {name} --dose {usual:g}`); with {prepared.profile.name} the "
                "two together occupy more than either alone (docs/model.md section 4)"
            )
        if not said:
            return prepared
        return prepared._replace(
            warnings=prepared.warnings + tuple(said), co_sert_inhibitors=tuple(others)
        )

    def answer_many(self, queries: Iterable) -> list:
        queries = list(queries)
        answers: list = [None] * len(queries)
        patients: list = [None] * len(queries)
        groups: dict[tuple, list[int]] = {}
        for index, query in enumerate(queries):
            try:
                prepared = patients[index] = self.prepared(
                    query.drug, query.affinity, query.patient
                )
                interval = _interval(query, prepared)
                # one group for the drug, every row with its patient's CL/F (and Vmax);
                # a group per patient where a saturable dose is found by bisection
                profile = prepared.profile
                patient = query.patient if profile.saturable and profile.metabolites else None
                if query.kind == "occupancy":
                    positive(query.dose_mg, "dose_mg", "mg")
                    key = ("occupancy", interval, query.drug, query.affinity, patient)
                elif query.kind == "dose":
                    check_target(query.target)
                    transporter = check_transporter(query.transporter)
                    key = ("dose", interval, query.drug, query.affinity, patient, transporter)
                elif query.kind == "grid":
                    answers[index] = self._grid(query, prepared)
                    continue
                elif query.kind == "population":
                    answers[index] = self._population(query, prepared, interval)
                    continue
                elif query.kind == "tdm":
                    answers[index] = _tdm_result(query, prepared, interval)
                    continue
                elif query.kind == "taper":
                    answers[index] = self._taper(query, prepared, interval)
                    continue
                elif query.kind == "switch":
                    answers[index] = self._switch(query, prepared, interval)
                    continue
                else:
                    answers[index] = self._simulate(query, prepared, interval)
                    continue
            except SertError as exc:
                answers[index] = _held(exc)
                continue
            groups.setdefault(key, []).append(index)
        for key, members in groups.items():
            compute = self._occupancy_group if key[0] == "occupancy" else self._dose_group
            try:
                group = [queries[i] for i in members]
                compute(group, [patients[i] for i in members], key, members, answers)
            except SertError as exc:
                for i in members:
                    answers[i] = _held(exc)
        return answers

    def _occupancy_group(self, group, patients, key, members, answers) -> None:
        profile, interval = patients[0].profile, key[1]
        doses = _vector([float(q.dose_mg) for q in group])
        state = _as_lists(steady_state(profile, doses, interval, *_patient_pk(patients)))
        for i, (query, slot, prepared) in enumerate(zip(group, members, patients, strict=True)):
            profile = prepared.profile
            try:
                occupancy = [at(v, i) for v in state.occupancy.values()]
                check_finite(
                    profile,
                    [
                        at(state.levels[0].css_plasma_ng_ml, i),
                        *(at(v, i) for v in state.loads.values()),
                    ],
                )
                check_resolvable(occupancy)
            except SertError as exc:
                answers[slot] = _held(exc)
                continue
            warnings = prepared.warnings + tuple(
                label_warnings(profile, float(query.dose_mg) * per_day(interval), "the daily dose")
            )
            if prepared.co_sert_inhibitors:
                loads = state.loads.get(PRIMARY_TRANSPORTER)
                warnings += tuple(together(prepared, None if loads is None else at(loads, i)))
            answers[slot] = OccupancyResult(query, prepared, interval, state, i, warnings)

    def _dose_group(self, group, patients, key, members, answers) -> None:
        profile, interval, transporter = patients[0].profile, key[1], key[5]
        emax = profile.emax.get(transporter, 1.0)
        kept = []
        for i, (query, slot, prepared) in enumerate(zip(group, members, patients, strict=True)):
            if prepared.avoid:
                answers[slot] = _held(
                    ModelError(
                        f"no dose: the label says to avoid {profile.name} for this patient: "
                        + "; ".join(prepared.avoid),
                        field="patient",
                    )
                )
            elif float(query.target) >= emax:
                answers[slot] = _held(
                    ModelError(
                        f"no dose reaches {float(query.target):.0%} {transporter} occupancy"
                        f" on the PET scale: {profile.name}'s occupancy levels off at "
                        f"{emax:.0%}, the plateau PET observes; choose a lower target",
                        field="target",
                    )
                )
            else:
                kept.append(i)
        if len(kept) < len(group):
            group, members, patients = (
                [rows[i] for i in kept] for rows in (group, members, patients)
            )
            if not group:
                return
        targets = _vector([float(q.target) for q in group])
        exact, dose_step = dose_for_load(
            profile,
            transporter,
            formulas.load_for_occupancy(targets, emax),
            interval,
            *_patient_pk(patients),
        )
        exact_doses = exact.tolist() if hasattr(exact, "shape") else [exact]
        daily = per_day(interval)
        made = [
            dose_within_label(p.profile, dose, interval, profile.strengths_mg)
            for dose, p in zip(exact_doses, patients, strict=True)
        ]
        occupancy_at = _occupancy_at(patients, interval, transporter, made)
        for i, (query, slot, prepared, dose, found) in enumerate(
            zip(group, members, patients, exact_doses, made, strict=True)
        ):
            profile = prepared.profile
            occupancy = occupancy_at[i]
            try:
                check_finite(profile, [dose])
            except SertError as exc:
                answers[slot] = _held(exc)
                continue
            warnings = list(prepared.warnings)
            reached = occupancy is not None and occupancy >= float(query.target) - 1e-12
            if prepared.co_sert_inhibitors and occupancy is not None and transporter == "SERT":
                emax = profile.emax.get(PRIMARY_TRANSPORTER, 1.0)
                warnings += together(prepared, formulas.load_for_occupancy(occupancy, emax))
            exceeds = above_label(profile, dose * daily)
            if not reached:
                warnings.append(
                    shortfall_text(
                        profile, query.target, transporter, dose * daily, found, occupancy, interval
                    )
                )
            elif below_label(profile, dose * daily):
                warnings.append(
                    f"the dose for {query.target:.0%} {transporter} occupancy, "
                    f"{dose * daily:.4g} mg/day, is below the label minimum of "
                    f"{profile.label_min_mg:g} mg/day"
                )
            answers[slot] = DoseResult(
                query=query,
                prepared=prepared,
                interval_h=interval,
                dose_mg=dose,
                recommended_dose_mg=None if found is None else found[0],
                recommended_units_mg=() if found is None else found[1],
                occupancy_at_recommended=occupancy,
                target_reached=reached,
                exceeds_label_max=exceeds,
                warnings=tuple(warnings),
                steps=(dose_step,),
                index=i,
            )

    def _taper(self, query, prepared: Prepared, interval: float):
        """Each step is the gentler of an equal step of occupancy and the largest cut
        allowed, made into a dose the patient can measure; its occupancy is what
        `sert occupancy` gives at that dose. The plan ends with a stop step."""
        from sert_cli.queries import taper

        max_cut = taper.DEFAULT_MAX_CUT if query.max_cut is None else query.max_cut
        taper.check(query.step_pp, query.fraction, query.weeks, query.max_cut)
        profile = prepared.profile
        start = positive(query.from_dose_mg, "from_dose_mg", "mg")

        def at_dose(dose_mg: float):
            # one at a time: a batch of one stays in floats, so a taper needs no numpy
            return self.answer(
                OccupancyQuery(query.drug, dose_mg, interval, query.patient, query.affinity)
            )

        daily = per_day(interval)
        if start * daily > ABSURD_LABEL_MULTIPLE * profile.label_range_max_mg:
            raise InputError(
                f"{start:g} mg every {interval:g} h is more than {ABSURD_LABEL_MULTIPLE:g} "
                f"times the label maximum of {profile.label_range_max_mg:g} mg/day: check the "
                "number and its unit",
                field="from_dose_mg",
            )
        first = at_dose(start)
        floor = taper.measurable_floor_mg(profile)
        cap = label_cap_mg(profile, interval)
        emax = profile.emax.get(PRIMARY_TRANSPORTER, 1.0)
        step = (DEFAULT_TAPER_STEP_PP if query.step_pp is None else query.step_pp) / 100
        planned = [(start, first, taper.starting_formulation(profile, start, query.liquid))]
        ended = False
        while len(planned) < taper.MAX_STEPS:
            dose, result, before = planned[-1]
            if query.fraction is not None:
                wanted = dose * (1 - query.fraction)
            else:
                level = result.occupancy[PRIMARY_TRANSPORTER] - step
                if level < taper.LAST_OCCUPANCY:
                    ended = True
                    break
                # the inverse itself, not a dose query: a patient the label says to avoid
                # the drug for needs a taper off it all the more
                wanted = dose_for_load(
                    profile,
                    PRIMARY_TRANSPORTER,
                    formulas.load_for_occupancy(level, emax),
                    interval,
                    *_patient_pk([prepared]),
                )[0]
            # down to the patient's label maximum as fast as the largest cut allows
            wanted = max(min(wanted, cap), dose * (1 - max_cut))
            made = taper.practical_step(profile, wanted, dose, max_cut, query.liquid)
            if made is not None and made[0] < floor * (1 - 1e-9) < dose * (1 - 1e-9):
                # the smallest measurable dose itself, where the cut allows it
                made = taper.practical_step(profile, floor, dose, max_cut, query.liquid)
            if made is None or made[0] < floor * (1 - 1e-9):
                ended = True
                break
            change = taper.formulation_change(profile, before, made[1])
            form = made[1] if change is None else {**made[1], "change": change}
            planned.append((made[0], at_dose(made[0]), form))
            if planned[-1][1].occupancy[PRIMARY_TRANSPORTER] < taper.LAST_OCCUPANCY:
                ended = True
                break
        fraction, settle_h = next(iter(first.state.time_to_steady_state_h.items()))
        longest = formulas.half_life_from_time_to_fraction_h(at(settle_h, first.index), fraction)
        days = taper.step_days(profile, query.weeks, longest)
        steps, warnings = [], list(prepared.warnings)
        if above_label(profile, start * daily):
            over = [d for d, _, _ in planned[1:] if above_label(profile, d * daily)]
            warnings.append(
                f"the dose taken now, {start * daily:g} mg/day, is above this patient's label "
                f"maximum of {profile.label_max_mg:g} mg/day"
                + (
                    f": the first {len(over)} step(s) stay above it so that no cut exceeds "
                    f"{max_cut:.0%}; discuss a faster first step"
                    if over
                    else ""
                )
            )
        if not ended:
            warnings.append(
                f"the plan reached {taper.MAX_STEPS} steps at {planned[-1][0]:.3g} mg before "
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
        if len(planned) > 1 and last >= taper.NOTABLE_LAST_OCCUPANCY:
            warnings.append(
                f"the last measurable step still gives {last:.0%} SERT occupancy: stopping from "
                "it is a large step; a liquid made up by a pharmacy could go lower"
            )
        if any(s["formulation"]["kind"] == "compounded" for s in steps):
            warnings.append(
                f"{profile.name}: no marketed oral liquid makes the doses below the marketed units "
                "(or none is in the profile): a pharmacy must compound one"
            )
        notes = (
            f"each step lasts {days:g} days: {query.weeks or taper.DEFAULT_WEEKS:g} weeks, and "
            f"never under {taper.HALF_LIVES_PER_STEP} half-lives of the slowest moiety "
            f"(its half-life: {longest / HOURS_PER_DAY:.1f} days)",
            f"no step cuts more than {max_cut:.0%} of the dose before it (NICE NG222 1.4.17: "
            "for example 50 %, smaller as the dose gets lower; --max-cut); the last step is the "
            f"smallest measurable dose at or above {floor:.3g} mg, then stop",
            "withdrawal symptoms set the pace: the next step waits until they have resolved or "
            "are tolerable (NICE NG222 1.4.17; Horowitz & Taylor, Lancet Psychiatry 2019)",
        )
        trace_step = Step(
            "taper",
            "dose_k+1 = max(dose for theta_k - step, (1 - max_cut) * dose_k), made measurable"
            if query.fraction is None
            else "dose_k+1 = max((1 - fraction), (1 - max_cut)) * dose_k, made measurable",
            (("steps", len(steps), ""), ("days per step", days, "d"), ("max cut", max_cut, "")),
            model_section(18),
        )
        return TaperResult(
            query, prepared, interval, tuple(steps), tuple(warnings), notes, (trace_step,)
        )

    def answer(self, query):
        """One query: its result, or its error raised."""
        found = self.answer_many([query])[0]
        if isinstance(found, SertError):
            raise found
        return found

    def _exposure_ratios(self, drug: str, dose_mg: float, patient, perpetrator: str, affinity):
        """Each moiety's exposure ratio of `drug` with the old drug at its steady state, by
        the enzyme arithmetic `sert occupancy --with` uses; None where it changes nothing
        (the old drug is no known perpetrator, or already a co-medication)."""
        from sert_cli.pgx.patient import known_comedications

        if perpetrator not in known_comedications() or perpetrator in patient.comedications:
            return None
        both = patient._replace(comedications=(*patient.comedications, perpetrator))
        alone = self.answer(OccupancyQuery(drug, dose_mg, None, patient, affinity))
        with_it = self.answer(OccupancyQuery(drug, dose_mg, None, both, affinity))
        ratios = tuple(
            w.css_plasma_ng_ml / a.css_plasma_ng_ml
            for w, a in zip(with_it.moiety_levels(), alone.moiety_levels(), strict=True)
        )
        if all(abs(r - 1) < 0.05 for r in ratios):
            return None
        genes = ", ".join(with_it.prepared.functional_phenotypes) or "its enzymes"
        return ratios, genes, with_it.prepared.profile

    def _switch(self, query, prepared: Prepared, interval: float):
        """The new drug's dose at the old one's SERT occupancy (the dose query's own
        inverse, within the new drug's label maximum), then the days of the change with
        both drugs competing for the sites, the old one's inhibition of the new one's
        enzymes included, and the new dose held while the old drug remains."""
        import numpy as np

        from sert_cli.queries import switch

        switch.check(query.strategy, query.days)
        patient, affinity = query.patient, query.affinity
        target = self.prepared(query.to_drug, affinity, patient)
        new = target.profile
        if new.name == prepared.profile.name:
            raise InputError(
                f"{new.name} is the drug taken now: nothing to switch", field="to_drug"
            )
        if target.avoid:
            raise ModelError(
                f"no switch to {new.name}: the label says to avoid it for this patient: "
                + "; ".join(target.avoid),
                field="patient",
            )
        own = switch.own_patient(patient, prepared.profile, new)
        if own != patient:
            prepared = self.prepared(query.drug, affinity, own)
        old = prepared.profile
        dose = positive(query.dose_mg, "dose_mg", "mg")
        if dose * per_day(interval) > ABSURD_LABEL_MULTIPLE * old.label_range_max_mg:
            raise InputError(
                f"{dose:g} mg every {interval:g} h is more than {ABSURD_LABEL_MULTIPLE:g} times "
                f"the label maximum of {old.label_range_max_mg:g} mg/day: check the number and "
                "its unit",
                field="dose_mg",
            )
        before = self.answer(OccupancyQuery(query.drug, dose, interval, own, affinity))
        theta = before.occupancy[PRIMARY_TRANSPORTER]
        pieces = unit_pieces(new)
        warnings = list(prepared.warnings) + [
            w for w in target.warnings if w not in prepared.warnings
        ]
        try:
            exact = self.answer(
                DoseQuery(query.to_drug, theta, PRIMARY_TRANSPORTER, None, patient, affinity)
            ).dose_mg
        except ModelError:  # theta at or above the new drug's plateau
            exact = None
        cap = label_cap_mg(new, new.interval_h)
        # as `dose` recommends: the smallest the pieces make at or above the equivalent,
        # never above the new drug's label maximum for this patient
        made = dose_within_label(new, math.inf if exact is None else exact, new.interval_h, pieces)
        if made is None:
            raise ModelError(
                f"no marketed strength of {new.name} fits within its label maximum of "
                f"{new.label_max_mg:g} mg/day for this patient",
                field="patient",
            )
        practical, units = made
        after = self.answer(OccupancyQuery(query.to_drug, practical, None, patient, affinity))
        matched = after.occupancy[PRIMARY_TRANSPORTER]
        matched_within_label = matched >= theta - 1e-12
        if not matched_within_label:
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

        slow_name, slow_h = switch.slowest_moiety(old, prepared.phenotypes)
        history = (dose, math.ceil(switch.HISTORY_HALF_LIVES * slow_h / HOURS_PER_DAY))
        # how long the old drug stays once stopped: the default plan follows it
        stopped = switch.MAX_DAYS
        stop_times = np.concatenate(([-1e-6], (np.arange(stopped) + 1.0) * HOURS_PER_DAY - 1e-6))
        stop_levels = switch.levels_over_time(
            old, prepared.phenotypes, stop_times, [0.0] * stopped, interval, history
        )
        # the washout: the days until the old drug (its latest moiety) is under 3 % of its
        # steady-state level, as simulated (a saturable drug or a late metabolite is not
        # five of its linear half-lives)
        wash_days = switch.days_present(switch.presence(stop_levels))
        strategy = query.strategy or switch.default_strategy(wash_days)
        days = query.days or (
            wash_days if strategy == "washout" else switch.DEFAULT_CROSS_TAPER_DAYS
        )
        old_cap = label_cap_mg(old, interval)
        if above_label(old, dose * per_day(interval)):
            warnings.append(
                f"the dose taken now, {dose * per_day(interval):g} mg/day, is above this "
                f"patient's label maximum of {old.label_max_mg:g} mg/day: the plan's doses of "
                f"{old.name} stay within it"
            )
        steps = switch.plan(strategy, days, min(dose, old_cap), practical, unit_pieces(old), pieces)
        _, new_slow_h = switch.slowest_moiety(new, target.phenotypes)
        settle_days = math.ceil(switch.SETTLE_HALF_LIVES * new_slow_h / HOURS_PER_DAY)
        changes = sum(d for _, _, d in steps[:-1])

        def old_course(days_shown: int):
            """The old drug's daily doses, the new one's planned doses, the times (the
            first just before day 0: the old steady state, for presence) and old levels."""
            old_doses, planned = switch.daily_doses(steps, days_shown)
            times_h = np.concatenate(
                ([-1e-6], (np.arange(days_shown) + 1.0) * HOURS_PER_DAY - 1e-6)
            )
            levels = switch.levels_over_time(
                old, prepared.phenotypes, times_h, old_doses, interval, history
            )
            return old_doses, planned, times_h, levels

        # on to the new drug's own steady state once the old drug has gone (its inhibition,
        # and the hold, last until then; a metabolite formed late, norfluoxetine, lags the
        # washout of 5 half-lives)
        horizon = min(switch.MAX_DAYS, 2 * max(changes, wash_days) + settle_days + 1)
        present = switch.presence(old_course(horizon)[3])
        gone = switch.days_present(present, horizon)
        total_days = min(switch.MAX_DAYS, max(changes, gone) + settle_days + 1)
        old_doses, planned, times_h, old_levels = old_course(total_days)
        old_loads = transporter_loads(old, old_levels) if old_levels else {}
        present = switch.presence(old_levels)
        interaction = self._exposure_ratios(query.to_drug, practical, patient, old.name, affinity)
        ratios = None if interaction is None else interaction[0]
        # the new drug's label cap while the old one inhibits its enzymes (citalopram with a
        # CYP2C19 inhibitor: 20 mg/day), and its own cap once the old drug has gone
        cap_with = cap if interaction is None else label_cap_mg(interaction[2], new.interval_h)
        caps = [cap_with if p > switch.PRESENT_FRACTION else cap for p in present[1:]]

        def new_loads_over(new_doses):
            new_levels = switch.with_interaction(
                switch.levels_over_time(new, target.phenotypes, times_h, new_doses, new.interval_h),
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
        ) * (1 + switch.OVERLAP_ALLOWANCE)
        new_doses, held = switch.hold_within(
            planned, ceiling, sert_load, switch.practical_doses(practical, pieces), caps
        )
        combined = {
            t: (None if v is None else v[1:])
            for t, v in switch.combined_occupancy(
                ((old, old_loads), (new, new_loads_over(new_doses)))
            ).items()
        }
        for values in combined.values():
            if values is not None and not np.isfinite(values).all():
                raise ModelError("the switch gave values too large to represent")
        schedule = [
            {
                "day": day,
                "from_dose_mg": old_doses[day],
                "to_dose_mg": new_doses[day],
                "occupancy": {
                    t: (None if v is None else float(v[day])) for t, v in combined.items()
                },
            }
            for day in range(total_days)
        ]
        sert = combined[PRIMARY_TRANSPORTER]
        peak_day = int(np.argmax(sert))
        who = old.name if slow_name == old.name else f"{old.name} ({slow_name})"
        notes = [
            f"washout: {wash_days} days after the last dose, until {who} is under "
            f"{switch.PRESENT_FRACTION:.0%} of its steady-state level",
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
                f"together bind SERT at most {switch.OVERLAP_ALLOWANCE:.0%} more than the "
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
                f"on the last day of the washout {old.name} still occupies {left:.0%} of SERT "
                "(occupancy falls more slowly than the level near the plateau)"
            )
        if sert[peak_day] > max(theta, matched) + 0.01:
            warnings.append(
                f"while both drugs are taken SERT occupancy peaks at {sert[peak_day]:.1%} on day "
                f"{peak_day}, above either drug alone: watch for serotonergic adverse effects"
            )
        fields = {
            "from": {
                "drug": old.name,
                "dose_mg": dose,
                "interval_h": interval,
                "occupancy": dict(before.occupancy),
                "affinity": dict(old.affinity),
                "phenotypes": dict(prepared.phenotypes),
                "guidance": list(prepared.guidance),
            },
            "to": {
                "drug": new.name,
                "equivalent_dose_mg": exact,
                "recommended_dose_mg": practical,
                "recommended_units_mg": list(units),
                "occupancy_at_recommended": dict(after.occupancy),
                "target_reached": matched_within_label,
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
            "schedule": schedule,
        }
        step = Step(
            "switch",
            "to dose for theta_from; theta(t) = sum_i Emax_i x_i(t) / (1 + sum_j x_j(t)); "
            "new levels x (1 + (r - 1) * presence of the old drug); new dose held so that "
            "theta(t) <= max(theta_from, theta_to) + 1 point",
            (("SERT occupancy matched", theta, ""), ("days", total_days, "d")),
            model_section(19),
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

    def _population(self, query, prepared: Prepared, interval: float):
        return _population_result(query, prepared, interval)

    def _grid(self, query: GridQuery, prepared: Prepared) -> GridResult:
        profile = prepared.profile
        interval = profile.interval_h
        if query.doses_mg is not None:
            doses = tuple(positive(d, "doses_mg", "mg") for d in query.doses_mg)
        elif query.span == "curve":
            top = profile.label_range_max_mg * CURVE_BEYOND_LABEL / per_day(interval)
            doses = tuple(top * (i + 1) / CURVE_POINTS for i in range(CURVE_POINTS))
        else:
            doses = label_range_doses(profile)
        columns = self._grid_columns(query, prepared)
        vector = _vector(list(doses))
        cells, steps = [], ()
        for column in columns:
            state = _as_lists(steady_state(column.profile, vector, interval, column.phenotypes))
            occupancy = [
                {t: at(v, i) for t, v in state.occupancy.items()} for i in range(len(doses))
            ]
            for cell in occupancy:
                check_resolvable(cell.values())
            cells.append(occupancy)
            steps = steps or state.steps
        rows = tuple(tuple(column[i] for column in cells) for i in range(len(doses)))
        return GridResult(
            query=query,
            prepared=prepared,
            interval_h=interval,
            doses_mg=doses,
            columns=tuple(dict(c.phenotypes) for c in columns),
            occupancy=rows,
            steps=steps,
            warnings=prepared.warnings,
            label_max_mg=tuple(c.profile.label_max_mg for c in columns),
        )

    def _grid_columns(self, query: GridQuery, prepared: Prepared) -> list[Prepared]:
        """All-NM, then each gene at each phenotype the profile has (CPIC order); for a
        given patient, the NM column and the patient's."""
        profile = prepared.profile
        nm = self.prepared(query.drug, query.affinity, Patient())
        if query.patient.given:
            if query.span == "curve" or prepared == nm:
                return [prepared]
            return [nm, prepared]
        columns = [nm]
        for gene in profile.genes:
            have = profile.phenotypes_of(gene)
            for phenotype in PHENOTYPES:
                if phenotype in have and phenotype != "NM":
                    patient = Patient(phenotypes=((gene, phenotype),))
                    columns.append(self.prepared(query.drug, query.affinity, patient))
        columns.sort(key=lambda c: tuple(PHENOTYPES.index(p) for p in c.phenotypes.values()))
        return columns

    def _simulate(self, query: SimulateQuery, prepared: Prepared, interval: float):
        from sert_cli.pk.timecourse import simulate, simulate_schedule

        profile = prepared.profile
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
            if schedule is None:  # missed days in a constant regimen
                dose = positive(query.dose_mg, "dose_mg", "mg")
                total = query.days or (query.doses or 28) * interval / HOURS_PER_DAY
                schedule = ((dose, total, interval),)
            for d, _, _ in schedule:
                _check_simulated_dose(d)

            def run(step_h):
                return simulate_schedule(
                    profile, prepared.phenotypes, schedule, query.missed_days, query.until_h, step_h
                )

            simulation = run(query.step_h)
            dose = max(d * per_day(i) for d, _, i in schedule)
            interval = schedule[0][2]
        else:
            dose = positive(query.dose_mg, "dose_mg", "mg")
            _check_simulated_dose(dose)
            single = dose

            def run(step_h):
                return simulate(
                    profile,
                    prepared.phenotypes,
                    single,
                    interval,
                    query.doses,
                    query.days,
                    query.until_h,
                    step_h,
                )

            simulation = run(query.step_h)
            dose = dose * per_day(interval)
        warnings = prepared.warnings + tuple(label_warnings(profile, dose, "the daily dose"))
        adapted = None
        if query.adaptation:
            from sert_cli.pk.adaptation import adapt_on_own_grid

            adapted = adapt_on_own_grid(simulation, run)
        return SimulationResult(query, prepared, simulation, warnings, adapted)


def _population_result(query, prepared: Prepared, interval: float):
    from sert_cli.queries import population

    dose = positive(query.dose_mg, "dose_mg", "mg")
    target = check_target(query.target)
    transporter = check_transporter(query.transporter)
    population.check_size(query.n, query.seed)
    group = population.ancestry_group(query.ancestry)
    profile = prepared.profile
    given = dict(prepared.phenotypes) if query.patient.given else {}
    genes = [g for g in prepared.phenotypes if g not in dict(query.patient.phenotypes)]
    genes = [g for g in genes if g not in {gene for gene, _ in query.patient.genotypes}]
    fixed = {g: p for g, p in prepared.phenotypes.items() if g not in genes}
    numbers = population.simulate_population(
        profile, genes, group, dose, interval, query.n, query.seed, target, transporter, fixed
    )
    if given:  # the phenotypes the patient options fixed stay fixed for every patient
        for row in numbers["by_phenotype"]:
            row["phenotypes"] = {
                **{g: given[g] for g in given if g not in genes},
                **row["phenotypes"],
            }
    sigma = numbers["sigma"].get(transporter, 0.0)
    # no dose above the lowest maximum any of these patients has (a phenotype's label
    # limit: citalopram's 20 mg/day in CYP2C19 poor metabolizers)
    lowest = min(
        label_maximum_for(profile, {**given, **dict(zip(genes, combo, strict=True))})
        for combo in numbers["combos"]
    )
    capped = profile if lowest >= profile.label_max_mg else replace(profile, label_max_mg=lowest)
    numbers = {**numbers, "label_max_mg": capped.label_max_mg}
    dose_for_share, share_at_max = population.dose_for_share(
        capped,
        genes,
        numbers["combos"],
        numbers["weights"],
        sigma,
        interval,
        target,
        transporter,
        fixed,
    )
    warnings = list(prepared.warnings)
    if prepared.avoid:
        dose_for_share = None
        warnings.append(
            f"no dose for 90 %: the label says to avoid {profile.name} for this patient: "
            + "; ".join(prepared.avoid)
        )
    elif dose_for_share is None:
        warnings.append(
            f"no dose within the label maximum of {capped.label_max_mg:g} mg/day brings 90 % "
            f"of these patients to {target:.0%} {transporter} occupancy: at the maximum "
            f"{share_at_max:.1%} reach it"
        )
    variability = {}
    if profile.exposure_cv is not None:
        variability["exposure"] = {
            "cv": profile.exposure_cv,
            "source": source_of(profile, "pk.exposure_cv"),
        }
    else:
        warnings.append(
            f"{profile.name}'s profile has no sourced between-patient variability: patients "
            "differ only by phenotype"
        )
    step = Step(
        "virtual patients",
        "phenotypes drawn from CPIC frequencies; load = L(phenotypes) * exp(sigma * z), "
        "z ~ N(0, 1); share at the target = sum_c w_c Phi(ln(L_c / x*) / sigma)",
        (("n", query.n, ""), ("seed", query.seed, ""), ("sigma", sigma, "")),
        model_section(15),
    )
    return PopulationResult(
        query,
        prepared,
        interval,
        group,
        numbers,
        dose_for_share,
        variability,
        tuple(warnings),
        (step,),
    )


def _tdm_result(query, prepared: Prepared, interval: float):
    from sert_cli.queries import tdm

    profile = prepared.profile
    dose = positive(query.dose_mg, "dose_mg", "mg")
    level = tdm.check_level(positive(query.level_ng_ml, "level", "ng/mL"))
    after = interval if query.hours_after_dose is None else query.hours_after_dose
    if not math.isfinite(after) or not 0 <= after <= tdm.MAX_HOURS_AFTER_DOSE:
        raise InputError(
            f"must be from 0 to {tdm.MAX_HOURS_AFTER_DOSE:g} hours", field="hours_after_dose"
        )
    expected, loads, occupancy = tdm.expected(profile, prepared.phenotypes, dose, interval, after)
    stopped = (
        [
            f"the sample was taken {after:g} h after the last dose, longer than the "
            f"{interval:g} h interval: the expected level assumes no dose since (doses stopped "
            "or missed)"
        ]
        if after > interval
        else []
    )
    ratio = level / expected
    spread = tdm.spread_of(profile)
    consistent = {}
    for gene in prepared.phenotypes:
        hits = []
        for phenotype in tdm.gene_phenotypes(profile, gene):
            try:
                other = tdm.expected(
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
    warnings = list(prepared.warnings) + stopped
    fields = {
        "dose_mg": dose,
        "interval_h": interval,
        "hours_after_dose": after,
        "level_ng_ml": level,
        "level_of": profile.therapeutic_range_of.replace("_", " "),
        "expected_level_ng_ml": expected,
        "expected_range_ng_ml": [expected / spread, expected * spread] if spread else None,
        "ratio_to_expected": ratio,
        "implied_clearance_l_h": clearance / ratio,
        "phenotypes": dict(prepared.phenotypes),
        "consistent_phenotypes": consistent,
        "reference_range_ng_ml": list(reference) if reference else None,
        "reference_source": source_of(profile, "therapeutic_range") if reference else None,
        "alert_level_ng_ml": None,
        "occupancy_at_expected": occupancy,
        "occupancy_implied": tdm.implied_occupancy(profile, loads, ratio),
        "level_vs_reference": tdm.position(level, reference),
        "expected_vs_reference": tdm.position(expected, reference),
        "interpretation": tdm.interpret(
            ratio,
            query.patient.given,
            level,
            expected,
            (expected / spread, expected * spread) if spread else None,
            reference,
        ),
    }
    step = Step(
        "level against the model",
        "expected = steady-state level at t after a dose; ratio = measured / expected; "
        "implied CL = CL * expected / measured; 90 % range = expected x/ spread",
        (("expected", expected, "ng/mL"), ("ratio", ratio, ""), ("t", after, "h")),
        model_section(17),
    )
    return TdmResult(query, prepared, interval, fields, tuple(warnings), (step,))


def together(prepared: Prepared, load: float | None) -> list[str]:
    """The SERT occupancy of the drug at this load with each co-medicated SERT inhibitor at
    its usual dose: the two compete for the sites (docs/model.md section 4)."""
    if load is None:
        return []
    emax = prepared.profile.emax.get(PRIMARY_TRANSPORTER, 1.0)
    said = []
    for name, usual_mg, alone, other_load, other_emax in prepared.co_sert_inhibitors:
        total = load + other_load
        both = formulas.ligand_share(load, total, emax) + formulas.ligand_share(
            other_load, total, other_emax
        )
        said.append(
            f"with {name} at its usual {usual_mg:g} mg ({alone:.1%} alone), the two together "
            f"occupy about {both:.1%} of SERT at this dose"
        )
    return said


def _held(exc: SertError) -> SertError:
    """An error kept as an answer, without its traceback: the traceback's frames would
    hold the answers list that holds the error, a cycle that batch (which runs with the
    cyclic collector off) would never free."""
    return exc.with_traceback(None)


def _occupancy_at(patients: list[Prepared], interval, transporter, made) -> list:
    """Occupancy at each made-up dose (one a row, None where there is none), in one pass,
    by the steady state that `sert occupancy` computes (the same number to the last digit)."""
    rows = [i for i, m in enumerate(made) if m is not None]
    if not rows:
        return [None] * len(made)
    state = _as_lists(
        steady_state(
            patients[0].profile,
            _vector([made[i][0] for i in rows]),
            interval,
            *_patient_pk([patients[i] for i in rows]),
        )
    )
    values = state.occupancy[transporter]
    taken = iter(values if isinstance(values, list) else [values])
    return [next(taken) if m is not None else None for m in made]


def _patient_pk(patients: list[Prepared]) -> tuple:
    """(phenotypes, clearances, saturation) as steady_state takes them over the rows, each
    row its patient's: a float where they all have the same (as the rows of one patient
    do), else an array; the first row's phenotypes (one patient's, where they matter)."""

    def column(values: list):
        return values[0] if values.count(values[0]) == len(values) else _vector(values)

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
    return first.phenotypes, clearances, saturation


def _interval(query, prepared: Prepared) -> float:
    interval = getattr(query, "interval_h", None)
    if interval is None:
        return prepared.profile.interval_h
    return positive(interval, "interval_h", "hours")


def _vector(values: list[float]):
    """One value stays a float (a single query needs no numpy); more become an array."""
    if len(values) == 1:
        return values[0]
    import numpy as np

    return np.array(values)


def _as_lists(state: SteadyState) -> SteadyState:
    """A group's arrays as lists: a row's values are then picked without numpy."""

    def plain(value):
        return value.tolist() if hasattr(value, "tolist") else value

    return state._replace(
        levels=tuple(
            lv._replace(**{f: plain(getattr(lv, f)) for f in lv._fields[1:]}) for lv in state.levels
        ),
        loads={t: plain(v) for t, v in state.loads.items()},
        occupancy={t: plain(v) for t, v in state.occupancy.items()},
        shares={t: {m: plain(v) for m, v in s.items()} for t, s in state.shares.items()},
        time_to_steady_state_h={f: plain(v) for f, v in state.time_to_steady_state_h.items()},
    )


def answer_many(queries: Iterable, library: Library) -> list:
    return Engine(library).answer_many(queries)


def answer(query, library: Library):
    return Engine(library).answer(query)
