"""Issue 28: platelet SERT occupancy, platelet 5-HT content and the bleeding warning
(docs/model.md section 20). The shipped data files are filled on other branches: these
tests read their own small tables (tests/data/platelets/) in a copy of sert_cli/data."""

import csv
import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_hostile import assert_clean, invoke

from sert_cli import datafiles, platelet_fit
from sert_cli.pgx import bleeding, patient
from sert_cli.pk import platelets
from sert_cli.profiles.library import load_library

HERE = Path(__file__).resolve().parent / "data" / "platelets"
TABLES = (
    "bleeding_comedications.csv",
    "bleeding_risk.csv",
    "sert_affinity_classes.csv",
    "platelet_model.csv",
    "platelet_uptake.csv",
)


def _clear() -> None:
    for cached in (
        datafiles.read_table,
        patient.comedication_names,
        patient.serotonergic,
        bleeding.bleeding_drugs,
        bleeding.bleeding_names,
        platelets.platelet_model,
    ):
        cached.cache_clear()


@pytest.fixture
def test_data(tmp_path, monkeypatch):
    """sert_cli/data with the five platelet tables replaced by tests/data/platelets/."""
    data = tmp_path / "data"
    shutil.copytree(datafiles.DATA, data)
    for name in TABLES:
        shutil.copy(HERE / name, data / name)
    monkeypatch.setattr(datafiles, "DATA", data)
    _clear()
    yield data
    monkeypatch.undo()
    _clear()


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    """sert_cli/data with the five platelet tables holding headers only."""
    data = tmp_path / "data"
    shutil.copytree(datafiles.DATA, data)
    for name in TABLES:
        lines = (HERE / name).read_text().splitlines()
        (data / name).write_text("\n".join(lines[:2]) + "\n")  # the comment, the header
    monkeypatch.setattr(datafiles, "DATA", data)
    _clear()
    yield data
    monkeypatch.undo()
    _clear()


def _json(*args):
    done = invoke(*args, "--format", "json")
    assert_clean(done, 0)
    return json.loads(done.stdout)


# --- the core ----------------------------------------------------------------------------


def test_platelet_occupancy_by_hand_from_escitalopram_numbers(test_data):
    """escitalopram 10 mg/day: CL/F 600 mL/min = 36 L/h, MW 324.4, fu 0.44, SERT Kd 1.2 nM
    (its profile); the test table's scale 2.5. Css = 10 / (36 * 24) mg/L; the in vitro K,
    not the PET-scale constant of the brain."""
    css_nm = 10.0 / (36.0 * 24.0) * 1e6 / 324.4
    x = 0.44 * css_nm / (2.5 * 1.2)
    expected = x / (1 + x)
    record = _json("occupancy", "escitalopram", "--dose", "10")
    assert record["platelet_sert_occupancy"] == pytest.approx(expected, rel=1e-9)
    assert record["platelet_serotonin_fraction"] == pytest.approx(1 - expected, rel=1e-9)
    assert "fitted to ex vivo uptake inhibition (2 studies" in record["platelet_evidence"]
    assert "platelet lifespan of 8 days" in record["platelet_evidence"]
    # never inside the brain's fields
    assert set(record["occupancy"]) == {"SERT", "NET"}
    assert all("platelet" not in k for k in record["occupancy_by_moiety"]["SERT"])
    assert record["occupancy"]["SERT"] != pytest.approx(expected)


def test_no_rows_is_not_calibrated_with_the_in_vitro_k_as_it_is(empty_data):
    css_nm = 10.0 / (36.0 * 24.0) * 1e6 / 324.4
    x = 0.44 * css_nm / 1.2
    record = _json("occupancy", "escitalopram", "--dose", "10")
    assert record["platelet_sert_occupancy"] == pytest.approx(x / (1 + x), rel=1e-9)
    assert "no scale fitted" in record["platelet_evidence"]
    done = invoke("validate", "--fit", "platelet")
    assert_clean(done, 0)
    assert "no fit" in done.stdout
    simulated = _json("simulate", "escitalopram", "--dose", "10", "--days", "3")
    assert "no scale fitted" in simulated["summary"]["platelet_evidence"]


def test_content_exact_step_matches_the_closed_form_at_constant_theta():
    t_h = np.arange(0, 30 * 24 + 1, 6.0)
    tau_h = 9 * 24.0
    theta = 0.83
    course = platelets.content_course(t_h, np.full_like(t_h, theta), tau_h)
    closed = 1 - theta + theta * np.exp(-t_h / tau_h)
    assert np.max(np.abs(course - closed)) < 1e-12
    assert platelets.content_at(theta, 1e9, tau_h) == pytest.approx(1 - theta)
    # recovery after stopping: from c back towards 1 at the same rate
    assert platelets.content_at(0.0, tau_h, tau_h, start=0.2) == pytest.approx(
        1 - 0.8 * math.exp(-1)
    )


def test_the_fit_recovers_a_known_scale_from_synthetic_rows():
    library = load_library()
    rows, scale = [], 3.7
    for study, (drug, dose) in enumerate(
        (("sertraline", 50), ("paroxetine", 20), ("escitalopram", 10), ("fluoxetine", 20))
    ):
        x0 = platelet_fit.in_vitro_load(library, drug, dose)
        theta = (x0 / scale) / (1 + x0 / scale)
        rows.append(
            {
                "study": f"S{study}",
                "drug": drug,
                "daily_dose_mg": str(dose),
                "days_on_drug": "",
                "measure": "uptake_inhibition",
                "value_pct": repr(theta * 100),
                "status": "verified",
                "use": "fit",
            }
        )
    found = platelet_fit.fit(library, rows)
    assert found["scale"] == pytest.approx(scale, rel=1e-9)
    low, high = found["interval"]
    assert low == pytest.approx(scale, rel=1e-6) and high == pytest.approx(scale, rel=1e-6)
    assert found["rows"] == 4 and found["csv_rows"][0].startswith("platelet_scale,3.7,")
    # noise widens the interval around the scale
    rows[0]["value_pct"] = "70"
    noisy = platelet_fit.fit(library, rows)
    assert noisy["interval"][0] < noisy["scale"] < noisy["interval"][1]


def test_refit_writes_the_platelet_rows_and_keeps_the_others(tmp_path):
    from sert_cli.refit import write_platelet_scale

    path = tmp_path / "platelet_model.csv"
    shutil.copy(HERE / "platelet_model.csv", path)
    found = {"scale": 4.0, "csv_rows": ['platelet_scale,4,,fitted,"x"']}
    assert write_platelet_scale(found, path)
    lines = path.read_text().splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert [r["name"] for r in rows] == ["platelet_lifespan_days", "platelet_scale"]
    assert rows[1]["value"] == "4"
    assert not write_platelet_scale({"scale": None, "csv_rows": []}, path)


# --- the outputs -------------------------------------------------------------------------


def test_dose_gives_platelet_occupancy_at_the_exact_and_the_recommended_dose(test_data):
    record = _json("dose", "sertraline")
    exact = _json("occupancy", "sertraline", "--dose", repr(record["dose_mg"]))
    made = _json("occupancy", "sertraline", "--dose", repr(record["recommended_dose_mg"]))
    assert record["platelet_sert_occupancy_at_exact_dose"] == pytest.approx(
        exact["platelet_sert_occupancy"]
    )
    assert record["platelet_sert_occupancy"] == pytest.approx(made["platelet_sert_occupancy"])
    table = invoke("dose", "sertraline")
    basis = r"\(modelled: in vitro K on a fitted scale\)"
    assert re.search(r"platelet SERT at that dose\s+\d+ % " + basis, table.stdout)


def test_occupancy_table_has_one_platelet_line(test_data):
    done = invoke("occupancy", "sertraline", "--dose", "50")
    assert_clean(done, 0)
    lines = [line for line in done.stdout.splitlines() if "platelet" in line]
    assert len(lines) == 1  # one line, its basis
    assert "platelet SERT, modelled (in vitro K on a fitted scale)" in lines[0]


def test_simulate_has_platelet_time_courses_and_a_summary(test_data):
    record = _json("simulate", "escitalopram", "--dose", "10", "--days", "60", "--until", "2400")
    theta = np.array(record["platelet_sert_occupancy"])
    content = np.array(record["platelet_serotonin_fraction"])
    assert theta.shape == content.shape == (len(record["t_h"]),)
    assert content[0] == 1.0 and content.min() < 0.3 and content[-1] > 0.8  # falls, recovers
    summary = record["summary"]
    steady = summary["platelet_serotonin_fraction_steady_state"]
    assert steady == pytest.approx(1 - summary["platelet_sert_occupancy_steady_state"])
    assert 0 < summary["days_to_platelet_serotonin_50pct"] < 20
    assert summary["days_after_last_dose_to_platelet_serotonin_80pct"] > 5
    assert "platelet" not in "".join(record["occupancy"])
    rows = list(
        csv.DictReader(
            io.StringIO(
                invoke("simulate", "escitalopram", "--dose", "10", "--format", "csv").stdout
            )
        )
    )
    assert (
        "platelet_serotonin_fraction" in rows[0]
        and float(rows[0]["platelet_serotonin_fraction"]) == 1
    )
    table = invoke("simulate", "escitalopram", "--dose", "10")
    assert "platelet 5-HT down to 50 % of baseline" in table.stdout
    assert "platelet lifespan of 8 days" in table.stdout


def test_compare_and_table_show_platelet_occupancy(test_data):
    record = _json("compare", "sertraline", "escitalopram")
    alone = _json("occupancy", "sertraline", "--dose", "50")
    assert record["drugs"][0]["platelet_sert_occupancy"] == pytest.approx(
        alone["platelet_sert_occupancy"]
    )
    assert "platelet occupancy (SERT)" in invoke("compare", "sertraline", "escitalopram").stdout
    grid = json.loads(invoke("table", "escitalopram", "--format", "json").stdout)
    assert all(0 < row["platelet_sert_occupancy"] < 1 for row in grid)
    assert "platelet" in invoke("table", "escitalopram").stdout


def test_batch_fields_have_the_platelet_columns(test_data, tmp_path):
    from sert_cli import fields

    names = {f.name for f in fields.catalogue()}
    assert {"platelet_sert_occupancy", "platelet_serotonin_fraction"} <= names
    path = tmp_path / "in.csv"
    path.write_text("drug,dose_mg\nsertraline,50\n")
    done = invoke(
        "batch", str(path), "--fields", "drug,platelet_sert_occupancy,platelet_serotonin_fraction"
    )
    assert_clean(done, 0)
    row = next(csv.DictReader(io.StringIO(done.stdout)))
    alone = _json("occupancy", "sertraline", "--dose", "50")
    assert float(row["platelet_sert_occupancy"]) == pytest.approx(alone["platelet_sert_occupancy"])
    assert float(row["platelet_serotonin_fraction"]) == pytest.approx(
        1 - alone["platelet_sert_occupancy"]
    )


# --- bleeding ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_bleeding_warning_in_every_format(test_data, fmt):
    done = invoke("occupancy", "sertraline", "--dose", "50", "--with", "Advil", "--format", fmt)
    assert_clean(done, 0)
    text = " ".join((done.stdout + done.stderr).split())  # (a table wraps its lines)
    assert "bleeding risk: ibuprofen (an NSAID) with sertraline (an SSRI)" in text
    assert (
        "SSRI + NSAID: OR 4.3 (95 % CI 2.8-6.4) for upper GI bleeding (TEST risk source B)" in text
    )
    assert "sertraline's SERT-affinity class (TEST classification): high, OR 1.5" in text
    assert "platelet SERT occupancy at this dose" in text
    assert "an epidemiological association, not a prediction for this patient" in text


def test_bleeding_warning_with_a_perpetrator_and_in_other_commands(test_data):
    record = _json("occupancy", "sertraline", "--dose", "50", "--with", "plavix")
    said = [w for w in record["warnings"] if w.startswith("bleeding risk")]
    assert len(said) == 1 and "clopidogrel (an antiplatelet)" in said[0]
    assert "no published estimate" in said[0]
    assert any("CYP2B6" in n for n in record["notes"])  # still a perpetrator
    for args in (
        ("dose", "sertraline"),
        ("simulate", "sertraline", "--dose", "50", "--days", "3"),
        ("table", "sertraline"),
    ):
        found = _json(*args, "--with", "coumadin")
        warnings = found["warnings"] if isinstance(found, dict) else None
        if warnings is None:
            continue
        assert any("warfarin (an anticoagulant)" in w and "HR 1.3" in w for w in warnings), args


def test_an_unknown_with_drug_still_behaves_as_before(test_data):
    done = invoke("occupancy", "sertraline", "--dose", "50", "--with", "notadrug")
    assert_clean(done, 2, "no interaction data for it")
    plain = _json("occupancy", "sertraline", "--dose", "50")
    assert not any("bleeding" in w for w in plain["warnings"])


def test_validate_reports_each_platelet_row(test_data):
    result = platelet_fit.validate(load_library())  # (what `validate --table platelets` shows)
    by_study = {r["study"]: r for r in result["rows"]}
    assert result["summary"]["fit"]["rows"] == 2 and result["summary"]["check"]["rows"] == 1
    model = platelets.platelet_model()
    x0 = platelet_fit.in_vitro_load(load_library(), "sertraline", 50)
    theta = (x0 / 2.5) / (1 + x0 / 2.5)
    assert by_study["Test A"]["model_pct"] == pytest.approx(theta * 100)
    assert by_study["Test A"]["in_sample"] and not by_study["Test C"]["in_sample"]
    content = 1 - platelets.content_at(theta, 14 * 24.0, model.tau_h)
    assert by_study["Test C"]["model_pct"] == pytest.approx(content * 100)
    assert by_study["Test D"]["model_pct"] is None and by_study["Test D"]["use"] == "not counted"
    fitted = _json("validate", "--fit", "platelet")
    assert fitted["rows"] == 2 and fitted["studies"] == ["Test A", "Test B"]
    assert fitted["interval"][0] < fitted["scale"] < fitted["interval"][1]
