"""Output defects of the tricyclic work (a reviewer's list): `sert tdm`'s per-gene rows agree
with its two-gene reading and name the direction the ratio points; a dose per
administration at a 12 h interval is said with its day's dose; the table's and compare's
default doses are ones the label and the marketed units allow; the laboratory alert level
is marked where levels are shown (table, population); the "Assumed:" line dedupes on a
note's parts, not its text.

Numbers are computed here from the loaded profile (or the command's own JSON) by hand
formulas, so that the tests do not rest on the profile helpers' values."""

import csv
import io
import math

from conftest import sert, sert_json
from test_tca_tdm import hand_ratio

from sert_cli.profiles.library import load_library
from sert_cli.trace import Note
from sert_cli.vocabulary import PHENOTYPES

AMI = "amitriptyline"


def profile(name: str = AMI):
    return load_library().get(name)


def text_of(*args: str) -> str:
    done = sert(*args, env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())  # (lines wrapped at the terminal's width)


# 1. tdm: the table rows and the prose agree; the direction; "reference range"

TDM = ("tdm", AMI, "--dose", "75", "--level", "120", "--metabolite-level", "200")


def test_tdm_per_gene_rows_are_the_two_gene_readings_phenotypes():
    """The reproduction: the rows said 'consistent CYP2C19 phenotypes: none' while the
    prose said 'together with CYP2C19 PM, IM or NM with CYP2D6 PM'. Each gene's row is now
    the phenotypes of that gene in the combinations that hold the ratio and both levels."""
    record = sert_json(*TDM)
    (ratio,) = record["metabolite_ratios"]
    assert ratio["combinations_read"] and ratio["consistent_with_levels"]
    for gene in ratio["genes"]:
        wanted = [
            p for p in PHENOTYPES if any(c[gene] == p for c in ratio["consistent_with_levels"])
        ]
        assert record["consistent_phenotypes"][gene] == wanted, gene
        assert record["consistent_phenotypes_read"][gene] != "one gene at a time"
    assert record["consistent_phenotypes"]["CYP2C19"]  # was [] before the fix
    text = text_of(*TDM)
    assert "consistent CYP2C19 phenotypes none" not in text
    words = record["ratio_interpretation"]
    c19 = record["consistent_phenotypes"]["CYP2C19"]
    either = c19[0] if len(c19) == 1 else ", ".join(c19[:-1]) + " or " + c19[-1]
    assert f"together with CYP2C19 {either} with" in words
    assert f"consistent CYP2C19 phenotypes {', '.join(c19)} (with CYP2D6" in text


def test_tdm_without_a_metabolite_level_reads_one_gene_at_a_time():
    record = sert_json("tdm", AMI, "--dose", "75", "--level", "100")
    assert set(record["consistent_phenotypes_read"].values()) == {"one gene at a time"}


def test_tdm_names_the_direction_the_ratio_points_from_the_models_numbers():
    """The measured molar ratio (200/263.38)/(120/277.41) = 1.755 is above the NM's; the
    phenotypes under which the model expects a higher ratio (section 8 by hand: formation
    share * activity over the metabolite's own clearance) are the ones the lead names."""
    record = sert_json(*TDM)
    (ratio,) = record["metabolite_ratios"]
    measured = (200 / 263.38) / (120 / profile().parent.molar_mass_g_mol)
    assert math.isclose(ratio["measured"], measured, rel_tol=1e-3)
    assert measured > ratio["expected"]
    nm = hand_ratio(profile(), "NM", "NM")
    for gene, phenotypes in ratio["raise_ratio"].items():
        for p in phenotypes:
            pair = ("NM", p) if gene == "CYP2D6" else (p, "NM")
            assert hand_ratio(profile(), *pair) > nm, (gene, p)
    assert ratio["raise_ratio"] == {"CYP2C19": ["RM", "UM"], "CYP2D6": ["PM", "IM"]}
    words = record["ratio_interpretation"]
    assert words.startswith("a nortriptyline/amitriptyline ratio above the expected one")
    assert "points to faster CYP2C19 formation (RM/UM) or slower CYP2D6 clearance (PM/IM)" in (
        words
    )
    low = sert_json("tdm", AMI, "--dose", "75", "--level", "60", "--metabolite-level", "30")
    assert "below the expected one" in low["ratio_interpretation"]
    assert "slower CYP2C19 formation (PM/IM)" in low["ratio_interpretation"]


def test_tdm_says_reference_range_not_consensus():
    record = sert_json(*TDM)
    assert "the reference range of 80-200 ng/mL" in record["interpretation"]
    assert "consensus" not in record["interpretation"]


# 2. a dose per administration at 12 h, with its day's dose


def test_dose_from_strengths_says_twice_daily_and_the_days_dose():
    record = sert_json("dose", AMI)
    per_dose = record["recommended_dose_mg"]
    assert record["interval_h"] == 12
    assert record["recommended_daily_dose_mg"] == 2 * per_dose
    units = " + ".join(f"{u:g} mg" for u in record["recommended_units_mg"])
    text = text_of("dose", AMI)
    assert f"{per_dose:g} mg ({units}) twice daily ({2 * per_dose:g} mg/day)" in text
    # a drug taken once a day is said as before
    assert "twice daily" not in text_of("dose", "sertraline")


def test_taper_and_switch_say_the_days_dose_of_a_twice_daily_drug():
    taper = text_of("taper", AMI, "--dose", "75")
    assert "from 75 mg twice daily (150 mg/day)" in taper
    assert "50 mg + 25 mg film-coated tablet twice daily (150 mg/day)" in taper
    record = sert_json("switch", AMI, "sertraline", "--dose", "75")
    assert record["from"]["daily_dose_mg"] == 150
    day = record["schedule"][0]
    assert day["from_daily_dose_mg"] == 2 * day["from_dose_mg"]
    assert day["to_daily_dose_mg"] == day["to_dose_mg"]  # sertraline: once a day
    switch = text_of("switch", AMI, "sertraline", "--dose", "75")
    assert "amitriptyline 75 mg twice daily (150 mg/day) (SERT" in switch
    assert "amitriptyline, mg twice daily (mg/day)" in switch
    assert f"{day['from_dose_mg']:g} ({2 * day['from_dose_mg']:g})" in switch


def test_compare_usual_dose_is_one_the_tablets_make_and_says_its_day():
    """10 mg/day every 12 h is 5 mg, which no tablet (10, 25, 50 mg) makes: the usual dose
    is the smallest they make at or above it, 10 mg twice daily (20 mg/day)."""
    p = profile()
    assert p.label_min_mg / 2 < min(p.strengths_mg)
    record = sert_json("compare", AMI, "sertraline")
    ami = record["drugs"][0]
    assert ami["dose_mg"] == min(p.strengths_mg) and ami["daily_dose_mg"] == 2 * ami["dose_mg"]
    assert record["drugs"][1]["dose_mg"] == profile("sertraline").label_min_mg
    text = text_of("compare", AMI, "sertraline")
    assert "10 mg twice daily (20 mg/day) (usual)" in text


def test_table_default_doses_start_at_the_label_minimum_per_day():
    """The label minimum, 10 mg/day, is 5 mg every 12 h: the 2 mg/mL solution measures it
    (2.5 mL); before, the table started at the 10 mg tablet, 20 mg/day."""
    p = profile()
    rows = sert_json("table", AMI)
    doses = sorted({r["dose_mg"] for r in rows})
    assert doses[0] == p.label_min_mg / 2
    assert max(doses) * 2 <= p.label_max_mg
    text = text_of("table", AMI)
    assert "5 mg as 2.5 mL of the oral solution (UK), 2 mg/mL" in text
    assert "mg twice daily mg/day" in text


# 3. the alert level where levels are shown


def _reaches_alert(row: dict, p) -> bool:
    return sum(row["css_plasma_ng_ml_by_moiety"].values()) >= p.therapeutic_alert_ng_ml


def test_table_marks_the_rows_at_the_alert_level():
    p = profile()
    assert p.therapeutic_range_of == "active_moiety"
    rows = sert_json("table", AMI, "--doses", "75")
    for row in rows:
        assert row["at_or_above_alert"] == _reaches_alert(row, p), row["phenotypes"]
    marked = [r["phenotypes"] for r in rows if r["at_or_above_alert"]]
    assert {"CYP2C19": "PM", "CYP2D6": "PM"} in marked
    assert {"CYP2C19": "NM", "CYP2D6": "NM"} not in marked
    text = text_of("table", AMI, "--doses", "75")
    assert "!" in text and "at or above the laboratory alert level of 300 ng/mL" in text
    grid = sert_json("table", AMI, "--doses", "25,75")
    assert all(r["at_or_above_alert"] == _reaches_alert(r, p) for r in grid)
    assert sert_json("table", "venlafaxine", "--doses", "75")[0]["at_or_above_alert"] in (
        None,
        False,
    )


def test_table_csv_has_the_alert_column():
    done = sert("table", AMI, "--doses", "75", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert {r["at_or_above_alert"] for r in rows} >= {"True", "False"} or {
        r["at_or_above_alert"] for r in rows
    } >= {"true", "false"}


def test_population_expected_share_at_the_alert_level_by_hand():
    """share = sum over phenotype pairs of w * Phi(ln(L / 300) / sigma), w the product of
    the two genes' frequencies, L the pair's steady-state amitriptyline + nortriptyline
    (the table's levels), sigma = sqrt(ln(1 + CV^2))."""
    p = profile()
    record = sert_json("population", AMI, "--dose", "75", "--n", "1000")
    assert record["alert_level_ng_ml"] == 300
    frequencies = record["phenotype_frequencies"]
    rows = sert_json("table", AMI, "--doses", "75")
    level = {
        (r["phenotypes"]["CYP2C19"], r["phenotypes"]["CYP2D6"]): sum(
            r["css_plasma_ng_ml_by_moiety"].values()
        )
        for r in rows
    }
    # without a sourced CV (sigma 0) a pair is at the alert level or not
    sigma = math.sqrt(math.log(1 + p.exposure_cv**2)) if p.exposure_cv else 0.0
    total = weights = 0.0
    for c19, f19 in frequencies["CYP2C19"].items():
        for d6, f2d6 in frequencies["CYP2D6"].items():
            w = f19 * f2d6
            weights += w
            if sigma:
                z = math.log(level[(c19, d6)] / 300) / sigma
                total += w * 0.5 * (1 + math.erf(z / math.sqrt(2)))
            else:
                total += w * (level[(c19, d6)] >= 300)
    assert total > 0  # CYP2C19 PM with CYP2D6 PM reaches it
    assert math.isclose(record["fraction_at_or_above_alert"], total / weights, rel_tol=1e-6)
    assert "At or above the laboratory alert level of 300 ng/mL" in text_of(
        "population", AMI, "--dose", "75", "--n", "1000"
    )
    no_alert = sert_json("population", "venlafaxine", "--dose", "75", "--n", "1000")
    if profile("venlafaxine").therapeutic_alert_ng_ml is None:
        assert no_alert["fraction_at_or_above_alert"] is None


# 4. the Assumed line dedupes on parts


def test_note_carries_its_parts_and_the_assumed_line_dedupes_on_them():
    joined = Note("a whole; b whole", parts=("CYP2D6 PM class activity", "x; y"))
    assert joined.parts == ("CYP2D6 PM class activity", "x; y")
    assert joined.short == "CYP2D6 PM class activity; x; y"
    assert Note("t", short="").parts == () and Note("t").parts == ("t",)
    from sert_cli.render import table_format

    class Sink:
        said: list[str] = []

        def print(self, text, **_):
            self.said.append(text)

    sink = Sink()
    # a part that holds "; " stays one part; the same part from two notes is said once
    table_format._print_assumptions(sink, [joined, Note("CYP2D6 PM class activity")])
    assert sink.said == ["Assumed: CYP2D6 PM class activity; x; y."]
    text = text_of("occupancy", AMI, "--dose", "75", "-p", "CYP2D6=PM")
    assert text.count("CYP2D6 PM class activity") == 1
