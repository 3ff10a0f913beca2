"""The grid workflow (`table`, `curve`): steady-state occupancy over doses, one column per
phenotype set, each column's doses computed together as one array."""

from sert_cli.pgx.patient import Patient, Prepared
from sert_cli.pk.dosing import label_range_doses, per_day
from sert_cli.pk.steady_state import check_resolvable, steady_state
from sert_cli.queries.arrays import as_lists, vector
from sert_cli.queries.results import GridResult, at
from sert_cli.queries.values import GridQuery, positive
from sert_cli.vocabulary import PHENOTYPES

CURVE_POINTS = 80
CURVE_BEYOND_LABEL = 2.0  # a curve runs to twice the label maximum


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
        doses = label_range_doses(profile)
    columns = grid_columns(engine, query, prepared)
    doses_vector = vector(list(doses))
    cells, steps = [], ()
    for column in columns:
        state = as_lists(steady_state(column.profile, doses_vector, interval, column.phenotypes))
        occupancy = [{t: at(v, i) for t, v in state.occupancy.items()} for i in range(len(doses))]
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


def grid_columns(engine, query: GridQuery, prepared: Prepared) -> list[Prepared]:
    """All-NM, then each gene at each phenotype the profile has (CPIC order); for a
    given patient, the NM column and the patient's."""
    profile = prepared.profile
    nm = engine.prepared(query.drug, query.affinity, Patient())
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
                columns.append(engine.prepared(query.drug, query.affinity, patient))
    columns.sort(key=lambda c: tuple(PHENOTYPES.index(p) for p in c.phenotypes.values()))
    return columns
