"""The one query engine: `answer_many` takes queries of any kind and returns, in order, a
result or the error for each. A single command is a batch of one (`answer`).

Equal parts are computed once: the patient (genotypes, co-medications, label limits, each
moiety's CL/F and saturable Vmax) per drug and patient, and steady states per group of a
drug's queries, as numpy arrays with each row's own CL/F and Vmax. Errors name query
fields, never command-line flags.
"""

import math
from collections.abc import Callable, Iterable
from importlib import import_module

from sert_cli.errors import InputError, ModelError, SertError, held
from sert_cli.model import formulas
from sert_cli.model.profile import Profile
from sert_cli.pgx.bleeding import bleeding_warnings
from sert_cli.pgx.patient import Patient, Prepared, advised_against, prepare, serotonergic
from sert_cli.pk.dosing import (
    above_label,
    below_label,
    dose_within_label,
    label_cap_mg,
    label_warnings,
    per_day,
    shortfall_text,
)
from sert_cli.pk.platelets import platelet_occupancy
from sert_cli.pk.steady_state import (
    SteadyState,
    check_finite,
    check_resolvable,
    dose_for_load,
    steady_state,
)
from sert_cli.profiles.library import Library
from sert_cli.queries.arrays import as_lists, vector
from sert_cli.queries.levels import (
    alert_level_warning,
    level_ceiling_text,
    level_ceilings_mg,
    patient_pk,
    shortfall_words,
)
from sert_cli.queries.results import DoseResult, OccupancyResult, at
from sert_cli.queries.values import (
    OccupancyQuery,
    check_target,
    check_transporter,
    positive,
)
from sert_cli.recent import Recent
from sert_cli.units import percent
from sert_cli.vocabulary import AFFINITIES, PRIMARY_TRANSPORTER

# Patients (drug, affinity, patient) kept prepared, the least recently used dropped first;
# a batch of millions stays flat.
CONTEXT_LIMIT = 10_000

# The kinds answered by a workflow module of their own: kind -> (module, function). Each
# function takes (engine, query, prepared patient, interval_h) and returns the result; the
# engine is there for the workflows that ask further queries (grid, taper, switch). A
# module is imported the first time its kind is asked (start-up: `sert dose` loads none of
# them, nor numpy). Occupancy and dose queries are the engine's own: grouped per drug.
WORKFLOWS: dict[str, tuple[str, str]] = {
    "grid": ("sert_cli.queries.grid", "answer_grid"),
    "simulate": ("sert_cli.queries.simulate", "answer_simulate"),
    "population": ("sert_cli.queries.population", "answer_population"),
    "tdm": ("sert_cli.queries.tdm", "answer_tdm"),
    "taper": ("sert_cli.queries.taper", "plan_taper"),
    "switch": ("sert_cli.queries.switch", "plan_switch"),
    "compare": ("sert_cli.queries.compare", "answer_compare"),
}


# The workflows that say the bleeding warning themselves, with the platelet occupancy of
# their dose (simulate), or through the occupancy answers they ask for (compare); the
# others get it from the engine, without a number.
OWN_BLEEDING_WORDS = frozenset({"simulate", "compare"})


def _occupancy_key(query, interval: float, patient) -> tuple:
    positive(query.dose_mg, "dose_mg", "mg")
    return ("occupancy", interval, query.drug, query.affinity, patient)


def _dose_key(query, interval: float, patient) -> tuple:
    check_target(query.target)
    transporter = check_transporter(query.transporter)
    return ("dose", interval, query.drug, query.affinity, patient, transporter)


# The steady-state kinds, the engine's own: kind -> (the key of the group a query joins,
# after its checks; the Engine method that answers a group together, vectorized).
GROUPED: dict[str, tuple[Callable[..., tuple], str]] = {
    "occupancy": (_occupancy_key, "_occupancy_group"),
    "dose": (_dose_key, "_dose_group"),
}


class Engine:
    """Answers queries against one library; remembers prepared patients between calls
    (a batch calls it chunk by chunk)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.contexts = Recent(CONTEXT_LIMIT)  # (drug, affinity, patient) -> Prepared
        self.profiles: dict[tuple[str, str], Profile] = {}  # (drug, affinity): on its scale
        self.workflows: dict[str, Callable] = {}  # kind -> its imported function
        self.usual: dict[tuple[str, str], tuple] = {}  # (drug, affinity): alone, usual dose

    def prepared(self, drug: str, affinity: str, patient: Patient) -> Prepared:
        return self.contexts.made(
            (drug, affinity, patient), lambda: self._prepare(drug, affinity, patient)
        )

    def _prepare(self, drug: str, affinity: str, patient: Patient) -> Prepared:
        if affinity not in AFFINITIES:
            raise InputError(f"must be one of {', '.join(AFFINITIES)}", field="affinity")
        if not str(drug).strip():
            raise InputError("missing drug", field="drug")
        profile = self.profiles.get((drug, affinity))
        if profile is None:
            profile = self.library.get(drug).with_affinity(affinity)
            self.profiles[drug, affinity] = profile
        return self._with_own_occupancy(prepare(profile, patient), affinity)

    def _with_own_occupancy(self, prepared: Prepared, affinity: str) -> Prepared:
        """A co-medication that is itself a SERT inhibitor with a profile here adds its own
        occupancy: said at its usual dose (its label minimum), as `sert occupancy` gives it."""
        said, others = [], []
        for name in prepared.comedications:
            row = serotonergic().get(name)
            if row is None or row["kind"] != "sert_inhibitor" or name not in self.library.entries:
                continue
            usual, theta, load, emax = self._alone(name, affinity)
            if theta is None:
                continue
            others.append((name, usual, theta, load, emax))
            said.append(
                f"{name} occupies SERT itself: {percent(theta)} at its usual {usual:g} mg "
                f"(`sert occupancy {name} --dose {usual:g}`); with {prepared.profile.name} the "
                "two together occupy more than either alone (docs/model.md section 4)"
            )
        if not said:
            return prepared
        return prepared._replace(
            warnings=prepared.warnings + tuple(said), co_sert_inhibitors=tuple(others)
        )

    def _alone(self, name: str, affinity: str) -> tuple:
        """(usual dose mg, SERT occupancy, load, plateau) of a drug alone at its usual dose
        (its label minimum), for an average patient: the same for every patient who takes
        it beside another drug, so found once."""
        found = self.usual.get((name, affinity))
        if found is None:
            other = self.library.get(name)
            usual = other.label_min_mg / per_day(other.interval_h)
            alone = self.answer(OccupancyQuery(name, usual, affinity=affinity))
            load = alone.state.loads.get(PRIMARY_TRANSPORTER)
            found = self.usual[name, affinity] = (
                usual,
                alone.occupancy[PRIMARY_TRANSPORTER],
                None if load is None else at(load, alone.index),
                alone.prepared.profile.emax.get(PRIMARY_TRANSPORTER, 1.0),
            )
        return found

    def answer_many(self, queries: Iterable) -> list:
        """Each query's result or its error (returned, not raised), in order: a workflow
        kind goes to its module, steady-state kinds join their group, computed together."""
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
                grouped = GROUPED.get(query.kind)
                if grouped is None:
                    found = self.workflow(query.kind)(self, query, prepared, interval)
                    if prepared.bleeding and query.kind not in OWN_BLEEDING_WORDS:
                        found = found._replace(
                            warnings=found.warnings
                            + tuple(
                                bleeding_warnings(prepared.profile.name, prepared.bleeding, None)
                            )
                        )
                    answers[index] = found
                    continue
                profile = prepared.profile
                patient = query.patient if profile.saturable and profile.metabolites else None
                key = grouped[0](query, interval, patient)
            except SertError as exc:
                answers[index] = _held(exc)
                continue
            groups.setdefault(key, []).append(index)
        for key, members in groups.items():
            compute = getattr(self, GROUPED[key[0]][1])
            try:
                group = [queries[i] for i in members]
                compute(group, [patients[i] for i in members], key, members, answers)
            except SertError as exc:
                for i in members:
                    answers[i] = _held(exc)
        return answers

    def _occupancy_group(self, group, patients, key, members, answers) -> None:
        profile, interval = patients[0].profile, key[1]
        doses = vector([float(q.dose_mg) for q in group])
        found = steady_state(profile, doses, interval, *patient_pk(patients))
        platelets = _platelet_column(profile, found, len(group))
        state = as_lists(found)
        checked = _all_resolvable(state)  # (else each row is checked on its own)
        for i, (query, slot, prepared) in enumerate(zip(group, members, patients, strict=True)):
            profile = prepared.profile
            try:
                if not checked:
                    check_finite(
                        profile,
                        [
                            at(state.levels[0].css_plasma_ng_ml, i),
                            *(at(v, i) for v in state.loads.values()),
                        ],
                    )
                    check_resolvable([at(v, i) for v in state.occupancy.values()])
            except SertError as exc:
                answers[slot] = _held(exc)
                continue
            warnings = prepared.warnings + tuple(
                label_warnings(profile, float(query.dose_mg) * per_day(interval), "the daily dose")
            )
            if prepared.co_sert_inhibitors:
                loads = state.loads.get(PRIMARY_TRANSPORTER)
                warnings += tuple(together(prepared, None if loads is None else at(loads, i)))
            warnings += tuple(alert_level_warning(profile, state, i))
            warnings += tuple(bleeding_warnings(profile.name, prepared.bleeding, platelets[i]))
            answers[slot] = OccupancyResult(
                query=query,
                prepared=prepared,
                interval_h=interval,
                state=state,
                index=i,
                warnings=warnings,
                platelet_sert_occupancy=platelets[i],
            )

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
                        f"no dose reaches {percent(float(query.target))} {transporter} occupancy"
                        f" on the PET scale: {profile.name}'s occupancy levels off at "
                        f"{percent(emax)}, the plateau PET observes; choose a lower target",
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
        targets = vector([float(q.target) for q in group])
        exact, dose_step = dose_for_load(
            profile,
            transporter,
            formulas.load_for_occupancy(targets, emax),
            interval,
            *patient_pk(patients),
        )
        exact_doses = exact.tolist() if hasattr(exact, "shape") else [exact]
        daily = per_day(interval)
        # a patient the guideline advises against the drug for gets the model's number and
        # the advice, never a dose made of strengths (guidance.csv's action avoid)
        against = [advised_against(p.guidance) for p in patients]
        ceilings = level_ceilings_mg(patients, interval)
        made = [
            None
            if no
            else dose_within_label(p.profile, dose, interval, profile.strengths_mg, ceiling)
            for dose, p, no, ceiling in zip(exact_doses, patients, against, ceilings, strict=True)
        ]
        occupancy_at, platelet_at = _occupancy_at(patients, interval, transporter, made)
        platelet_exact = _platelet_at_exact(profile, exact, interval, patients)
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
            # the reference range, not the label, holds the dose: one line says both
            held = (
                not against[i]
                and dose > ceilings[i] * (1 + 1e-9)
                and ceilings[i] < label_cap_mg(profile, interval)
            )
            if held:
                warnings.append(
                    level_ceiling_text(profile, ceilings[i], interval, found)
                    + ("" if reached else shortfall_words(query.target, transporter, occupancy))
                )
            if against[i]:
                warnings.append(
                    f"no dose is recommended for {profile.name}: the guideline advises against "
                    f"it for this patient ({'; '.join(against[i])}); the exact dose is the "
                    "model's number only"
                )
            elif not reached and not held:
                warnings.append(
                    shortfall_text(
                        profile, query.target, transporter, dose * daily, found, occupancy, interval
                    )
                )
            elif below_label(profile, dose * daily):
                warnings.append(
                    f"the dose for {percent(query.target)} {transporter} occupancy, "
                    f"{dose * daily:.4g} mg/day, is below the label minimum of "
                    f"{profile.label_min_mg:g} mg/day"
                )
            warnings += bleeding_warnings(
                profile.name,
                prepared.bleeding,
                platelet_exact[i] if platelet_at[i] is None else platelet_at[i],
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
                platelet_at_dose=platelet_exact[i],
                platelet_at_recommended=platelet_at[i],
            )

    def workflow(self, kind: str) -> Callable:
        """The function that answers a kind of query (WORKFLOWS), imported once."""
        found = self.workflows.get(kind)
        if found is None:
            if kind not in WORKFLOWS:
                known = ", ".join([*GROUPED, *WORKFLOWS])
                raise InputError(f"unknown query kind {kind!r} (one of: {known})", field="kind")
            module, name = WORKFLOWS[kind]
            found = self.workflows[kind] = getattr(import_module(module), name)
        return found

    def answer(self, query):
        """One query: its result, or its error raised."""
        found = self.answer_many([query])[0]
        if isinstance(found, SertError):
            raise found
        return found


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
            f"with {name} at its usual {usual_mg:g} mg ({percent(alone)} alone), the two together "
            f"occupy about {percent(both)} of SERT at this dose"
        )
    return said


def _all_resolvable(state: SteadyState) -> bool:
    """Whether every row of a group's state is finite and below 100 % occupancy, found
    a column at a time (a sum is finite only if every term is; the largest occupancy
    below 1): then no row needs its own check_finite and check_resolvable."""
    for column in (state.levels[0].css_plasma_ng_ml, *state.loads.values()):
        if not math.isfinite(sum(column) if type(column) is list else column):
            return False
    for column in state.occupancy.values():
        if column is not None and (max(column) if type(column) is list else column) >= 1.0:
            return False
    return True


def _held(exc: SertError) -> SertError:
    """An error kept as an answer, without its traceback and context (errors.held): their
    frames would hold the answers list that holds the error, a cycle that batch (which
    runs with the cyclic collector off) would never free."""
    return held(exc)


def _occupancy_at(patients: list[Prepared], interval, transporter, made) -> tuple[list, list]:
    """Occupancy of the transporter and platelet SERT occupancy at each made-up dose (one a
    row, None where there is none), in one pass, by the steady state that `sert occupancy`
    computes (the same number to the last digit)."""
    rows = [i for i, m in enumerate(made) if m is not None]
    if not rows:
        return [None] * len(made), [None] * len(made)
    profile = patients[0].profile
    found = steady_state(
        profile,
        vector([made[i][0] for i in rows]),
        interval,
        *patient_pk([patients[i] for i in rows]),
    )
    platelets = iter(_platelet_column(profile, found, len(rows)))
    values = as_lists(found).occupancy[transporter]
    taken = iter(values if isinstance(values, list) else [values])
    occupancy = [next(taken) if m is not None else None for m in made]
    return occupancy, [next(platelets) if m is not None else None for m in made]


def _platelet_at_exact(profile: Profile, exact, interval: float, patients) -> list:
    """Platelet SERT occupancy at each exact dose; None a row whose dose is not finite
    (its result is an error, said by check_finite)."""
    doses = exact.tolist() if hasattr(exact, "tolist") else [exact]
    if not all(math.isfinite(d) and d > 0 for d in doses):
        return [None] * len(doses)
    found = steady_state(profile, exact, interval, *patient_pk(patients))
    return _platelet_column(profile, found, len(doses))


def _platelet_column(profile: Profile, state: SteadyState, rows: int) -> list:
    """Platelet SERT occupancy of each row of a group's steady state (docs/model.md section
    20; None a row where no moiety binds SERT or a level is not finite)."""
    values = platelet_occupancy(profile, state.levels)
    if values is None:
        return [None] * rows
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, list):
        values = [values] * rows
    return [v if math.isfinite(v) else None for v in values]


def _interval(query, prepared: Prepared) -> float:
    interval = getattr(query, "interval_h", None)
    if interval is None:
        return prepared.profile.interval_h
    return positive(interval, "interval_h", "hours")


def answer_many(queries: Iterable, library: Library) -> list:
    return Engine(library).answer_many(queries)


def answer(query, library: Library):
    return Engine(library).answer(query)
