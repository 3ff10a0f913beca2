"""From what a clinician knows about a patient to what the model computes with.

Genotypes become CPIC phenotypes; co-medications convert phenotypes (phenoconversion) or,
where a measured interaction exists, scale the drug's exposure; label limits for the
patient's phenotype lower the maximum dose; guideline advice is looked up. The result is
a profile and a phenotype for each gene, the plain inputs the core already takes, plus
notes that say what was done and why.
"""

from dataclasses import replace
from typing import NamedTuple

from sert_cli.datafiles import read_table
from sert_cli.errors import InputError, ModelError
from sert_cli.pgx import CPIC_TERMS, PHENOTYPE_NAMES
from sert_cli.profile import PhenotypeTable, Profile
from sert_cli.suggest import did_you_mean

PHENOCONVERSION_RULE = (
    "phenoconversion: a strong inhibitor sets the enzyme's activity to 0, "
    "a moderate one halves the CYP2D6 activity score; a convention of "
    "implementers, not a CPIC rule"
)
# Moderate CYP2D6 inhibitor without a genotype: halving the score moves each phenotype's
# activity-score range (pgx.md 2.1) to this phenotype.
HALVED_PHENOTYPE = {"PM": "PM", "IM": "IM", "NM": "IM", "UM": "NM"}


def _rows(name: str) -> tuple[dict, ...]:
    return read_table(name)[1]


class Prepared(NamedTuple):
    profile: Profile
    phenotypes: dict[str, str]
    genotypes: tuple = ()  # genotype.GenotypeResult, one per gene given
    notes: tuple[str, ...] = ()
    guidance: tuple[dict, ...] = ()
    comedications: tuple[str, ...] = ()

    def annotate(self, record: dict) -> dict:
        """Add what the patient layer did to a result record (JSON and CSV alike)."""
        record["genotypes"] = [g.record() for g in self.genotypes]
        record["comedications"] = list(self.comedications)
        record["guidance"] = list(self.guidance)
        record["notes"] = list(self.notes)
        return record


def known_comedications() -> list[str]:
    names = {row["drug"] for row in _rows("inhibitors.csv")}
    names |= {row["perpetrator"] for row in _rows("interactions.csv")}
    return sorted(names)


def prepare(
    profile: Profile,
    phenotypes: dict[str, str] | None = None,
    genotypes: dict[str, str] | None = None,
    comedications: list[str] | None = None,
    assume_nm: bool = False,
) -> Prepared:
    phenotypes = dict(phenotypes or {})
    notes: list[str] = []
    results = []
    if genotypes:
        from sert_cli.genotype import translate
    for gene, diplotype in (genotypes or {}).items():
        if gene in phenotypes:
            raise InputError(f"{gene} is given both as a phenotype and as a genotype")
        result = translate(gene, diplotype)
        results.append(result)
        score = (
            ""
            if result.activity_score is None
            else f", activity score {'≥' if result.activity_score_at_least else ''}"
            f"{result.activity_score:g}"
        )
        if result.phenotype == "Indeterminate":
            if not assume_nm:
                raise ModelError(
                    f"{gene} {result.diplotype} is Indeterminate (an allele of "
                    "uncertain or unknown function); sert computes nothing for it "
                    "unless --assume-nm is given"
                )
            phenotypes[gene] = "NM"
            notes.append(
                f"{gene} {result.diplotype} is Indeterminate; computed as NM because "
                "--assume-nm was given"
            )
        else:
            phenotypes[gene] = result.phenotype
            notes.append(
                f"{gene} {result.diplotype}{score}: {result.cpic_phenotype} "
                f"(CPIC, data version {result.data_version})"
            )
    scores = {
        r.gene: (r.activity_score, r.activity_score_at_least)
        for r in results
        if r.activity_score is not None
    }
    names = []
    for written in comedications or []:
        name = written.strip().lower()
        if name not in known_comedications():
            raise InputError(
                f"--with {written!r}: no interaction data for it"
                f"{did_you_mean(name, known_comedications())} (sert knows: "
                f"{', '.join(known_comedications())})"
            )
        if name == profile.name:
            notes.append(f"--with {name}: that is the drug itself; ignored")
            continue
        names.append(name)
        profile = _apply_comedication(profile, name, phenotypes, scores, notes)
    profile = _apply_label_limits(profile, phenotypes, names, notes)
    return Prepared(
        profile,
        phenotypes,
        tuple(results),
        tuple(notes),
        tuple(guidance_for(profile.name, phenotypes)),
        tuple(names),
    )


def _apply_comedication(
    profile: Profile, name: str, phenotypes: dict, scores: dict, notes: list
) -> Profile:
    for row in _rows("interactions.csv"):
        if row["perpetrator"] == name and row["victim"] == profile.name:
            ratio = float(row["exposure_ratio"])
            notes.append(
                f"{name} raises {profile.name} exposure {ratio:g}-fold (measured: "
                f"{row['source']}); this measured ratio is used instead of "
                "phenoconversion"
            )
            return scaled_exposure(profile, ratio)
    for row in _rows("inhibitors.csv"):
        if row["drug"] != name:
            continue
        gene, strength = row["enzyme"], row["strength"]
        before = phenotypes.get(gene, "NM")
        if strength == "strong":
            after = "PM"
            scores[gene] = (0.0, False)
        elif gene == "CYP2D6":
            from sert_cli.genotype import activity_score_phenotype

            if gene in scores:
                score, at_least = scores[gene]
                scores[gene] = (score / 2, at_least)
                after = activity_score_phenotype(score / 2, at_least)
            else:
                after = HALVED_PHENOTYPE[before]
        else:
            notes.append(
                f"{name} is a moderate {gene} inhibitor; no convention converts "
                f"{gene} phenotypes for moderate inhibitors, so none was applied"
            )
            continue
        phenotypes[gene] = after
        used = gene in profile.genes
        notes.append(
            f"{gene}: {before} -> {after} because {name} is a {strength} {gene} "
            f"inhibitor ({PHENOCONVERSION_RULE}; source: {row['source']})"
            + (
                ""
                if used
                else f"; {profile.name}'s profile has no {gene} data, so its clearance is unchanged"
            )
        )
    return profile


def scaled_exposure(profile: Profile, ratio: float) -> Profile:
    """The parent's apparent clearance divided by a measured exposure ratio."""
    parent = profile.parent
    table = parent.phenotypes
    if table is not None:
        table = PhenotypeTable(
            table.gene,
            {p: cl / ratio for p, cl in table.apparent_clearance_l_h.items()},
            table.saturable_vmax_mg_h,
        )
    saturable = (
        None if parent.saturable is None else (parent.saturable[0] / ratio, parent.saturable[1])
    )
    parent = replace(
        parent,
        apparent_clearance_l_h=parent.apparent_clearance_l_h / ratio,
        phenotypes=table,
        saturable=saturable,
    )
    return replace(profile, parent=parent)


def _apply_label_limits(
    profile: Profile, phenotypes: dict, comedications: list[str], notes: list
) -> Profile:
    inhibited = {row["enzyme"] for row in _rows("inhibitors.csv") if row["drug"] in comedications}
    inhibited |= {
        "CYP2C19"
        for row in _rows("interactions.csv")
        if row["perpetrator"] in comedications and row["victim"] == profile.name
    }
    for row in _rows("label_limits.csv"):
        if row["drug"] != profile.name:
            continue
        gene, limit = row["gene"], float(row["max_daily_mg"])
        applies = phenotypes.get(gene) == row["phenotype"]
        if not applies and row["also_with_inhibitor"] == "yes" and gene in inhibited:
            applies = True
        if applies and limit < profile.label_max_mg:
            who = (
                f"{gene} {PHENOTYPE_NAMES[row['phenotype']]}s"
                if phenotypes.get(gene) == row["phenotype"]
                else f"patients taking a {gene} inhibitor"
            )
            source = f"label maximum for {who}: {row['source']}"
            notes.append(
                f"the maximum daily dose is {limit:g} mg, not {profile.label_max_mg:g} "
                f"mg ({source})"
            )
            profile = replace(profile, label_max_mg=limit, label_max_source=source)
    return profile


def guidance_for(drug: str, phenotypes: dict[str, str]) -> list[dict]:
    """CPIC and DPWG advice for the patient's phenotype of each gene the guidelines read."""
    advice = []
    for row in _rows("guidance.csv"):
        if row["drug"] != drug:
            continue
        phenotype = phenotypes.get(row["gene"], "NM")
        if row["phenotype"] == phenotype:
            advice.append(
                {
                    "source": row["source"],
                    "gene": row["gene"],
                    "phenotype": phenotype,
                    "cpic_term": CPIC_TERMS[phenotype],
                    "assumed": row["gene"] not in phenotypes,
                    "strength": row["strength"] or None,
                    "advice": row["advice"],
                }
            )
    return advice
