"""The result fields a script can ask for (sert_cli/data/fields.csv): name, unit, type,
the query kinds that have them, batch's default set, and what each means.

A field named with a placeholder (`occupancy_{transporter}`) is an object in JSON and one
CSV column per key (`occupancy_SERT`); a field of type object is one cell of JSON text, as
is every list.
"""

import functools
import re
from typing import NamedTuple

from sert_cli.datafiles import read_table
from sert_cli.vocabulary import TRANSPORTERS

PLACEHOLDER = re.compile(r"^(?P<stem>\w+?)_\{(?P<key>\w+)\}$")
PATIENT_FACTORS = ("age", "crcl", "hepatic", "sex", "smoker")


class Field(NamedTuple):
    name: str  # as the catalogue writes it: query, occupancy_{transporter}
    stem: str  # the record's key: query, occupancy
    placeholder: str | None  # transporter, gene, factor; None for a plain field
    unit: str
    type: str
    queries: tuple[str, ...]
    key: bool  # one of batch's default columns
    meaning: str


@functools.cache
def catalogue() -> tuple[Field, ...]:
    fields = []
    for row in read_table("fields.csv")[1]:
        match = PLACEHOLDER.match(row["field"])
        fields.append(
            Field(
                name=row["field"],
                stem=match["stem"] if match else row["field"],
                placeholder=match["key"] if match else None,
                unit=row["unit"],
                type=row["type"],
                queries=tuple(row["queries"].split()),
                key=row["key"] == "yes",
                meaning=row["meaning"],
            )
        )
    return tuple(fields)


@functools.cache
def _one_cell_pattern() -> re.Pattern:
    names = [
        re.escape(f.stem) + (r"_[^_]+" if f.placeholder else "")
        for f in catalogue()
        if f.type == "object"
    ]
    return re.compile("|".join(names) or "(?!)")


def one_cell(name: str) -> bool:
    """Whether a record's object at this CSV name is one cell of JSON text (its keys are
    not a fixed set: occupancy_by_moiety_SERT's moieties) rather than spread over columns."""
    return _one_cell_pattern().fullmatch(name) is not None


def keys_of(placeholder: str, genes: tuple[str, ...]) -> tuple[str, ...]:
    """The values a placeholder takes: the transporters, the given genes, the patient
    factors."""
    return {"transporter": TRANSPORTERS, "gene": genes, "factor": PATIENT_FACTORS}[placeholder]


class Column(NamedTuple):
    """One output column: its CSV name and where its value is in a record."""

    name: str
    stem: str
    key: str | None  # the key inside the stem's object, for a spread field


def columns_of(field: Field, genes: tuple[str, ...]) -> list[Column]:
    if field.placeholder is None:
        return [Column(field.name, field.stem, None)]
    return [
        Column(f"{field.stem}_{key}", field.stem, key) for key in keys_of(field.placeholder, genes)
    ]


def markdown() -> str:
    """docs/fields.md, as `sert batch --fields list` says it (written from the catalogue:
    `python -c 'from sert_cli import fields; print(fields.markdown(), end="")' >
    docs/fields.md`)."""
    lines = [
        "<!-- written from sert_cli/data/fields.csv by sert_cli.fields.markdown(); "
        "tests/test_batch.py checks it -->",
        "# Result fields",
        "",
        "The fields of `sert occupancy`, `sert dose` and `sert tdm` (JSON and CSV), which are",
        "also the columns `sert batch --fields` chooses from. In CSV, `{transporter}` is one",
        "column per transporter (`occupancy_SERT`, `occupancy_NET`), `{gene}` one per gene the",
        "profiles use (`phenotypes_CYP2C19`), `{factor}` one per patient factor (age, crcl,",
        "hepatic, sex, smoker); in JSON each is an object keyed by them. A list, and a field of",
        "type object, is JSON text in one CSV cell; booleans are `true`/`false`; an empty cell",
        "(JSON null) means not computed for the row. Default: the columns batch writes when",
        "`--fields` is not given (`--fields key`); `--fields all` writes every field of the",
        "queries in the input.",
        "",
        "| field | unit | type | queries | default | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in catalogue():
        lines.append(
            f"| `{f.name}` | {f.unit} | {f.type} | {', '.join(f.queries)} | "
            f"{'yes' if f.key else ''} | {f.meaning} |"
        )
    return "\n".join(lines) + "\n"


def is_result_column(name: str) -> bool:
    """Whether a name is a result field's CSV column (`occupancy_SERT`, `warnings`): what a
    batch's own output holds. Not daily_dose_mg: in an input it means a dose, which batch
    reads only per interval (dose_mg)."""
    if name == "daily_dose_mg":
        return False
    for field in catalogue():
        if field.placeholder is None:
            if name == field.name:
                return True
        elif name.startswith(field.stem + "_") and name[len(field.stem) + 1 :].isalnum():
            return True
    return False
