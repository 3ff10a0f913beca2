"""The grid workflow (`table`, `curve`): steady-state occupancy over doses, one column per
phenotype set, each column's doses computed together as one array.

The columns cover every gene the drug's clearance or a metabolite's formation depends on:
a phenotype the drug has measured data for, or one the class activities hold
(sert_cli/data/phenotype_activity.csv; such a column names the genes in
`class_activity_genes`). At one dose, a drug whose two genes both have phenotypes gets
every combination of the two as well (the selectivity view: how the SERT/NET balance of
parent and metabolite moves with both genes)."""

import itertools

from sert_cli.errors import ModelError
from sert_cli.pgx.patient import Patient, Prepared
from sert_cli.pk.dosing import RELATIVE_SLACK, label_range_doses, per_day
from sert_cli.pk.platelets import platelet_occupancy
from sert_cli.pk.steady_state import (
    check_resolvable,
    class_activity,
    class_activity_genes,
    steady_state,
)
from sert_cli.queries.arrays import as_lists, vector
from sert_cli.queries.results import GridResult, at
from sert_cli.queries.values import GridQuery, positive
from sert_cli.vocabulary import PHENOTYPES

CURVE_POINTS = 80
CURVE_BEYOND_LABEL = 2.0  # a curve runs to twice the label maximum
COMBINED_GENES = 2  # at one dose, every combination of two genes' phenotypes (at most 5 x 5)


def answer_grid(engine, query: GridQuery, prepared: Prepared, interval_h: float) -> GridResult:
    """The grid query's answer (the engine dispatches here; `engine` prepares the other
    columns' patients). A grid is always at the profile's interval."""
    profile = prepared.profile
    interval = profile.interval_h
    if query.doses_mg is not None:
        doses = tuple(positive(d, "doses_mg", "mg") for d in query.doses_mg)
    elif query.span == "curve":
        top = profile.label_range_max_mg * CURVE_BEYOND_LABEL / per_day(interval)
        doses = tuple(top * (i + 1) / CURVE_POINTS for i in range(CURVE_POINTS))
    else:
        doses = default_doses(profile)
    columns = grid_columns(engine, query, prepared, combined=len(doses) == 1)
    doses_vector = vector(list(doses))
    cells, levels, shares, platelet, steps = [], [], [], [], ()
    reference = next((c for c in columns if set(c.phenotypes.values()) <= {"NM"}), columns[0])
    for column in columns:
        found = steady_state(column.profile, doses_vector, interval, column.phenotypes)
        theta = platelet_occupancy(column.profile, found.levels)
        platelet.append(
            [None] * len(doses)
            if theta is None
            else [
                at(theta.tolist() if hasattr(theta, "tolist") else theta, i)
                for i in range(len(doses))
            ]
        )
        state = as_lists(found)
        occupancy = [{t: at(v, i) for t, v in state.occupancy.items()} for i in range(len(doses))]
        for cell in occupancy:
            check_resolvable(cell.values())
        cells.append(occupancy)
        levels.append(
            [
                {lv.name: at(lv.css_plasma_ng_ml, i) for lv in state.levels}
                for i in range(len(doses))
            ]
        )
        shares.append(
            [
                {t: {name: at(v, i) for name, v in by.items()} for t, by in state.shares.items()}
                for i in range(len(doses))
            ]
        )
        if column is reference:  # the trace: the all-NM column's (or the first one's)
            steps = state.steps

    def by_dose(values: list) -> tuple:
        return tuple(tuple(column[i] for column in values) for i in range(len(doses)))

    return GridResult(
        query=query,
        prepared=prepared,
        interval_h=interval,
        doses_mg=doses,
        columns=tuple(dict(c.phenotypes) for c in columns),
        occupancy=by_dose(cells),
        steps=steps,
        warnings=prepared.warnings,
        label_max_mg=tuple(c.profile.label_max_mg for c in columns),
        levels_ng_ml=by_dose(levels),
        shares=by_dose(shares),
        class_genes=tuple(class_activity_genes(c.profile, c.phenotypes) for c in columns),
        platelet=by_dose(platelet),
    )


def liquid_dose_mg(profile, dose_mg: float) -> float | None:
    """dose_mg where the most dilute marketed oral liquid measures it in whole steps of an
    oral syringe (taper's VOLUME_STEP_ML); None without such a liquid."""
    from sert_cli.queries.taper import VOLUME_STEP_ML, most_dilute_liquid

    if not profile.oral_liquids:
        return None
    steps = dose_mg / most_dilute_liquid(profile)[1] / VOLUME_STEP_ML
    return dose_mg if steps >= 1 and abs(steps - round(steps)) < 1e-6 else None


def default_doses(profile, max_rows: int = 12) -> tuple[float, ...]:
    """The table's doses per interval: those the strengths make within the label range,
    and first the label's daily minimum shared over the day's doses where the strengths
    cannot make it but the marketed oral liquid measures it (amitriptyline every 12 h: 10
    mg/day is 5 mg, 2.5 mL of the 2 mg/mL solution; the smallest tablet, 10 mg, would start
    the table at 20 mg/day)."""
    low = profile.label_min_mg / per_day(profile.interval_h)
    doses = label_range_doses(profile, max_rows)
    if doses[0] > low * (1 + RELATIVE_SLACK) and liquid_dose_mg(profile, low) is not None:
        return (low, *label_range_doses(profile, max_rows - 1))
    return doses


def grid_columns(
    engine, query: GridQuery, prepared: Prepared, combined: bool = False
) -> list[Prepared]:
    """All-NM, then each gene at each phenotype the profile has data for, measured or
    class (one gene: PM IM NM RM UM; several: NM first, then gene by gene, the others
    NM); with `combined` and two such genes, then every pair of their phenotypes neither
    of which is NM. A curve: the measured phenotypes only (each a line of one chart).
    For a given patient, the NM column and the patient's."""
    profile = prepared.profile
    nm = engine.prepared(query.drug, query.affinity, Patient())
    if query.patient.given:
        if query.span == "curve" or prepared == nm:
            return [prepared]
        return [nm, prepared]
    by_gene: dict[str, list[tuple[str, Prepared]]] = {}
    for gene in profile.genes:
        have = profile.phenotypes_of(gene)
        for phenotype in PHENOTYPES:
            if phenotype == "NM" or (
                phenotype not in have
                and (query.span == "curve" or class_activity(gene, phenotype) is None)
            ):
                continue  # (a curve: the measured phenotypes, a legend of a few lines)
            column = _column(engine, query, ((gene, phenotype),))
            if column is not None:
                by_gene.setdefault(gene, []).append((phenotype, column))
    if len(by_gene) <= 1:  # one gene (or none): PM IM NM RM UM, as it always was
        columns = [nm, *(c for found in by_gene.values() for _, c in found)]
        columns.sort(key=lambda c: tuple(PHENOTYPES.index(p) for p in c.phenotypes.values()))
        return columns
    columns = [nm, *(c for found in by_gene.values() for _, c in found)]
    if combined and len(by_gene) == COMBINED_GENES:
        (first, first_found), (second, second_found) = by_gene.items()
        for (a, _), (b, _) in itertools.product(first_found, second_found):
            column = _column(engine, query, ((first, a), (second, b)))
            if column is not None:
                columns.append(column)
    return columns


def _column(engine, query: GridQuery, phenotypes: tuple) -> Prepared | None:
    """The patient of these phenotypes, or None where the model has no data for one."""
    try:
        prepared = engine.prepared(query.drug, query.affinity, Patient(phenotypes=phenotypes))
        class_activity_genes(prepared.profile, prepared.phenotypes)
    except ModelError:
        return None
    return prepared
