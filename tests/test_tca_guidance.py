"""CPIC's tricyclic guideline as data (issue 27 item 3): the row chosen by both genes, the
advice beside the model's number, no dose recommended or planned where CPIC says to avoid
the drug, PharmCAT reports read as for the SSRIs, and batch rows with the same fields."""

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import sert, sert_json

from sert_cli.datafiles import read_table
from sert_cli.pgx.patient import advised_against, guidance_for

DATA = Path(__file__).parent / "data"
TCAS = ("amitriptyline", "nortriptyline", "clomipramine", "imipramine", "desipramine")
TCAS += ("doxepin", "trimipramine")
TERTIARY = ("clomipramine", "imipramine", "doxepin", "trimipramine")  # amitriptyline aside
CYP2D6 = ("UM", "NM", "IM", "PM")
CYP2C19 = ("UM", "RM", "NM", "IM", "PM")


def cpic(drug: str, **phenotypes: str) -> list[dict]:
    return [a for a in guidance_for(drug, phenotypes) if a["source"] == "CPIC 2016"]


@pytest.mark.parametrize(
    ("cyp2d6", "cyp2c19", "strength", "starts", "avoid"),
    [
        (
            "PM",
            "NM",
            "Strong",
            "Avoid amitriptyline use. If amitriptyline is warranted, consider a 50% reduction",
            True,
        ),
        ("NM", "UM", "Optional", "Consider alternative drug not metabolized by CYP2C19", False),
        ("IM", "PM", "Optional", "Avoid amitriptyline use.", True),
        (
            "NM",
            "PM",
            "Moderate",
            "Avoid amitriptyline use. If amitriptyline is warranted, consider a 50% reduction",
            True,
        ),
        ("IM", "NM", "Moderate", "Consider a 25% reduction of recommended starting dose", False),
        (
            "UM",
            "NM",
            "Strong",
            "Avoid amitriptyline use. If amitriptyline is warranted, "
            "consider titrating to a higher target dose",
            True,
        ),
        ("NM", "IM", "Strong", "Initiate therapy with recommended starting dose", False),
    ],
)
def test_amitriptyline_reads_cpic_table_4_by_both_genes(cyp2d6, cyp2c19, strength, starts, avoid):
    (row,) = cpic("amitriptyline", CYP2D6=cyp2d6, CYP2C19=cyp2c19)
    assert row["gene"] == "CYP2D6+CYP2C19" and row["phenotype"] == f"{cyp2d6}+{cyp2c19}"
    assert row["strength"] == strength and row["advice"].startswith(starts)
    assert "Table 4" in row["advice"] and row["not_given"] == []
    assert (row["action"] == "avoid") is avoid


def test_every_tca_and_phenotype_pair_has_one_cpic_row():
    for drug in TCAS:
        for d6 in CYP2D6:
            for c19 in CYP2C19:
                rows = cpic(drug, CYP2D6=d6, CYP2C19=c19)
                genes = sorted(r["gene"] for r in rows)
                if drug == "amitriptyline":
                    assert genes == ["CYP2D6+CYP2C19"], (drug, d6, c19)
                elif drug in TERTIARY:
                    assert genes == ["CYP2C19", "CYP2D6"], (drug, d6, c19)
                else:  # nortriptyline, desipramine: no CYP2C19 recommendation
                    assert genes == ["CYP2D6"], (drug, d6, c19)
                for r in rows:
                    assert r["strength"] in ("Strong", "Moderate", "Optional")
                    assert "higher initial doses used for depression" in r["advice"]


def test_the_secondary_amines_have_no_cyp2c19_row():
    rows = read_table("guidance.csv")[1]
    for drug in ("nortriptyline", "desipramine"):
        assert {r["gene"] for r in rows if r["drug"] == drug and r["source"] == "CPIC 2016"} == {
            "CYP2D6"
        }


def test_one_gene_given_reads_the_single_gene_table_and_says_the_other_is_not_given():
    (row,) = cpic("amitriptyline", CYP2D6="PM")
    assert row["phenotype"] == "PM+NR" and row["not_given"] == ["CYP2C19"]
    assert "Table 2" in row["advice"] and "Utilize therapeutic drug monitoring" in row["advice"]
    assert row["strength"] == "Strong" and row["action"] == "avoid"
    (other,) = cpic("amitriptyline", CYP2C19="PM")
    assert other["phenotype"] == "NR+PM" and other["not_given"] == ["CYP2D6"]
    assert other["strength"] == "Moderate"  # Table 4's CYP2D6 NM cell
    # neither gene: Table 4's NM/NM cell, both genes said not given (ASSUMED NM/NM)
    (neither,) = cpic("amitriptyline")
    assert neither["phenotype"] == "NR+NR" and neither["not_given"] == ["CYP2D6", "CYP2C19"]
    assert neither["strength"] == "Strong" and neither["action"] is None
    assert neither["advice"].startswith("Initiate therapy with recommended starting dose")


def test_nortriptyline_and_desipramine_classifications_differ_as_cpic_gives_them():
    assert [r["strength"] for r in cpic("nortriptyline", CYP2D6="IM")] == ["Moderate"]
    assert [r["strength"] for r in cpic("desipramine", CYP2D6="IM")] == ["Optional"]
    assert [r["strength"] for r in cpic("desipramine", CYP2D6="NM")] == ["Strong"]


def test_dose_for_a_cyp2d6_poor_metabolizer_shows_the_advice_and_recommends_no_dose():
    done = sert("dose", "amitriptyline", "-p", "CYP2D6=PM")
    assert done.returncode == 0
    out = " ".join(done.stdout.split())
    assert "(CYP2D6 PM, CYP2C19 not given)" in out  # the heading: both genes
    assert "CYP2C19 NM (not given)" in out  # the Assumed line
    assert (
        "CPIC 2016 Strong, CYP2D6 PM, CYP2C19 (not given): avoid; if warranted, 50 % "
        "reduction of the starting dose; use TDM" in out
    )
    assert "none: the guideline advises against it" in out
    assert "exact dose (the model's number)" in out
    record = sert_json("dose", "amitriptyline", "-p", "CYP2D6=PM")
    assert record["dose_mg"] > 0  # the model's number is kept
    assert record["recommended_dose_mg"] is None and record["recommended_units_mg"] == []
    assert record["target_reached"] is False
    assert any(w.startswith("no dose is recommended for amitriptyline") for w in record["warnings"])
    assert "SHORT" not in done.stdout  # not a label shortfall


def test_a_usual_starting_dose_row_leaves_the_dose_recommended():
    record = sert_json("dose", "amitriptyline", "-p", "CYP2D6=NM", "-p", "CYP2C19=NM")
    (row,) = [a for a in record["guidance"] if a["source"] == "CPIC 2016"]
    assert row["phenotype"] == "NM+NM" and row["action"] is None
    assert not any("advises against" in w for w in record["warnings"])
    if record["dose_mg"] * 24 / record["interval_h"] <= record["label_max_mg"]:
        assert record["recommended_dose_mg"] is not None


def test_an_ssri_is_unchanged_no_cpic_ssri_row_says_avoid():
    rows = read_table("guidance.csv")[1]
    assert not [r for r in rows if r["action"] and r["source"] != "CPIC 2016"]
    record = sert_json("dose", "escitalopram", "-p", "CYP2C19=PM")
    assert record["recommended_dose_mg"] is not None
    assert advised_against(guidance_for("escitalopram", {"CYP2C19": "PM"})) == ()


def test_occupancy_shows_the_advice_beside_the_number():
    done = sert("occupancy", "clomipramine", "--dose", "75", "-p", "CYP2C19=PM", "-p", "CYP2D6=PM")
    assert done.returncode == 0
    out = " ".join(done.stdout.split())
    assert "CPIC 2016 Optional, CYP2D6 PM: avoid; if warranted, 50 % reduction" in out
    assert "CPIC 2016 Optional, CYP2C19 PM: avoid; if warranted, 50 % reduction" in out
    assert "DPWG, CYP2D6 PM: 50 % of the normal dose" in out


def test_a_switch_to_a_tca_cpic_advises_against_is_refused_and_population_plans_none():
    done = sert("switch", "citalopram", "20", "amitriptyline", "-p", "CYP2D6=PM")
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("sert: error:") and "guideline advises against it" in line
    out = sert_json("population", "nortriptyline", "--dose", "75", "-p", "CYP2D6=UM", "--n", "200")
    assert out["dose_for_target_in_90pct_mg"] is None
    assert any("guideline advises against nortriptyline" in w for w in out["warnings"])


def _report(tmp_path, cyp2d6: str, score: str, drugs: dict) -> str:
    """The minimal PharmCAT 3.1 fixture with CYP2D6 called and these drugs' CPIC
    classifications (the CYP2C19 call is *2/*2, Poor Metabolizer)."""
    data = json.loads((DATA / "pharmcat_minimal.report.json").read_text(encoding="utf-8"))
    call = data["genes"]["CYP2D6"]
    call["callSource"] = "MATCHER"
    (diplotype,) = call["recommendationDiplotypes"]
    diplotype.update(label="*4/*4", phenotypes=[cyp2d6], activityScore=score, lookupKey=[score])
    data["drugs"]["CPIC Guideline Annotation"] = {
        drug: {"guidelines": [{"annotations": [{"classification": c} for c in classes]}]}
        for drug, classes in drugs.items()
    }
    path = tmp_path / "tca.report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_a_pharmcat_report_picks_the_combined_row_and_agrees(tmp_path):
    path = _report(tmp_path, "Poor Metabolizer", "0.0", {"amitriptyline": ["Optional"]})
    record = sert_json("dose", "amitriptyline", "--pharmcat", path)
    (row,) = [a for a in record["guidance"] if a["source"] == "CPIC 2016"]
    assert row["phenotype"] == "PM+PM" and row["strength"] == "Optional"
    assert row["advice"].startswith("Avoid amitriptyline use.")
    said = "PharmCAT's CPIC classification for amitriptyline: Optional"
    assert any(said in n for n in record["notes"])
    assert not any("differs from PharmCAT" in w for w in record["warnings"])
    assert record["recommended_dose_mg"] is None


def test_a_pharmcat_classification_that_differs_is_shown(tmp_path):
    path = _report(tmp_path, "Intermediate Metabolizer", "1.0", {"nortriptyline": ["Strong"]})
    record = sert_json("occupancy", "nortriptyline", "--dose", "50", "--pharmcat", path)
    (row,) = [a for a in record["guidance"] if a["source"] == "CPIC 2016"]
    assert row["phenotype"] == "IM" and row["strength"] == "Moderate"
    assert any(
        "sert's CPIC guidance strength for nortriptyline (Moderate) differs from PharmCAT's "
        "(Strong)" in w
        for w in record["warnings"]
    )


def test_batch_rows_carry_the_same_guidance_fields_for_a_tca_as_for_an_ssri():
    text = "id,drug,target,CYP2C19,CYP2D6\n1,escitalopram,0.8,PM,NM\n2,amitriptyline,0.8,NM,PM\n"
    done = sert("batch", "-", "--fields", "all", stdin=text)
    assert done.returncode == 0, done.stderr
    ssri, tca = list(csv.DictReader(io.StringIO(done.stdout)))
    ssri_advice, tca_advice = json.loads(ssri["guidance"]), json.loads(tca["guidance"])
    assert {frozenset(a) for a in ssri_advice} == {frozenset(a) for a in tca_advice}
    single = sert_json("dose", "amitriptyline", "-p", "CYP2D6=PM", "-p", "CYP2C19=NM")
    assert tca_advice == single["guidance"]
    assert tca["recommended_dose_mg"] == "" and ssri["recommended_dose_mg"] != ""
