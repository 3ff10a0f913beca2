"""A patient's `GENE=PHENOTYPE` values checked against the vocabulary (docs/model.md
section 2). Errors name the gene as their field."""

from sert_cli.errors import InputError
from sert_cli.suggest import did_you_mean
from sert_cli.vocabulary import (
    GENES,
    INDETERMINATE,
    PHENOTYPE_WORDS,
    check_phenotype_for_gene,
)


def check_gene(gene: str, field: str) -> str:
    gene = gene.strip().upper()
    if gene not in GENES:
        raise InputError(
            f"unknown gene '{gene}'{did_you_mean(gene, GENES)} (known: {', '.join(GENES)})",
            field=field,
        )
    return gene


def phenotype_code(written: str) -> str:
    """'pm', 'PM', 'poor', 'Poor Metabolizer', 'Likely Poor Metabolizer' -> 'PM'; other text
    comes back upper-cased, for the check to refuse with a hint."""
    words = " ".join(written.strip().lower().replace("_", " ").split())
    for prefix in ("likely ", "possible "):
        words = words.removeprefix(prefix)
    for suffix in (" metabolizer", " metaboliser", " metabolizers", " metabolisers"):
        words = words.removesuffix(suffix)
    if words in ("indeterminate", "no result", "unknown"):
        return INDETERMINATE
    return PHENOTYPE_WORDS.get(words, words.upper())


def phenotype_value(gene: str, written: str) -> str:
    """'pm', 'Poor Metabolizer' or 'poor' -> 'PM' for this gene, or an InputError whose
    field is the gene."""
    phenotype = phenotype_code(written)
    try:
        check_phenotype_for_gene(gene, phenotype)
    except ValueError as exc:
        raise InputError(str(exc), field=gene) from None
    return phenotype
