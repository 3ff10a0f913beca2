"""The words and defaults every layer shares: transporters, genes, phenotypes, the target,
and the check of a phenotype word against a gene.

One home, so the science, the renderers, batch and the command line cannot drift apart.
"""

from sert_cli.suggest import did_you_mean

TRANSPORTERS = ("SERT", "NET")
# SERT is the transporter the 80 % rule is about (docs/model.md section 6): the default
# target, the one every table shows, the one the time course summarizes.
PRIMARY_TRANSPORTER = "SERT"
DEFAULT_TARGET = 0.8
DEFAULT_TAPER_STEP_PP = 10.0  # Horowitz & Taylor 2019: equal steps of occupancy
DEFAULT_MAX_CUT = 0.5  # a taper step's largest cut; NICE NG222 1.4.17: "for example, 50%"
# Ranges cover 90 % of patients of a phenotype: the 5th to 95th percentile of a lognormal.
RANGE_Z = 1.645
# An extrapolated constant (no PET of its own) is taken to lie within this factor of the
# class estimate for 90 % of drugs: an assumption that widens the range, not a measurement.
EXTRAPOLATED_K_FACTOR = 3.0
# Below this a secondary transporter's occupancy is left out of tables and charts as noise.
NOTABLE_OCCUPANCY = 0.05
# The fractions of steady state sert reports the time to (docs/model.md section 11).
STEADY_STATE_FRACTIONS = (0.90, 0.95)

HOURS_PER_DAY = 24.0

# Said once by every command (a line of the table; a field of JSON and CSV where the output
# reads like a prescription: dose, taper, switch, tdm, population).
STATEMENT = (
    "a model estimate to discuss with the treating clinician: sert is an educational and "
    "research tool, not medical advice or a prescribing device"
)

AFFINITIES = ("pet", "in-vitro")
DEFAULT_AFFINITY = "pet"

GENES = ("CYP1A2", "CYP2B6", "CYP2C9", "CYP2C19", "CYP2D6", "CYP3A4")
PHENOTYPES = ("PM", "IM", "NM", "RM", "UM")
DEFAULT_PHENOTYPE = "NM"
PHENOTYPE_NAMES = {
    "PM": "poor metabolizer",
    "IM": "intermediate metabolizer",
    "NM": "normal metabolizer",
    "RM": "rapid metabolizer",
    "UM": "ultrarapid metabolizer",
}
INDETERMINATE = "Indeterminate"
# Plain words for the phenotypes, as CPIC and PharmCAT write them without " Metabolizer":
# "Poor Metabolizer", "Likely Intermediate Metabolizer", "poor", "ultrarapid" all read.
# "Extensive" is the term CPIC replaced with "normal" (Caudle et al. Genet Med 2017).
PHENOTYPE_WORDS = {
    "poor": "PM",
    "intermediate": "IM",
    "normal": "NM",
    "extensive": "NM",
    "rapid": "RM",
    "ultrarapid": "UM",
    "ultra-rapid": "UM",
    "ultra rapid": "UM",
}
CPIC_TERMS = {
    "PM": "Poor Metabolizer",
    "IM": "Intermediate Metabolizer",
    "NM": "Normal Metabolizer",
    "RM": "Rapid Metabolizer",
    "UM": "Ultrarapid Metabolizer",
    INDETERMINATE: INDETERMINATE,
}
# CPIC defines a rapid metabolizer only for CYP2C19 and CYP2B6.
GENES_WITH_RM = ("CYP2C19", "CYP2B6")
# Genes whose diplotypes sert translates (allele tables in sert_cli/data/cpic/).
GENOTYPED_GENES = ("CYP2B6", "CYP2C19", "CYP2D6")


def check_phenotype_for_gene(gene: str, phenotype: str) -> None:
    """A phenotype code is a word of the vocabulary and one CPIC defines for the gene: here,
    below both the profiles (their phenotype tables) and the patient (its values), which
    must agree. A ValueError: each caller words it as its own field."""
    if phenotype not in PHENOTYPES:
        raise ValueError(
            f"unknown phenotype '{phenotype}'{did_you_mean(phenotype, PHENOTYPES)}"
            f" (one of {', '.join(PHENOTYPES)}, or CPIC's terms such as 'Poor Metabolizer')"
        )
    if phenotype == "RM" and gene not in GENES_WITH_RM:
        raise ValueError(f"CPIC defines no rapid metabolizer (RM) for {gene}")
