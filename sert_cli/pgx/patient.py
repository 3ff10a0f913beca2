"""From what a clinician knows about a patient to what the model computes with.

Genotypes become CPIC phenotypes; co-medications convert phenotypes (phenoconversion) or,
where a measured interaction exists, scale the drug's exposure; label limits for the
patient's phenotype lower the maximum dose; guideline advice is looked up. The result is
a profile and a phenotype for each gene, the plain inputs the core already takes, plus
notes that say what was done and why.
"""

import functools
import operator
import re
from typing import NamedTuple

from sert_cli.datafiles import read_table
from sert_cli.errors import InputError, ModelError
from sert_cli.model.profile import PhenotypeTable, Profile, changed
from sert_cli.pgx.bleeding import CoMedication, bleeding_drugs, bleeding_names, bleeding_steps
from sert_cli.pgx.phenotypes import check_gene, phenotype_code, phenotype_value
from sert_cli.pk.steady_state import (
    formation_changes,
    profile_clearances,
    saturable_parameters,
    table_fm,
)
from sert_cli.suggest import did_you_mean
from sert_cli.trace import Note, Step
from sert_cli.vocabulary import (
    CPIC_TERMS,
    DEFAULT_PHENOTYPE,
    GENOTYPED_GENES,
    INDETERMINATE,
    PHENOTYPE_NAMES,
)

PHENOTYPE_GENES = GENOTYPED_GENES  # the genes with phenotypes (CPIC translates them)

PHENOCONVERSION_RULE = (
    "phenoconversion, for guidance and label limits only: a strong inhibitor makes a PM, "
    "a moderate one halves the CYP2D6 activity score; a convention of implementers, not a "
    "CPIC rule"
)
# Moderate CYP2D6 inhibitor without a genotype: halving the score moves each phenotype's
# activity-score range (Caudle et al. Clin Transl Sci 2020) to this phenotype.
HALVED_PHENOTYPE = {"PM": "PM", "IM": "IM", "NM": "IM", "UM": "NM"}


INTERACTION_TABLES = (
    "sert_cli/data/perpetrators.csv, interaction_classes.csv and interactions.csv, cited per row"
)


def _rows(name: str) -> tuple[dict, ...]:
    return read_table(name)[1]


class Patient(NamedTuple):
    """What is known of a patient, as written: (gene, phenotype) and (gene, diplotype)
    pairs, co-medications by name. Checked and translated by `prepare`."""

    phenotypes: tuple[tuple[str, str], ...] = ()
    genotypes: tuple[tuple[str, str], ...] = ()
    comedications: tuple[str, ...] = ()
    assume_nm: bool = False
    pharmcat: object = None  # pharmcat.PharmcatReport: the calls of a PharmCAT output
    age_years: float | None = None
    crcl_ml_min: float | None = None  # creatinine clearance
    hepatic: str | None = None  # none, mild, moderate, severe (Child-Pugh A, B, C)
    sex: str | None = None  # female or male; None: not known (the profile's mixed cohort)
    smoker: bool | None = None  # None: not given, computed as a non-smoker

    @property
    def given(self) -> bool:
        return bool(
            self.phenotypes
            or self.genotypes
            or self.comedications
            or self.pharmcat is not None
            or self.age_years is not None
            or self.crcl_ml_min is not None
            or self.hepatic not in (None, "none")
            or self.sex is not None
            or self.smoker
        )


RECORD_FIELDS = (
    "genotypes",
    "comedications",
    "functional_phenotypes",
    "patient_factors",
    "guidance",
    "notes",
)


class Prepared(NamedTuple):
    """The profile and phenotypes the PK computes with, and what was done to get them."""

    profile: Profile
    phenotypes: dict[str, str]
    genotypes: tuple = ()  # genotype.GenotypeResult, one per gene given
    notes: tuple[str, ...] = ()
    guidance: tuple[dict, ...] = ()
    comedications: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    warnings: tuple[str, ...] = ()
    # genes whose phenotype a co-medication converts, for guidance and label limits
    functional_phenotypes: dict[str, str] = {}
    avoid: tuple[str, ...] = ()  # why the label says not to give the drug to this patient
    factors: dict[str, object] = {}  # age, crcl, hepatic, sex, smoker as given and checked
    # each moiety's CL/F for this patient and the step that computed it, and its saturable
    # (Vmax, Km) or None: the steady state of a batch group is computed over rows of many
    # patients, each with its own
    clearances: tuple[tuple[float, Step], ...] = ()
    saturation: tuple[tuple[float, float] | None, ...] = ()
    # each moiety's formation change (docs/model.md section 8; 1 unless it is a metabolite
    # formed through a gene): its own elimination rate is its clearance times this
    formation: tuple[float, ...] = ()
    # co-medications that are SERT inhibitors with a profile: (name, usual dose mg, SERT
    # occupancy alone, SERT load, plateau) at their usual dose, for the two together
    co_sert_inhibitors: tuple[tuple[str, float, float, float, float], ...] = ()
    # the genes of `phenotypes` the patient gave no phenotype or genotype for: NM assumed
    assumed_genes: tuple[str, ...] = ()
    # co-medications of bleeding_comedications.csv: each adds a bleeding warning, with the
    # platelet SERT occupancy of the dose where the command computes one (pgx/bleeding.py)
    bleeding: tuple[CoMedication, ...] = ()

    def record(self) -> dict:
        """What the patient layer did, for every result record (JSON and CSV alike): the
        fields RECORD_FIELDS."""
        return {
            "genotypes": [g.record() for g in self.genotypes],
            "comedications": list(self.comedications),
            "functional_phenotypes": dict(self.functional_phenotypes),
            "patient_factors": dict(self.factors),
            "guidance": list(self.guidance),
            "notes": list(self.notes),
        }


@functools.cache
def comedication_names() -> dict[str, str]:
    """Every name a co-medication can be given by (lower case) -> its generic name."""
    names = {row["drug"]: row["drug"] for row in _rows("perpetrators.csv")}
    names |= {row["perpetrator"]: row["perpetrator"] for row in _rows("interactions.csv")}
    for row in (*_rows("perpetrators.csv"), *_rows("serotonergic.csv")):
        names.setdefault(row["drug"], row["drug"])
        for alias in row["aliases"].split(";"):
            if alias.strip():
                names.setdefault(alias.strip().lower(), row["drug"])
    for name, generic in bleeding_names().items():  # NSAIDs, antiplatelets, anticoagulants
        names.setdefault(name, generic)
    return names


@functools.cache
def serotonergic() -> dict[str, dict]:
    """Drugs that add serotonin toxicity risk to an SSRI or SNRI, by generic name
    (sert_cli/data/serotonergic.csv, a source per row)."""
    return {row["drug"]: row for row in _rows("serotonergic.csv")}


def serotonergic_risks(drug: str, comedications) -> tuple[list[str], list[Step]]:
    """One warning per serotonergic co-medication, naming the risk, and the step that
    cites its source (shown with --explain and in the JSON trace)."""
    warnings, steps = [], []
    for name in comedications:
        row = serotonergic().get(name)
        if name == drug or row is None:
            continue
        warnings.append(f"serotonin toxicity: {name} with {drug}: {row['risk']}")
        steps.append(
            Step(
                name=f"serotonergic co-medication {name}",
                formula=row["risk"],
                values=(),
                source=row["source"],
            )
        )
    return warnings, steps


def known_comedications() -> tuple[str, ...]:
    return tuple(sorted(set(comedication_names().values())))


@functools.cache
def _class_activity() -> dict[tuple[str, str], tuple[float, str]]:
    return {
        (row["effect"], row["strength"]): (float(row["activity"]), row["source"])
        for row in _rows("interaction_classes.csv")
    }


def _phenotypes_used(profile: Profile, phenotypes: dict[str, str]) -> tuple[dict, list[str]]:
    """The phenotype used for each polymorphic gene the profile depends on (NM unless
    given), and warnings for the genes given that it does not use."""
    genes = [
        g
        for g in profile.genes
        if g in PHENOTYPE_GENES
        or any(m.phenotypes and m.phenotypes.gene == g for m in profile.moieties)
    ]
    used = {gene: phenotypes.get(gene, DEFAULT_PHENOTYPE) for gene in genes}
    warnings = [
        f"{profile.name}'s profile has no {gene} data; {gene}={phenotype} was not used"
        for gene, phenotype in phenotypes.items()
        if gene not in used
    ]
    return used, warnings


def prepare(profile: Profile, patient: Patient) -> Prepared:
    phenotypes: dict[str, str] = {}
    notes: list[str] = []
    unknown: set[str] = set()  # genes given as Indeterminate or No Result
    given = list(patient.phenotypes)
    if patient.pharmcat is not None:
        notes.append(f"from {patient.pharmcat.describe()}")
        written = {check_gene(g, g) for g, _ in patient.phenotypes + patient.genotypes}
        for call in patient.pharmcat.calls:
            if call.gene in written:
                raise InputError(
                    "given both in the PharmCAT file and on the command line", field=call.gene
                )
            given.append((call.gene, call.phenotype))
    for gene, written in given:
        gene = check_gene(gene, gene)
        if phenotype_code(written) == INDETERMINATE:
            unknown.add(gene)
            measured = {m.phenotypes.gene for m in profile.moieties if m.phenotypes}
            if gene in measured and not patient.assume_nm:
                raise ModelError(
                    f"{written} for {gene}, which {profile.name}'s clearance depends on; sert "
                    "computes nothing for it unless NM may be assumed",
                    field=gene,
                    remedy="assume_nm",
                )
            if gene in measured:
                notes.append(f"{gene} {written}: computed as NM, as asked")
            elif gene in profile.genes:
                notes.append(
                    f"{gene} {written}: a minor pathway of {profile.name} (a derived share), "
                    "computed as NM"
                )
            else:
                notes.append(f"{gene} {written}: {profile.name}'s profile does not use {gene}")
            continue
        value = phenotype_value(gene, written)
        if phenotypes.get(gene, value) != value:
            raise InputError(f"given twice ({phenotypes[gene]} and {value})", field=gene)
        phenotypes[gene] = value
    steps: list[Step] = []
    results = []
    if patient.genotypes:
        from sert_cli.pgx.genotype import translate
    typed: dict[str, str] = {}
    for gene, diplotype in patient.genotypes:
        gene = gene.strip().upper()
        if gene in typed:  # (checked first: the first one's phenotype is set below)
            if typed[gene] == diplotype.strip():
                continue  # the same genotype again, as a phenotype given twice
            raise InputError(
                f"genotype given twice ({typed[gene]} and {diplotype.strip()})", field=gene
            )
        typed[gene] = diplotype.strip()
        if gene in phenotypes:
            raise InputError("given both as a phenotype and as a genotype", field=gene)
        result = translate(gene, diplotype)
        results.append(result)
        steps += genotype_steps(result)
        if result.phenotype == INDETERMINATE:
            if not patient.assume_nm:
                raise ModelError(
                    f"{result.diplotype} is Indeterminate (an allele of uncertain or unknown "
                    "function); sert computes nothing for it unless NM may be assumed",
                    field=gene,
                    remedy="assume_nm",
                )
            phenotypes[gene] = DEFAULT_PHENOTYPE
            unknown.add(gene)
            notes.append(f"{gene} {result.diplotype} is Indeterminate; computed as NM, as asked")
        else:
            phenotypes[gene] = result.phenotype
            score = (
                ""
                if result.activity_score is None
                else f", activity score {'≥' if result.activity_score_at_least else ''}"
                f"{result.activity_score:g}"
            )
            notes.append(
                f"{gene} {result.diplotype}{score}: {result.cpic_phenotype} "
                f"(CPIC, data version {result.cpic_data_version})"
            )
    scores = {
        r.gene: (r.activity_score, r.activity_score_at_least)
        for r in results
        if r.activity_score is not None
    }
    names: list[str] = []
    for written in patient.comedications:
        name = comedication_names().get(written.strip().lower())
        if name is None:
            typed = written.strip().lower()
            raise InputError(
                f"{written!r}: no interaction data for it"
                f"{did_you_mean(typed, comedication_names())} (sert knows: "
                f"{', '.join(known_comedications())})",
                field="with",
            )
        if name == profile.name:
            notes.append(f"co-medication {name} is the drug itself; ignored")
        elif name in names:
            notes.append(f"co-medication {name} given more than once; counted once")
        else:
            names.append(name)
    if SMOKING in names:  # one number per drug: smoking is the patient factor smoker
        if patient.smoker is False:
            raise InputError(
                "smoking is given as a co-medication and the patient as a non-smoker",
                field="smoker",
            )
        names.remove(SMOKING)
        notes.append("co-medication smoking: computed as the patient factor smoker")
        patient = patient._replace(smoker=True)
    functional = dict(phenotypes)
    multipliers: dict[str, float] = {}
    # a smoker, for a drug without a measured smoker row: smoking acts through CYP1A2
    # with its FDA class, as a co-medication would (perpetrators.csv)
    by_enzyme = [SMOKING] if patient.smoker and not _measured_smoking(profile.name) else []
    for name in (*names, *by_enzyme):
        before = len(notes)
        profile = _apply_comedication(profile, name, functional, scores, multipliers, notes)
        steps += [
            Step(name=f"co-medication {name}", formula=note, values=(), source=INTERACTION_TABLES)
            for note in notes[before:]
        ]
    if multipliers:
        profile = changed(
            profile,
            parent=changed(profile.parent, enzyme_activity=multipliers),
            metabolites=tuple(changed(m, enzyme_activity=multipliers) for m in profile.metabolites),
        )
    profile = _apply_label_limits(profile, functional, names, notes)
    profile, factor_warnings, avoid = _apply_patient_factors(profile, patient, notes, steps)
    used, warnings = _phenotypes_used(profile, phenotypes)
    # every moiety's clearance must compute, from the drug's own data or the class values
    clearances = profile_clearances(profile, used)
    saturation = tuple(saturable_parameters(moiety, used) for moiety in profile.moieties)
    formation = formation_changes(profile, used)
    risks, risk_steps = serotonergic_risks(profile.name, names)
    steps += risk_steps
    # each with the antidepressant's class, which the bleeding estimate follows
    bleeding = tuple(
        CoMedication(name=name, antidepressant_class=profile.drug_class)
        for name in names
        if name in bleeding_drugs()
    )
    steps += bleeding_steps(profile.name, bleeding)
    warnings = risks + factor_warnings + warnings
    # guidance reads an unknown gene as CPIC's No Result, not as the NM the PK assumes
    guidance = guidance_for(profile.name, {**functional, **dict.fromkeys(unknown, "NR")})
    if patient.pharmcat is not None:
        warnings += _compare_with_pharmcat(profile.name, guidance, patient.pharmcat, notes)
    return Prepared(
        profile=profile,
        phenotypes=used,
        genotypes=tuple(results),
        notes=tuple(notes),
        guidance=tuple(guidance),
        comedications=tuple(names),
        steps=tuple(steps),
        warnings=tuple(warnings),
        functional_phenotypes={g: p for g, p in functional.items() if phenotypes.get(g, "NM") != p},
        avoid=tuple(avoid),
        factors=patient_factors(patient),
        clearances=clearances,
        saturation=saturation,
        formation=formation,
        assumed_genes=tuple(gene for gene in used if gene not in phenotypes),
        bleeding=bleeding,
    )


def _compare_with_pharmcat(drug: str, guidance: list[dict], report, notes: list) -> list[str]:
    """PharmCAT's own CPIC classification for the drug beside sert's; a warning if they
    disagree (a report.json only: a phenotype.json has no recommendations)."""
    theirs = report.classifications(drug)
    if theirs is None:
        return []
    ours = sorted(
        {a["strength"] or "No recommendation" for a in guidance if a["source"].startswith("CPIC")}
    )
    theirs_text = ", ".join(theirs) or "none matched"
    notes.append(f"PharmCAT's CPIC classification for {drug}: {theirs_text}")
    if sorted({t.lower() for t in theirs}) != sorted(o.lower() for o in ours):
        return [
            f"sert's CPIC guidance strength for {drug} ({', '.join(ours) or 'none'}) differs "
            f"from PharmCAT's ({theirs_text})"
        ]
    return []


def genotype_steps(g) -> list[Step]:
    """The translation of one genotype as recorded steps (docs/model.md section 12)."""
    source = f"CPIC allele table, data version {g.cpic_data_version}"
    if g.activity_score is None:
        return [
            Step(
                name=f"{g.gene} genotype -> phenotype",
                formula="the pair of allele functions (sert_cli/data/cpic/function_pairs.csv)",
                values=tuple((a.allele, a.function, "") for a in g.alleles)
                + (("phenotype", g.cpic_phenotype, ""),),
                source=source,
            )
        ]
    return [
        Step(
            name=f"{g.gene} genotype -> activity score -> phenotype",
            formula="AS = sum of the two allele values; CPIC bins "
            "(sert_cli/data/cpic/activity_score_bins.csv)",
            values=tuple((a.allele, a.activity_value, "") for a in g.alleles)
            + (
                ("AS", f"{'≥' if g.activity_score_at_least else ''}{g.activity_score:g}", ""),
                ("phenotype", g.cpic_phenotype, ""),
            ),
            source=source,
        )
    ]


def _apply_comedication(
    profile: Profile, name: str, functional: dict, scores: dict, multipliers: dict, notes: list
) -> Profile:
    """A measured ratio for the pair scales exposure; otherwise each enzyme the
    co-medication inhibits or induces gets its class's activity multiplier."""
    for row in _rows("interactions.csv"):
        if row["perpetrator"] == name and row["victim"] == profile.name:
            ratio = float(row["exposure_ratio"])
            verb = "raises" if ratio >= 1 else "lowers"
            fm = _parent_fm(profile, row["enzyme"]) if row["enzyme"] else None
            if fm:
                _measured_enzyme_effect(
                    profile, name, row, ratio, fm, functional, scores, multipliers, notes
                )
                return profile
            notes.append(
                Note(
                    f"{name} {verb} {profile.name} exposure {ratio:g}-fold",
                    source=f"measured: {row['source']}",
                    tail="; this measured ratio is used instead of the enzyme classes",
                    short=f"{name}: {profile.name} exposure x{ratio:g} (measured)",
                )
            )
            return scaled_exposure(profile, ratio)
    metabolized = {f.gene for m in profile.moieties for f in m.fractions_metabolized}
    metabolized |= {m.phenotypes.gene for m in profile.moieties if m.phenotypes}
    for row in _rows("perpetrators.csv"):
        if row["drug"] != name:
            continue
        enzyme, effect, strength = row["enzyme"], row["effect"], row["strength"]
        activity, class_source = _class_activity()[(effect, strength)]
        multipliers[enzyme] = multipliers.get(enzyme, 1.0) * activity
        reach = (
            f"{profile.name}'s {enzyme} path is scaled"
            if enzyme in metabolized
            else f"{profile.name}'s profile has no {enzyme} fraction, so its clearance is unchanged"
        )
        said = f"{enzyme} activity x{activity:g}: {name} is a {strength} {enzyme} {effect}"
        notes.append(
            Note(
                said,
                source=f"source: {row['source']}; class effect: {class_source}",
                tail=f"; {reach}",
                short=said if enzyme in metabolized else "",  # no effect: --explain's
            )
        )
        if effect == "inhibitor":
            _phenoconvert(enzyme, strength, name, functional, scores, notes)
    return profile


def _parent_fm(profile: Profile, gene: str) -> float | None:
    """The parent's fm of a gene (a fraction listed, or its measured table's), if any."""
    parent = profile.parent
    if parent.saturable is not None:
        return None
    for fraction in parent.fractions_metabolized:
        if fraction.gene == gene:
            return fraction.fm
    if parent.phenotypes is not None and parent.phenotypes.gene == gene:
        return table_fm(parent)
    return None


def _measured_enzyme_effect(
    profile, name, row, ratio, fm, functional, scores, multipliers, notes
) -> None:
    """A measured ratio read as the co-medication's effect on one enzyme of the drug: the
    activity m with 1/R = 1 + fm * (m - 1) (at least 0), which then acts wherever the
    enzyme does, a metabolite's formation included (docs/model.md sections 2 and 8)."""
    enzyme = row["enzyme"]
    activity = max(0.0, 1.0 + (1.0 / ratio - 1.0) / fm)
    multipliers[enzyme] = multipliers.get(enzyme, 1.0) * activity
    verb = "raises" if ratio >= 1 else "lowers"
    capped = (
        f"; the measured ratio exceeds what fm {fm:g} allows, so the enzyme is taken as "
        "fully inhibited"
        if 1.0 + (1.0 / ratio - 1.0) / fm < 0
        else ""
    )
    notes.append(
        Note(
            f"{name} {verb} {profile.name} exposure {ratio:g}-fold",
            source=f"measured: {row['source']}",
            tail=f"; read as {enzyme} activity x{activity:.3g} for {profile.name} "
            f"(1/{ratio:g} = 1 + {fm:g} * (m - 1)), which acts wherever {enzyme} does{capped}",
            short=f"{name}: {profile.name} exposure x{ratio:g} (measured; {enzyme} activity "
            f"x{activity:.3g})",
        )
    )
    for perpetrator in _rows("perpetrators.csv"):
        if (
            perpetrator["drug"] == name
            and perpetrator["enzyme"] == enzyme
            and perpetrator["effect"] == "inhibitor"
        ):
            _phenoconvert(enzyme, perpetrator["strength"], name, functional, scores, notes)


def _phenoconvert(gene, strength, name, functional, scores, notes) -> None:
    """The phenotype guidance and label limits read with an inhibitor on board."""
    if gene not in PHENOTYPE_GENES:
        return
    before = functional.get(gene, "NM")
    if strength == "strong":
        after = "PM"
        scores[gene] = (0.0, False)
    elif strength == "moderate" and gene == "CYP2D6":
        from sert_cli.pgx.genotype import activity_score_phenotype

        if gene in scores:
            score, at_least = scores[gene]
            scores[gene] = (score / 2, at_least)
            after = activity_score_phenotype(score / 2, at_least)
        else:
            after = HALVED_PHENOTYPE[before]
    else:
        return
    if after != before:
        functional[gene] = after
        converted = f"{gene}: {before} -> {after} with {name}"
        notes.append(
            Note(
                f"{converted} ({PHENOCONVERSION_RULE})",
                short=f"{converted} (phenoconversion: for guidance and label limits only)",
            )
        )


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
    parent = changed(
        parent,
        apparent_clearance_l_h=parent.apparent_clearance_l_h / ratio,
        phenotypes=table,
        saturable=saturable,
    )
    return changed(profile, parent=parent)


def label_maximum_for(profile: Profile, phenotypes: dict) -> float:
    """The label maximum, mg/day, for a patient of these phenotypes (label_limits.csv)."""
    return _apply_label_limits(profile, phenotypes, [], []).label_max_mg


def _apply_label_limits(
    profile: Profile, phenotypes: dict, comedications: list[str], notes: list
) -> Profile:
    inhibited = _inhibited_enzymes(tuple(comedications))
    # a co-medication measured to raise this drug's exposure counts as inhibiting its
    # metabolism, for the label's "or another inhibitor" limits (Celexa names cimetidine)
    raised = any(name in _raisers_of(profile.name) for name in comedications)
    for row in _label_limit_rows(profile.name):
        gene, limit = row["gene"], float(row["max_daily_mg"])
        applies = phenotypes.get(gene) == row["phenotype"]
        if not applies and row["also_with_inhibitor"] == "yes" and (gene in inhibited or raised):
            applies = True
        if applies and limit < profile.label_max_mg:
            who = (
                f"{gene} {PHENOTYPE_NAMES[row['phenotype']]}s"
                if phenotypes.get(gene) == row["phenotype"]
                else f"patients taking a {gene} inhibitor"
            )
            source = f"label maximum for {who}: {row['source']}"
            lowered = f"the maximum daily dose is {limit:g} mg, not {profile.label_max_mg:g} mg"
            notes.append(Note(lowered, source=source, short=f"{lowered}, for {who}"))
            profile = changed(profile, label_max_mg=limit, label_max_source=source)
    return profile


@functools.lru_cache(maxsize=1 << 10)
def _inhibited_enzymes(comedications: tuple[str, ...]) -> frozenset[str]:
    """The enzymes these co-medications inhibit (perpetrators.csv)."""
    return frozenset(
        row["enzyme"]
        for row in _rows("perpetrators.csv")
        if row["drug"] in comedications and row["effect"] == "inhibitor"
    )


@functools.cache
def _raisers_of(drug: str) -> frozenset[str]:
    """The co-medications measured to raise the drug's exposure (interactions.csv)."""
    return frozenset(
        row["perpetrator"]
        for row in _rows("interactions.csv")
        if row["victim"] == drug and float(row["exposure_ratio"]) > 1
    )


@functools.cache
def _label_limit_rows(drug: str) -> tuple[dict, ...]:
    return tuple(row for row in _rows("label_limits.csv") if row["drug"] == drug)


HEPATIC_LEVELS = {"none": "none", "mild": "mild", "moderate": "moderate", "severe": "severe"}
HEPATIC_LEVELS |= {"a": "mild", "b": "moderate", "c": "severe", "child-pugh a": "mild"}
HEPATIC_LEVELS |= {"child-pugh b": "moderate", "child-pugh c": "severe", "normal": "none"}
SEXES = {"female": "female", "f": "female", "woman": "female", "male": "male", "m": "male"}
SEXES |= {"man": "male"}
SMOKING = "smoking"  # the co-medication name (perpetrators.csv) of the factor smoker
# What a condition reads for a factor not given: sex unknown (the profile's mixed cohort),
# smoking unknown (computed as a non-smoker: the rows for smokers are ratios to non-smokers)
NOT_GIVEN = {"sex": "unknown", "smoker": "unknown"}
FACTOR_STEP = "patient factor"  # the name of the steps patient_factors.csv's rows record


def patient_factors(patient: Patient) -> dict[str, object]:
    """Age, creatinine clearance, liver function, sex and smoking, checked; errors name
    their field."""
    found: dict[str, object] = {}
    for field, value, top in (
        ("age", patient.age_years, 130.0),
        ("crcl", patient.crcl_ml_min, 300.0),
    ):
        if value is None:
            continue
        if not (0 < value <= top):  # also refuses NaN
            raise InputError(f"must be a number above 0 and at most {top:g}", field=field)
        found[field] = value
    if patient.hepatic is not None:
        level = HEPATIC_LEVELS.get(patient.hepatic.strip().lower())
        if level is None:
            raise InputError(
                f"{patient.hepatic!r}: one of none, mild, moderate, severe (Child-Pugh A, B, C)"
                f"{did_you_mean(patient.hepatic.strip().lower(), HEPATIC_LEVELS)}",
                field="hepatic",
            )
        found["hepatic"] = level
    if patient.sex is not None:
        written = patient.sex.strip().lower()
        sex = SEXES.get(written)
        if sex is None:
            raise InputError(
                f"{patient.sex!r}: female or male{did_you_mean(written, SEXES)}",
                field="sex",
            )
        found["sex"] = sex
    if patient.smoker is not None:
        found["smoker"] = bool(patient.smoker)
    return found


def _condition_values(factors: dict) -> dict:
    """The factors as the conditions read them: smoker yes or no, and unknown for a sex or
    smoking not given."""
    values = {**NOT_GIVEN, **factors}
    if isinstance(values["smoker"], bool):
        values["smoker"] = "yes" if values["smoker"] else "no"
    return values


def _words(field: str, value) -> str:
    """A factor in words: 'female', 'smoker', 'non-smoker', 'age 70', 'hepatic mild'."""
    if field == "sex":
        return str(value)
    if field == "smoker":
        return {"yes": "smoker", "no": "non-smoker"}.get(value, "smoking not known")
    return f"{field} {value:g}" if isinstance(value, float) else f"{field} {value}"


def _holds(condition: str, factors: dict) -> bool:
    """'age>=65', 'crcl>=30&crcl<60', 'hepatic=mild|moderate' against the patient."""
    for name, op, bound in _parsed(condition):
        value = factors.get(name)
        if value is None:
            return False
        if op == "=":
            if value not in bound:
                return False
        elif not _COMPARE[op](value, bound):
            return False
    return True


_COMPARE = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@functools.cache
def _parsed(condition: str) -> tuple[tuple[str, str, object], ...]:
    """A condition's parts: (factor, operator, bound): a number, or for '=' the values."""
    parts = []
    for part in condition.split("&"):
        for op in (">=", "<=", ">", "<", "="):
            name, sep, bound = part.partition(op)
            if sep:
                break
        parts.append((name.strip(), op, tuple(bound.split("|")) if op == "=" else float(bound)))
    return tuple(parts)


def _fields(condition: str) -> list[str]:
    """The factors a condition reads: 'sex=female&smoker=yes' -> ['sex', 'smoker']."""
    return [re.split(r"[<>=]", part, maxsplit=1)[0].strip() for part in condition.split("&")]


@functools.cache
def _factor_rows(drug: str) -> tuple[dict, ...]:
    return tuple(row for row in _rows("patient_factors.csv") if row["drug"] == drug)


def _measured_smoking(drug: str) -> bool:
    """Whether patient_factors.csv has a measured exposure change in smokers of the drug."""
    return any(
        row["effect"] == "exposure_ratio" and "smoker" in _fields(row["condition"])
        for row in _factor_rows(drug)
    )


def _apply_patient_factors(profile: Profile, patient: Patient, notes: list, steps: list):
    """The labels' and studies' changes for age, kidney, liver, sex and smoking
    (sert_cli/data/patient_factors.csv): a lower maximum, a measured exposure change, an
    avoid, a warning, or what is assumed of a factor not given."""
    given = patient_factors(patient)
    factors = _condition_values(given)
    warnings, avoid = [], []
    said = ", ".join(_words(k, v) for k, v in _condition_values(given).items() if k in given)
    for row in _factor_rows(profile.name):
        if not _holds(row["condition"], factors):
            continue
        effect, where = row["effect"], f"{row['condition']} ({said})"
        if effect == "max_daily_mg" and float(row["value"]) < profile.label_max_mg:
            limit = float(row["value"])
            source = f"label maximum for {where}: {row['source']}"
            was = profile.label_max_mg
            lowered = f"the maximum daily dose is {limit:g} mg, not {was:g} mg"
            notes.append(Note(lowered, source, short=f"{lowered}, for {where}"))
            profile = changed(profile, label_max_mg=limit, label_max_source=source)
        elif effect == "exposure_ratio":
            ratio = float(row["value"])
            notes.append(
                Note(f"{where}: {profile.name} exposure x{ratio:g}", f"measured: {row['source']}")
            )
            who = ", ".join(_words(f, factors[f]) for f in _fields(row["condition"]))
            # text, where given, is the short citation the "Assumed:" line names
            assumes = (
                f"{who}: {profile.name} clearance x{1 / ratio:.3g} ({row['text']})"
                if row["text"]
                else ""
            )
            steps.append(
                Step(
                    name=f"{FACTOR_STEP} {row['condition']}",
                    formula="CL/F = CL/F / exposure ratio (each moiety's clearance of the parent)",
                    values=(
                        ("CL/F before", profile.parent.apparent_clearance_l_h, "L/h"),
                        ("exposure ratio", ratio, ""),
                        ("CL/F after", profile.parent.apparent_clearance_l_h / ratio, "L/h"),
                    ),
                    source=row["source"],
                    assumes=assumes,
                    kind=FACTOR_STEP,
                )
            )
            profile = scaled_exposure(profile, ratio)
        elif effect == "assume":
            steps.append(
                Step(
                    name=f"{FACTOR_STEP} {row['condition']}",
                    formula=row["text"],
                    values=(),
                    source=row["source"],
                    assumes=row["text"],
                    kind=FACTOR_STEP,
                )
            )
        elif effect == "avoid":
            avoid.append(f"{row['text']} ({row['source']})")
            warnings.append(f"the label says to avoid {profile.name} here: {row['text']}")
        elif effect == "warning":
            warnings.append(f"{row['text']} ({row['source']})")
        elif effect == "note":
            notes.append(Note(f"{where}: {row['text']}", row["source"]))
    return profile, warnings, avoid


@functools.cache
def _guidance_rows(drug: str) -> tuple[dict, ...]:
    return tuple(row for row in _rows("guidance.csv") if row["drug"] == drug)


def guidance_for(drug: str, phenotypes: dict[str, str]) -> list[dict]:
    """CPIC and DPWG advice for the patient's phenotype of each gene the guidelines read. A
    row may read two genes together ('CYP2C19+CYP2B6', as CPIC does for sertraline; a gene
    not given is CPIC's 'No Result', NR) or none (advice for every patient). The advice
    records are shared by the patients who get them: read them, never change them."""
    return list(_guidance(drug, tuple(sorted(phenotypes.items()))))


@functools.lru_cache(maxsize=1 << 12)
def _guidance(drug: str, given: tuple[tuple[str, str], ...]) -> tuple[dict, ...]:
    phenotypes = dict(given)
    advice = []
    for row in _guidance_rows(drug):
        genes = [g for g in row["gene"].split("+") if g]
        if len(genes) > 1:
            phenotype = "+".join(phenotypes.get(g, "NR") for g in genes)
            assumed = False
            not_given = [g for g in genes if g not in phenotypes]
        elif genes:
            phenotype = phenotypes.get(genes[0], "NM")
            assumed = genes[0] not in phenotypes
            not_given = list(genes) if assumed else []
        else:
            phenotype, assumed, not_given = "", False, []
        if row["phenotype"] == phenotype:
            advice.append(
                {
                    "source": row["source"],
                    "gene": row["gene"],
                    "phenotype": phenotype,
                    "cpic_term": " + ".join(
                        CPIC_TERMS.get(p, "No Result") for p in phenotype.split("+") if p
                    ),
                    "assumed": assumed,
                    "strength": row["strength"] or None,
                    "advice": row["advice"],
                    "brief": row["brief"],
                    # the genes the row reads that the patient did not give (a two-gene
                    # row reads them as No Result, a one-gene row as NM)
                    "not_given": not_given,
                    # "avoid": the guideline advises against the drug for this patient,
                    # so no dose is recommended or planned (guidance.csv's action)
                    "action": row["action"] or None,
                }
            )
    return tuple(advice)


def advice_subject(advice: dict) -> str:
    """The phenotypes an advice rests on, each with its gene: 'CYP2D6 PM, CYP2C19 (not
    given)' (a two-gene row reads a gene not given as No Result), 'CYP2C19 NM (not given)'
    (a one-gene row reads it as NM); a gene given as Indeterminate or No Result reads NR."""
    pairs = zip(advice["gene"].split("+"), advice["phenotype"].split("+"), strict=True)
    return ", ".join(
        f"{gene} {'' if phenotype == 'NR' else phenotype + ' '}(not given)"
        if gene in advice["not_given"]
        else f"{gene} {phenotype}"
        for gene, phenotype in pairs
        if gene
    )


def advised_against(guidance) -> tuple[str, ...]:
    """Why a guideline advises against the drug for this patient (guidance.csv's action
    avoid), one line per advice: no dose is recommended or planned for the patient; the
    model's number is still shown, with the advice beside it."""
    return tuple(
        f"{a['source']}{' ' + a['strength'] if a['strength'] else ''}, {advice_subject(a)}: "
        f"{a['brief']}"
        for a in guidance
        if a["action"] == "avoid"
    )
