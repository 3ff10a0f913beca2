"""The whole patient (issue 11): every phenotype, interactions through every enzyme, age,
kidney and liver, and PharmCAT reports as PharmCAT writes them."""

import json
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
    step = next(s for s in out["trace"] if s["step"] == "clearance of citalopram")
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


def test_the_engine_keeps_the_most_recently_used_patients(monkeypatch):
    """The prepared-patient cache is bounded and drops the least recently used patient
    first, so a batch's returning patient stays prepared while the cache stays flat."""
    from sert_cli.pgx.patient import Patient
    from sert_cli.queries import engine as engine_module
    from sert_cli.queries.engine import Engine

    monkeypatch.setattr(engine_module, "CONTEXT_LIMIT", 3)
    engine = Engine(load_library())
    patients = [Patient(phenotypes=(("CYP2C19", p),)) for p in ("PM", "IM", "NM", "UM")]
    first = engine.prepared("escitalopram", "pet", patients[0])
    for patient in patients[1:3]:
        engine.prepared("escitalopram", "pet", patient)
    assert engine.prepared("escitalopram", "pet", patients[0]) is first  # used again: kept
    engine.prepared("escitalopram", "pet", patients[3])  # full: IM, the oldest, goes
    kept = [key[2] for key in engine.contexts]
    assert len(kept) == 3 and patients[1] not in kept and patients[0] in kept
    assert engine.prepared("escitalopram", "pet", patients[0]) is first


def test_a_result_s_key_record_is_its_record_s():
    """Batch's default columns come from key_record(): each of its fields is the record's,
    for groups of many patients."""
    from sert_cli.queries.engine import Engine

    answers = Engine(load_library()).answer_many(_queries_of_many_patients())
    kinds = set()
    from sert_cli import fields

    key_stems = {f.stem for f in fields.catalogue() if f.key}
    for answer in answers:
        record, key = answer.record(), answer.key_record()
        assert key == {k: record[k] for k in key}
        assert key_stems & set(record) <= set(key)  # every default column it has
        kinds.add(answer.query.kind)
    assert kinds == {"occupancy", "dose"}


# Sex and smoking (issue 22 item 3). Duloxetine's reference patient: CL/F 33.4 L/h, a
# non-smoker of the sex-mixed cohort. Smoker: exposure x0.70 (Lobo 2009); female: x1.291 =
# (1/0.6)^0.5, male: x0.7746 = 0.6^0.5 (the cohort taken as half women).
DULOXETINE_CL_L_H = 33.4


def test_duloxetine_female_smoker_against_the_reference():
    reference = sert_json("occupancy", "duloxetine", "--dose", "60")
    patient = sert_json("occupancy", "duloxetine", "--dose", "60", "--sex", "female", "--smoker")
    # 60 mg / (33.4 L/h * 24 h) = 74.85 ng/mL; CL/F 33.4 / (1.291 * 0.70) = 36.959 L/h
    assert reference["clearance_l_h"] == pytest.approx(33.4)
    assert reference["css_plasma_ng_ml"] == pytest.approx(74.850, abs=1e-3)
    assert reference["patient_factors"] == {}
    assert patient["clearance_l_h"] == pytest.approx(36.959, abs=1e-3)
    assert patient["css_plasma_ng_ml"] == pytest.approx(67.642, abs=1e-3)
    assert patient["patient_factors"] == {"sex": "female", "smoker": True}
    male = sert_json("occupancy", "duloxetine", "--dose", "60", "--sex", "m")
    assert male["css_plasma_ng_ml"] == pytest.approx(57.979, abs=1e-3)  # 74.85 * 0.7746
    assert male["patient_factors"] == {"sex": "male"}


def test_the_assumed_line_names_the_factor_or_what_was_taken():
    given = sert("occupancy", "duloxetine", "--dose", "60", "--smoker", env={"COLUMNS": "200"})
    assert "smoker: duloxetine clearance x1.43 (Lobo 2009)" in given.stdout
    assert "sex not given: the sex-mixed reference (half women assumed)" in given.stdout
    unset = sert("occupancy", "fluvoxamine", "--dose", "100", env={"COLUMNS": "200"})
    assert "smoking not given: computed as a non-smoker" in unset.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("occupancy", "duloxetine", "--dose", "60"),
        ("dose", "duloxetine"),
        ("table", "duloxetine"),
        ("curve", "duloxetine"),
        ("simulate", "duloxetine", "--dose", "60", "--days", "3"),
        ("population", "duloxetine", "--dose", "60", "--n", "1000"),
        ("taper", "duloxetine", "--from", "60"),
        ("switch", "sertraline", "50", "duloxetine"),
        ("tdm", "duloxetine", "--dose", "60", "--level", "50"),
    ],
    ids=lambda c: c[0],
)
def test_every_patient_command_takes_sex_and_smoking(command):
    done = sert(*command, "--sex", "female", "--smoker", env={"COLUMNS": "300"})
    assert done.returncode == 0, done.stderr
    assert "smoker: duloxetine clearance x1.43 (Lobo 2009)" in done.stdout
    assert "female: duloxetine clearance x0.775" in done.stdout
    out = sert_json(*command, "--sex", "female", "--smoker")
    if isinstance(out, dict):  # table and curve give rows of numbers only, as for --age
        assert out["patient_factors"] == {"sex": "female", "smoker": True}


def test_fluvoxamine_smokers_clearance():
    # the linear CL/F and Vmax divided by 0.609 (0.56 / 0.92 ng/mL per mg): 16.9 / 0.609
    out = sert_json("occupancy", "fluvoxamine", "--dose", "100", "--smoker")
    assert out["clearance_l_h"] == pytest.approx(27.750, abs=1e-3)
    # the saturable fit makes the level at 100 mg/day fall more than 0.609-fold: solving
    # 3.0533 mg/h = C (CL + Vmax / (Km + C)) gives 72.11 ng/mL, and 31.15 for a smoker
    assert out["css_plasma_ng_ml"] == pytest.approx(31.147, abs=1e-2)
    assert sert_json("occupancy", "fluvoxamine", "--dose", "100")[
        "css_plasma_ng_ml"
    ] == pytest.approx(72.109, abs=1e-2)


def test_sex_changes_nothing_without_a_sourced_row():
    alone = sert_json("occupancy", "fluvoxamine", "--dose", "100")["css_plasma_ng_ml"]
    female = sert_json("occupancy", "fluvoxamine", "--dose", "100", "--sex", "female")
    assert female["css_plasma_ng_ml"] == alone and female["patient_factors"] == {"sex": "female"}


def test_smoking_as_a_co_medication_is_the_smoker_factor():
    flag = sert_json("occupancy", "duloxetine", "--dose", "60", "--smoker")
    comedication = sert_json("occupancy", "duloxetine", "--dose", "60", "--with", "tobacco")
    assert comedication["css_plasma_ng_ml"] == flag["css_plasma_ng_ml"]
    assert comedication["css_plasma_ng_ml"] == pytest.approx(74.850 * 0.70, abs=1e-3)
    assert comedication["patient_factors"] == {"smoker": True}
    assert comedication["comedications"] == []
    # a drug without a measured smoker row: CYP1A2, FDA's moderate inducer (x2)
    sertraline = sert_json("occupancy", "sertraline", "--dose", "50", "--smoker")
    assert any("CYP1A2 activity x2: smoking" in n for n in sertraline["notes"])


def test_duloxetine_tdm_at_60_mg_reads_a_patients_level_as_expected():
    out = sert_json("tdm", "duloxetine", "--dose", "60", "--level", "50")
    # trough at steady state, 60 mg once daily: 0.7 ng/mL per mg/d x 60 (Augustin 2018)
    assert out["expected_level_ng_ml"] == pytest.approx(42.0, abs=0.01)
    assert out["ratio_to_expected"] == pytest.approx(50 / 42.006, abs=1e-3)
    assert "NM" in out["consistent_phenotypes"]["CYP2D6"]
    assert "poor metaboli" not in out["interpretation"]
    assert "within the model's 90 % range" in out["interpretation"]


@pytest.mark.parametrize(
    ("args", "field"),
    [(("--sex", "femal"), "--sex"), (("--sex", "other"), "--sex")],
)
def test_a_bad_sex_is_refused(args, field):
    done = sert("dose", "duloxetine", *args)
    assert done.returncode == 2 and done.stderr.startswith(f"sert: error: {field}")
    assert done.stderr.count("\n") == 1


def test_batch_reads_sex_and_smoker_with_errors_per_row():
    rows = run_batch_text(
        "id,drug,dose_mg,sex,smoker,with\n"
        "1,duloxetine,60,female,yes,\n"
        "2,duloxetine,60,,,\n"
        "3,duloxetine,60,male,no,\n"
        "4,duloxetine,60,x,,\n"
        "5,duloxetine,60,,maybe,\n"
        "6,duloxetine,60,,no,smoking\n"
        "7,fluvoxamine,100,,1,\n"
    )
    assert float(rows["1"]["css_plasma_ng_ml"]) == pytest.approx(67.642, abs=1e-3)
    assert "smoker=yes (female, smoker): duloxetine exposure x0.7" in rows["1"]["notes"]
    assert float(rows["2"]["css_plasma_ng_ml"]) == pytest.approx(74.850, abs=1e-3)
    assert float(rows["3"]["css_plasma_ng_ml"]) == pytest.approx(57.979, abs=1e-3)
    assert "sex=male (male, non-smoker)" in rows["3"]["notes"]
    assert rows["4"]["error"].startswith("column sex: 'x': female or male")
    assert rows["5"]["error"].startswith("column smoker: 'maybe': yes or no")
    assert rows["6"]["error"].startswith("column smoker:")
    assert float(rows["7"]["clearance_l_h"]) == pytest.approx(27.750, abs=1e-3)


def test_batch_json_lines_take_true_and_false():
    done = sert(
        "batch",
        "-",
        "--input-format",
        "jsonl",
        "--format",
        "jsonl",
        "--fields",
        "all",
        stdin='{"id": 1, "drug": "duloxetine", "dose_mg": 60, "smoker": true, "sex": "female"}\n',
    )
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["patient_factors"] == {"sex": "female", "smoker": True}
    assert row["css_plasma_ng_ml"] == pytest.approx(67.642, abs=1e-3)
