"""Bleeding risk in context (docs/model.md section 20): a co-medication of
sert_cli/data/bleeding_comedications.csv (an NSAID, aspirin, another antiplatelet, an
anticoagulant) adds a warning with the published risk of the antidepressant's class with
that co-medication class (bleeding_risk.csv: each estimate with its comparator), the drug's
SERT-affinity class (sert_affinity_classes.csv) and the platelet SERT occupancy of the dose:
an epidemiological association, not a prediction.

The antidepressant's class (the profile's `class`: SSRI, SNRI, TCA, ...) is passed in by
the caller (the patient layer puts it in each `CoMedication`): this layer reads no profile.
Where bleeding_risk.csv has no row for the drug or its class with the co-medication class,
the warning says so and gives the SSRI figure, labelled as for SSRIs, and the class's own
estimate (vs no use) where a row has one."""

import functools
from typing import NamedTuple

from sert_cli.datafiles import read_table
from sert_cli.pk.platelets import ASSOCIATION
from sert_cli.trace import Step, model_section
from sert_cli.units import percent

SHORT_SOURCE = 70  # characters of a source the warning quotes (the trace has it whole)
REFERENCE_EXPOSURE = "ssri"  # the class the published combined estimates are for


class ClassNames(NamedTuple):
    exposure: str  # its exposure in bleeding_risk.csv
    a_name: str  # 'an SSRI'
    plural: str  # 'SSRIs'
    label: str  # 'SSRI', in 'SSRI + NSAID'


# a profile's class -> its names
ANTIDEPRESSANT_CLASSES = {
    "ssri": ClassNames("ssri", "an SSRI", "SSRIs", "SSRI"),
    "snri": ClassNames("snri", "an SNRI", "SNRIs", "SNRI"),
    "tca": ClassNames("tca", "a tricyclic", "tricyclics", "tricyclic"),
    "serotonin modulator": ClassNames(
        "serotonin modulator",
        "a serotonin modulator",
        "serotonin modulators",
        "serotonin modulator",
    ),
}
# a co-medication class of bleeding_comedications.csv -> its name in a sentence
COMEDICATION_CLASSES = {
    "nsaid": ("an NSAID", "NSAID"),
    "aspirin": ("aspirin", "aspirin"),
    "antiplatelet": ("an antiplatelet", "antiplatelet"),
    "anticoagulant": ("an anticoagulant", "anticoagulant"),
}


class CoMedication(NamedTuple):
    """A bleeding co-medication of a patient, with the class of the antidepressant it is
    taken with (the caller's: the profile's class)."""

    name: str  # generic name, a row of bleeding_comedications.csv
    antidepressant_class: str  # SSRI, SNRI, TCA, serotonin modulator, ... ('' unknown)


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


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _exposure(row: dict) -> str:
    return "+".join(_key(part) for part in row["exposure"].split("+"))


def exposure_rows(exposure: str) -> list[dict]:
    """The rows of bleeding_risk.csv for one exposure (e.g. `ssri+nsaid`, `tca`)."""
    wanted = "+".join(_key(part) for part in exposure.split("+"))
    return [row for row in read_table("bleeding_risk.csv")[1] if _exposure(row) == wanted]


def risk_rows(comedication_class: str, antidepressant: str = REFERENCE_EXPOSURE) -> list[dict]:
    """The rows for an antidepressant exposure with a co-medication class (exposure
    antidepressant+class; an SSRI unless told)."""
    return exposure_rows(f"{antidepressant}+{comedication_class}")


def lead(rows: list[dict]) -> list[dict]:
    """The row the data file marks as the lead (lead: yes), else the first: the others are
    in --explain and the JSON trace (bleeding_steps)."""
    return [r for r in rows if r.get("lead") == "yes"][:1] or rows[:1]


def class_names(antidepressant_class: str) -> ClassNames:
    """A profile's class's names (its exposure, 'an SSRI', 'SSRIs', 'SSRI'); its own words
    if it is not one of ANTIDEPRESSANT_CLASSES."""
    key = _key(antidepressant_class)
    own = key or "this antidepressant"
    return ANTIDEPRESSANT_CLASSES.get(key, ClassNames(key, own, own, own))


def comedication_words(comedication_class: str) -> tuple[str, str]:
    key = _key(comedication_class)
    return COMEDICATION_CLASSES.get(key, (key, key))


def affinity_class(drug: str) -> dict | None:
    for row in read_table("sert_affinity_classes.csv")[1]:
        if row["drug"].strip().lower() == drug.lower():
            return row
    return None


def short(source: str) -> str:
    first = source.split(";")[0].strip()
    return first if len(first) <= SHORT_SOURCE else first[: SHORT_SOURCE - 3].rstrip() + "..."


def estimate_words(row: dict) -> str:
    """An estimate, its CI and its comparator: 'OR 2.93 (95 % CI 2.25-3.82) vs neither drug'."""
    ci = ""
    if row.get("ci_low") and row.get("ci_high"):
        ci = f" (95 % CI {row['ci_low']}-{row['ci_high']})"
    versus = f" {row['versus'].strip()}" if (row.get("versus") or "").strip() else ""
    return f"{row['measure']} {row['estimate']}{ci}{versus}"


def cited(row: dict) -> str:
    return row.get("cite") or short(row["source"])


def risk_words(row: dict) -> str:
    """One published estimate in a few words: measure, estimate, CI, comparator, outcome,
    source."""
    return f"{estimate_words(row)} for {row['outcome']} ({cited(row)})"


def _combined_clause(first: dict, comedication_class: str, label: str) -> str:
    """'SSRI + NSAID: OR 2.93 (...) vs neither drug, NSAID alone OR 2.15 (...) vs non-use,
    for upper GI bleeding (source)': the co-medication alone beside it where the same
    study gives it (the lead row of the co-medication's own exposure, same source)."""
    alone = [
        r
        for r in lead(exposure_rows(comedication_class))
        if r["source"] == first["source"] and r["outcome"] == first["outcome"]
    ]
    if not alone:
        return f"{label}: {risk_words(first)}"
    name = comedication_words(comedication_class)[1]
    return (
        f"{label}: {estimate_words(first)}, {name} alone {estimate_words(alone[0])}, "
        f"for {first['outcome']} ({cited(first)})"
    )


def _own_exposure(drug: str, antidepressant_class: str, rows_of) -> tuple[str, dict] | None:
    """The drug's own exposure, else its class's, with its lead row of `rows_of(exposure)`."""
    for own in dict.fromkeys((_key(drug), class_names(antidepressant_class).exposure)):
        rows = lead(rows_of(own))
        if rows:
            return own, rows[0]
    return None


def risk_clauses(drugs: list[tuple[str, str]], comedication_class: str) -> list[str]:
    """The published risk of each drug's class with the co-medication class, each said
    once however many drugs share it: the drug's or its class's own combined row; for the
    others, a plain 'none' with the SSRI figure (as for SSRIs) and the drug's or class's
    own estimate vs no use where a row has one. What is said once is keyed on the rows
    and classes (data), never on words."""
    co_name = comedication_words(comedication_class)[1]
    combined: dict[str, str] = {}  # exposure -> its combined clause
    missing: dict[str, None] = {}  # 'a tricyclic', ... without a combined row
    alone: dict[str, str] = {}  # exposure -> its own estimate vs no use
    for drug, antidepressant_class in drugs:
        names = class_names(antidepressant_class)
        found = _own_exposure(
            drug, antidepressant_class, lambda e: risk_rows(comedication_class, e)
        )
        if found is not None:
            own, row = found
            label = f"{drug if own == _key(drug) else names.label} + {co_name}"
            combined.setdefault(own, _combined_clause(row, comedication_class, label))
            continue
        missing[drug if names.exposure == REFERENCE_EXPOSURE else names.a_name] = None
        by_itself = _own_exposure(drug, antidepressant_class, exposure_rows)
        if by_itself is not None and by_itself[0] != REFERENCE_EXPOSURE:
            own, row = by_itself
            name = drug if own == _key(drug) else names.plural
            alone.setdefault(own, f"{name} alone: {risk_words(row)}")
    said = list(combined.values())
    if missing:
        none = f"no published estimate for {' or '.join(missing)} + {co_name} in sert's table"
        reference = lead(risk_rows(comedication_class))
        if REFERENCE_EXPOSURE in combined:
            none += " (the SSRI figure is for SSRIs)"
        elif reference:
            none += "; for SSRIs, " + _combined_clause(
                reference[0], comedication_class, f"SSRI + {co_name}"
            )
        said.append(none)
    return said + list(alone.values())


def affinity_words(drugs: list[str]) -> str | None:
    """The drugs' SERT-affinity classes, each classification cited once: "amitriptyline's
    SERT-affinity class (Meijer 2004, ...): intermediate, OR 1.9 ..."."""
    cites: dict[str, dict[tuple[str, str], list[str]]] = {}
    for drug in drugs:
        found = affinity_class(drug)
        if found is None or not found.get("affinity_class"):
            continue
        cite = found.get("cite") or short(found["classification_source"] or found["source"])
        key = (found["affinity_class"], found.get("class_estimate") or "")
        cites.setdefault(cite, {}).setdefault(key, []).append(drug)
    if not cites:
        return None
    one = len(drugs) == 1  # (its name is in the heading: not again before its class)
    groups = []
    for cite, classes in cites.items():
        said = [
            ("" if one else f"{', '.join(names)} ")
            + a_class
            + (f", {estimate}" if estimate else "")
            for (a_class, estimate), names in classes.items()
        ]
        groups.append(f"({cite}): {'; '.join(said)}")
    if one:
        return f"{drugs[0]}'s SERT-affinity class {groups[0]}"
    return "SERT-affinity classes " + "; ".join(groups)


def _comedication_heading(comedication: str) -> str:
    co_class = bleeding_drugs()[comedication]["class"].strip()
    a_name = comedication_words(co_class)[0]
    # (no 'aspirin (aspirin)': a name that is its class is not repeated)
    return comedication if _key(a_name) == _key(comedication) else f"{comedication} ({a_name})"


def bleeding_summary(
    comedication: str, drugs: list[tuple[str, str]], platelet_words: str | None
) -> str:
    """The warning for one bleeding co-medication taken with each of `drugs` ((generic
    name, profile class) pairs): each class's published risk once, the drugs' SERT-affinity
    classes, the platelet words given, the association's caveat."""
    co_class = bleeding_drugs()[comedication]["class"].strip()
    with_words = ", ".join(f"{drug} ({class_names(c).a_name})" for drug, c in drugs)
    heading = f"bleeding risk: {_comedication_heading(comedication)} with {with_words}"
    said = [f"{heading}: {'; '.join(risk_clauses(drugs, co_class))}"]
    classes = affinity_words([drug for drug, _ in drugs])
    if classes is not None:
        said.append(classes)
    if platelet_words:
        said.append(platelet_words)
    said.append(ASSOCIATION)
    return "; ".join(said)


class BleedingWarning(str):
    """A bleeding warning's words, with the co-medication they are about as data: a
    workflow that states one warning for several drugs (compare) leaves out the per-drug
    ones by this, never by their text."""

    comedication: str

    def __new__(cls, text: str, comedication: str = ""):
        made = super().__new__(cls, text)
        made.comedication = comedication
        return made

    def __getnewargs__(self):
        return (str(self), self.comedication)


def bleeding_warning(
    drug: str, comedication: CoMedication, platelet_occupancy: float | None
) -> BleedingWarning:
    """The warning for one bleeding co-medication of `drug` (generic names), with the
    platelet SERT occupancy of this dose where it is known."""
    platelet = (
        None
        if platelet_occupancy is None
        else f"platelet SERT occupancy at this dose {percent(platelet_occupancy)} (modelled)"
    )
    text = bleeding_summary(
        comedication.name, [(drug, comedication.antidepressant_class)], platelet
    )
    return BleedingWarning(text, comedication.name)


def bleeding_warnings(
    drug: str, comedications, platelet_occupancy: float | None
) -> list[BleedingWarning]:
    return [bleeding_warning(drug, item, platelet_occupancy) for item in comedications]


def bleeding_steps(drug: str, comedications) -> list[Step]:
    """The sources of each bleeding warning, for --explain and the JSON trace: every row
    of the drug's or its class's exposure with the co-medication class, the SSRI rows, the
    class alone and the co-medication alone."""
    steps = []
    for item in comedications:
        row = bleeding_drugs()[item.name]
        co_class = row["class"].strip()
        exposure = class_names(item.antidepressant_class)[0]
        owners = dict.fromkeys((_key(drug), exposure, REFERENCE_EXPOSURE))
        rows = [r for own in owners for r in risk_rows(co_class, own)]
        rows += [r for own in owners if own != REFERENCE_EXPOSURE for r in exposure_rows(own)]
        rows += exposure_rows(co_class)
        sources = [row["source"], *dict.fromkeys(r["source"] for r in rows)]
        found = affinity_class(drug)
        if found is not None:
            sources.append(found["source"])
        steps.append(
            Step(
                name=f"bleeding co-medication {item.name}",
                formula=f"{co_class} with {class_names(item.antidepressant_class)[1]}: "
                f"published risk of this class (else an SSRI's) with it ({ASSOCIATION})",
                values=(),
                source="; ".join(s for s in sources if s) + "; " + model_section(20),
            )
        )
    return steps
