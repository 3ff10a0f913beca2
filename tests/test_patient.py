"""The whole patient (issue 11): every phenotype, interactions through every enzyme, age,
kidney and liver, and PharmCAT reports as PharmCAT writes them."""

from pathlib import Path

import pytest
from conftest import run_batch_text, sert, sert_json

from sert_cli.pgx.genotype import translate
from sert_cli.profiles.library import load_library
from sert_cli.vocabulary import CPIC_TERMS, GENES_WITH_RM, GENOTYPED_GENES

DATA = Path(__file__).parent / "data"
REPORT = str(DATA / "pharmcat_minimal.report.json")
PHENOTYPE = str(DATA / "pharmcat_minimal.phenotype.json")
OUTSIDE_V30 = str(DATA / "pharmcat_v30_outside.report.json")


def cells():
    library = load_library()
    for name, profile in sorted(library.profiles.items()):
        for gene in profile.genes:
            if gene not in GENOTYPED_GENES:
                continue
            for phenotype in ("PM", "IM", "NM", "RM", "UM"):
                if phenotype == "RM" and gene not in GENES_WITH_RM:
                    continue
                if gene == "CYP2B6" and phenotype != "NM":
                    continue  # no profile has CYP2B6 clearance data
                yield name, gene, phenotype


@pytest.mark.parametrize(("drug", "gene", "phenotype"), list(cells()))
def test_every_phenotype_of_every_gene_computes(drug, gene, phenotype):
    out = sert_json("occupancy", drug, "--dose", "20", "-p", f"{gene}={phenotype}")
    assert 0 < out["occupancy"]["SERT"] < 1


def test_a_derived_phenotype_says_so():
    out = sert_json("occupancy", "citalopram", "--dose", "20", "-p", "CYP2C19=IM", "--explain")
    step = next(s for s in out["explain"] if s["step"] == "clearance of citalopram")
    assert "DERIVED" in step["assumes"]
    # fm 0.517 (1 - 1/2.07), class IM activity 0.46: CL = CL_NM (1 + 0.517 (0.46 - 1))
    assert step["values"]["CL/F"] == pytest.approx(
        step["values"]["CL_NM/F"] * (1 + (1 - 1 / 2.07) * (0.46 - 1)), rel=1e-9
    )


def exposure_ratio(drug: str, comedication: str) -> float:
    alone = sert_json("occupancy", drug, "--dose", "10")["css_plasma_ng_ml"]
    both = sert_json("occupancy", drug, "--dose", "10", "--with", comedication)
    return both["css_plasma_ng_ml"] / alone


@pytest.mark.parametrize(
    ("drug", "comedication", "low", "high"),
    [
        ("duloxetine", "fluvoxamine", 4.0, 8.0),  # label: about 6-fold; measured 5.6
        ("vortioxetine", "bupropion", 1.9, 2.7),  # label: +128 %
        ("vortioxetine", "Wellbutrin", 1.9, 2.7),  # a brand name
        ("vortioxetine", "rifampicin", 0.0, 0.5),  # label: -72 %
        ("vortioxetine", "Rifadin", 0.0, 0.5),
        ("escitalopram", "fluoxetine", 1.5, 5.0),  # FDA: strong CYP2C19 and CYP2D6 inhibitor
        ("duloxetine", "smoking", 0.5, 0.8),  # about 30 % lower
    ],
)
def test_interactions_through_every_enzyme(drug, comedication, low, high):
    assert low <= exposure_ratio(drug, comedication) <= high


def test_a_co_medication_given_twice_counts_once():
    once = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", "omeprazole")
    twice = sert_json(
        "occupancy", "escitalopram", "10", "--with", "omeprazole", "--with", "Prilosec"
    )
    assert twice["css_plasma_ng_ml"] == pytest.approx(once["css_plasma_ng_ml"])


def test_an_inducer_without_a_measured_pair_acts_through_the_enzymes():
    out = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", "carbamazepine")
    assert any("CYP3A4 activity x5" in n for n in out["notes"])


@pytest.mark.parametrize(
    "patient",
    [("--with", "cimetidine"), ("--age", "70"), ("--hepatic", "mild"), ("--hepatic", "B")],
)
def test_citalopram_maximum_for_the_patient(patient):
    assert sert_json("dose", "citalopram", *patient)["label_max_mg"] == 20


def test_kidney_function():
    assert sert_json("dose", "desvenlafaxine", "--crcl", "20")["label_max_mg"] <= 50
    refused = sert("dose", "duloxetine", "--crcl", "20")
    assert refused.returncode == 1 and "kidney function" in refused.stderr
    answered = sert_json("occupancy", "duloxetine", "--dose", "60", "--crcl", "20")
    assert any("kidney function" in w for w in answered["warnings"])
    # levomilnacipran's exposure rises with falling clearance (Chen 2015): x2.81 at 15-29
    normal = sert_json("occupancy", "levomilnacipran", "--dose", "40")["css_plasma_ng_ml"]
    severe = sert_json("occupancy", "levomilnacipran", "--dose", "40", "--crcl", "20")
    assert severe["css_plasma_ng_ml"] / normal == pytest.approx(2.81)
    assert severe["patient_factors"] == {"crcl": 20.0}


@pytest.mark.parametrize(
    ("args", "field"),
    [(("--age", "0"), "--age"), (("--crcl", "-5"), "--crcl"), (("--hepatic", "bad"), "--hepatic")],
)
def test_bad_patient_factors_are_refused(args, field):
    done = sert("dose", "citalopram", *args)
    assert done.returncode == 2 and done.stderr.startswith(f"sert: error: {field}")


@pytest.mark.parametrize(
    "written",
    ["Poor Metabolizer", "poor", "PM", "pm", "Likely Poor Metabolizer", "poor metaboliser"],
)
def test_cpic_terms_and_plain_words_are_phenotypes(written):
    out = sert_json("dose", "escitalopram", "-p", f"CYP2C19={written}")
    assert out["phenotypes"]["CYP2C19"] == "PM"


def test_batch_reads_the_new_columns_with_errors_per_row():
    rows = run_batch_text(
        "id,drug,dose_mg,age,crcl,hepatic,CYP2C19\n"
        "1,citalopram,,70,,,\n"
        "2,duloxetine,,,20,,\n"
        "3,citalopram,,,,C,Poor Metabolizer\n"
        "4,citalopram,,abc,,,\n"
        "5,escitalopram,,,,,likely intermediate metabolizer\n"
    )
    assert rows["1"]["label_max_mg"] == "20.0"
    assert "kidney function" in rows["2"]["error"]
    assert rows["3"]["phenotypes_CYP2C19"] == "PM" and rows["3"]["label_max_mg"] == "20.0"
    assert rows["4"]["error"].startswith("column age")
    assert rows["5"]["phenotypes_CYP2C19"] == "IM"


@pytest.mark.parametrize("path", [REPORT, PHENOTYPE])
def test_pharmcat_both_kinds(path):
    out = sert_json("dose", "sertraline", "--pharmcat", path)
    assert out["phenotypes"]["CYP2C19"] == "PM"
    assert any(n.startswith("from PharmCAT") and Path(path).name in n for n in out["notes"])
    # CPIC reads CYP2C19 and CYP2B6 together for sertraline: one entry, PM + IM = Moderate
    cpic = [g for g in out["guidance"] if g["source"] == "CPIC 2023"]
    assert len(cpic) == 1 and cpic[0]["strength"] == "Moderate"
    assert not any("differs" in w for w in out["warnings"])


def test_pharmcat_report_strengths_agree_and_no_result_is_indeterminate():
    citalopram = sert_json("dose", "citalopram", "--pharmcat", REPORT)
    assert [g["strength"] for g in citalopram["guidance"] if g["source"] == "CPIC 2023"] == [
        "Strong"
    ]
    # CYP2D6 is "No Result": paroxetine depends on it
    refused = sert("dose", "paroxetine", "--pharmcat", REPORT)
    assert refused.returncode == 1 and "--assume-nm" in refused.stderr
    assumed = sert_json("dose", "paroxetine", "--pharmcat", REPORT, "--assume-nm")
    assert not [g for g in assumed["guidance"] if g["source"] == "CPIC 2023"]  # as PharmCAT
    assert not any("differs" in w for w in assumed["warnings"])


def test_pharmcat_3_0_layout_and_outside_calls():
    out = sert_json("dose", "vortioxetine", "--pharmcat", OUTSIDE_V30)
    assert out["phenotypes"]["CYP2D6"] == "IM"


def test_pharmcat_bad_files_exit_2(tmp_path):
    truncated = tmp_path / "cut.report.json"
    truncated.write_text(Path(REPORT).read_text()[:500])
    foreign = tmp_path / "other.json"
    foreign.write_text('{"hello": 1}')
    for path in (truncated, foreign, tmp_path / "missing.json"):
        done = sert("dose", "sertraline", "--pharmcat", str(path))
        assert done.returncode == 2 and done.stderr.startswith("sert: error: --pharmcat"), path


def test_guidance_says_when_cpic_made_no_recommendation():
    out = sert_json("dose", "fluoxetine")
    assert [g["strength"] for g in out["guidance"]] == ["No recommendation"]


@pytest.mark.parametrize(
    ("diplotype", "score", "phenotype"), [("*1/*41x3", 1.75, "NM"), ("*38/*41x3", 0.75, "IM")]
)
def test_cyp2d6_phenotype_from_the_activity_score(diplotype, score, phenotype):
    result = translate("CYP2D6", diplotype)
    assert result.activity_score == pytest.approx(score)
    assert result.phenotype == phenotype and result.cpic_phenotype == CPIC_TERMS[phenotype]


def _queries_of_many_patients() -> list:
    """Occupancy and dose queries of 3 drugs for 9 kinds of patient."""
    from sert_cli.pgx.patient import Patient
    from sert_cli.queries.values import DoseQuery, OccupancyQuery

    patients = [Patient(phenotypes=(("CYP2C19", p),)) for p in ("PM", "IM", "NM", "UM")]
    patients += [Patient(comedications=("omeprazole",)), Patient(genotypes=(("CYP2D6", "*4/*4"),))]
    patients += [Patient(age_years=70.0), Patient(hepatic="moderate"), Patient(crcl_ml_min=20.0)]
    return [
        query
        for drug in ("escitalopram", "venlafaxine", "paroxetine")
        for patient in patients
        for query in (
            OccupancyQuery(drug, 5.0, patient=patient),
            OccupancyQuery(drug, 20.0, patient=patient),
            DoseQuery(drug, 0.7, patient=patient),
        )
    ]


def test_a_group_of_many_patients_gives_each_its_own_answer():
    """The engine computes a drug's rows together, each with its patient's CL/F: every
    answer is the one the query gets alone, number for number, with its own trace."""
    from sert_cli.queries.engine import Engine

    library = load_library()
    queries = _queries_of_many_patients()
    together = Engine(library).answer_many(queries)
    clearances = set()
    for query, answer in zip(queries, together, strict=True):
        alone = Engine(library).answer(query)
        assert answer.record(explain=True) == alone.record(explain=True), query
        if query.kind == "occupancy" and query.drug == "escitalopram":
            clearances.add(answer.record()["clearance_l_h"])
    assert len(clearances) >= 7  # (a CYP2D6 PM too: a minor pathway)


def test_a_group_s_columns_hold_each_result_s_record():
    """Batch turns a group's numbers to text a column at a time (results.columns): row i
    of the columns is result i's own record, for groups of many patients."""
    from sert_cli.queries.engine import Engine
    from sert_cli.queries.results import row_of

    answers = Engine(load_library()).answer_many(_queries_of_many_patients())
    groups: dict = {}
    for answer in answers:
        groups.setdefault(answer.column_group(), []).append(answer)
    assert max(map(len, groups.values())) >= 18
    for members in groups.values():
        columns = type(members[0]).columns(members)
        for row, answer in enumerate(members):
            assert row_of(columns, row) == answer.record(patient=False)
