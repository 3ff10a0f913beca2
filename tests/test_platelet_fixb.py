"""Issue 28, the reviewer's findings 4, 5, 6, 8 and 9 (docs/model.md section 20): the dose
record's platelet occupancy at the recommended dose, the patient's platelet numbers on the
table screens, honest evidence words, simulate's window words, and the data flags. These
read the shipped data (no platelet scale is fitted: s_plt = 1)."""

import csv
import io
import json

import pytest
from test_hostile import assert_clean, invoke

from sert_cli import datafiles, fields

# nortriptyline (NM): Kd 18 nM at SERT (its profile); at 115 mg/day, the dose the marketed
# strengths make for 80 % SERT (held by the reference range), Cu,plasma 43.914 nM:
# x = 43.914 / 18 = 2.4397, theta_plt = x / (1 + x) = 0.7093
NORTRIPTYLINE_K_NM = 18.0


def _json(*args):
    done = invoke(*args, "--format", "json")
    assert_clean(done, 0)
    return json.loads(done.stdout)


# --- 4: the dose record's platelet occupancy is at the recommended dose ------------------


def test_dose_platelet_occupancy_is_at_the_recommended_dose():
    record = _json("dose", "nortriptyline")
    assert record["recommended_dose_mg"] == 115.0
    assert record["dose_mg"] == pytest.approx(701.2, 1e-3)
    made = _json("occupancy", "nortriptyline", "--dose", "115")
    x = made["cu_plasma_nm"] / NORTRIPTYLINE_K_NM
    assert made["platelet_sert_occupancy"] == pytest.approx(x / (1 + x), 1e-9)
    assert record["platelet_sert_occupancy"] == pytest.approx(0.7093, abs=1e-4)
    assert record["platelet_sert_occupancy"] == pytest.approx(made["platelet_sert_occupancy"])
    exact = _json("occupancy", "nortriptyline", "--dose", repr(record["dose_mg"]))
    assert record["platelet_sert_occupancy_at_exact_dose"] == pytest.approx(0.9370, abs=1e-4)
    assert record["platelet_sert_occupancy_at_exact_dose"] == pytest.approx(
        exact["platelet_sert_occupancy"]
    )
    assert "platelet_sert_occupancy_at_recommended" not in record  # one name, one meaning


def test_dose_platelet_occupancy_is_empty_where_no_dose_is_recommended():
    record = _json("dose", "nortriptyline", "-p", "CYP2D6=UM")  # CPIC: avoid
    assert record["recommended_dose_mg"] is None
    assert record["platelet_sert_occupancy"] is None
    assert record["platelet_sert_occupancy_at_exact_dose"] == pytest.approx(0.9370, abs=1e-4)


def test_batch_key_columns_have_the_platelet_occupancy(tmp_path):
    assert "platelet_sert_occupancy" in {f.name for f in fields.catalogue() if f.key}
    path = tmp_path / "q.csv"
    path.write_text("drug,dose_mg\nnortriptyline,\nnortriptyline,115\n")
    done = invoke("batch", str(path))
    assert_clean(done, 0)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["query"] for r in rows] == ["dose", "occupancy"]
    assert float(rows[0]["platelet_sert_occupancy"]) == pytest.approx(0.7093, abs=1e-4)
    assert float(rows[1]["platelet_sert_occupancy"]) == pytest.approx(0.7093, abs=1e-4)
    assert "platelet_sert_occupancy_at_exact_dose" not in rows[0]  # not a key column


def test_fields_doc_names_the_exact_dose_field():
    text = (datafiles.DATA.parent.parent / "docs" / "fields.md").read_text()
    assert text == fields.markdown()  # regenerated
    assert "`platelet_sert_occupancy_at_exact_dose`" in text
    row = next(line for line in text.splitlines() if "`platelet_sert_occupancy` |" in line)
    assert "| yes |" in row and "recommended_dose_mg" in row


# --- 5 and 6: the screens show the patient's platelet numbers, said as modelled ----------

LABEL = "platelet SERT, modelled (in vitro K, unbound plasma)"


def _screen(*args) -> str:
    """A table screen's stdout with Rich's line wrapping undone."""
    done = invoke(*args)
    assert_clean(done, 0)
    return " ".join(done.stdout.split())


def _platelet_line(text: str) -> str:
    start = text.index(LABEL)
    return text[start : text.index(".", start + len(LABEL))]


def test_table_platelet_line_is_the_patient_s():
    # paroxetine 20 mg: CYP2D6 PM 0.9779 (98 %), NM 0.9503 (95 %), as `occupancy` gives them
    pm = _json("occupancy", "paroxetine", "--dose", "20", "-p", "CYP2D6=PM")
    nm = _json("occupancy", "paroxetine", "--dose", "20")
    assert pm["platelet_sert_occupancy"] == pytest.approx(0.9779, abs=1e-4)
    assert nm["platelet_sert_occupancy"] == pytest.approx(0.9503, abs=1e-4)
    text = _screen("table", "paroxetine", "-p", "CYP2D6=PM")
    assert text.count(LABEL) == 1
    line = _platelet_line(text)
    assert line.startswith(f"{LABEL}, %, this patient (CYP2D6 PM): 20 mg 98, ")
    assert "(NM)" not in line
    text = _screen("table", "paroxetine", "--with", "bupropion")  # phenoconverted: as PM
    assert _platelet_line(text).startswith(
        f"{LABEL}, %, this patient (no phenotype given, with bupropion): 20 mg 98, "
    )
    text = _screen("table", "paroxetine")  # no patient: the NM column's, named
    assert _platelet_line(text).startswith(f"{LABEL}, %, CYP2D6 NM: 20 mg 95, ")


def test_one_dose_table_names_the_patient_s_platelet_number():
    text = _screen("table", "paroxetine", "--doses", "20", "-p", "CYP2D6=PM")
    assert _platelet_line(text) == f"{LABEL}, %: CYP2D6 NM 95, this patient (CYP2D6 PM) 98"


def test_occupancy_and_dose_screens_say_modelled_once():
    text = _screen("occupancy", "paroxetine", "--dose", "20")
    assert text.count("platelet") == 1 and f"{LABEL}: 95 %." in text
    text = _screen("dose", "nortriptyline")
    assert text.count("platelet") == 1
    assert "platelet SERT at that dose 71 % (modelled: in vitro K, unbound plasma)" in text
    assert "(in vitro K)" not in text
