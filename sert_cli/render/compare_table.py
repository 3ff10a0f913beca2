"""`sert compare` as a table: a column per drug, a row per measure a resident compares."""

from rich import box
from rich.console import Console
from rich.table import Table

from sert_cli.queries.results import CompareResult
from sert_cli.vocabulary import PHENOTYPE_NAMES


def compare(console: Console, result: CompareResult) -> None:
    from sert_cli.render.table_format import num, pct

    q, columns = result.query, result.columns
    patient = _patient_words(result)
    table = Table(
        title=f"{', '.join(c['drug'] for c in columns)}{patient}",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    table.add_column("")
    for column in columns:
        table.add_column(column["drug"], justify="right", overflow="fold")

    def row(label: str, cells) -> None:
        table.add_row(label, *cells)

    row(
        "dose, mg/day",
        [f"{c['daily_dose_mg']:g}" + ("" if c["dose_given"] else " (usual)") for c in columns],
    )
    for transporter in ("SERT", "NET"):
        row(f"{transporter} occupancy", [pct(c["occupancy"].get(transporter)) for c in columns])
    row("plasma, ng/mL", [num(c["css_plasma_ng_ml"]) for c in columns])
    row(
        f"dose for {q.target * 100:g} % {q.transporter}, mg/day",
        [_dose_for_target(c) for c in columns],
    )
    row(
        "  90 % of patients, mg/day",
        [
            "-"
            if not c.get("dose_for_target_range_mg")
            else "{:.3g}-{:.3g}".format(
                *(d * 24 / c["interval_h"] for d in c["dose_for_target_range_mg"])
            )
            for c in columns
        ],
    )
    row(
        "CL/F vs an average patient", [f"x{c['clearance_vs_average_patient']:.2f}" for c in columns]
    )
    row(
        "95 % of steady state",
        [
            "n/a"
            if c["time_to_95pct_steady_state_days"] is None
            else f"{c['time_to_95pct_steady_state_days']:.1f} days"
            for c in columns
        ],
    )
    row("label, mg/day", [_label(*c["label_range_mg_day"]) for c in columns])
    console.print(table)
    console.print(
        "Each drug's notes and CPIC/DPWG guidance: `sert dose DRUG` with the same options.",
        style="dim",
        markup=False,
    )


def _label(low_mg: float, high_mg: float) -> str:
    """The patient's label range: one number where the limits leave one dose."""
    return f"{low_mg:g}" if low_mg == high_mg else f"{low_mg:g}-{high_mg:g}"


def _dose_for_target(column: dict) -> str:
    """The exact dose, then what the strengths make (never above the label maximum)."""
    exact = column.get("dose_for_target_mg")
    if exact is None:
        return "none"
    per_day = 24 / column["interval_h"]
    made = column.get("recommended_dose_mg")
    text = f"{exact * per_day:.3g}"
    if made is not None:
        text += f" -> {made * per_day:g}"
    return text + ("" if column.get("target_reached", True) else " (short)")


def _patient_words(result: CompareResult) -> str:
    """' for CYP2C19 poor metabolizer, with omeprazole, age 72': the patient as given."""
    query, said = result.query, []
    for gene, phenotype in query.patient.phenotypes:
        said.append(f"{gene} {PHENOTYPE_NAMES.get(phenotype, phenotype)}")
    said += [f"{gene} {diplotype}" for gene, diplotype in query.patient.genotypes]
    if query.patient.comedications:
        said.append("with " + ", ".join(query.patient.comedications))
    for name, value in result.prepared.factors.items():
        said.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return (" for " + ", ".join(said)) if said else " for an average patient (NM)"
