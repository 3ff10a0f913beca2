"""Bleeding risk in context (docs/model.md section 20): a co-medication of
sert_cli/data/bleeding_comedications.csv (an NSAID, aspirin, another antiplatelet, an
anticoagulant) adds a warning with the published risk of an SSRI with that class
(bleeding_risk.csv), the drug's SERT-affinity class (sert_affinity_classes.csv) and the
platelet SERT occupancy of the dose: an epidemiological association, not a prediction."""

import functools

from sert_cli.datafiles import read_table
from sert_cli.pk.platelets import ASSOCIATION
from sert_cli.trace import Step, model_section
from sert_cli.units import percent

SHORT_SOURCE = 70  # characters of a source the warning quotes (the trace has it whole)


@functools.cache
def bleeding_drugs() -> dict[str, dict]:
    """The bleeding table's rows by generic name (lower case)."""
    return {row["drug"].strip().lower(): row for row in read_table("bleeding_comedications.csv")[1]}


@functools.cache
def bleeding_names() -> dict[str, str]:
    """Every name (generic or brand, lower case) of a drug of the table -> its generic."""
    names = {}
    for generic, row in bleeding_drugs().items():
        names[generic] = generic
        for alias in (row.get("aliases") or "").split(";"):
            if alias.strip():
                names.setdefault(alias.strip().lower(), generic)
    return names


def risk_rows(drug_class: str) -> list[dict]:
    """The rows of bleeding_risk.csv for an SSRI with this class (exposure ssri+class)."""
    wanted = f"ssri+{drug_class.strip().lower()}"
    return [
        row
        for row in read_table("bleeding_risk.csv")[1]
        if row["exposure"].replace(" ", "").lower() == wanted
    ]


def affinity_class(drug: str) -> dict | None:
    for row in read_table("sert_affinity_classes.csv")[1]:
        if row["drug"].strip().lower() == drug.lower():
            return row
    return None


def short(source: str) -> str:
    first = source.split(";")[0].strip()
    return first if len(first) <= SHORT_SOURCE else first[: SHORT_SOURCE - 3].rstrip() + "..."


def risk_words(row: dict) -> str:
    """One published estimate in a few words: measure, estimate, CI, outcome, source."""
    ci = ""
    if row.get("ci_low") and row.get("ci_high"):
        ci = f" (95 % CI {row['ci_low']}-{row['ci_high']})"
    cited = row.get("cite") or short(row["source"])
    return f"{row['measure']} {row['estimate']}{ci} for {row['outcome']} ({cited})"


def bleeding_warning(drug: str, comedication: str, platelet_occupancy: float | None) -> str:
    """The warning for one bleeding co-medication of `drug` (generic names), with the
    platelet SERT occupancy of this dose where it is known."""
    row = bleeding_drugs()[comedication]
    drug_class = row["class"].strip()
    # the one row per exposure the data file marks as the lead (lead: yes); the others are
    # in --explain and the JSON trace (bleeding_steps)
    risks = [r for r in risk_rows(drug_class) if r.get("lead") == "yes"] or risk_rows(drug_class)[
        :1
    ]
    published = (
        "; ".join(risk_words(r) for r in risks)
        if risks
        else "no published estimate in sert_cli/data/bleeding_risk.csv yet"
    )
    said = [
        f"bleeding risk: {comedication} ({drug_class}) with {drug}: "
        f"SSRI + {drug_class}: {published}"
    ]
    found = affinity_class(drug)
    if found is not None:
        estimate = f", {found['class_estimate']}" if found.get("class_estimate") else ""
        said.append(
            f"{drug}'s SERT-affinity class: {found['affinity_class']}{estimate} "
            f"({found.get('cite') or short(found['classification_source'] or found['source'])})"
        )
    if platelet_occupancy is not None:
        said.append(
            f"platelet SERT occupancy at this dose {percent(platelet_occupancy)} (modelled)"
        )
    said.append(ASSOCIATION)
    return "; ".join(said)


def bleeding_warnings(drug: str, comedications, platelet_occupancy: float | None) -> list[str]:
    return [bleeding_warning(drug, name, platelet_occupancy) for name in comedications]


def bleeding_steps(drug: str, comedications) -> list[Step]:
    """The sources of each bleeding warning, for --explain and the JSON trace."""
    steps = []
    for name in comedications:
        row = bleeding_drugs()[name]
        sources = [row["source"], *(r["source"] for r in risk_rows(row["class"]))]
        found = affinity_class(drug)
        if found is not None:
            sources.append(found["source"])
        steps.append(
            Step(
                name=f"bleeding co-medication {name}",
                formula=f"{row['class']}: published risk of an SSRI with this class "
                f"({ASSOCIATION})",
                values=(),
                source="; ".join(s for s in sources if s) + "; " + model_section(20),
            )
        )
    return steps
