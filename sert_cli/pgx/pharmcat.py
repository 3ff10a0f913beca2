"""PharmCAT 3.x outputs read as PharmCAT writes them: `*.phenotype.json` (Phenotyper) and
`*.report.json` (Reporter). For CYP2B6, CYP2C19 and CYP2D6 the phenotype PharmCAT called
from its recommendation diplotype is taken as it is (matcher calls, outside calls and "No
Result" alike); the report's CPIC classifications are kept to compare with sert's guidance.

Both layouts of 3.x are read: genes keyed by symbol (3.1) or under "CPIC"/"DPWG" (3.0).
Errors name the field `pharmcat` and end with exit status 2.
"""

import json
import os
from typing import NamedTuple

from sert_cli.errors import InputError
from sert_cli.vocabulary import GENOTYPED_GENES

CPIC_SECTION = "CPIC Guideline Annotation"
NO_RESULT = "No Result"


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
            f"PharmCAT {self.kind} {os.path.basename(self.path)}"
            + (f" ({versions})" if versions else "")
            + f": {calls}"
        )

    def classifications(self, drug: str) -> tuple[str, ...] | None:
        return dict(self.cpic).get(drug)


def _fail(path: str, message: str):
    raise InputError(f"{path}: {message}", field="pharmcat")


def read(path: str) -> PharmcatReport:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        _fail(path, f"cannot read it ({exc.strerror or exc})")
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(path, f"not JSON, or cut short ({exc})")
    if not isinstance(data, dict):
        _fail(path, "not a PharmCAT output (expected a JSON object)")
    kind = "report" if "genes" in data else "phenotype" if "geneReports" in data else None
    if kind is None:
        _fail(
            path,
            "not a PharmCAT 3.x output: it has neither 'genes' (a *.report.json) nor "
            "'geneReports' (a *.phenotype.json)",
        )
    genes = data["genes"] if kind == "report" else data["geneReports"]
    if isinstance(genes, dict) and "CPIC" in genes and isinstance(genes["CPIC"], dict):
        genes = genes["CPIC"]  # the 3.0 layout
    if not isinstance(genes, dict):
        _fail(path, f"'{'genes' if kind == 'report' else 'geneReports'}' is not an object")
    calls = tuple(_call(path, gene, genes.get(gene)) for gene in GENOTYPED_GENES)
    versions = {r.get("phenotypeVersion") for r in genes.values() if isinstance(r, dict)} - {None}
    data_version = data.get("dataVersion") or (min(versions) if versions else None)
    return PharmcatReport(
        path=path,
        kind=kind,
        pharmcat_version=data.get("pharmcatVersion"),
        data_version=data_version,
        calls=calls,
        cpic=_cpic(data),
    )


def _call(path: str, gene: str, report) -> PharmcatCall:
    if report is None:
        return PharmcatCall(gene, "Unknown/Unknown", NO_RESULT, None, "NONE")
    if not isinstance(report, dict) or not isinstance(report.get("recommendationDiplotypes"), list):
        _fail(path, f"{gene}: no 'recommendationDiplotypes' list where PharmCAT writes one")
    diplotypes = report["recommendationDiplotypes"]
    if len(diplotypes) != 1:
        _fail(
            path,
            f"{gene}: PharmCAT gives {len(diplotypes)} calls; sert needs one (give the "
            f"phenotype with --phenotype {gene}=...)",
        )
    diplotype = diplotypes[0]
    phenotypes = diplotype.get("phenotypes") or [NO_RESULT]
    if len(phenotypes) != 1:
        _fail(path, f"{gene}: PharmCAT gives several phenotypes ({', '.join(phenotypes)})")
    return PharmcatCall(
        gene,
        str(diplotype.get("label") or "Unknown/Unknown"),
        str(phenotypes[0]),
        diplotype.get("activityScore"),
        str(report.get("callSource") or ""),
    )


def _cpic(data: dict) -> tuple[tuple[str, tuple[str, ...]], ...]:
    drugs = (data.get("drugs") or {}).get(CPIC_SECTION) or {}
    found = []
    for drug, report in drugs.items():
        if not isinstance(report, dict):
            continue
        found.append(
            (
                drug.lower(),
                tuple(
                    str(annotation.get("classification"))
                    for guideline in report.get("guidelines") or []
                    for annotation in guideline.get("annotations") or []
                ),
            )
        )
    return tuple(found)
