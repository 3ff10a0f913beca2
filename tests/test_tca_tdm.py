"""`sert tdm` with parent and metabolite levels (issue 27 item 4): the level read where the
range is of the sum, the molar metabolite-to-parent ratio against the phenotype
combinations of the genes that form and clear the metabolite, the alert level in every
format, batch columns and the input errors.

Numbers are computed here from the loaded profile with docs/model.md section 8's
formulas; the test profiles (tests/data/tca_tdm: invented numbers) keep the tests off the
TCA profiles' values, which their helpers replace."""

import csv
import io
import itertools
import json
import math
from pathlib import Path

import pytest
from conftest import sert, sert_json
from test_hostile import assert_clean, invoke

from sert_cli.datafiles import read_table
from sert_cli.profiles.library import load_library

FOLDER = str(Path(__file__).parent / "data" / "tca_tdm")
HERE = ("--profiles-dir", FOLDER)
HOURLY = ("--interval", "1")  # many small doses: the trough is the average level (< 0.5 %)


def tdm_json(drug: str, *args: str) -> dict:
    return sert_json("tdm", drug, *args, *HERE)


def activity(gene: str, phenotype: str) -> float:
    """A phenotype's class activity (sert_cli/data/phenotype_activity.csv; NM is 1)."""
    if phenotype == "NM":
        return 1.0
    rows = read_table("phenotype_activity.csv")[1]
    return next(
        float(r["activity"]) for r in rows if r["gene"] == gene and r["phenotype"] == phenotype
    )


def hand_ratio(profile, c19: str, d6: str) -> float:
    """Molar metabolite/parent at steady state, docs/model.md section 8: C_p = sD/(CL_p tau),
    C_m = f sD/(CL_m,own tau), f = (share a m + 1 - share)/(CL_p/CL_p,NM), so the ratio
    is CL_p,NM (share a + 1 - share) / CL_m,own, CL_m,own = CL_m,NM (1 - fm + fm a)."""
    metabolite = profile.metabolites[0]
    gene, share = metabolite.formation
    assert gene == "CYP2C19"
    (clearing,) = metabolite.fractions_metabolized
    assert clearing.gene == "CYP2D6"
    formation = share * activity("CYP2C19", c19) + 1 - share
    own = metabolite.apparent_clearance_l_h * (
        1 - clearing.fm + clearing.fm * activity("CYP2D6", d6)
    )
    return profile.parent.apparent_clearance_l_h * formation / own


def test_the_expected_ratio_of_the_bundled_amitriptyline_is_its_clearances_ratio():
    """An NM's molar nortriptyline/amitriptyline ratio is CL_parent / CL_metabolite (the
    metabolite's CL per parent molar dose), whatever numbers the profile holds."""
    profile = load_library().get("amitriptyline")
    out = sert_json(
        "tdm", "amitriptyline", "--dose", str(75 / 24), *HOURLY,
        "--level", "50", "--metabolite-level", "60",
    )  # fmt: skip
    (ratio,) = out["metabolite_ratios"]
    assert ratio["metabolite"] == "nortriptyline"
    expected = profile.parent.apparent_clearance_l_h / profile.metabolites[0].apparent_clearance_l_h
    assert ratio["expected"] == pytest.approx(expected, rel=0.01)
    # the measured ratio is molar: each level through its own molar mass
    molar = (60 / profile.metabolites[0].molar_mass_g_mol) / (50 / profile.parent.molar_mass_g_mol)
    assert ratio["measured"] == pytest.approx(molar, rel=1e-9)
    assert ratio["genes"] == ["CYP2C19", "CYP2D6"]  # read from pk.formation and its fm


@pytest.mark.parametrize("c19,d6", [("NM", "NM"), ("UM", "NM"), ("NM", "PM"), ("PM", "UM")])
def test_the_expected_ratio_follows_formation_and_clearance_by_hand(c19, d6):
    profile = load_library(FOLDER).get("tricyclamine")
    out = tdm_json(
        "tricyclamine", "--dose", "3", *HOURLY, "-p", f"CYP2C19={c19}", "-p", f"CYP2D6={d6}",
        "--level", "50", "--metabolite-level", "60",
    )  # fmt: skip
    assert out["metabolite_ratios"][0]["expected"] == pytest.approx(
        hand_ratio(profile, c19, d6), rel=0.005
    )


def test_a_high_ratio_names_the_combinations_the_model_says_hold_it():
    """A ratio 2.6 times an NM's, read for a patient of unknown phenotype: the ratio is
    higher than expected, and the combinations said consistent
    are exactly those whose 90 % range (x/ the profile's PK spread) holds it, by hand."""
    profile = load_library(FOLDER).get("tricyclamine")
    measured = 2.6 * hand_ratio(profile, "NM", "NM")
    parent_ng_ml = 40.0
    metabolite_ng_ml = (
        measured * parent_ng_ml / profile.parent.molar_mass_g_mol
    ) * profile.metabolites[0].molar_mass_g_mol
    out = tdm_json(
        "tricyclamine", "--dose", "3", *HOURLY,
        "--level", str(parent_ng_ml), "--metabolite-level", f"{metabolite_ng_ml}",
    )  # fmt: skip
    (ratio,) = out["metabolite_ratios"]
    assert ratio["measured"] == pytest.approx(measured, rel=1e-9)
    sigma = math.sqrt(math.log(1 + profile.exposure_cv**2))
    band = math.exp(1.645 * sigma)
    assert ratio["expected_range"][1] == pytest.approx(ratio["expected"] * band, rel=1e-9)
    said = {(c["CYP2C19"], c["CYP2D6"]) for c in ratio["consistent_with_ratio"]}
    clear = 0
    for c19, d6 in itertools.product(("PM", "IM", "NM", "RM", "UM"), ("PM", "IM", "NM", "UM")):
        centre = hand_ratio(profile, c19, d6)
        edge = min(abs(math.log(measured / (centre / b))) for b in (band, 1 / band))
        if edge < 0.02:  # too near an edge for a hand formula of the average level
            continue
        clear += 1
        assert ((c19, d6) in said) == (centre / band <= measured <= centre * band), (c19, d6)
    assert clear >= 15
    assert ("UM", "IM") in said and ("PM", "UM") not in said and ("NM", "NM") not in said
    words = out["ratio_interpretation"]
    assert "higher than expected" in words and "UM with CYP2D6 IM" in words
    assert words.startswith("a desmethyltricyclamine/tricyclamine ratio above the expected one")


def test_the_range_of_the_sum_reads_the_sum_and_the_range_of_the_parent_the_parent():
    summed = tdm_json("tricyclamine", "--dose", "75", "--level", "60", "--metabolite-level", "50")
    assert summed["level_of"] == "active moiety" and summed["reference_range_of"] == "active moiety"
    assert summed["level_read_ng_ml"] == 110 and summed["level_ng_ml"] == 60
    assert summed["level_vs_reference"] == "within"  # 110 in 80-200; 60 alone would be below
    moieties = {m["name"]: m for m in summed["levels_by_moiety"]}
    assert moieties["desmethyltricyclamine"]["measured_ng_ml"] == 50
    total = sum(m["expected_ng_ml"] for m in moieties.values())
    assert summed["expected_level_ng_ml"] == pytest.approx(total, rel=1e-12)

    parent = tdm_json("tricyclparent", "--dose", "75", "--level", "60", "--metabolite-level", "200")
    assert parent["level_of"] == "parent" and parent["level_read_ng_ml"] == 60
    assert parent["level_vs_reference"] == "within"  # 60 in 50-150; the sum, 260, would not be
    assert parent["above_alert"] is False  # the sum is above 250, the parent is not
    assert parent["levels_by_moiety"][0]["reference_range_ng_ml"] == [50, 150]
    assert parent["levels_by_moiety"][1]["reference_range_ng_ml"] is None

    # a sum for a parent range: read against the model, not against the range
    only_sum = tdm_json("tricyclparent", "--dose", "75", "--sum-level", "300")
    assert only_sum["level_of"] == "active moiety" and only_sum["level_vs_reference"] is None
    assert only_sum["above_alert"] is None and "not compared" in only_sum["interpretation"]
    assert only_sum["metabolite_ratios"] == []
    assert "no metabolite-to-parent ratio" in only_sum["ratio_interpretation"]


def test_a_level_alone_keeps_its_reading_and_says_it():
    alone = tdm_json("tricyclamine", "--dose", "75", "--level", "110")
    assert alone["level_of"] == "active moiety" and alone["level_read_ng_ml"] == 110
    assert any("read as tricyclamine + desmethyltricyclamine" in w for w in alone["warnings"])
    assert alone["metabolite_ratios"] == [] and alone["ratio_interpretation"] is None
    said = tdm_json("tricyclamine", "--dose", "75", "--sum-level", "110")
    assert said["level_read_ng_ml"] == 110 and said["level_ng_ml"] is None
    assert not any("read as" in w for w in said["warnings"])
    # a drug without metabolites: as before
    escitalopram = sert_json("tdm", "escitalopram", "--dose", "10", "--level", "38")
    assert escitalopram["level_of"] == "parent" and escitalopram["level_read_ng_ml"] == 38
    assert escitalopram["warnings"] == [] and escitalopram["metabolite_ratios"] == []


def test_molar_levels_convert_each_with_its_own_molar_mass():
    out = tdm_json(
        "tricyclamine", "--dose", "75", "--level", "200 nmol/L",
        "--metabolite-level", "DesmethylTricyclamine=300 nmol/L",
    )  # fmt: skip
    assert out["level_ng_ml"] == pytest.approx(200 * 280 / 1000)
    assert out["levels_by_moiety"][1]["measured_ng_ml"] == pytest.approx(300 * 266 / 1000)
    assert out["metabolite_ratios"][0]["measured"] == pytest.approx(1.5, rel=1e-9)


ALERT = "the laboratory alert level of 300 ng/mL"


def test_the_alert_level_is_a_warning_in_every_format():
    high = ("tricyclamine", "--dose", "75", "--level", "150", "--metabolite-level", "200", *HERE)
    out = sert_json("tdm", *high)
    assert out["above_alert"] is True
    (warning,) = [w for w in out["warnings"] if ALERT in w]
    assert "350 ng/mL" in warning and "tricyclamine + desmethyltricyclamine" in warning
    table = invoke("tdm", *high)
    assert_clean(table, 0)
    assert ALERT in " ".join(table.stderr.split()) and "REACHED" in table.stdout
    done = invoke("tdm", *high, "--format", "csv")
    assert_clean(done, 0)
    (row,) = csv.DictReader(io.StringIO(done.stdout))
    assert row["above_alert"] == "true" and ALERT in row["warnings"]
    batch = sert(
        "batch", "-", "--profiles-dir", FOLDER, "--fields", "key,above_alert",
        stdin="drug,dose_mg,level_ng_ml,metabolite_level_ng_ml\n"
        "tricyclamine,75,150,200\ntricyclamine,75,100,100\n",
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(batch.stdout)))
    assert batch.returncode == 0 and rows[0]["above_alert"] == "true"
    assert ALERT in rows[0]["warnings"] and ALERT not in rows[1]["warnings"]
    assert rows[1]["above_alert"] == "false"
    # under the alert level: no warning
    low = tdm_json("tricyclamine", "--dose", "75", "--level", "100", "--metabolite-level", "100")
    assert low["above_alert"] is False and not any("alert level" in w for w in low["warnings"])


@pytest.mark.parametrize(
    "args,words",
    [
        (("tricyclamine", "--level", "50", "--metabolite-level", "nor=40"),
         ("--metabolite-level", "'nor' is not an active metabolite", "desmethyltricyclamine")),
        (("tricyclamine", "--level", "50", "--metabolite-level", "nor=40 nmol/L"),
         ("--metabolite-level", "'nor' is not an active metabolite", "desmethyltricyclamine")),
        (("tricyclamine", "--level", "50", "--sum-level", "90"),
         ("--sum-level", "stands alone")),
        (("tricyclamine", "--metabolite-level", "40", "--sum-level", "90"),
         ("--sum-level", "stands alone")),
        (("tricyclamine", "--metabolite-level", "40"), ("--level", "--sum-level")),
        (("tricyclamine", "--level", "50", "--metabolite-level", "1",
          "--metabolite-level", "desmethyltricyclamine=2"), ("--metabolite-level", "twice")),
        (("tricyclamine", "--level", "50", "--metabolite-level", "0"),
         ("--metabolite-level", "positive")),
        (("tricyclamine", "--level", "50", "--metabolite-level", "x\x1b[31m=4"),
         ("--metabolite-level", "not an active metabolite", "\\x1b")),
        (("escitalopram", "--level", "30", "--metabolite-level", "5"),
         ("--metabolite-level", "escitalopram has no active metabolite")),
        (("escitalopram", "--sum-level", "30"), ("--sum-level", "no active metabolite")),
    ],
)  # fmt: skip
def test_contradictory_or_unknown_levels_are_one_line_exit_2(args, words):
    done = invoke("tdm", *args, "--dose", "10", *HERE)
    assert_clean(done, 2, "sert: error: ")
    assert done.stderr.count("\n") == 1 and "\x1b" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_batch_reads_metabolite_and_sum_columns_as_the_single_command_does():
    text = (
        "id,drug,dose_mg,level,metabolite_level,sum_level_ng_ml\n"
        "a,tricyclamine,75,60,desmethyltricyclamine=50,\n"
        "b,tricyclamine,75,,,110\n"
        "c,tricyclamine,75,60,nor=5,\n"
        "d,tricyclamine,75,,50,\n"
        "e,escitalopram,10,30,5,\n"
    )
    done = sert("batch", "-", "--format", "jsonl", "--fields", "all", *HERE, stdin=text)
    rows = {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}
    single = tdm_json("tricyclamine", "--dose", "75", "--level", "60", "--metabolite-level", "50")
    for field in ("level_read_ng_ml", "levels_by_moiety", "metabolite_ratios", "level_of"):
        assert rows["a"][field] == single[field]
    assert rows["b"]["query"] == "tdm" and rows["b"]["level_read_ng_ml"] == 110
    assert rows["b"]["level_ng_ml"] is None  # the level as given: none, the sum was
    assert "'nor' is not an active metabolite" in rows["c"]["error"]
    assert rows["c"]["error"].startswith("column metabolite_level:")
    assert "with the parent's" in rows["d"]["error"]
    assert "escitalopram has no active metabolite" in rows["e"]["error"]
    assert done.returncode == 1
    # several metabolites in one cell are split at ';' (one given twice is refused)
    twice = sert(
        "batch", "-", "--format", "jsonl", *HERE,
        stdin="drug,dose_mg,level_ng_ml,metabolite_level_ng_ml\n"
        "tricyclamine,75,60,desmethyltricyclamine=50; desmethyltricyclamine=50\n",
    )  # fmt: skip
    assert "given twice" in json.loads(twice.stdout)["error"]


def test_a_batch_row_read_back_asks_again_what_it_asked():
    """batch writes level_ng_ml as given (the parent's), not the sum it read: its output,
    read again, gives the same answer (no level counted twice)."""
    text = "drug,dose_mg,level_ng_ml,metabolite_level_ng_ml\ntricyclamine,75,60,50\n"
    first = sert("batch", "-", *HERE, stdin=text)
    again = sert("batch", "-", *HERE, stdin=first.stdout)
    one, two = (next(csv.DictReader(io.StringIO(d.stdout))) for d in (first, again))
    assert float(one["level_ng_ml"]) == 60
    assert one["expected_level_ng_ml"] == two["expected_level_ng_ml"]
    assert one["ratio_to_expected"] == two["ratio_to_expected"]
