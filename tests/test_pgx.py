"""Genotype -> phenotype -> clearance -> dose, the CPIC way, plus phenoconversion."""

import csv
import io
import itertools

import pytest
from conftest import sert, sert_json

from sert_cli.errors import InputError
from sert_cli.pgx.genotype import allele_table, translate
from sert_cli.pk.steady_state import moiety_clearance
from sert_cli.profiles.schema import build_profile

# reference/pgx.md section 2.1, worked examples from CPIC's rows
CYP2D6_EXAMPLES = [
    ("*1/*1", 2.0, "NM"),
    ("*1/*2", 2.0, "NM"),
    ("*1/*17", 1.5, "NM"),
    ("*1/*29", 1.5, "NM"),
    ("*1/*9", 1.25, "NM"),
    ("*1/*10", 1.25, "NM"),
    ("*1/*41", 1.25, "NM"),
    ("*1/*4", 1.0, "IM"),
    ("*1/*5", 1.0, "IM"),
    ("*1/*13", 1.0, "IM"),
    ("*17/*17", 1.0, "IM"),
    ("*29/*29", 1.0, "IM"),
    ("*10/*10", 0.5, "IM"),
    ("*41/*41", 0.5, "IM"),
    ("*4/*17", 0.5, "IM"),
    ("*4/*10", 0.25, "IM"),
    ("*4/*41", 0.25, "IM"),
    ("*4/*4", 0.0, "PM"),
    ("*4/*5", 0.0, "PM"),
    ("*5/*5", 0.0, "PM"),
    ("*4/*4x2", 0.0, "PM"),
    ("*2x2/*4", 2.0, "NM"),
    ("*1x2/*4", 2.0, "NM"),
    ("*10/*10x2", 0.75, "IM"),
    ("*10/*17x2", 1.25, "NM"),
    ("*1/*41x2", 1.5, "NM"),
    ("*2x2/*17", 2.5, "UM"),
    ("*1/*1x2", 3.0, "UM"),
    ("*1/*2x2", 3.0, "UM"),
    ("*4/*1x≥3", 3.0, "UM"),
    ("*2x≥3/*4", 3.0, "UM"),
    ("*1/*1x≥3", 4.0, "UM"),
    ("*1/*43", None, "Indeterminate"),
    ("*4/*43", None, "Indeterminate"),
]


@pytest.mark.parametrize(("diplotype", "score", "phenotype"), CYP2D6_EXAMPLES)
def test_cyp2d6_examples_from_pgx_md(diplotype, score, phenotype):
    result = translate("CYP2D6", diplotype)
    assert result.phenotype == phenotype
    assert result.activity_score == score


def test_open_ended_scores_are_marked():
    assert translate("CYP2D6", "*1/*1x≥3").activity_score_at_least
    assert translate("CYP2D6", "*1/*1x>=3").diplotype == "*1/*1x≥3"
    assert translate("CYP2D6", "*1/*1x4").diplotype == "*1/*1x≥3"  # PharmCAT's binning
    assert not translate("CYP2D6", "*1/*1x2").activity_score_at_least


def test_current_cpic_decreased_values():
    for allele in ("*9", "*10", "*41"):
        assert translate("CYP2D6", f"{allele}/{allele}").activity_score == 0.5


@pytest.mark.parametrize(
    ("diplotype", "message"),
    [
        ("*1/*1xN", "copy number is unknown"),
        ("*1/*999", "not in CPIC's table"),
        ("*1", "write two alleles"),
        ("*1/*36+*10", "tandems"),
    ],
)
def test_cyp2d6_errors(diplotype, message):
    with pytest.raises(InputError, match=message):
        translate("CYP2D6", diplotype)


# reference/pgx.md section 2.2: the CYP2C19 function-pair rule
C19_RULE = {
    frozenset(["Increased function"]): "Ultrarapid Metabolizer",
    frozenset(["Normal function", "Increased function"]): "Rapid Metabolizer",
    frozenset(["Normal function"]): "Normal Metabolizer",
    frozenset(["Normal function", "No function"]): "Intermediate Metabolizer",
    frozenset(["Increased function", "No function"]): "Intermediate Metabolizer",
    frozenset(["Normal function", "Decreased function"]): "Likely Intermediate Metabolizer",
    frozenset(["Increased function", "Decreased function"]): "Likely Intermediate Metabolizer",
    frozenset(["Decreased function"]): "Likely Intermediate Metabolizer",
    frozenset(["No function"]): "Poor Metabolizer",
    frozenset(["Decreased function", "No function"]): "Likely Poor Metabolizer",
}


def test_every_pair_of_shipped_cyp2c19_alleles_follows_the_pair_rules():
    table, _ = allele_table("CYP2C19")
    assert len(table) >= 36
    for a, b in itertools.combinations_with_replacement(sorted(table), 2):
        result = translate("CYP2C19", f"{a}/{b}")
        functions = {table[a][0], table[b][0]}
        if functions & {"Uncertain function", "Unknown function"}:
            assert result.phenotype == "Indeterminate", (a, b)
        else:
            assert result.cpic_phenotype == C19_RULE[frozenset(functions)], (a, b)


@pytest.mark.parametrize(
    ("gene", "diplotype", "phenotype", "term"),
    [
        ("CYP2C19", "*1/*17", "RM", "Rapid Metabolizer"),
        ("CYP2C19", "*17/*17", "UM", "Ultrarapid Metabolizer"),
        ("CYP2C19", "*2/*9", "PM", "Likely Poor Metabolizer"),
        ("CYP2C19", "*1/*9", "IM", "Likely Intermediate Metabolizer"),
        ("CYP2C19", "*1/*12", "Indeterminate", "Indeterminate"),
        ("CYP2B6", "*4/*4", "UM", "Ultrarapid Metabolizer"),
        ("CYP2B6", "*1/*4", "RM", "Rapid Metabolizer"),
        ("CYP2B6", "*1/*6", "IM", "Intermediate Metabolizer"),
        ("CYP2B6", "*6/*6", "PM", "Poor Metabolizer"),
        ("CYP2B6", "*6/*18", "PM", "Poor Metabolizer"),
        ("CYP2B6", "*1/*22", "Indeterminate", "Indeterminate"),
    ],
)
def test_function_pair_genes(gene, diplotype, phenotype, term):
    result = translate(gene, diplotype)
    assert (result.phenotype, result.cpic_phenotype) == (phenotype, term)
    assert result.activity_score is None


def test_copy_numbers_only_for_cyp2d6():
    with pytest.raises(InputError, match="CYP2D6 only"):
        translate("CYP2C19", "*1/*17x2")


def test_phenotype_command_translates_many():
    out = sert_json("phenotype", "CYP2D6", "*1/*4", "*4/*4", "*1/*1x>=3")
    assert [r["phenotype"] for r in out] == ["IM", "PM", "UM"]
    assert out[0]["alleles"][1] == {
        "allele": "*4",
        "function": "No function",
        "activity_value": 0.0,
        "activity_value_at_least": False,
    }
    assert out[0]["cpic_data_version"]
    done = sert("phenotype", "CYP2D9", "*1/*1")
    assert done.returncode == 2 and "did you mean 'CYP2D6'" in done.stderr


def test_genotype_option_uses_cpic_phenotype():
    nm = sert_json("dose", "escitalopram")
    pm = sert_json("dose", "escitalopram", "--genotype", "CYP2C19=*2/*2")
    # escitalopram's CYP2D6 share (0.133) makes CYP2D6 a gene it names too
    assert pm["phenotypes"] == {"CYP2C19": "PM", "CYP2D6": "NM"}
    assert pm["dose_mg"] == pytest.approx(nm["dose_mg"] / 3.3)
    assert pm["genotypes"][0]["cpic_phenotype"] == "Poor Metabolizer"
    sources = {(g["source"], g["phenotype"]) for g in pm["guidance"]}
    assert ("CPIC 2023", "PM") in sources and ("DPWG", "PM") in sources


def test_indeterminate_computes_nothing_silently():
    done = sert("dose", "vortioxetine", "--genotype", "CYP2D6=*1/*43")
    assert done.returncode == 1 and "--assume-nm" in done.stderr
    out = sert_json("dose", "vortioxetine", "--genotype", "CYP2D6=*1/*43", "--assume-nm")
    assert out["phenotypes"] == {"CYP2D6": "NM"}
    assert any("Indeterminate" in note for note in out["notes"])


def test_phenoconversion_by_a_strong_inhibitor():
    """The genotype stays NM; the enzyme loses activity (x0.2, FDA's strong class), and
    guidance and label limits read the patient as a PM."""
    out = sert_json("dose", "vortioxetine", "--with", "paroxetine")
    assert out["phenotypes"] == {"CYP2D6": "NM"}
    assert out["functional_phenotypes"] == {"CYP2D6": "PM"}
    note = " ".join(out["notes"])
    assert "paroxetine" in note and "not a CPIC rule" in note and "x0.2" in note
    assert out["label_max_mg"] == 10.0  # the CYP2D6 PM label limit now applies


@pytest.mark.parametrize(
    ("genotype", "expected"),
    [
        ([], "IM"),  # NM, score halved -> IM
        (["--genotype", "CYP2D6=*1/*1"], "IM"),  # 2.0 -> 1.0
        (["--genotype", "CYP2D6=*1/*1x2"], "NM"),  # 3.0 -> 1.5
    ],
)
def test_moderate_inhibitor_halves_the_activity_score(genotype, expected):
    out = sert_json("occupancy", "vortioxetine", "--dose", "10", "--with", "duloxetine", *genotype)
    assert out["functional_phenotypes"].get("CYP2D6", out["phenotypes"]["CYP2D6"]) == expected


def test_measured_interaction_is_preferred():
    alone = sert_json("occupancy", "escitalopram", "--dose", "10")
    both = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", "omeprazole")
    assert both["css_plasma_ng_ml"] / alone["css_plasma_ng_ml"] == pytest.approx(1.51)
    assert any("measured" in n for n in both["notes"])
    assert both["phenotypes"] == {"CYP2C19": "NM", "CYP2D6": "NM"}


def test_unknown_comedication_is_refused():
    done = sert("dose", "escitalopram", "--with", "paroxetin")
    assert done.returncode == 2 and "did you mean 'paroxetine'" in done.stderr


def test_label_limit_for_the_phenotype_is_flagged_in_every_format():
    args = ("dose", "citalopram", "-p", "CYP2C19=PM", "--target", "0.84")
    out = sert_json(*args)
    assert out["label_max_mg"] == 20.0 and out["exceeds_label_max"] is True
    assert out["recommended_dose_mg"] == 20.0 and out["target_reached"] is False
    said = out["warnings"] + out["notes"]
    assert any("CYP2C19 poor metabolizers" in w and "FDA" in w for w in said)
    assert any("not reached within the label" in w for w in out["warnings"])
    rows = list(csv.DictReader(io.StringIO(sert(*args, "--format", "csv").stdout)))
    assert rows[0]["exceeds_label_max"] == "true" and rows[0]["target_reached"] == "false"
    table = sert(*args)
    assert "YES" in table.stdout and "poor metabolizers" in table.stdout + table.stderr


def test_explain_walks_the_chain():
    out = sert_json("dose", "vortioxetine", "--genotype", "CYP2D6=*4/*10", "--explain")
    names = [s["step"] for s in out["trace"]]
    assert names[0].startswith("CYP2D6 genotype -> activity score")
    assert any(n.startswith("clearance") for n in names)
    assert any(n.startswith("SERT occupancy") for n in names)
    assert names[-1] == "label check"
    assert all(s["source"] for s in out["trace"])


def test_fractions_metabolized_combine_with_a_table():
    data = {
        "schema": 1,
        "name": "drug",
        "molar_mass": "300 g/mol",
        "dosing": {"interval": "24 h", "label_range": ["1 mg", "100 mg"], "strengths": ["1 mg"]},
        "pk": {
            "apparent_clearance": "20 L/h",
            "fraction_unbound": 0.5,
            "phenotypes": {"gene": "CYP2C19", "exposure_ratio": {"PM": 2.0, "NM": 1.0}},
            "fractions_metabolized": [
                {"gene": "CYP2B6", "fm": 0.4, "activity": {"PM": 0, "IM": 0.5, "NM": 1}},
                {"gene": "CYP2C19", "fm": 0.5},
            ],
        },
        "targets": {"SERT": {"ki": "1 nM"}},
        "sources": ["test"],
    }
    moiety = build_profile(data).parent
    # CL = CL_NM * (1 - sum fm + sum fm * a): the paths add, they do not multiply
    assert moiety_clearance(moiety, {"CYP2B6": "PM"})[0] == pytest.approx(20 * 0.6)
    assert moiety_clearance(moiety, {"CYP2B6": "IM"})[0] == pytest.approx(20 * 0.8)
    # the CYP2C19 table (PM 2x exposure) is its fm of 0.5 with activity 0
    assert moiety_clearance(moiety, {"CYP2C19": "PM"})[0] == pytest.approx(10.0)
    assert moiety_clearance(moiety, {"CYP2C19": "PM", "CYP2B6": "PM"})[0] == pytest.approx(2.0)
    # IM from the class activity (sert_cli/data/phenotype_activity.csv, 0.46), marked derived
    cl, step = moiety_clearance(moiety, {"CYP2C19": "IM"})
    assert cl == pytest.approx(20 * (1 - 0.5 + 0.5 * 0.46))
    assert "DERIVED" in step.assumes


def test_table_for_a_patient_shows_nm_beside_the_patient():
    rows = sert_json("table", "escitalopram", "--genotype", "CYP2C19=*2/*17")
    assert {r["phenotypes"]["CYP2C19"] for r in rows} == {"NM", "IM"}
