"""Genotype to phenotype as CPIC translates it (docs/model.md section 12).

CYP2D6 by activity score (the sum of the two haplotypes' values, copies multiplied);
CYP2C19 and CYP2B6 by the pair of allele functions. The allele tables, the score bins and
the pair rules are CPIC's data, shipped in sert_cli/data/cpic/ with their sources.
Errors name the gene as their field.
"""

import functools
import re
from dataclasses import dataclass

from sert_cli.datafiles import read_table
from sert_cli.errors import InputError
from sert_cli.suggest import did_you_mean
from sert_cli.vocabulary import CPIC_TERMS, GENOTYPED_GENES, INDETERMINATE

_ALLELE = re.compile(r"^\*(\d{1,4})(?:[xX](≥3|>=3|\d{1,2}|[nN]))?$")


@dataclass(frozen=True)
class AlleleCall:
    allele: str
    function: str
    activity_value: float | None  # CYP2D6 only
    activity_value_at_least: bool = False  # a CPIC "x≥3" bin: the value is a lower bound

    def record(self) -> dict:
        return dict(vars(self))


@dataclass(frozen=True)
class GenotypeResult:
    gene: str
    diplotype: str
    activity_score: float | None
    activity_score_at_least: bool
    phenotype: str  # PM, IM, NM, RM, UM or Indeterminate
    cpic_phenotype: str
    alleles: tuple[AlleleCall, AlleleCall]
    cpic_data_version: str

    def record(self) -> dict:
        return {**vars(self), "alleles": [a.record() for a in self.alleles]}


@functools.cache
def allele_table(gene: str) -> tuple[dict[str, tuple[str, str]], str]:
    """{allele: (function, activity value text)} and the CPIC data version."""
    comments, rows = read_table(f"cpic/{gene.lower()}_alleles.csv")
    version = comments[0].rsplit("data version", 1)[-1].strip(" :").split(" ")[0]
    table = {row["allele"]: (row["function"], row.get("activity_value", "")) for row in rows}
    return table, version


def _value(text: str) -> tuple[float | None, bool]:
    if text in ("", "n/a"):
        return None, False
    return float(text.lstrip("≥")), text.startswith("≥")


def _call(gene: str, written: str) -> AlleleCall:
    table, version = allele_table(gene)
    text = written.strip().replace(" ", "")
    if not text.startswith("*"):
        text = "*" + text
    match = _ALLELE.match(text)
    if not match:
        raise InputError(
            f"{gene} allele {written!r}: write star alleles such as *1, *17 or, "
            "for CYP2D6, *1x2 (tandems like *36+*10 are not supported)",
            field=gene,
        )
    number, copies = match.groups()
    base = f"*{number}"
    if copies is None:
        if base not in table:
            raise InputError(
                f"{gene} allele {base} is not in CPIC's table (data version "
                f"{version}){did_you_mean(base, table)}",
                field=gene,
            )
        function, value = table[base]
        return AlleleCall(base, function, *_value(value))
    if gene != "CYP2D6":
        raise InputError(
            f"{gene} allele {written!r}: copy numbers are read for CYP2D6 only", field=gene
        )
    if copies in "nN":
        raise InputError(
            f"CYP2D6 allele {written!r}: the copy number is unknown; CPIC needs "
            f"{base}x2 or {base}x≥3, and for *1 and *2 the choice changes the "
            "phenotype (Caudle et al. Clin Transl Sci 2020, doi:10.1111/cts.12692)",
            field=gene,
        )
    if copies not in ("≥3", ">=3") and int(copies) < 2:
        raise InputError(
            f"CYP2D6 allele {written!r}: x{int(copies)} is no duplication; a copy number "
            f"is 2 or more ({base}x2, {base}x≥3), and a single copy is written {base}",
            field=gene,
        )
    at_least = copies in ("≥3", ">=3") or int(copies) >= 3
    name = f"{base}x≥3" if at_least else f"{base}x{copies}"
    if name in table:
        function, value = table[name]
        return AlleleCall(name, function, *_value(value))
    if base not in table:
        raise InputError(
            f"CYP2D6 allele {base} is not in CPIC's table (data version {version})", field=gene
        )
    function, value_text = table[base]
    value, _ = _value(value_text)
    count = 3 if at_least else int(copies)
    if value is None:
        return AlleleCall(name, function, None)
    # CPIC: a duplicated allele's value is the single-copy value times the copy number.
    return AlleleCall(name, function, value * count, at_least and value > 0)


@functools.lru_cache(maxsize=4096)
def translate(gene: str, diplotype: str) -> GenotypeResult:
    """CPIC's phenotype of a diplotype (an immutable result, the same for every patient who
    has it: kept for the diplotypes met most recently)."""
    gene = gene.strip().upper()
    if gene not in GENOTYPED_GENES:
        raise InputError(
            f"genotype translation covers {', '.join(GENOTYPED_GENES)}, not "
            f"'{gene}'{did_you_mean(gene, GENOTYPED_GENES)}",
            field=gene,
        )
    text = diplotype.strip()
    if text.upper().startswith(gene):
        text = text[len(gene) :]
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise InputError(
            f"{gene} diplotype {diplotype!r}: write two alleles, e.g. *1/*17", field=gene
        )
    calls = (_call(gene, parts[0]), _call(gene, parts[1]))
    version = allele_table(gene)[1]
    name = "/".join(c.allele for c in calls)
    if gene == "CYP2D6":
        return _by_activity_score(gene, name, calls, version)
    return _by_function_pair(gene, name, calls, version)


def _indeterminate(gene, name, calls, version) -> GenotypeResult:
    """An allele of uncertain or unknown function: no score, no phenotype."""
    return GenotypeResult(
        gene=gene,
        diplotype=name,
        activity_score=None,
        activity_score_at_least=False,
        phenotype=INDETERMINATE,
        cpic_phenotype=INDETERMINATE,
        alleles=calls,
        cpic_data_version=version,
    )


def _by_activity_score(gene, name, calls, version) -> GenotypeResult:
    if any(c.activity_value is None for c in calls):
        return _indeterminate(gene, name, calls, version)
    score = sum(c.activity_value for c in calls)
    at_least = any(c.activity_value_at_least for c in calls)
    phenotype = activity_score_phenotype(score, at_least)
    return GenotypeResult(
        gene=gene,
        diplotype=name,
        activity_score=score,
        activity_score_at_least=at_least,
        phenotype=phenotype,
        cpic_phenotype=CPIC_TERMS[phenotype],
        alleles=calls,
        cpic_data_version=version,
    )


@functools.cache
def _score_bins() -> tuple[tuple[float, str], ...]:
    rows = read_table("cpic/activity_score_bins.csv")[1]
    return tuple((float(row["max_score"]), row["phenotype"]) for row in rows)


@functools.cache
def _pair_rules() -> dict[tuple[str, str], tuple[str, bool]]:
    rows = read_table("cpic/function_pairs.csv")[1]
    return {(row["gene"], row["pair"]): (row["phenotype"], row["likely"] == "yes") for row in rows}


@functools.cache
def _function_codes() -> dict[str, str]:
    return {row["function"]: row["code"] for row in read_table("cpic/function_codes.csv")[1]}


def activity_score_phenotype(score: float, at_least: bool = False) -> str:
    """The CPIC bin of the score; for an at-least score (x>=3) its lower bound is binned."""
    return next(phenotype for top, phenotype in _score_bins() if score <= top)


def _by_function_pair(gene, name, calls, version) -> GenotypeResult:
    codes = [_function_codes().get(c.function) for c in calls]
    if None in codes:
        return _indeterminate(gene, name, calls, version)
    phenotype, likely = _pair_rules()[(gene, "".join(sorted(codes)))]
    term = ("Likely " if likely else "") + CPIC_TERMS[phenotype]
    return GenotypeResult(
        gene=gene,
        diplotype=name,
        activity_score=None,
        activity_score_at_least=False,
        phenotype=phenotype,
        cpic_phenotype=term,
        alleles=calls,
        cpic_data_version=version,
    )
