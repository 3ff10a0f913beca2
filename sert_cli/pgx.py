"""Pharmacogenomic vocabulary: genes, CPIC phenotype names, and the user's
`GENE=PHENOTYPE` options (model.md section 2; reference/pgx.md)."""

from sert_cli.errors import InputError
from sert_cli.suggest import did_you_mean

GENES = ("CYP1A2", "CYP2B6", "CYP2C9", "CYP2C19", "CYP2D6", "CYP3A4")
PHENOTYPES = ("PM", "IM", "NM", "RM", "UM")
PHENOTYPE_NAMES = {
    "PM": "poor metabolizer",
    "IM": "intermediate metabolizer",
    "NM": "normal metabolizer",
    "RM": "rapid metabolizer",
    "UM": "ultrarapid metabolizer",
}
CPIC_TERMS = {
    "PM": "Poor Metabolizer",
    "IM": "Intermediate Metabolizer",
    "NM": "Normal Metabolizer",
    "RM": "Rapid Metabolizer",
    "UM": "Ultrarapid Metabolizer",
    "Indeterminate": "Indeterminate",
}
# CPIC defines a rapid metabolizer only for CYP2C19 and CYP2B6 (pgx.md sections 2.2, 2.3).
GENES_WITH_RM = ("CYP2C19", "CYP2B6")


def check_phenotype_for_gene(gene: str, phenotype: str) -> None:
    if phenotype not in PHENOTYPES:
        raise ValueError(
            f"unknown phenotype '{phenotype}'{did_you_mean(phenotype, PHENOTYPES)}"
            f" (one of {', '.join(PHENOTYPES)})"
        )
    if phenotype == "RM" and gene not in GENES_WITH_RM:
        raise ValueError(f"CPIC defines no rapid metabolizer (RM) for {gene}")


def parse_phenotype_options(options: list[str]) -> dict[str, str]:
    """['CYP2C19=pm'] -> {'CYP2C19': 'PM'}; a gene given twice is an error."""
    result: dict[str, str] = {}
    for option in options:
        gene, sep, phenotype = option.partition("=")
        gene, phenotype = gene.strip().upper(), phenotype.strip().upper()
        if not sep or not gene or not phenotype:
            raise InputError(
                f"--phenotype {option!r}: write it as GENE=PHENOTYPE, for example CYP2C19=PM"
            )
        if gene not in GENES:
            raise InputError(
                f"--phenotype {option!r}: unknown gene '{gene}'"
                f"{did_you_mean(gene, GENES)} (known: {', '.join(GENES)})"
            )
        try:
            check_phenotype_for_gene(gene, phenotype)
        except ValueError as exc:
            raise InputError(f"--phenotype {option!r}: {exc}") from None
        if gene in result and result[gene] != phenotype:
            raise InputError(f"--phenotype: {gene} given twice ({result[gene]} and {phenotype})")
        result[gene] = phenotype
    return result
