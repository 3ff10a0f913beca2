"""Issue 27 item 5: selectivity by moiety, and how it moves across CYP2C19 and CYP2D6
phenotypes (`sert occupancy`, `sert table`).

The numbers checked by hand come from a made-up tricyclic with round numbers
(tests/data/tca/examptyline.yaml); the bundled tricyclics are checked only for what
holds whatever their sourced numbers are (directions, the same numbers in every format)."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from conftest import sert, sert_json

TCA_DIR = str(Path(__file__).resolve().parent / "data" / "tca")
EXAMPTYLINE = ("examptyline", "--profiles-dir", TCA_DIR)
TCAS = ("amitriptyline", "clomipramine", "imipramine")  # parent and a demethylated metabolite


def one_line(text: str) -> str:
    return " ".join(text.split())


def whole(value: float) -> str:
    """An occupancy as the table writes it inside a cell (`pct` without the % sign)."""
    text = f"{value * 100:.0f}"
    return "<1" if text == "0" and value > 0 else text


def rows_by_phenotype(rows: list[dict]) -> dict[tuple, dict]:
    return {tuple(sorted(r["phenotypes"].items())): r for r in rows}


def row_of(rows: list[dict], **phenotypes: str) -> dict:
    found = [
        r
        for r in rows
        if all(r["phenotypes"].get(g, "NM") == p for g, p in phenotypes.items())
        and all(p == "NM" for g, p in r["phenotypes"].items() if g not in phenotypes)
    ]
    assert len(found) == 1, (phenotypes, len(found))
    return found[0]


def moieties(row: dict) -> tuple[str, str]:
    """(parent, metabolite) of a two-moiety drug's grid row."""
    parent, metabolite = row["css_plasma_ng_ml_by_moiety"]
    assert parent == row["drug"]
    return parent, metabolite


# --- item 1: `sert occupancy` by moiety --------------------------------------------------


def test_occupancy_json_and_csv_give_each_moietys_share_of_both_transporters():
    args = ("occupancy", "amitriptyline", "--dose", "75", "-p", "CYP2C19=UM")
    record = sert_json(*args)
    by_moiety = record["occupancy_by_moiety"]
    assert set(by_moiety) == {"SERT", "NET"}
    for transporter, shares in by_moiety.items():
        assert set(shares) == {"amitriptyline", "nortriptyline"}
        assert sum(shares.values()) == pytest.approx(record["occupancy"][transporter], rel=1e-12)
    done = sert(*args, "--format", "csv")
    assert done.returncode == 0, done.stderr
    (row,) = csv.DictReader(io.StringIO(done.stdout))
    for transporter in ("SERT", "NET"):  # the same numbers, to the last digit
        assert json.loads(row[f"occupancy_by_moiety_{transporter}"]) == by_moiety[transporter]


@pytest.mark.parametrize(
    "args",
    [
        ("amitriptyline", "--dose", "75", "-p", "CYP2C19=UM"),
        ("amitriptyline", "--dose", "75", "-p", "CYP2D6=PM"),
        ("clomipramine", "--dose", "75"),
        (*EXAMPTYLINE, "--dose", "100", "-p", "CYP2C19=PM"),
    ],
)
def test_the_occupancy_table_says_which_moiety_drives_each_transporter(args):
    record = sert_json("occupancy", *args)
    text = one_line(sert("occupancy", *args, env={"COLUMNS": "80"}).stdout)
    said = []
    for transporter in ("SERT", "NET"):
        total = record["occupancy"][transporter]
        ranked = sorted(record["occupancy_by_moiety"][transporter].items(), key=lambda kv: -kv[1])
        (first, a), (second, b) = ranked
        if a > total / 2:
            said.append(f"{transporter} mostly {first} ({whole(a)} of {whole(total)} %)")
        else:
            said.append(
                f"{transporter} from {first} and {second} "
                f"({whole(a)} + {whole(b)} of {whole(total)} %)"
            )
    assert ", ".join(said) + ": the moieties compete (docs/model.md section 4)." in text


def test_the_hand_made_tricyclic_leans_to_sert_as_parent_and_net_as_metabolite():
    text = one_line(sert("occupancy", *EXAMPTYLINE, "--dose", "100").stdout)
    assert "SERT mostly examptyline (53 of 71 %), NET mostly norexamptyline (72 of 77 %)" in text


@pytest.mark.parametrize("drug", ["escitalopram", "sertraline", "duloxetine"])
def test_a_drug_of_one_moiety_gets_no_line_about_moieties(drug):
    text = sert("occupancy", drug, "--dose", "20", env={"COLUMNS": "80"}).stdout
    assert "mostly" not in text and "moieties" not in text and " share" not in text


# --- item 2: a column for every gene the clearance or the formation depends on -------------


def test_venlafaxine_gains_cyp2d6_columns_at_the_class_activity():
    rows = sert_json("table", "venlafaxine")
    seen = {r["phenotypes"]["CYP2D6"]: r["class_activity_genes"] for r in rows}
    assert seen == {"PM": ["CYP2D6"], "IM": ["CYP2D6"], "NM": [], "UM": ["CYP2D6"]}
    text = one_line(sert("table", "venlafaxine", env={"COLUMNS": "80"}).stdout)
    assert "CYP2D6 PM, IM, UM class activity" in text
    # the formation moves the metabolite against the parent (docs/model.md section 8)
    at_75 = {r["phenotypes"]["CYP2D6"]: r for r in rows if r["dose_mg"] == rows[0]["dose_mg"]}
    levels = {p: r["css_plasma_ng_ml_by_moiety"] for p, r in at_75.items()}
    assert levels["PM"]["venlafaxine"] > levels["NM"]["venlafaxine"] > levels["UM"]["venlafaxine"]
    odv = "O-desmethylvenlafaxine"
    assert levels["PM"][odv] < levels["NM"][odv]


def test_a_measured_phenotype_is_not_labelled_class_activity():
    rows = sert_json("table", "escitalopram", "--doses", "10,20")
    for row in rows:
        moved = [g for g, p in row["phenotypes"].items() if p != "NM"]
        # CYP2C19: escitalopram's own measured table; CYP2D6: through its fm only
        assert row["class_activity_genes"] == [g for g in moved if g == "CYP2D6"]
    assert {r["phenotypes"]["CYP2D6"] for r in rows} == {"PM", "IM", "NM", "UM"}
    assert len(rows) == 2 * 8  # all NM, CYP2C19 PM IM RM UM, CYP2D6 PM IM UM; no pairs
    sertraline = sert_json("table", "sertraline", "--doses", "50")
    assert {r["phenotypes"]["CYP2C19"]: r["class_activity_genes"] for r in sertraline} == {
        "PM": [],
        "IM": [],
        "NM": [],
        "RM": ["CYP2C19"],  # the one phenotype sertraline's table lacks
        "UM": [],
    }


ONLY_UM = """\
schema: 1
name: onlyum
class: SSRI
molar_mass: 300 g/mol
dosing: {interval: 24 h, label_range: [25 mg, 100 mg], strengths: [25 mg]}
pk:
  apparent_clearance: 100 L/h
  fraction_unbound: 0.1
  kp_uu_brain: 1.0
  half_life: 20 h
  phenotypes:
    gene: CYP2C19
    apparent_clearance: {NM: 100 L/h, UM: 130 L/h}
targets: {SERT: {ki: 4 nM}}
sources: ["made up for the test"]
"""


def test_a_phenotype_without_data_measured_or_class_gets_no_column(tmp_path):
    """A table of NM and UM alone, no fm: the other phenotypes have nothing to derive from
    (the occupancy command refuses them); the table leaves their columns out."""
    (tmp_path / "onlyum.yaml").write_text(ONLY_UM)
    rows = sert_json("table", "onlyum", "--profiles-dir", str(tmp_path), "--doses", "50")
    assert [r["phenotypes"]["CYP2C19"] for r in rows] == ["NM", "UM"]
    assert rows[1]["class_activity_genes"] == []
    refused = sert("occupancy", "onlyum", "50", "--profiles-dir", str(tmp_path), "-p", "CYP2C19=IM")
    assert refused.returncode == 1 and refused.stderr.startswith("sert: error:")


def test_two_genes_head_their_columns_with_the_reference_first():
    rows = sert_json("table", *EXAMPTYLINE)
    first_dose = [r for r in rows if r["dose_mg"] == rows[0]["dose_mg"]]
    order = [
        " ".join(f"{g} {p}" for g, p in r["phenotypes"].items() if p != "NM") for r in first_dose
    ]
    assert order == [
        "",
        "CYP2C19 PM",
        "CYP2C19 IM",
        "CYP2C19 RM",
        "CYP2C19 UM",
        "CYP2D6 PM",
        "CYP2D6 IM",
        "CYP2D6 UM",
    ]
    text = sert("table", *EXAMPTYLINE, env={"COLUMNS": "80"}).stdout
    assert "by CYP2C19 or CYP2D6 phenotype (other genes NM)" in one_line(text)
    assert re.search(r"^\s*all\s+CYP2C19\s+CYP2C19\s+CYP2C19\s+CYP2C19\s+CYP2D6", text, re.M)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_curve_keeps_to_the_measured_phenotypes():
    """Each column of a curve is a line of one chart: class-activity columns would crowd
    its legend (8 lines for two genes)."""
    rows = sert_json("curve", "venlafaxine")
    assert {r["phenotypes"]["CYP2D6"] for r in rows} == {"NM"}
    assert {r["phenotypes"]["CYP2C19"] for r in sert_json("curve", "escitalopram")} == {
        "PM",
        "IM",
        "NM",
        "RM",
        "UM",
    }


# --- item 3: at one dose, a row per phenotype ------------------------------------------


def hand_cell(cl_parent_factor: float, cl_metabolite_own_factor: float, formation: float) -> dict:
    """examptyline 100 mg a day by docs/model.md: section 2's clearances (as factors of
    CL_NM), section 8's formation, section 3's unbound brain levels, section 4's shares
    (binding scale: Emax 1)."""
    dose, tau = 100.0, 24.0
    cl_parent = 100.0 * cl_parent_factor
    change = formation / cl_parent_factor  # f = (CL_form/CL_form,NM) / (CL_p/CL_p,NM)
    cl_metabolite = 120.0 * cl_metabolite_own_factor / change
    parent_mg_l = dose / (cl_parent * tau)
    metabolite_equiv_mg_l = dose / (cl_metabolite * tau)
    parent_nm = parent_mg_l * 1e6 / 280.0
    metabolite_nm = metabolite_equiv_mg_l * 1e6 / 280.0  # parent equivalents
    loads = {
        "SERT": (0.05 * parent_nm / 4.0, 0.1 * metabolite_nm / 20.0),
        "NET": (0.05 * parent_nm / 40.0, 0.1 * metabolite_nm / 4.0),
    }
    return {
        "levels": {
            "examptyline": parent_mg_l * 1000.0,
            "norexamptyline": metabolite_nm * 266.0 / 1000.0,
        },
        "shares": {
            t: {"examptyline": p / (1 + p + m), "norexamptyline": m / (1 + p + m)}
            for t, (p, m) in loads.items()
        },
    }


# (CYP2C19, CYP2D6) -> the clearance factors of a PM (activity 0 by definition, CPIC):
# parent 1 - fm (0.4 CYP2C19, 0.3 CYP2D6); metabolite's own 1 - 0.6 in a CYP2D6 PM;
# formation share 0.75 through CYP2C19
HAND = {
    ("NM", "NM"): (1.0, 1.0, 1.0),
    ("PM", "NM"): (0.6, 1.0, 0.25),
    ("NM", "PM"): (0.7, 0.4, 1.0),
    ("PM", "PM"): (0.3, 0.4, 0.25),
}


@pytest.mark.parametrize("phenotypes", list(HAND))
def test_a_cell_of_the_phenotype_table_is_the_hand_formula(phenotypes):
    rows = sert_json("table", *EXAMPTYLINE, "--doses", "100")
    row = row_of(rows, CYP2C19=phenotypes[0], CYP2D6=phenotypes[1])
    expected = hand_cell(*HAND[phenotypes])
    assert row["css_plasma_ng_ml_by_moiety"] == pytest.approx(expected["levels"], rel=1e-9)
    for transporter, shares in expected["shares"].items():
        assert row["occupancy_by_moiety"][transporter] == pytest.approx(shares, rel=1e-9)
        assert row["occupancy"][transporter] == pytest.approx(sum(shares.values()), rel=1e-9)


def test_the_hand_cell_is_what_the_occupancy_command_gives():
    row = row_of(sert_json("table", *EXAMPTYLINE, "--doses", "100"), CYP2D6="PM")
    single = sert_json("occupancy", *EXAMPTYLINE, "--dose", "100", "-p", "CYP2D6=PM")
    assert row["occupancy"] == single["occupancy"]
    assert row["occupancy_by_moiety"] == single["occupancy_by_moiety"]
    assert row["css_plasma_ng_ml_by_moiety"] == {
        "examptyline": single["css_plasma_ng_ml"],
        "norexamptyline": single["metabolites"][0]["css_plasma_ng_ml"],
    }


@pytest.mark.parametrize("drug", TCAS)
def test_cyp2d6_pm_raises_the_metabolites_net_share(drug):
    rows = sert_json("table", drug, "--doses", "75")
    reference, pm = row_of(rows), row_of(rows, CYP2D6="PM")
    _, metabolite = moieties(reference)
    assert (
        pm["occupancy_by_moiety"]["NET"][metabolite]
        > reference["occupancy_by_moiety"]["NET"][metabolite]
    )
    assert (
        pm["css_plasma_ng_ml_by_moiety"][metabolite]
        > reference["css_plasma_ng_ml_by_moiety"][metabolite]
    )
    um = row_of(rows, CYP2D6="UM")
    assert (
        um["css_plasma_ng_ml_by_moiety"][metabolite]
        < reference["css_plasma_ng_ml_by_moiety"][metabolite]
    )


@pytest.mark.parametrize("drug", TCAS)
def test_cyp2c19_pm_lowers_the_metabolite_and_raises_the_parent(drug):
    rows = sert_json("table", drug, "--doses", "75")
    reference, pm = row_of(rows), row_of(rows, CYP2C19="PM")
    parent, metabolite = moieties(reference)
    levels, before = pm["css_plasma_ng_ml_by_moiety"], reference["css_plasma_ng_ml_by_moiety"]
    assert levels[metabolite] < before[metabolite] and levels[parent] > before[parent]
    # the balance moves from the metabolite's NET to the parent's SERT
    shares, was = pm["occupancy_by_moiety"], reference["occupancy_by_moiety"]
    assert shares["NET"][metabolite] < was["NET"][metabolite]
    assert shares["SERT"][parent] > was["SERT"][parent]


def test_one_dose_gives_every_pair_of_both_genes_phenotypes_in_json_and_csv():
    rows = sert_json("table", "amitriptyline", "--doses", "75")
    pairs = {(r["phenotypes"]["CYP2C19"], r["phenotypes"]["CYP2D6"]) for r in rows}
    assert pairs == {
        (a, b) for a in ("PM", "IM", "NM", "RM", "UM") for b in ("PM", "IM", "NM", "UM")
    }
    assert len(rows) == 20
    done = sert("table", "amitriptyline", "--doses", "75", "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(table) == 20
    for row, cells in zip(rows, table, strict=True):  # the same numbers, in the same order
        assert cells["phenotypes_CYP2C19"] == row["phenotypes"]["CYP2C19"]
        assert cells["phenotypes_CYP2D6"] == row["phenotypes"]["CYP2D6"]
        for name, value in row["css_plasma_ng_ml_by_moiety"].items():
            assert float(cells[f"css_plasma_ng_ml_by_moiety_{name}"]) == value
        for transporter in ("SERT", "NET"):
            assert float(cells[f"occupancy_{transporter}"]) == row["occupancy"][transporter]
            assert (
                json.loads(cells[f"occupancy_by_moiety_{transporter}"])
                == (row["occupancy_by_moiety"][transporter])
            )
        assert json.loads(cells["class_activity_genes"]) == row["class_activity_genes"]
    several = sert_json("table", "amitriptyline", "--doses", "50,75")
    assert len(several) == 2 * 8  # pairs at one dose only


def test_the_phenotype_table_shows_the_json_numbers():
    rows = sert_json("table", *EXAMPTYLINE, "--doses", "100")
    text = sert("table", *EXAMPTYLINE, "--doses", "100", env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "examptyline 100 mg every 24 h: steady state by phenotype" in text
    for label, phenotypes in (("all NM", {}), ("CYP2D6 PM", {"CYP2D6": "PM"})):
        row = row_of(rows, **phenotypes)
        levels = [f"{v:.4g}" for v in row["css_plasma_ng_ml_by_moiety"].values()]
        cells = [
            f"{whole(row['occupancy'][t])} ("
            + " + ".join(whole(v) for v in row["occupancy_by_moiety"][t].values())
            + ")"
            for t in ("SERT", "NET")
        ]
        assert re.search(
            r"^" + r"\s+".join(map(re.escape, [label, *levels, *cells])) + r"\s*$", text, re.M
        )
    assert "In brackets: examptyline + norexamptyline" in text
    # the pairs, as SERT/NET
    pm_pm = row_of(rows, CYP2C19="PM", CYP2D6="PM")["occupancy"]
    assert "SERT/NET occupancy, %, both genes: CYP2C19 by CYP2D6" in text
    matrix_row = next(
        line for line in text.splitlines() if line.strip().startswith("CYP2C19 PM") and "/" in line
    )
    assert matrix_row.split()[2] == f"{whole(pm_pm['SERT'])}/{whole(pm_pm['NET'])}"
    assert "CYP2C19 PM, IM, RM, UM class activity; CYP2D6 PM, IM, UM class activity" in one_line(
        text
    )


def test_a_given_patient_at_one_dose_is_a_row_beside_nm_without_pairs():
    rows = sert_json("table", *EXAMPTYLINE, "--doses", "100", "-p", "CYP2D6=PM")
    assert [r["phenotypes"] for r in rows] == [
        {"CYP2C19": "NM", "CYP2D6": "NM"},
        {"CYP2C19": "NM", "CYP2D6": "PM"},
    ]
    text = sert("table", *EXAMPTYLINE, "--doses", "100", "-p", "CYP2D6=PM").stdout
    assert "both genes" not in text and re.search(r"^CYP2D6 PM\s", text, re.M)
    with_drug = sert("table", "escitalopram", "--with", "omeprazole", env={"COLUMNS": "80"}).stdout
    assert re.search(r"dose mg\s+all NM\s+this patient", with_drug)


def test_a_drug_of_one_moiety_at_one_dose_has_no_shares_on_screen():
    text = sert("table", "escitalopram", "--doses", "10", env={"COLUMNS": "80"}).stdout
    first = text[: text.index("both genes")].splitlines()
    rows = [line for line in first if re.match(r"\s*(all NM|CYP2C19 \w\w|CYP2D6 \w\w)\s", line)]
    assert len(rows) == 8 and not any("(" in line for line in rows)
    assert "In brackets" not in text
    assert re.search(r"^\s*CYP2C19 PM\s+\d+(\.\d+)?\s+\d+\s*$", text, re.M)


def test_the_readme_shows_the_one_dose_view():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "$ sert table amitriptyline --doses 75\n" in readme  # (run by test_readme.py)
