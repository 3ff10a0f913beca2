"""A patient's `GENE=PHENOTYPE` values checked against the vocabulary (docs/model.md
section 2). Errors name the gene as their field."""

from sert_cli.errors import InputError
from sert_cli.suggest import did_you_mean
from sert_cli.vocabulary import GENES, GENES_WITH_RM, PHENOTYPES


def check_phenotype_for_gene(gene: str, phenotype: str) -> None:
    if phenotype not in PHENOTYPES:
        raise ValueError(
            f"unknown phenotype '{phenotype}'{did_you_mean(phenotype, PHENOTYPES)}"
            f" (one of {', '.join(PHENOTYPES)})"
        )
    if phenotype == "RM" and gene not in GENES_WITH_RM:
        raise ValueError(f"CPIC defines no rapid metabolizer (RM) for {gene}")


def check_gene(gene: str, field: str) -> str:
    gene = gene.strip().upper()
    if gene not in GENES:
        raise InputError(
            f"unknown gene '{gene}'{did_you_mean(gene, GENES)} (known: {', '.join(GENES)})",
            field=field,
        )
    return gene


def phenotype_value(gene: str, written: str) -> str:
    """'pm' -> 'PM' for this gene, or an InputError whose field is the gene."""
    phenotype = written.strip().upper()
    try:
        check_phenotype_for_gene(gene, phenotype)
    except ValueError as exc:
        raise InputError(str(exc), field=gene) from None
    return phenotype
