"""Shell completion (`sert --install-completion`): drug names and brands, genes and
phenotypes, co-medications. Each reads what the command would accept, imported only when
the shell asks."""

from sert_cli.vocabulary import GENES, GENOTYPED_GENES, PHENOTYPES


def drugs(incomplete: str) -> list[str]:
    """Bundled and user profiles' names and brand names (aliases; sert reads names in any
    case, so a name completes in the case it was begun in: lex -> lexapro)."""
    from sert_cli.profiles.library import load_library

    entries = load_library().entries
    names = [*entries, *(str(a) for e in entries.values() for a in e.data.get("aliases", []))]
    return sorted(
        incomplete + n[len(incomplete) :] for n in names if n.lower().startswith(incomplete.lower())
    )


def phenotypes(incomplete: str) -> list[str]:
    """GENE=PHENOTYPE, the genes first, then each gene's phenotypes."""
    pairs = [f"{gene}={p}" for gene in GENES for p in PHENOTYPES]
    return [pair for pair in pairs if pair.lower().startswith(incomplete.lower())]


def genotypes(incomplete: str) -> list[str]:
    """GENE= for the genes whose diplotypes sert translates."""
    return [f"{g}=" for g in GENOTYPED_GENES if f"{g}=".lower().startswith(incomplete.lower())]


def comedications(incomplete: str) -> list[str]:
    """Every co-medication name sert has interaction data for (brands included)."""
    from sert_cli.pgx.patient import comedication_names

    return sorted(n for n in comedication_names() if n.startswith(incomplete.lower()))
