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
from sert_cli.model import formulas
from sert_cli.model.profile import Profile
from sert_cli.pgx.patient import Patient, Prepared, label_maximum_for, prepare, serotonergic
from sert_cli.pk.dosing import (
    above_label,
    below_label,
    dose_within_label,
    label_range_doses,
    label_warnings,
    per_day,
    shortfall_text,
)
from sert_cli.pk.steady_state import (
    SteadyState,
    check_finite,
    check_resolvable,
    dose_for_load,
    moiety_clearance,
    steady_state,
)
from sert_cli.profiles.library import Library
from sert_cli.queries.results import (
    DoseResult,
    GridResult,
    OccupancyResult,
    PopulationResult,
    SimulationResult,
    TdmResult,
    at,
    source_of,
)
from sert_cli.queries.values import (
    GridQuery,
    OccupancyQuery,
    SimulateQuery,
    positive,
)
from sert_cli.trace import Step, model_section
from sert_cli.vocabulary import (
    AFFINITIES,
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
# Patients (drug, affinity, patient) kept prepared; a batch of millions stays flat.
CONTEXT_LIMIT = 20_000


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
        from sert_cli.queries.taper import plan_taper

        return plan_taper(self, query, prepared, interval)

    def answer(self, query):
        """One query: its result, or its error raised."""
        found = self.answer_many([query])[0]
        if isinstance(found, SertError):
            raise found
        return found

    def _switch(self, query, prepared: Prepared, interval: float):
        from sert_cli.queries.switch import plan_switch

        return plan_switch(self, query, prepared, interval)

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
        label_maximum_for(profile, population.phenotypes_of(fixed, genes, combo))
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
    expected_range = (expected / spread, expected * spread) if spread else None
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
    warnings = list(prepared.warnings) + stopped + above_alert
    fields = {
        "dose_mg": dose,
        "interval_h": interval,
        "hours_after_dose": after,
        "level_ng_ml": level,
        "level_of": profile.therapeutic_range_of.replace("_", " "),
        "expected_level_ng_ml": expected,
        "expected_range_ng_ml": list(expected_range) if expected_range else None,
        "ratio_to_expected": ratio,
        "implied_clearance_l_h": clearance / ratio,
        "phenotypes": dict(prepared.phenotypes),
        "consistent_phenotypes": consistent,
        "reference_range_ng_ml": list(reference) if reference else None,
        "reference_source": source_of(profile, "therapeutic_range") if reference else None,
        "alert_level_ng_ml": profile.therapeutic_alert_ng_ml,
        "occupancy_at_expected": occupancy,
        "occupancy_implied": tdm.implied_occupancy(profile, loads, ratio),
        "level_vs_reference": tdm.position(level, reference),
        "expected_vs_reference": tdm.position(expected, reference),
        "interpretation": tdm.interpret(
            ratio,
            query.patient.given,
            level,
            expected,
            expected_range,
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
            f"with {name} at its usual {usual_mg:g} mg ({alone:.0%} alone), the two together "
            f"occupy about {both:.0%} of SERT at this dose"
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
    """(phenotypes, clearances, saturation, formation) as steady_state takes them over the
    rows, each row its patient's: a float where they all have the same (as the rows of one
    patient do), else an array; the first row's phenotypes (one patient's, where they
    matter)."""

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
    formation = [column([p.formation[m] for p in patients]) for m in range(len(first.formation))]
    return first.phenotypes, clearances, saturation, formation or None


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
