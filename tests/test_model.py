"""Every formula against hand-computed values (model.md's worked example and others)."""

import math

import pytest

from sert_cli.model import formulas
from sert_cli.units import mg_l_to_ng_ml, ng_ml_to_nm, nm_to_ng_ml


def test_worked_example_concentrations():
    css = formulas.css_mg_l(10, 20, 24)
    assert css == pytest.approx(0.0208333, rel=1e-5)
    assert mg_l_to_ng_ml(css) == pytest.approx(20.8333, rel=1e-5)
    css_nm = ng_ml_to_nm(mg_l_to_ng_ml(css), 300)
    assert css_nm == pytest.approx(69.444, rel=1e-5)
    cu_brain = formulas.brain_unbound_concentration(
        formulas.unbound_concentration(css_nm, 0.5), 1.0
    )
    assert cu_brain == pytest.approx(34.722, rel=1e-5)
    assert formulas.occupancy_from_load(cu_brain / 2) == pytest.approx(0.94554, abs=5e-6)


def test_worked_example_inverse():
    load = formulas.load_for_occupancy(0.8)
    assert load == pytest.approx(4.0)  # 80 % -> C* = 4 K
    c_star_nm = load * 2  # 8 nM
    cp_nm = c_star_nm / (0.5 * 1.0)  # 16 nM
    cp_ng_ml = nm_to_ng_ml(cp_nm, 300)
    assert cp_ng_ml == pytest.approx(4.8)
    assert cp_ng_ml / 1000 * 20 * 24 == pytest.approx(2.304)


def test_clearance_and_bioavailability_give_apparent_clearance():
    assert formulas.apparent_clearance_l_h(16.0, 0.8) == pytest.approx(20.0)


def test_competition_of_two_ligands():
    # parent C/K = 1, metabolite C/K = 3 -> total 4/5, shares 1/5 and 3/5
    assert formulas.occupancy_from_load(4.0) == pytest.approx(0.8)
    assert formulas.ligand_share(1.0, 4.0) == pytest.approx(0.2)
    assert formulas.ligand_share(3.0, 4.0) == pytest.approx(0.6)


def test_time_to_95_percent_is_4_32_half_lives():
    t = formulas.time_to_steady_state_fraction_h(10.0, 0.95)
    assert t == pytest.approx(10 * math.log(20) / math.log(2))
    assert t / 10 == pytest.approx(4.32, abs=0.005)


def test_formulas_take_numpy_arrays():
    np = pytest.importorskip("numpy")
    doses = np.array([5.0, 10.0, 20.0])
    css = formulas.css_mg_l(doses, 20.0, 24.0)
    assert css.tolist() == pytest.approx([formulas.css_mg_l(d, 20.0, 24.0) for d in doses])
