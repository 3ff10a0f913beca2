"""The library API (sert_cli/api.py) gives the numbers the command line gives: a
result's record is what `--format json` prints, to the last digit."""

import json

import pytest
from conftest import sert_json

from sert_cli import api
from sert_cli.api import (
    DoseQuery,
    InputError,
    OccupancyQuery,
    Patient,
    SertError,
    TaperQuery,
    TdmQuery,
    answer,
    answer_many,
    to_records,
)


def _as_json(record):
    """A record as the command prints it and json reads it back (tuples become lists)."""
    return json.loads(json.dumps(record, allow_nan=False))


def test_occupancy_is_the_command_json():
    record = answer(OccupancyQuery("escitalopram", 10)).record()
    printed = sert_json("occupancy", "escitalopram", "--dose", "10")
    assert _as_json(record) == printed
    assert record["occupancy"]["SERT"] == printed["occupancy"]["SERT"]
    assert record["css_plasma_ng_ml"] == printed["css_plasma_ng_ml"]
    assert 0.7 < record["occupancy"]["SERT"] < 0.9  # the PET range at 10 mg/day


@pytest.mark.parametrize("phenotype", ["PM", "IM", "NM", "RM", "UM"])
def test_doses_by_phenotype_are_the_command_json(phenotype):
    patient = Patient(phenotypes=(("CYP2C19", phenotype),))
    record = answer(DoseQuery("escitalopram", target=0.8, patient=patient)).record()
    printed = sert_json("dose", "escitalopram", "--target", "0.8", "-p", f"CYP2C19={phenotype}")
    assert _as_json(record) == printed
    assert record["dose_mg"] == printed["dose_mg"]
    assert record["recommended_dose_mg"] == printed["recommended_dose_mg"]


def test_answer_many_computes_together_what_answer_gives_alone():
    queries = [
        DoseQuery("escitalopram", patient=Patient(phenotypes=(("CYP2C19", p),)))
        for p in ("PM", "IM", "NM", "RM", "UM")
    ] + [OccupancyQuery("sertraline", 50), OccupancyQuery("escitalopram", 20)]
    together = to_records(answer_many(queries))
    assert together == [answer(q).record() for q in queries]
    # the README's "Use it from Python" numbers
    assert [r["recommended_dose_mg"] for r in together[:5]] == [5.0, 10.0, 15.0, 15.0, 20.0]


def test_tdm_and_taper_are_the_command_json():
    tdm = answer(TdmQuery("sertraline", 100, level_ng_ml=30)).record()
    assert _as_json(tdm) == sert_json("tdm", "sertraline", "--dose", "100", "--level", "30")
    taper = answer(TaperQuery("paroxetine", from_dose_mg=20)).record()
    assert _as_json(taper) == sert_json("taper", "paroxetine", "--from", "20")


def test_errors_come_in_place_and_name_the_query_field():
    found = answer_many([OccupancyQuery("escitalopram", -1), OccupancyQuery("escitalopram", 10)])
    assert isinstance(found[0], InputError) and found[0].field == "dose_mg"
    records = to_records(found)
    assert records[0] == {"error": "dose_mg: must be a positive number of mg (got -1)"}
    assert (
        records[1]["occupancy"]["SERT"]
        == answer(OccupancyQuery("escitalopram", 10)).occupancy["SERT"]
    )
    with pytest.raises(SertError, match="unknown drug 'nodrug'"):
        answer(OccupancyQuery("nodrug", 10))


def test_a_library_can_be_given():
    library = api.load_library()
    assert (
        answer(OccupancyQuery("escitalopram", 10), library).record()
        == answer(OccupancyQuery("escitalopram", 10)).record()
    )


def test_the_api_exports_what_it_says():
    assert {"answer", "answer_many", "load_library", "OccupancyQuery"} <= set(api.__all__)
    for name in api.__all__:
        assert hasattr(api, name), name
