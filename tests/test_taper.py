"""`sert taper` (issue 13): equal steps of SERT occupancy, or NICE's proportional steps."""

from itertools import pairwise

import pytest
from conftest import sert, sert_json

FORMULATION_KINDS = {"tablet", "split tablet", "liquid", "compounded"}


@pytest.fixture(scope="module")
def escitalopram():
    return sert_json("taper", "escitalopram", "--from", "20", "--step", "10")


def test_escitalopram_from_20_mg_in_10_point_steps(escitalopram):
    steps = escitalopram["steps"]
    doses = [s["dose_mg"] for s in steps]
    sert_occupancy = [s["occupancy"]["SERT"] for s in steps]
    decrements = [a - b for a, b in pairwise(doses)]
    assert all(a > b for a, b in pairwise(doses))
    assert all(abs((a - b) * 100 - 10) <= 2 for a, b in pairwise(sert_occupancy))
    assert all(a > b for a, b in pairwise(decrements))
    assert min(doses) < 5
    assert all(s["formulation"]["kind"] in FORMULATION_KINDS for s in steps)
    assert all(s["formulation"]["description"] for s in steps)
    assert escitalopram["step_pp"] == 10


def test_each_step_is_what_sert_occupancy_gives_at_its_dose(escitalopram):
    for s in escitalopram["steps"][1:4]:
        single = sert_json("occupancy", "escitalopram", repr(s["dose_mg"]))
        assert single["occupancy"]["SERT"] == pytest.approx(s["occupancy"]["SERT"], abs=1e-9)


def test_steps_follow_each_other_day_by_day(escitalopram):
    steps = escitalopram["steps"]
    assert steps[0]["start_day"] == 0
    for before, after in pairwise(steps):
        assert after["start_day"] == before["start_day"] + before["duration_days"]
    assert 14 <= steps[0]["duration_days"] <= 28


def test_a_tablet_step_is_made_by_the_tablets_it_names(escitalopram):
    first = escitalopram["steps"][0]
    assert first["formulation"] == {"kind": "tablet", "description": "20 mg tablet"}


def test_the_liquid_gives_the_volume_of_the_exact_dose():
    steps = sert_json("taper", "escitalopram", "--from", "10", "--liquid")["steps"]
    for s in steps:
        assert s["formulation"]["kind"] in {"liquid", "compounded"}
        if s["formulation"]["kind"] == "liquid":
            volume_ml = float(s["formulation"]["description"].split(" mL")[0])
            assert volume_ml == pytest.approx(s["dose_mg"] / 1.0, abs=0.006)


def test_nice_proportional_steps():
    out = sert_json("taper", "sertraline", "--from", "100", "--fraction", "0.25")
    doses = [s["dose_mg"] for s in out["steps"]]
    assert out["fraction"] == 0.25 and "step_pp" not in out
    assert all(b == pytest.approx(a * 0.75) for a, b in pairwise(doses))
    assert out["steps"][-1]["occupancy"]["SERT"] < 0.05 <= out["steps"][-2]["occupancy"]["SERT"]


def test_a_step_is_never_shorter_than_five_half_lives():
    # norfluoxetine's half-life is days: two weeks would not let a step settle
    out = sert_json("taper", "fluoxetine", "--from", "20", "--weeks", "2")
    assert out["steps"][0]["duration_days"] >= 5 * 4
    assert any("half-lives" in n for n in out["notes"])


def test_a_poor_metabolizer_tapers_from_their_own_occupancy(escitalopram):
    pm = sert_json("taper", "escitalopram", "--from", "20", "--phenotype", "CYP2C19=PM")
    assert pm["steps"][0]["occupancy"]["SERT"] > escitalopram["steps"][0]["occupancy"]["SERT"]
    # the same occupancy steps need lower doses in a poor metabolizer
    assert pm["steps"][2]["dose_mg"] < escitalopram["steps"][2]["dose_mg"]


def test_compounding_is_warned_where_no_liquid_is_marketed():
    out = sert_json("taper", "duloxetine", "--from", "60")
    assert any(s["formulation"]["kind"] == "compounded" for s in out["steps"])
    assert any("compound" in w for w in out["warnings"])


def test_the_table_and_csv():
    table = sert("taper", "escitalopram", "--from", "20")
    assert table.returncode == 0 and "how to take it" in table.stdout
    csv = sert("taper", "escitalopram", "--from", "20", "--format", "csv")
    header = csv.stdout.splitlines()[0].split(",")
    assert {"step", "dose_mg", "occupancy_SERT", "formulation_kind"} <= set(header)


@pytest.mark.parametrize(
    "args",
    [
        ("--step", "50"),
        ("--step", "5", "--fraction", "0.2"),
        ("--fraction", "0.9"),
        ("--weeks", "0"),
    ],
)
def test_nonsense_is_refused(args):
    done = sert("taper", "escitalopram", "--from", "20", *args)
    assert done.returncode == 2 and done.stderr.startswith("sert: error: --")
