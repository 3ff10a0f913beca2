"""Results: one type per query kind, each with `record()` (the JSON contract), `rows()`
(the CSV rows) and `trace()` (the steps that computed it). Every renderer takes these.

A result computed in a batch group points into the group's arrays (`index`); its record
holds plain floats.
"""

from typing import NamedTuple

from sert_cli.pgx.patient import FACTOR_STEP, Prepared
from sert_cli.pk.platelets import evidence_note, occupancy_step, platelet_model, steady_content
from sert_cli.pk.steady_state import (
    MoietyLevels,
    SteadyState,
    exposure_spread,
    occupancy_range,
    steady_state,
)
from sert_cli.trace import Step
from sert_cli.vocabulary import (
    DEFAULT_MAX_CUT,
    DEFAULT_TAPER_STEP_PP,
    HOURS_PER_DAY,
    NOTABLE_OCCUPANCY,
    PRIMARY_TRANSPORTER,
    STATEMENT,
    STEADY_STATE_FRACTIONS,
    TRANSPORTERS,
)


def at(value, index: int):
    """One query's value of a group's list (or array), or a value shared by the group."""
    if isinstance(value, list):
        return value[index]
    if hasattr(value, "shape"):
        return value[index].item()
    return value


def source_of(profile, field: str) -> str:
    """The citation the profile gives for a field (or a field above it)."""
    for cited, citation in profile.sources:
        if field == cited or field.startswith(cited + "."):
            return citation
    return f"{profile.name}'s profile"


def _finished(result, record: dict, explain: bool, patient: bool) -> dict:
    """The patient's fields (unless told not to) and the trace when asked for."""
    if patient:
        record.update(result.prepared.record())
    if explain:
        record["trace"] = [s.record() for s in result.trace()]
    return record


def _closed(result, record: dict, explain: bool, patient: bool = True) -> dict:
    """The fields every steady-state record ends with: constants, warnings, the patient
    (unless told not to), and the trace when asked for."""
    record["affinity"] = dict(result.prepared.profile.affinity)
    record["warnings"] = list(result.warnings)
    return _finished(result, record, explain, patient)


def _drug_name(result) -> str:
    return result.prepared.profile.name


def _prepared_then_own_steps(result) -> list[Step]:
    """The trace of a result whose steps follow the patient's preparation."""
    return [*result.prepared.steps, *result.steps]


def _record_as_row(result) -> list[dict]:
    """The CSV rows of a result that is one record."""
    return [result.record()]


def _with_own_notes(result, record: dict) -> dict:
    record["notes"] = [*result.notes_, *record["notes"]]
    return record


def notable_transporters(occupancies: list[dict]) -> list[str]:
    """The primary transporter, and any other the drug notably occupies, over occupancy
    dicts (transporter -> value, None where nothing binds it)."""
    return [
        t
        for t in TRANSPORTERS
        if all(o[t] is not None for o in occupancies)
        and (t == PRIMARY_TRANSPORTER or max(o[t] for o in occupancies) >= NOTABLE_OCCUPANCY)
    ]


def steady_state_key(fraction: float) -> str:
    return f"time_to_{round(fraction * 100)}pct_steady_state_h"


def _trace(prepared: Prepared, steps: tuple[Step, ...], index: int) -> list[Step]:
    return [*prepared.steps, *(s.at(index) for s in steps)]


def _patient_trace(prepared: Prepared, steps: tuple[Step, ...], index: int) -> list[Step]:
    """The trace of a steady state computed with the patient's own clearances."""
    return _trace(prepared, (*(step for _, step in prepared.clearances), *steps), index)


def assumptions(steps: list[Step], assumed_phenotypes: dict[str, str]) -> list[str]:
    """The "Assumed:" line: what the recorded steps assumed, then the phenotypes the
    patient did not give (the heading names every phenotype used)."""
    said = ["average steady state"]
    said += [s.assumes for s in steps if s.assumes and s.assumes not in said]
    said += [f"{g} {p} (not given)" for g, p in assumed_phenotypes.items()]
    return said


def factor_assumptions(steps: list[Step]) -> list[str]:
    """What the patient factors assumed (sex, smoking: patient_factors.csv), for the commands
    whose "Assumed:" line says nothing else."""
    said: list[str] = []
    for step in steps:
        if step.kind == FACTOR_STEP and step.assumes and step.assumes not in said:
            said.append(step.assumes)
    return said


class OccupancyResult(NamedTuple):
    """The steady state at one dose. Computed in a group of the engine, it points into the
    group's lists (`index`); its record holds plain floats."""

    query: object  # OccupancyQuery
    prepared: Prepared
    interval_h: float
    state: SteadyState
    index: int
    warnings: tuple[str, ...]
    # platelet SERT (docs/model.md section 20), never part of `occupancy`; None where no
    # moiety binds SERT
    platelet_sert_occupancy: float | None = None

    @property
    def drug(self) -> str:
        return self.prepared.profile.name

    @property
    def occupancy(self) -> dict[str, float | None]:
        return {t: at(v, self.index) for t, v in self.state.occupancy.items()}

    @property
    def parent(self) -> MoietyLevels:
        return self.moiety_levels()[0]

    @property
    def metabolites(self) -> list[MoietyLevels]:
        return self.moiety_levels()[1:]

    def moiety_levels(self) -> list[MoietyLevels]:
        i = self.index
        return [
            MoietyLevels(**{f: at(getattr(lv, f), i) for f in lv._fields})
            for lv in self.state.levels
        ]

    def levels(self) -> list[dict]:
        return [lv._asdict() for lv in self.moiety_levels()]

    def trace(self) -> list[Step]:
        steps = _patient_trace(self.prepared, self.state.steps, self.index)
        if self.platelet_sert_occupancy is not None:
            profile = self.prepared.profile
            steps.append(
                occupancy_step(profile, self.moiety_levels(), self.platelet_sert_occupancy)
            )
        return steps

    rows = _record_as_row

    def key_record(self) -> dict:
        """The fields a script needs most (batch's default columns), as record() has them."""
        return {
            "query": "occupancy",
            "drug": self.prepared.profile.name,
            "dose_mg": self.query.dose_mg,
            "interval_h": self.interval_h,
            "phenotypes": dict(self.prepared.phenotypes),
            "occupancy": self.occupancy,
            "platelet_sert_occupancy": self.platelet_sert_occupancy,
            "warnings": list(self.warnings),
        }

    def record(self, explain: bool = False, patient: bool = True) -> dict:
        state, profile, i = self.state, self.prepared.profile, self.index
        parent, *metabolites = self.levels()
        del parent["name"]
        occupancy = self.occupancy
        record = {
            "query": "occupancy",
            "drug": profile.name,
            "dose_mg": self.query.dose_mg,
            "interval_h": self.interval_h,
            "daily_dose_mg": self.query.dose_mg * HOURS_PER_DAY / self.interval_h,
            "phenotypes": dict(self.prepared.phenotypes),
            **parent,
            "metabolites": metabolites,
            "occupancy": occupancy,
            "occupancy_by_moiety": {
                t: {name: at(v, i) for name, v in shares.items()}
                for t, shares in state.shares.items()
            },
            "occupancy_range": occupancy_range(
                profile, {t: at(v, i) for t, v in state.loads.items()}
            ),
            **{
                steady_state_key(f): at(state.time_to_steady_state_h[f], i)
                for f in STEADY_STATE_FRACTIONS
            },
            "label_min_mg": profile.label_min_mg,
            "label_max_mg": profile.label_max_mg,
            **platelet_fields(self.platelet_sert_occupancy),
        }
        return _closed(self, record, explain, patient)


def platelet_fields(theta: float | None) -> dict:
    """The platelet fields of a steady state (docs/model.md section 20): occupancy, the
    serotonin content it settles at, and what is modelled, said once."""
    model = platelet_model()
    return {
        "platelet_sert_occupancy": theta,
        "platelet_serotonin_fraction": steady_content(theta),
        "platelet_evidence": f"{model.occupancy_words}; {model.content_words}",
    }


class DoseResult(NamedTuple):
    query: object  # DoseQuery
    prepared: Prepared
    interval_h: float
    dose_mg: float
    recommended_dose_mg: float | None
    recommended_units_mg: tuple[float, ...]
    occupancy_at_recommended: float | None
    target_reached: bool  # at the recommended dose, which never exceeds the label maximum
    exceeds_label_max: bool  # the exact dose (the model's number) is above the maximum
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]  # the inverse, the strengths and the label check
    index: int
    # platelet SERT occupancy (docs/model.md section 20) at the exact and the recommended
    # dose; None where not computed or no moiety binds SERT
    platelet_at_dose: float | None = None
    platelet_at_recommended: float | None = None

    @property
    def drug(self) -> str:
        return self.prepared.profile.name

    def _at_dose(self) -> SteadyState:
        prepared = self.prepared
        return steady_state(
            prepared.profile,
            self.dose_mg,
            self.interval_h,
            prepared.phenotypes,
            [clearance for clearance, _ in prepared.clearances],
            prepared.saturation,
            prepared.formation or None,
        )

    def trace(self) -> list[Step]:
        profile = self.prepared.profile
        daily = HOURS_PER_DAY / self.interval_h
        made = []
        if self.recommended_dose_mg is not None:
            made.append(
                Step(
                    name="marketed strengths",
                    formula=(
                        "the smallest sum of whole units of the strengths >= D*, or the "
                        "largest <= the label maximum where that one is above it"
                    ),
                    values=(
                        ("units", " + ".join(f"{u:g} mg" for u in self.recommended_units_mg), ""),
                        ("dose", self.recommended_dose_mg, "mg"),
                        ("theta", self.occupancy_at_recommended, ""),
                    ),
                    source=source_of(profile, "dosing.strengths"),
                )
            )
        made.append(
            Step(
                name="label check",
                formula="recommended daily dose <= the label maximum for this patient",
                values=(
                    ("exact daily dose", self.dose_mg * daily, "mg/day"),
                    ("maximum", profile.label_max_mg, "mg/day"),
                    ("exact above", self.exceeds_label_max, ""),
                    ("target reached", self.target_reached, ""),
                ),
                source=profile.label_max_source or source_of(profile, "dosing.label_range"),
            )
        )
        at_dose = self._at_dose()
        platelet = []
        if self.platelet_at_dose is not None:
            platelet.append(
                occupancy_step(
                    profile,
                    at_dose.levels,
                    self.platelet_at_dose,
                    name="platelet SERT occupancy at the exact dose",
                )
            )
        return [
            # the steady state at the exact dose, computed when a trace is asked for
            *_patient_trace(self.prepared, at_dose.steps, 0),
            *platelet,
            *(s.at(self.index) for s in self.steps),
            *made,
        ]

    def dose_range_mg(self) -> list[float] | None:
        """The exact dose for a 95th and a 5th percentile patient of exposure (linear in
        exposure: an approximation for saturable clearance)."""
        spread = exposure_spread(self.prepared.profile, self.query.transporter)
        return None if spread is None else [self.dose_mg / spread, self.dose_mg * spread]

    rows = _record_as_row

    def key_record(self) -> dict:
        """The fields a script needs most (batch's default columns), as record() has them."""
        return {
            "query": "dose",
            "drug": self.prepared.profile.name,
            "target": self.query.target,
            "transporter": self.query.transporter,
            "interval_h": self.interval_h,
            "phenotypes": dict(self.prepared.phenotypes),
            "dose_mg": self.dose_mg,
            "recommended_dose_mg": self.recommended_dose_mg,
            "recommended_units_mg": list(self.recommended_units_mg),
            "occupancy_at_recommended": self.occupancy_at_recommended,
            "target_reached": self.target_reached,
            "platelet_sert_occupancy": self.platelet_at_recommended,
            "warnings": list(self.warnings),
        }

    def record(self, explain: bool = False, patient: bool = True) -> dict:
        profile = self.prepared.profile
        record = {
            "query": "dose",
            "drug": profile.name,
            "target": self.query.target,
            "transporter": self.query.transporter,
            "interval_h": self.interval_h,
            "phenotypes": dict(self.prepared.phenotypes),
            "dose_mg": self.dose_mg,
            "daily_dose_mg": self.dose_mg * HOURS_PER_DAY / self.interval_h,
            "recommended_dose_mg": self.recommended_dose_mg,
            "recommended_daily_dose_mg": None
            if self.recommended_dose_mg is None
            else self.recommended_dose_mg * HOURS_PER_DAY / self.interval_h,
            "recommended_units_mg": list(self.recommended_units_mg),
            "occupancy_at_recommended": self.occupancy_at_recommended,
            "target_reached": self.target_reached,
            "dose_range_mg": self.dose_range_mg(),
            "label_min_mg": profile.label_min_mg,
            "label_max_mg": profile.label_max_mg,
            "exceeds_label_max": self.exceeds_label_max,
            # at the recommended dose, as occupancy_at_recommended (None where none is
            # recommended); the exact dose's has a name of its own
            "platelet_sert_occupancy": self.platelet_at_recommended,
            "platelet_sert_occupancy_at_exact_dose": self.platelet_at_dose,
            "platelet_evidence": platelet_model().occupancy_words,
            "statement": STATEMENT,
        }
        return _closed(self, record, explain, patient)


class GridResult(NamedTuple):
    query: object  # GridQuery
    prepared: Prepared
    interval_h: float
    doses_mg: tuple[float, ...]
    columns: tuple[dict[str, str], ...]  # the phenotypes of each column
    occupancy: tuple[tuple[dict[str, float | None], ...], ...]  # [dose][column]
    steps: tuple[Step, ...]  # the all-NM column's (else the first one's), at the first dose
    warnings: tuple[str, ...]
    label_max_mg: tuple[float, ...]  # each column's patient-specific label maximum, mg/day
    levels_ng_ml: tuple[tuple[dict[str, float], ...], ...] = ()  # [dose][column]: moiety ->
    shares: tuple[tuple[dict[str, dict[str, float]], ...], ...] = ()  # [dose][column]: t -> m
    class_genes: tuple[tuple[str, ...], ...] = ()  # per column: genes at a class activity
    # [dose][column]: platelet SERT occupancy (docs/model.md section 20; None: nothing binds)
    platelet: tuple[tuple[float | None, ...], ...] = ()

    def above_label_max(self, dose_mg: float, column: int) -> bool:
        """A dose above a column's label maximum: shown as such, never as a plain cell."""
        return dose_mg * HOURS_PER_DAY / self.interval_h > self.label_max_mg[column] * (1 + 1e-9)

    def alert_level(self, dose_index: int, column: int) -> bool | None:
        """Whether the expected steady-state average level (of what the reference range is
        of: the parent, or parent + metabolites) reaches the profile's laboratory alert
        level at this dose and column; None without an alert level."""
        profile = self.prepared.profile
        alert = profile.therapeutic_alert_ng_ml
        if alert is None:
            return None
        by_moiety = self.levels_ng_ml[dose_index][column]
        level = sum(profile.range_counted([by_moiety[m.name] for m in profile.moieties]))
        return level >= alert * (1 - 1e-9)

    @property
    def drug(self) -> str:
        return self.prepared.profile.name

    def trace(self) -> list[Step]:
        steps = _trace(self.prepared, self.steps, 0)
        if self.platelet and self.platelet[0][0] is not None:  # what the column rests on
            steps.append(
                Step(
                    name="platelet SERT occupancy",
                    formula="theta_plt = x / (1 + x), x = sum_j Cu,plasma_j / (s_plt * K_j)",
                    values=(("theta_plt", self.platelet[0][0], ""),),
                    source="docs/model.md section 20",
                    assumes=evidence_note(),
                )
            )
        return steps

    def notable_transporters(self) -> list[str]:
        return notable_transporters([cell for row in self.occupancy for cell in row])

    def rows(self) -> list[dict]:
        return [
            {
                "drug": self.drug,
                "dose_mg": dose,
                "interval_h": self.interval_h,
                "phenotypes": dict(column),
                "class_activity_genes": list(self.class_genes[i]),
                "occupancy": dict(cell),
                "css_plasma_ng_ml_by_moiety": dict(self.levels_ng_ml[d][i]),
                "occupancy_by_moiety": {t: dict(m) for t, m in self.shares[d][i].items()},
                "label_max_mg": self.label_max_mg[i],
                "above_label_max": self.above_label_max(dose, i),
                "at_or_above_alert": self.alert_level(d, i),
                "platelet_sert_occupancy": self.platelet[d][i] if self.platelet else None,
            }
            for d, (dose, row) in enumerate(zip(self.doses_mg, self.occupancy, strict=True))
            for i, (column, cell) in enumerate(zip(self.columns, row, strict=True))
        ]

    def record(self, explain: bool = False) -> list[dict]:
        return self.rows()


class SimulationResult(NamedTuple):
    query: object  # SimulateQuery
    prepared: Prepared
    simulation: object  # pk.timecourse.Simulation
    warnings: tuple[str, ...]
    adaptation: dict | None = None  # pk.adaptation.adapt's arrays and summary

    @property
    def drug(self) -> str:
        return self.prepared.profile.name

    def trace(self) -> list[Step]:
        return [*self.prepared.steps, *self.simulation.steps]

    def record(self, explain: bool = False) -> dict:
        record = {
            "query": "simulate",
            **self.simulation.record(),
            "warnings": list(self.warnings),
            **self.prepared.record(),
        }
        if self.adaptation is not None:
            from sert_cli.pk.adaptation import HYPOTHESIS

            record["adaptation"] = {
                key: self.adaptation[key].tolist()
                for key in ("autoreceptor_sensitivity", "firing_rate", "serotonergic_transmission")
            }
            record["adaptation"]["note"] = HYPOTHESIS
            record["summary"] = {**record["summary"], **self.adaptation["summary"]}
        if explain:
            record["trace"] = [s.record() for s in self.trace()]
        return record

    def rows(self) -> list[dict]:
        rows = self.simulation.rows()
        if self.adaptation is not None:
            keys = ("autoreceptor_sensitivity", "firing_rate", "serotonergic_transmission")
            from sert_cli.pk.adaptation import HYPOTHESIS

            for i, row in enumerate(rows):
                row.update({k: float(self.adaptation[k][i]) for k in keys})
                row["adaptation_note"] = HYPOTHESIS
        return rows


class PopulationResult(NamedTuple):
    query: object  # PopulationQuery
    prepared: Prepared
    interval_h: float
    group: str
    numbers: dict  # what queries.population computed
    dose_for_share_mg: float | None
    variability: dict  # parameter -> {cv, source}
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]

    drug = property(_drug_name)
    trace = _prepared_then_own_steps

    def record(self, explain: bool = False) -> dict:
        q, numbers = self.query, self.numbers
        record = {
            "query": "population",
            "drug": self.drug,
            "dose_mg": q.dose_mg,
            "interval_h": self.interval_h,
            "daily_dose_mg": q.dose_mg * HOURS_PER_DAY / self.interval_h,
            "ancestry": self.group,
            "n": q.n,
            "seed": q.seed,
            "target": q.target,
            "transporter": q.transporter,
            "phenotype_frequencies": numbers["phenotype_frequencies"],
            "frequency_sources": numbers["frequency_sources"],
            "occupancy_percentiles": numbers["occupancy_percentiles"],
            "fraction_reaching_target": numbers["fraction_reaching_target"],
            # the laboratory alert level (null without one) and the expected share of these
            # patients whose steady-state average level reaches it
            "alert_level_ng_ml": self.prepared.profile.therapeutic_alert_ng_ml,
            "fraction_at_or_above_alert": numbers["fraction_at_alert"],
            "dose_for_target_in_90pct_mg": self.dose_for_share_mg,
            "label_max_mg": self.numbers["label_max_mg"],  # the lowest any patient here has
            "by_phenotype": numbers["by_phenotype"],
            "variability": self.variability,
            "histogram_5pp": numbers["histogram"],
            "statement": STATEMENT,
        }
        return _closed(self, record, explain)

    def rows(self) -> list[dict]:
        """One row per phenotype combination, with the population's totals repeated."""
        base = {
            "drug": self.drug,
            "dose_mg": self.query.dose_mg,
            "daily_dose_mg": self.query.dose_mg * HOURS_PER_DAY / self.interval_h,
            "ancestry": self.group,
            "n": self.query.n,
            "seed": self.query.seed,
            "fraction_reaching_target": self.numbers["fraction_reaching_target"],
            "fraction_at_or_above_alert": self.numbers["fraction_at_alert"],
            "dose_for_target_in_90pct_mg": self.dose_for_share_mg,
        }
        return [{**base, **row, "statement": STATEMENT} for row in self.numbers["by_phenotype"]]


class TdmResult(NamedTuple):
    query: object  # TdmQuery
    prepared: Prepared
    interval_h: float
    fields: dict  # what queries.tdm found, in record order
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]

    drug = property(_drug_name)
    trace = _prepared_then_own_steps

    rows = _record_as_row

    def record(self, explain: bool = False) -> dict:
        record = {"query": "tdm", "drug": self.drug, **self.fields, "statement": STATEMENT}
        return _closed(self, record, explain)


class TaperResult(NamedTuple):
    query: object  # TaperQuery
    prepared: Prepared
    interval_h: float
    steps_: tuple[dict, ...]
    warnings: tuple[str, ...]
    notes_: tuple[str, ...]
    steps: tuple[Step, ...]

    drug = property(_drug_name)
    trace = _prepared_then_own_steps

    def record(self, explain: bool = False) -> dict:
        q = self.query
        method = (
            {"fraction": q.fraction}
            if q.fraction is not None
            else {"step_pp": DEFAULT_TAPER_STEP_PP if q.step_pp is None else q.step_pp}
        )
        record = {
            "query": "taper",
            "drug": self.drug,
            "from_dose_mg": q.from_dose_mg,
            "interval_h": self.interval_h,
            **method,
            "max_cut": DEFAULT_MAX_CUT if q.max_cut is None else q.max_cut,
            "steps": list(self.steps_),
            "statement": STATEMENT,
        }
        return _with_own_notes(self, _closed(self, record, explain))

    def rows(self) -> list[dict]:
        return [
            {
                "drug": self.drug,
                "from_dose_mg": self.query.from_dose_mg,
                **step,
                "statement": STATEMENT,
            }
            for step in self.steps_
        ]


class SwitchResult(NamedTuple):
    """A switch's plan. `prepared` is the new drug's: its phenotypes, guidance and notes are
    the ones shown with the plan; the old drug's are under "from"."""

    query: object  # SwitchQuery
    prepared: Prepared  # the new drug's
    from_prepared: Prepared  # the old drug's
    fields: dict  # what the switch found, in record order
    warnings: tuple[str, ...]
    notes_: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def drug(self) -> str:
        """The drug taken now (the query's DRUG)."""
        return self.from_prepared.profile.name

    def trace(self) -> list[Step]:
        return [*self.from_prepared.steps, *self.prepared.steps, *self.steps]

    def record(self, explain: bool = False) -> dict:
        record = _closed(self, {"query": "switch", **self.fields, "statement": STATEMENT}, explain)
        del record["affinity"]  # each drug's is under from and to
        return _with_own_notes(self, record)

    def rows(self) -> list[dict]:
        return [
            {
                "from_drug": self.drug,
                "to_drug": self.fields["to"]["drug"],
                **day,
                "statement": STATEMENT,
            }
            for day in self.fields["schedule"]
        ]


class CompareResult(NamedTuple):
    """Drugs side by side for one patient (queries/compare.py): a column per drug."""

    query: object  # CompareQuery
    prepared: Prepared  # the first drug's: the patient as read
    columns: tuple[dict, ...]
    warnings: tuple[str, ...]

    drug = property(_drug_name)

    def trace(self) -> list[Step]:
        return list(self.prepared.steps)

    def record(self, explain: bool = False) -> dict:
        q = self.query
        record = {
            "query": "compare",
            "target": q.target,
            "transporter": q.transporter,
            "drugs": list(self.columns),
            "platelet_evidence": platelet_model().occupancy_words,
            "warnings": list(self.warnings),
            "statement": STATEMENT,
            **self.prepared.record(),
        }
        if explain:
            record["trace"] = [s.record() for s in self.trace()]
        return record

    def rows(self) -> list[dict]:
        """One CSV row per drug."""
        evidence = platelet_model().occupancy_words
        return [
            {**column, "platelet_evidence": evidence, "statement": STATEMENT}
            for column in self.columns
        ]
