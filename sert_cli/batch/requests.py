"""Batch requests: which input columns are read (the contract), and a row's cells as a
query value.

A column is read if its name is a request field, a documented alias of one, or a gene.
A column that looks like one but is not (another case, a near miss, a gene name inside it)
stops the run before any row is computed, unless --carry names it; any other column is
carried through unread and named once on stderr.
"""

import difflib
import functools
import operator
import re
from typing import NamedTuple

from sert_cli.errors import InputError
from sert_cli.pgx.patient import Patient
from sert_cli.queries.values import DoseQuery, OccupancyQuery, TdmQuery
from sert_cli.recent import Recent
from sert_cli.units import level_ng_ml, read_amount
from sert_cli.vocabulary import GENES

# The request fields, in the order of a request's key, and the unit each cell is read in.
FIELDS = {
    "drug": None,
    "dose_mg": "mass",
    "target": None,
    "transporter": None,
    "interval_h": "time",
    "with": None,
    "age": None,
    "crcl": "crcl",
    "hepatic": None,
    "sex": None,
    "smoker": None,
    "level_ng_ml": "concentration",
    "metabolite_level_ng_ml": "concentration",  # C, or NAME=C; several separated by ;
    "sum_level_ng_ml": "concentration",
    "hours_after_dose": "time",
}
ALIASES = {
    "dose": "dose_mg",
    "target_occupancy": "target",
    "interval": "interval_h",
    "comedication": "with",  # (not "comedications": a result field, the list batch writes)
    "co_medication": "with",
    "co_medications": "with",
    "age_years": "age",
    "crcl_ml_min": "crcl",
    "creatinine_clearance": "crcl",
    "smoking": "smoker",
    "level": "level_ng_ml",
    "metabolite_level": "metabolite_level_ng_ml",
    "sum_level": "sum_level_ng_ml",
    "time_after_dose_h": "hours_after_dose",
}
GENE_SUFFIXES = ("genotype", "diplotype", "phenotype")  # CYP2C19_genotype reads as CYP2C19
LEVEL_FIELDS = ("level_ng_ml", "metabolite_level_ng_ml", "sum_level_ng_ml")  # a tdm row's
PATIENT_FIELDS = (*GENES, "with", "age", "crcl", "hepatic", "sex", "smoker")
NEAR_MISS = 0.8  # difflib ratio at which an unknown column is taken for a misspelt field
PATIENTS_KEPT = 10_000  # patients parsed, least recently used dropped first


class Contract(NamedTuple):
    """How a header is read: field -> its column, the columns carried to the output, and
    the columns no field reads that --carry did not name (said once on stderr)."""

    header: tuple[str, ...]
    reads: dict[str, int]
    carried: tuple[int, ...]
    unread: tuple[str, ...]


# Words that, inside an unknown column's name, say it means a field: `daily_dose_mg`,
# `interval_days`, `smoking_status`, `hepatic_impairment` are not read, so they stop the run.
FIELD_WORDS = {
    "dose": "dose_mg",
    "doses": "dose_mg",
    "target": "target",
    "interval": "interval_h",
    "level": "level_ng_ml",
    "age": "age",
    "crcl": "crcl",
    "hepatic": "hepatic",
    "smoker": "smoker",
    "smoking": "smoker",
    "transporter": "transporter",
}
WORD = re.compile(r"[a-z0-9]+")


def contract(header: list[str], carry: str = "all", present: int | None = None) -> Contract:
    """The contract of a header, or an InputError (exit 2) naming every column that looks
    like a field but is not one, or a --carry name that is not a column. Only the first
    `present` columns are the input's own (JSON lines: the first line's keys); the others
    are request fields read where a line has them, never carried."""
    present = len(header) if present is None else present
    _check_once_each(header[:present])
    keyword = carry.strip().lower()
    named = set() if keyword in ("all", "none") else _carry_names(carry, header[:present])
    reads: dict[str, int] = {}
    suspect, unread = [], []
    for index, name in enumerate(header):
        field = field_of(name.strip())
        if field is not None:
            if field in reads:
                raise InputError(
                    f"columns {header[reads[field]]!r} and {name!r} both give {field}: keep one"
                )
            reads[field] = index
            continue
        hint = None if name in named else _looks_like_a_field(name)
        if hint is None:
            unread.append(index)
        else:
            suspect.append(f"{name!r} ({hint})")
    if suspect:
        raise InputError(
            "columns that look like fields sert batch reads, but are not: "
            + "; ".join(suspect)
            + " (to pass a column through unread, name it in --carry)"
        )
    if "drug" not in reads:
        raise InputError(f"the input has no 'drug' column (columns: {', '.join(header)})")
    if keyword == "all":
        carried = tuple(range(present))
    elif keyword == "none":
        carried = ()
    else:
        carried = tuple(i for i in range(present) if header[i] in named)
    # an input's own `error` column (batch's output read again) gives way to batch's
    carried = tuple(i for i in carried if header[i].strip() != "error")
    _check_carried([header[i] for i in carried])
    said = tuple(header[i] for i in unread if header[i] not in named)
    return Contract(tuple(header), reads, carried, said)


def _check_once_each(header: list[str]) -> None:
    """A name given twice (spaces around it aside) is refused, carried or not: which of
    the two a script meant cannot be told."""
    seen: set[str] = set()
    for name in header:
        name = name.strip()
        if name in seen:
            raise InputError(
                f"two columns named {name!r}: rename one (a name is given once in a header)"
            )
        if name:
            seen.add(name)


def _check_carried(names: list[str]) -> None:
    """Carried names are the output's columns: none empty, none twice."""
    seen: set[str] = set()
    for name in names:
        if not name.strip():
            raise InputError(
                "a column without a name: name it, or leave it out with --carry COLUMN,..."
            )
        if name in seen:
            raise InputError(
                f"two columns named {name!r}: rename one, or leave one out with --carry"
            )
        seen.add(name)


def field_of(name: str) -> str | None:
    """The request field a column gives (None: not one): its name, an alias, a gene, or a
    gene with _genotype, _diplotype or _phenotype."""
    if name in FIELDS:
        return name
    if name in ALIASES:
        return ALIASES[name]
    gene, _, suffix = name.partition("_")
    if gene in GENES and suffix in ("", *GENE_SUFFIXES):
        return gene
    return None


def names_read() -> dict[str, str]:
    """Every name a column may have that a field reads -> the field."""
    names = {**{f: f for f in FIELDS}, **ALIASES}
    for gene in GENES:
        names.update({gene: gene, **{f"{gene}_{s}": gene for s in GENE_SUFFIXES}})
    return names


def _looks_like_a_field(name: str) -> str | None:
    """Why an unknown column looks like a field (another case, a near miss, a gene name or
    a field's word inside it), or None. A result column's name (batch's own output read
    back) is carried as it is."""
    from sert_cli.fields import is_result_column

    if is_result_column(name):
        return None
    known = _known_lowered()
    lowered = name.strip().lower()
    if lowered in known:
        return f"did you mean {known[lowered]!r}? names are exact"
    for gene in GENES:
        if gene.lower() in lowered.replace("-", "").replace(" ", ""):
            return (
                f"it names {gene}: a gene column is {gene!r} (or {gene}_genotype), holding "
                "a phenotype or a diplotype"
            )
    # a ratio of NEAR_MISS needs lengths within a factor: only those names are compared
    # (a column costs a few microseconds, not a comparison with every name)
    size = len(lowered)
    near = [k for k in known if 2 * min(size, len(k)) >= NEAR_MISS * (size + len(k))]
    close = difflib.get_close_matches(lowered, near, n=1, cutoff=NEAR_MISS) if near else []
    if close:
        return f"did you mean {known[close[0]]!r}?"
    for word in WORD.findall(lowered):
        if word in FIELD_WORDS:
            return f"it reads like {FIELD_WORDS[word]!r}, which batch reads only by that name"
    return None


@functools.cache
def _known_lowered() -> dict[str, str]:
    """Every field, alias and gene by its lower case."""
    return {name.lower(): name for name in (*FIELDS, *ALIASES, *GENES)}


def _carry_names(carry: str, header: list[str]) -> set[str]:
    names = [n.strip() for n in carry.split(",") if n.strip()]
    stripped = {h.strip(): h for h in header}
    for name in names:
        if name not in stripped:
            from sert_cli.suggest import did_you_mean

            raise InputError(
                f"--carry {name!r}: not a column of the input{did_you_mean(name, header)}"
            )
    return {stripped[n] for n in names}


class Requests:
    """Rows' cells as query values: the read cells of a row are its request's key; each
    distinct patient is parsed once (the last PATIENTS_KEPT kept)."""

    def __init__(
        self, terms: Contract, *, affinity: str, assume_nm: bool, typed: bool, library
    ) -> None:
        self.terms, self.affinity, self.assume_nm, self.typed = terms, affinity, assume_nm, typed
        self.library = library
        self.fields = tuple(terms.reads)
        self.indices = tuple(terms.reads.values())
        self.patient_positions = tuple(
            n for n, field in enumerate(self.fields) if field in PATIENT_FIELDS
        )
        self.patients = Recent(PATIENTS_KEPT)  # a row's patient cells -> its Patient
        # the read cells of a row as a tuple, at C speed
        getter = operator.itemgetter(*self.indices)
        self._cells = getter if len(self.indices) > 1 else lambda row: (getter(row),)

    def key(self, row: list) -> tuple:
        """A row's request: its read cells (JSON values that are not text or numbers keep
        their place as an error)."""
        cells = self._cells(row)
        if self.typed:
            return tuple(map(_hashable, cells))
        return cells

    def column_of(self, field: str) -> str:
        """A field as batch names it: its column, or the option that set it."""
        if field == "assume_nm":
            return "--assume-nm"
        if field == "patient":
            return "the patient's columns"
        if field in ("level", "metabolite_level", "sum_level"):
            field += "_ng_ml"
        index = self.terms.reads.get(field)
        return f"column {field if index is None else self.terms.header[index]}"

    def query(self, key: tuple):
        cells = dict(zip(self.fields, key, strict=True))
        if self.typed:
            for field, value in cells.items():
                if isinstance(value, _NotAValue) or (
                    isinstance(value, _Flag) and field != "smoker"
                ):
                    raise InputError("expected text or a number", field=field)
                if isinstance(value, _Flag):
                    cells[field] = value[0]
        drug = _text(cells.get("drug"))
        if not drug:
            raise InputError("missing drug", field="drug")
        patient = self.patient(cells, tuple(key[n] for n in self.patient_positions))
        interval = _amount(cells.get("interval_h"), "interval_h", "time")
        dose = _amount(cells.get("dose_mg"), "dose_mg", "mass")
        levels = [_text(cells.get(f)) for f in LEVEL_FIELDS]
        if any(levels):
            if dose is None:
                raise InputError("a measured level needs the dose taken", field="dose_mg")
            level, metabolites, total = levels
            after = _amount(cells.get("hours_after_dose"), "hours_after_dose", "time")
            return TdmQuery(
                drug=drug,
                dose_mg=dose,
                level_ng_ml=self.level_ng_ml(level, drug) if level else None,
                hours_after_dose=after,
                interval_h=interval,
                patient=patient,
                affinity=self.affinity,
                metabolite_levels_ng_ml=self.metabolite_levels(metabolites, drug),
                sum_level_ng_ml=(
                    self.level_ng_ml(total, drug, "sum_level_ng_ml") if total else None
                ),
            )
        if dose is not None:
            return OccupancyQuery(
                drug=drug,
                dose_mg=dose,
                interval_h=interval,
                patient=patient,
                affinity=self.affinity,
            )
        target = _amount(cells.get("target"), "target", None)
        transporter = _text(cells.get("transporter"))
        return DoseQuery(
            drug=drug,
            **({} if target is None else {"target": target}),
            **({"transporter": transporter} if transporter else {}),
            interval_h=interval,
            patient=patient,
            affinity=self.affinity,
        )

    def level_ng_ml(self, value, drug: str, field: str = "level_ng_ml", moiety=None) -> float:
        """A level in ng/mL; a molar one (nmol/L) through the molar mass of the drug, or of
        the moiety `moiety(profile)` picks."""

        def molar_mass_g_mol() -> float:
            profile = self.library.get(drug)
            return (profile.parent if moiety is None else moiety(profile)).molar_mass_g_mol

        try:
            return level_ng_ml(value, molar_mass_g_mol)
        except ValueError as exc:
            raise InputError(str(exc), field=field) from None

    def metabolite_levels(self, cell: str, drug: str) -> tuple[tuple[str | None, float], ...]:
        """A metabolite_level_ng_ml cell: C (the profile's one metabolite) or NAME=C,
        several separated by ';' -> (name or None, ng/mL) each."""
        from sert_cli.queries.tdm import named_level

        levels = []
        for part in cell.split(";") if cell else ():
            if not part.strip():
                continue
            name, value = named_level(part)
            pick = functools.partial(_metabolite, name=name)
            levels.append((name, self.level_ng_ml(value, drug, "metabolite_level_ng_ml", pick)))
        return tuple(levels)

    def patient(self, cells: dict, key: tuple) -> Patient:
        """The patient of a row's cells (key: its patient cells), parsed once for all the
        rows that share them."""
        return self.patients.made(key, lambda: self._parse_patient(cells))

    def _parse_patient(self, cells: dict) -> Patient:
        phenotypes, genotypes = [], []
        for gene in GENES:
            value = _text(cells.get(gene))
            if value:
                (genotypes if ("*" in value or "/" in value) else phenotypes).append((gene, value))
        comedications = tuple(
            w.strip() for w in re.split(r"[;|]", _text(cells.get("with"))) if w.strip()
        )
        return Patient(
            phenotypes=tuple(phenotypes),
            genotypes=tuple(genotypes),
            comedications=comedications,
            assume_nm=self.assume_nm,
            age_years=_amount(cells.get("age"), "age", None),
            crcl_ml_min=_amount(cells.get("crcl"), "crcl", "crcl"),
            hepatic=_text(cells.get("hepatic")) or None,
            sex=_text(cells.get("sex")) or None,
            smoker=_yes_no(cells.get("smoker"), "smoker"),
        )


class _NotAValue(tuple):
    """A JSON value that is not text, a number or true/false, kept (hashable) in its
    request's key until its row fails."""


class _Flag(tuple):
    """JSON true or false in a request's key: apart from 1 and 0 (True == 1 in Python)."""


def _hashable(value):
    if type(value) is bool:
        return _Flag((value,))
    if value is None or isinstance(value, (str, int, float)):
        return value
    return _NotAValue(("json", repr(value)))


def _metabolite(profile, name: str | None):
    from sert_cli.queries.tdm import metabolite_index

    return profile.metabolites[metabolite_index(profile, name)]


def _text(value) -> str:
    return "" if value is None else str(value).strip()


YES = ("yes", "y", "true", "1", "smoker")
NO = ("no", "n", "false", "0", "non-smoker", "nonsmoker")


def _yes_no(value, field: str) -> bool | None:
    """A cell as yes or no: JSON true and false as they are; empty is None (not given)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in YES or text in NO:
        return text in YES
    raise InputError(f"{str(value).strip()!r}: yes or no", field=field)


def _amount(value, field: str, dimension: str | None) -> float | None:
    """A cell as a number in the field's unit: a number, or text with a unit of the
    dimension ('10 mg', '0.01 g', '12 h', '60 mL/min'); empty is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return read_amount(value, dimension)[0]
    except ValueError as exc:
        raise InputError(str(exc), field=field) from None
