import pytest

from sert_cli.units import parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "value"),
    [
        ("20 L/h", "flow", 20.0),
        ("600 mL/min", "flow", 36.0),
        ("0.6 L/min", "flow", 36.0),
        ("24 h", "time", 24.0),
        ("1.5 d", "time", 36.0),
        ("324.4 g/mol", "molar_mass", 324.4),
        ("10 mg", "mass", 10.0),
        ("500 ug", "mass", 0.5),
        ("1e-3 g", "mass", 1.0),
        ("1.1 nM", "concentration", 1.1),
        ("0.002 uM", "concentration", 2.0),
        ("5 ng/mL", "concentration", 5.0),
    ],
)
def test_conversions(text, dimension, value):
    assert parse_quantity(text, dimension).value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "dimension", "message"),
    [
        ("20", "flow", "has no unit"),
        (20, "flow", "has no unit"),
        ("20 mg", "flow", "unit of mass, expected flow"),
        ("20 L/hr", "flow", "did you mean 'L/h'"),
        ("20 furlongs", "flow", "unknown unit"),
        ("nan L/h", "flow", "finite"),
        ("inf L/h", "flow", "finite"),
        ("1e400 L/h", "flow", "finite"),
        ("0 L/h", "flow", "greater than 0"),
        ("-3 L/h", "flow", "greater than 0"),
        ("fast", "flow", "cannot read"),
        (True, "flow", "expected a quantity"),
        (None, "flow", "expected a quantity"),
    ],
)
def test_bad_quantities(text, dimension, message):
    with pytest.raises(ValueError, match=message):
        parse_quantity(text, dimension)
