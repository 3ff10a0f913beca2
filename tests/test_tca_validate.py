"""`sert validate` for the tricyclics' data (issue 27 item 6): exposure ratios by moiety,
observed plasma levels, and PET scales with a second NET drug, a one-drug SERT tracer and
a drug whose occupancy comes from parent and metabolite. The expected values are computed
here from the loaded profiles by the formulas of docs/model.md (sections 1, 2, 8, 14), so
that they hold whatever numbers the TCA profiles end up with."""

import csv
import io
import json
import math
from dataclasses import replace

import pytest
from test_hostile import assert_clean, invoke

from sert_cli import calibration, level_checks
from sert_cli.datafiles import DATA, read_table
from sert_cli.errors import ModelError
from sert_cli.model import formulas
from sert_cli.pk.steady_state import gene_activity, steady_state
from sert_cli.profiles.library import load_library
from sert_cli.vocabulary import RANGE_Z

OBSERVED_HEADER = (
    "study,drug,moiety,daily_dose_mg,gene,phenotype,level_ng_ml,sd_ng_ml,n,sampling,derives,source"
)


@pytest.fixture(scope="module")
def library():
    return load_library(use_cache=False)


def _rows(monkeypatch, name: str, rows: list[dict]) -> None:
    """level_checks reads these rows as data file `name` (the others as shipped)."""
    real = level_checks.read_table

    def fake(wanted):
        return ((), tuple(rows)) if wanted == name else real(wanted)

    monkeypatch.setattr(level_checks, "read_table", fake)


def _ratio_row(**fields) -> dict:
    row = {
        "drug": "",
        "gene": "",
        "phenotype": "",
        "moiety": "",
        "ratio": "1",
        "daily_dose_mg": "",
        "source": "t",
    }
    return row | fields


def _clearance_ratio(moiety, gene: str, phenotype: str) -> float:
    """CL(phenotype) / CL(NM) = 1 - fm + fm * a (docs/model.md section 2), one gene."""
    fm = {f.gene: f.fm for f in moiety.fractions_metabolized}.get(gene, 0.0)
    return 1.0 - fm + fm * gene_activity(moiety, gene, phenotype)[0]


def _by_hand(profile, gene: str, phenotype: str) -> tuple[float, float]:
    """(parent, metabolite) exposure ratio vs NM: the parent 1 / CL ratio; the metabolite
    f / (its own CL ratio), f = (share * a + 1 - share) / (CL_parent ratio) (section 8)."""
    parent, metabolite = profile.parent, profile.metabolites[0]
    parent_change = _clearance_ratio(parent, gene, phenotype)
    form_gene, share = metabolite.formation
    a = gene_activity(parent, form_gene, phenotype)[0] if form_gene == gene else 1.0
    formed = (share * a + 1.0 - share) / parent_change
    return 1.0 / parent_change, formed / _clearance_ratio(metabolite, gene, phenotype)


# ----- 1. exposure ratios by moiety --------------------------------------------------------


def test_shipped_exposure_ratios_carry_the_moiety_column():
    text = (DATA / "exposure_ratios.csv").read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line[0] != "#")
    assert header.strip().split(",")[:5] == ["drug", "gene", "phenotype", "moiety", "ratio"]
    checks = level_checks.exposure_ratio_checks(load_library(use_cache=False))
    old_rows = [c for c in checks if c["drug"] in ("escitalopram", "sertraline", "paroxetine")]
    assert old_rows and all(c["moiety"] == "parent" for c in old_rows)  # an empty cell: parent
    assert {c["moiety"] for c in checks} >= {"parent", "desipramine", "active_moiety"}


@pytest.mark.parametrize("gene", ["CYP2C19", "CYP2D6"])
def test_metabolite_and_active_moiety_ratios_follow_section_8(monkeypatch, library, gene):
    """Amitriptyline in a PM of one gene, the other gene NM: the parent up, nortriptyline
    by its formation and its own clearance, the active moiety their level-weighted mean."""
    profile = library.get("amitriptyline")
    other = [g for g in profile.genes if g != gene]
    _rows(
        monkeypatch,
        "exposure_ratios.csv",
        [
            _ratio_row(drug="amitriptyline", gene=gene, phenotype="PM", moiety=m)
            for m in ("", "nortriptyline", "active_moiety")
        ],
    )
    parent, metabolite, active = level_checks.exposure_ratio_checks(library)
    want_parent, want_metabolite = _by_hand(profile, gene, "PM")
    assert parent["moiety"] == "parent" and metabolite["moiety"] == "nortriptyline"
    assert parent["model_ratio"] == pytest.approx(want_parent, rel=1e-9)
    assert metabolite["model_ratio"] == pytest.approx(want_metabolite, rel=1e-9)
    if gene == "CYP2C19":  # the formation gene: parent and metabolite move apart
        assert parent["model_ratio"] > 1 > metabolite["model_ratio"]
    # the active moiety: NM levels (ng/mL) weighted by each moiety's ratio
    dose = profile.label_min_mg * profile.interval_h / 24
    nm = steady_state(profile, dose, profile.interval_h, dict.fromkeys(profile.genes, "NM"))
    p, m = (lv.css_plasma_ng_ml for lv in nm.levels)
    assert active["model_ratio"] == pytest.approx(
        (want_parent * p + want_metabolite * m) / (p + m), rel=1e-9
    )
    assert active["other_genes_nm"] == other
    assert active["daily_dose_mg"] == profile.label_min_mg  # no dose: the label minimum


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"drug": "amitriptyline", "gene": "CYP2D6", "phenotype": "PM", "moiety": "desipramine"},
            "no metabolite",
        ),
        ({"drug": "sertraline", "gene": "CYP2D6", "phenotype": "PM"}, "does not depend on CYP2D6"),
        ({"drug": "nosuchdrug", "gene": "CYP2D6", "phenotype": "PM"}, "no profile"),
        ({"drug": "sertraline", "gene": "CYP2C19", "phenotype": "XM"}, "unknown phenotype"),
        ({"drug": "sertraline"}, "needs a gene"),
    ],
)
def test_a_row_the_model_cannot_read_is_a_data_error(monkeypatch, library, fields, words):
    _rows(monkeypatch, "exposure_ratios.csv", [_ratio_row(**fields)])
    with pytest.raises(ModelError, match=words) as caught:
        level_checks.exposure_ratio_checks(library)
    assert "exposure_ratios.csv row 1" in str(caught.value)


# ----- 2. observed levels ------------------------------------------------------------------


def _level_row(**fields) -> dict:
    row = {
        "study": "S",
        "drug": "escitalopram",
        "moiety": "parent",
        "daily_dose_mg": "10",
        "gene": "",
        "phenotype": "",
        "level_ng_ml": "10",
        "sd_ng_ml": "",
        "n": "",
        "sampling": "average",
        "derives": "",
        "source": "t",
    }
    return row | fields


def test_shipped_observed_levels_file_has_the_agreed_header_and_resolves(library):
    lines = (DATA / "observed_levels.csv").read_text(encoding="utf-8")
    header = next(line for line in lines.splitlines() if not line.startswith("#"))
    assert header == OBSERVED_HEADER
    rows = read_table("observed_levels.csv")[1]
    assert rows and all(r["source"] and r["sampling"] in ("trough", "average") for r in rows)
    result = level_checks.observed_level_checks(library)
    assert len(result["rows"]) == len(rows)
    assert result["summary"]["in_sample"]["rows"] and result["summary"]["independent"]["rows"]
    for r in result["rows"]:
        assert r["in_sample"] == bool(r["derives"])
        assert r["ratio"] == pytest.approx(r["predicted_ng_ml"] / r["observed_ng_ml"])


def test_observed_level_against_hand_formulas(monkeypatch, library):
    """Average Css = S * D / (CL * tau) (section 1); the 90 % range = exp(+-1.645 sigma),
    sigma^2 = ln(1 + CV^2) (section 14); the fold errors in sample and independent."""
    profile = library.get("escitalopram")
    css = 10 * profile.salt_factor / (profile.parent.apparent_clearance_l_h * 24) * 1000
    _rows(
        monkeypatch,
        "observed_levels.csv",
        [
            _level_row(level_ng_ml=str(css / 2), derives="pk.apparent_clearance"),
            _level_row(level_ng_ml=str(css * 4)),
            _level_row(level_ng_ml=str(css)),
            _level_row(sampling="trough", level_ng_ml=str(css)),
        ],
    )
    result = level_checks.observed_level_checks(library)
    in_sample, over, exact, trough = result["rows"]
    assert in_sample["predicted_ng_ml"] == pytest.approx(css, rel=1e-9)
    assert in_sample["ratio"] == pytest.approx(2.0) and over["ratio"] == pytest.approx(0.25)
    spread = math.exp(RANGE_Z * math.sqrt(math.log(1 + profile.exposure_cv**2)))
    assert exact["range_ng_ml"] == pytest.approx([css / spread, css * spread])
    assert exact["inside_range"] and not over["inside_range"]
    assert exact["compared_with"] == level_checks.UNSELECTED
    assert 0 < trough["predicted_ng_ml"] < css  # the trough lies below the average
    summary = result["summary"]
    assert summary["in_sample"]["rows"] == 1 and summary["in_sample"]["gmfe"] == pytest.approx(2)
    # independent: |ln 0.25|, 0, |ln(trough ratio)|
    logs = [math.log(4), 0.0, abs(math.log(trough["ratio"]))]
    assert summary["independent"]["gmfe"] == pytest.approx(math.exp(sum(logs) / 3))
    assert summary["independent"]["inside_range"] == 2 and summary["independent"]["with_range"] == 3


def test_observed_metabolite_level_by_phenotype(monkeypatch, library):
    """A metabolite's level in a phenotype: its NM level times the section 8 ratio."""
    profile = library.get("amitriptyline")
    _rows(
        monkeypatch,
        "observed_levels.csv",
        [
            _level_row(drug="amitriptyline", moiety="nortriptyline", daily_dose_mg="75"),
            _level_row(
                drug="amitriptyline",
                moiety="Nortriptyline",
                daily_dose_mg="75",
                gene="CYP2C19",
                phenotype="UM",
            ),
        ],
    )
    nm, um = level_checks.observed_level_checks(library)["rows"]
    assert um["moiety"] == "nortriptyline"  # the profile's spelling
    assert um["compared_with"] == "CYP2C19 UM, other genes NM"
    assert um["predicted_ng_ml"] / nm["predicted_ng_ml"] == pytest.approx(
        _by_hand(profile, "CYP2C19", "UM")[1], rel=1e-9
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"sampling": "peak"}, "sampling must be"),
        ({"level_ng_ml": "0"}, "must be > 0"),
        ({"gene": "CYP2C19"}, "or neither"),
    ],
)
def test_a_bad_observed_row_is_a_data_error(monkeypatch, library, fields, words):
    _rows(monkeypatch, "observed_levels.csv", [_level_row(**fields)])
    with pytest.raises(ModelError, match=words):
        level_checks.observed_level_checks(library)


# ----- 4. the CLI carries the new tables ---------------------------------------------------


@pytest.fixture
def canned(monkeypatch, library):
    """validate's result without the PET fit (seconds): the level tables as shipped."""
    observed = level_checks.observed_level_checks(library)
    result = {
        "points": [],
        "exposure_ratios": level_checks.exposure_ratio_checks(library),
        "observed_levels": observed["rows"],
        "observed_levels_summary": observed["summary"],
    }
    monkeypatch.setattr(calibration, "validate", lambda _library: result)
    return result


def test_csv_and_json_carry_the_observed_levels_table(canned):
    done = invoke("validate", "--format", "csv", "--table", "observed_levels")
    assert_clean(done, 0)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == len(canned["observed_levels"])
    assert {"moiety", "predicted_ng_ml", "ratio", "inside_range", "derives"} <= set(rows[0])
    done = invoke("validate", "--format", "csv", "--table", "exposure_ratios")
    assert "moiety" in next(csv.DictReader(io.StringIO(done.stdout)))
    whole = json.loads(invoke("validate", "--format", "json").stdout)
    assert set(whole["observed_levels_summary"]) == {"in_sample", "independent"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--format", "csv", "--table", "bogus\x1b[31m"), "unknown table"),
        (("--table", "points"), "--format csv or json"),
        (("--format", "json", "--table", "points", "--fit", "all"), "without --fit"),
    ],
)
def test_table_option_errors_are_one_line(args, words):
    done = invoke("validate", *args)
    assert_clean(done, 2, words)
    assert "\x1b" not in done.stderr and done.stderr.count("\n") == 1


# ----- 3. PET: two NET drugs, a one-drug tracer, parent + metabolite -------------------------


def _synthetic_points(library) -> list:
    """Milnacipran's shipped NET points, and made-up points generated by the model itself
    (true K scales 3 and 5, plateau 1): nortriptyline NET in two studies, clomipramine SERT
    on (+)-[11C]McN5652 (a tracer spelled without the file's prefix)."""
    shipped = [p for p in calibration.pet_points() if p.drug == "milnacipran" and p.counted]
    template = shipped[0]
    made = []
    for drug, transporter, tracer, scale, study, doses in (
        ("nortriptyline", "NET", "[18F]FMeNER-D2", 3.0, "SynthA", (25, 75)),
        ("nortriptyline", "NET", "[18F]FMeNER-D2", 3.0, "SynthB", (50, 150)),
        ("clomipramine", "SERT", "(+)-[11C]McN5652", 5.0, "SynthC", (10, 50, 150)),
    ):
        base = library.get(drug).with_affinity("in-vitro")
        for dose in doses:
            point = replace(
                template,
                study=study,
                drug=drug,
                transporter=transporter,
                dose_mg_day=float(dose),
                tracer=tracer,
                sd=0.05,
                n=8,
                range=None,
            )
            load = calibration.point_load(base, point)
            made.append(replace(point, occupancy=formulas.occupancy_from_load(load / scale)))
    return [p for p in shipped if p.transporter == "NET"] + made


def test_pet_fit_with_two_net_drugs_and_a_one_drug_tracer(monkeypatch, library):
    points = _synthetic_points(library)
    monkeypatch.setattr(calibration, "pet_points", lambda: points)
    _, loads, in_sample, left_out = calibration._calibration(library)
    # the one-drug tracer: recognised, on the binding scale, its constant recovered
    assert calibration.tracer_family("(+)-[11C]McN5652") == "[11C](+)McN5652"
    assert in_sample.plateau[("SERT", "[11C](+)McN5652")] == 1.0
    assert in_sample.scale[("clomipramine", "SERT")] == pytest.approx(5.0, rel=0.05)
    assert in_sample.scale[("nortriptyline", "NET")] == pytest.approx(3.0, rel=0.05)
    # milnacipran's NET points, its only study left out, are now predicted from the other
    # NET drug (before, the left-out column was '-'), and the words say which
    held = [v for p, v in left_out.items() if p.drug == "milnacipran"]
    assert held and all(v.kind == "extrapolated" for v in held)
    assert all("nortriptyline (SynthA, SynthB)" in v.basis for v in held)
    # nortriptyline keeps a study when one is left out: fitted, near the truth
    for p, v in left_out.items():
        if p.drug == "nortriptyline":
            assert v.kind == "fitted"
            assert v.occupancy == pytest.approx(p.occupancy, abs=0.03)


def test_pet_load_counts_the_metabolite(library):
    """Clomipramine's SERT load is the parent's and N-desmethylclomipramine's C/K together
    (section 4), so the fitted scale acts on both (as with_affinity('pet') scales both)."""
    profile = library.get("clomipramine").with_affinity("in-vitro")
    point = replace(
        calibration.pet_points()[0],
        drug="clomipramine",
        transporter="SERT",
        regimen="steady_state",
        dose_mg_day=75.0,
    )
    dose = 75.0 * profile.interval_h / 24
    levels = steady_state(
        profile, dose, profile.interval_h, dict.fromkeys(profile.genes, "NM")
    ).levels
    by_hand = sum(
        lv.cu_brain_nm / m.k_nm["SERT"] for m, lv in zip(profile.moieties, levels, strict=True)
    )
    parent_only = levels[0].cu_brain_nm / profile.parent.k_nm["SERT"]
    assert calibration.point_load(profile, point) == pytest.approx(by_hand, rel=1e-9)
    assert by_hand > parent_only
