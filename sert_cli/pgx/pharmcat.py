"""PharmCAT 3.x outputs read as PharmCAT writes them: `*.phenotype.json` (Phenotyper) and
`*.report.json` (Reporter). For CYP2B6, CYP2C19 and CYP2D6 the phenotype PharmCAT called
from its recommendation diplotype is taken as it is (matcher calls, outside calls and "No
Result" alike); the report's CPIC classifications are kept to compare with sert's guidance.

Both layouts of 3.x are read: genes keyed by symbol (3.1) or under "CPIC"/"DPWG" (3.0).
Errors name the field `pharmcat` and end with exit status 2.

The file is untrusted: only a regular file is read (a pipe, a device or a folder is
refused before a byte is read), at most MAX_BYTES of it, and every part sert reads is
checked for its type, so that a file of the wrong shape is one error naming the file and
the place in it. Every text taken from it (labels, phenotypes, versions, classifications)
is made printable at once (`errors.printable`), so nothing from the file can reach a
terminal as a control sequence, and is at most MAX_TEXT_CHARS long.
"""

import json
import os
from typing import NamedTuple

from sert_cli.errors import InputError, printable
from sert_cli.untrusted import read_at_most, reason
from sert_cli.vocabulary import GENOTYPED_GENES

CPIC_SECTION = "CPIC Guideline Annotation"
NO_RESULT = "No Result"
# A PharmCAT report.json of a whole panel is a few MB; 16 MiB of the worst JSON (a list of
# empty objects) parses in well under 1 GB, where 50 MB could take 1.5 GB.
MAX_BYTES = 16 << 20
MAX_TEXT_CHARS = 200  # a diplotype label, a phenotype, a version: short words


class PharmcatCall(NamedTuple):
    gene: str
    label: str  # the diplotype as PharmCAT shows it, e.g. *2/*2 or Unknown/Unknown
    phenotype: str  # as PharmCAT writes it, e.g. "Poor Metabolizer" or "No Result"
    activity_score: str | None
    call_source: str  # MATCHER, OUTSIDE or NONE


class PharmcatReport(NamedTuple):
    path: str
    kind: str  # "report" or "phenotype"
    pharmcat_version: str | None
    data_version: str | None
    calls: tuple[PharmcatCall, ...]
    # drug -> CPIC classifications PharmCAT matched ("Strong", "Moderate", "No recommendation")
    cpic: tuple[tuple[str, tuple[str, ...]], ...]

    def describe(self) -> str:
        versions = ", ".join(
            v
            for v in (
                self.pharmcat_version and f"PharmCAT {self.pharmcat_version}",
                self.data_version and f"data {self.data_version}",
            )
            if v
        )
        calls = "; ".join(f"{c.gene} {c.label} {c.phenotype}" for c in self.calls)
        return (
            f"PharmCAT {self.kind} {printable(os.path.basename(self.path))}"
            + (f" ({versions})" if versions else "")
            + f": {calls}"
        )

    def classifications(self, drug: str) -> tuple[str, ...] | None:
        return dict(self.cpic).get(drug)


def _fail(path: str, message: str):
    raise InputError(f"{printable(path)}: {message}", field="pharmcat")


def read(path: str) -> PharmcatReport:
    data = _load(path)
    if not isinstance(data, dict):
        _fail(path, f"not a PharmCAT output (expected a JSON object, not {_kind(data)})")
    kind = "report" if "genes" in data else "phenotype" if "geneReports" in data else None
    if kind is None:
        _fail(
            path,
            "not a PharmCAT 3.x output: it has neither 'genes' (a *.report.json) nor "
            "'geneReports' (a *.phenotype.json)",
        )
    where = "genes" if kind == "report" else "geneReports"
    genes = data[where]
    if isinstance(genes, dict) and "CPIC" in genes:  # the 3.0 layout
        genes, where = genes["CPIC"], f"{where}.CPIC"
    if not isinstance(genes, dict):
        _fail(path, f"'{where}' is {_kind(genes)}, not an object of genes")
    calls = tuple(_call(path, gene, genes.get(gene), f"{where}.{gene}") for gene in GENOTYPED_GENES)
    versions = {
        _text(path, report.get("phenotypeVersion"), f"{where}.{gene[:40]}.phenotypeVersion")
        for gene, report in genes.items()
        if isinstance(report, dict)
    } - {None}
    data_version = _text(path, data.get("dataVersion"), "dataVersion")
    return PharmcatReport(
        path=path,
        kind=kind,
        pharmcat_version=_text(path, data.get("pharmcatVersion"), "pharmcatVersion"),
        data_version=data_version or (min(versions) if versions else None),
        calls=calls,
        cpic=_cpic(path, data),
    )


def _load(path: str):
    """The file's JSON: a regular file (opened without blocking, so a FIFO nobody writes
    to is refused, not waited on) of at most MAX_BYTES, UTF-8 (a BOM allowed), nested no
    deeper than Python's decoder goes, without NaN or Infinity (not JSON)."""
    try:
        raw = read_at_most(path, MAX_BYTES)
    except OSError as exc:
        _fail(path, reason(exc))
    if raw is None:
        _fail(path, f"larger than {MAX_BYTES >> 20} MiB; a PharmCAT output is a few MB")
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_constant=_not_json)
    except UnicodeDecodeError as exc:
        _fail(path, f"not UTF-8 text (byte {exc.start})")
    except RecursionError:
        _fail(path, "nested too deeply to be a PharmCAT output")
    except ValueError as exc:
        _fail(path, f"not JSON, or cut short ({exc})")


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON value")


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


def _text(path: str, value, where: str, *, numbers: bool = False) -> str | None:
    """A text of the file (or null), printable and short; `numbers` takes a number too."""
    if value is None:
        return None
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value:g}"
    if not isinstance(value, str):
        _fail(path, f"'{where}' is {_kind(value)}, not a string")
    if len(value) > MAX_TEXT_CHARS:
        _fail(
            path,
            f"'{where}' is {len(value):,} characters long; PharmCAT writes at most a few dozen",
        )
    return printable(value)


def _call(path: str, gene: str, report, where: str) -> PharmcatCall:
    if report is None:
        return PharmcatCall(gene, "Unknown/Unknown", NO_RESULT, None, "NONE")
    if not isinstance(report, dict) or not isinstance(report.get("recommendationDiplotypes"), list):
        _fail(path, f"{gene}: no 'recommendationDiplotypes' list where PharmCAT writes one")
    diplotypes = report["recommendationDiplotypes"]
    if len(diplotypes) != 1:
        _fail(
            path,
            f"{gene}: PharmCAT gives {len(diplotypes):,} calls; sert needs one (give the "
            f"phenotype with --phenotype {gene}=...)",
        )
    diplotype, at = diplotypes[0], f"{where}.recommendationDiplotypes[0]"
    if not isinstance(diplotype, dict):
        _fail(path, f"'{at}' is {_kind(diplotype)}, not an object")
    for key in ("label", "phenotypes"):
        if key not in diplotype:
            _fail(path, f"'{at}' has no '{key}', which PharmCAT writes in every call")
    phenotypes = _part(path, diplotype, "phenotypes", list, at) or [NO_RESULT]
    if len(phenotypes) != 1:
        shown = [_text(path, p, f"{at}.phenotypes") for p in phenotypes[:3]]
        more = f" and {len(phenotypes) - 3:,} more" if len(phenotypes) > 3 else ""
        _fail(
            path, f"{gene}: PharmCAT gives several phenotypes ({', '.join(map(str, shown))}{more})"
        )
    return PharmcatCall(
        gene,
        _text(path, diplotype["label"], f"{at}.label") or "Unknown/Unknown",
        _text(path, phenotypes[0], f"{at}.phenotypes") or NO_RESULT,
        _text(path, diplotype.get("activityScore"), f"{at}.activityScore", numbers=True),
        _text(path, report.get("callSource"), f"{where}.callSource") or "",
    )


def _cpic(path: str, data: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """drug -> the classifications of its CPIC annotations, from a report's 'drugs'."""
    drugs = _part(path, data, "drugs", dict)
    section = _part(path, drugs, CPIC_SECTION, dict, "drugs")
    found = []
    for drug, report in section.items():
        where = f"drugs.{CPIC_SECTION}.{printable(drug[:40])}"
        if not isinstance(report, dict):
            _fail(path, f"'{where}' is {_kind(report)}, not an object")
        classifications = []
        for g, guideline in enumerate(_part(path, report, "guidelines", list, where)):
            at = f"{where}.guidelines[{g}]"
            if not isinstance(guideline, dict):
                _fail(path, f"'{at}' is {_kind(guideline)}, not an object")
            for a, annotation in enumerate(_part(path, guideline, "annotations", list, at)):
                if not isinstance(annotation, dict):
                    _fail(path, f"'{at}.annotations[{a}]' is {_kind(annotation)}, not an object")
                classification = _text(
                    path, annotation.get("classification"), f"{at}.annotations[{a}].classification"
                )
                classifications.append(str(classification))
        found.append((drug.lower(), tuple(classifications)))
    return tuple(found)


def _part(path: str, container: dict, key: str, kind: type, where: str = ""):
    """container[key], which must be a `kind` (an object or a list) or missing or null
    (then an empty one)."""
    value = container.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        named = f"{where}.{key}" if where else key
        _fail(path, f"'{named}' is {_kind(value)}, not {_kind(kind())}")
    return value
