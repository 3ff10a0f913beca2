"""Quantities written as strings with units ("20 L/h", "1.1 nM"), converted to the one
internal unit of their dimension: mg, h, L/h, L, g/mol, nM (molar) or ng/mL (mass).
"""

import math
import re
from typing import NamedTuple

from sert_cli.suggest import did_you_mean

# dimension -> {unit spelling: factor to the internal unit}
UNITS: dict[str, dict[str, float]] = {
    "mass": {"mg": 1.0, "g": 1e3, "ug": 1e-3, "µg": 1e-3, "mcg": 1e-3, "ng": 1e-6},
    "time": {
        "h": 1.0,
        "hr": 1.0,
        "min": 1 / 60,
        "s": 1 / 3600,
        "d": 24.0,
        "day": 24.0,
        "days": 24.0,
        "week": 168.0,
        "weeks": 168.0,
    },
    "flow": {"L/h": 1.0, "mL/min": 0.06, "L/min": 60.0, "mL/h": 1e-3, "L/day": 1 / 24},
    "volume": {"L": 1.0, "mL": 1e-3},
    "rate": {"/h": 1.0, "1/h": 1.0, "h-1": 1.0, "/min": 60.0, "1/min": 60.0, "/d": 1 / 24},
    "mass_rate": {"mg/h": 1.0, "mg/day": 1 / 24, "mg/d": 1 / 24, "ug/h": 1e-3},
    "molar_mass": {"g/mol": 1.0, "Da": 1.0},
    "molar_concentration": {
        "nM": 1.0,
        "pM": 1e-3,
        "uM": 1e3,
        "µM": 1e3,
        "mM": 1e6,
        "nmol/L": 1.0,
        "umol/L": 1e3,
        "µmol/L": 1e3,
        "pmol/L": 1e-3,
    },
    "mass_concentration": {
        "ng/mL": 1.0,
        "ug/L": 1.0,
        "µg/L": 1.0,
        "mg/L": 1e3,
        "mg/mL": 1e6,
        "ug/mL": 1e3,
        "µg/mL": 1e3,
        "ng/L": 1e-3,
    },
}
EXAMPLES = {
    "mass": "10 mg",
    "time": "24 h",
    "flow": "20 L/h",
    "volume": "1100 L",
    "rate": "0.5 /h",
    "mass_rate": "2 mg/h",
    "molar_mass": "324.4 g/mol",
    "molar_concentration": "1.1 nM",
    "mass_concentration": "5 ng/mL",
    "concentration": "1.1 nM or 5 ng/mL",
}
_UNIT_DIMENSION = {unit: dim for dim, table in UNITS.items() for unit in table}
_QUANTITY = re.compile(
    r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity))\s*(\S.*?)?\s*$",
    re.IGNORECASE,
)


class Quantity(NamedTuple):
    value: float  # in the dimension's internal unit (module docstring)
    dimension: str


def parse_quantity(text: object, expected: str) -> Quantity:
    """Parse '20 L/h' into the internal unit of `expected` ('concentration' takes either
    molar or mass units). Raises ValueError with a message fit for the user."""
    example = EXAMPLES[expected]
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"expected a quantity with a unit such as '{example}'")
    if isinstance(text, float):
        check_positive_finite(text)
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"cannot read {text!r} as a quantity such as '{example}'")
    number, unit = match.groups()
    if not unit:
        raise ValueError(f"{text!r} has no unit; write it as '{example}'")
    dimension = _UNIT_DIMENSION.get(unit)
    if dimension is None:
        raise ValueError(f"unknown unit '{unit}'{did_you_mean(unit, _UNIT_DIMENSION)}")
    wanted = {"concentration": ("molar_concentration", "mass_concentration")}.get(
        expected, (expected,)
    )
    if dimension not in wanted:
        raise ValueError(
            f"'{unit}' is a unit of {dimension.replace('_', ' ')}, "
            f"expected {expected.replace('_', ' ')} such as '{example}'"
        )
    value = float(number) * UNITS[dimension][unit]
    check_positive_finite(value)
    return Quantity(value, dimension)


def check_positive_finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number (got {value})")
    if value <= 0:
        raise ValueError(f"must be greater than 0 (got {value:g})")
    return value


def ng_ml_to_nm(conc_ng_ml, molar_mass_g_mol):
    """C[nM] = C[ng/mL] / MW[g/mol] * 1000 (model.md section 1)."""
    return conc_ng_ml / molar_mass_g_mol * 1000.0


def nm_to_ng_ml(conc_nm, molar_mass_g_mol):
    return conc_nm * molar_mass_g_mol / 1000.0


def mg_l_to_ng_ml(conc_mg_l):
    """1 mg/L = 1000 ng/mL."""
    return conc_mg_l * 1000.0


_PLAIN_NUMBER = re.compile(
    r"\s*[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\s*\Z", re.IGNORECASE
)
# What a plain number means where a cell or option may also carry a unit.
PLAIN_UNIT = {"mass": "mg", "time": "h", "concentration": "ng/mL", "crcl": "mL/min"}


def read_amount(value, dimension: str | None) -> tuple[float, str | None]:
    """(number, dimension) of a cell or option value: a number as it is (in the unit
    PLAIN_UNIT gives), or text with a unit of `dimension` converted to the internal unit
    ('0.01 g' -> 10 mg; '117 nmol/L' -> 117, molar); 'crcl' takes a flow, in mL/min.
    Raises ValueError with a message fit for the user."""
    plain = {"concentration": "mass_concentration"}.get(dimension, dimension)
    if isinstance(value, bool):
        raise ValueError(f"{'true' if value else 'false'} is not a number")
    if isinstance(value, (int, float)):
        try:
            return float(value), plain
        except OverflowError:
            raise ValueError(f"{str(value)[:20]}... is too large a number") from None
    text = str(value).strip()
    if _PLAIN_NUMBER.match(text):
        return float(text), plain
    if dimension is None:
        raise ValueError(f"{text!r} is not a number")
    if dimension == "crcl":
        match = _QUANTITY.match(text)
        if match and match[2] == "mL/min":  # as written: no round trip through L/h
            return check_positive_finite(float(match[1])), "crcl"
        return parse_quantity(text, "flow").value / UNITS["flow"]["mL/min"], "crcl"
    quantity = parse_quantity(text, dimension)
    return quantity.value, quantity.dimension


def percent(fraction: float, places: int = 0) -> str:
    """A fraction as every output writes a percentage: '80 %', '66.8 %' (a space, as SI
    and ISO 80000 write it). A fraction that is not 0 never reads 0: it takes the digits it
    needs ('0.01 %'), down to '< 0.0001 %'."""
    value = fraction * 100
    text = f"{value:.{places}f}"
    if value and not float(text):
        text = f"{value:.1g}" if abs(value) >= 1e-4 else "< 0.0001" if value > 0 else "> -0.0001"
    return f"{text} %"


def level_ng_ml(value, molar_mass_g_mol) -> float:
    """A plasma level in ng/mL: a number (ng/mL), a mass concentration, or a molar one
    ('117 nmol/L') through the drug's molar mass, asked for (molar_mass_g_mol()) only then.
    The one conversion `sert tdm --level` and batch's level_ng_ml cells share."""
    amount, dimension = read_amount(value, "concentration")
    if dimension == "molar_concentration":
        return nm_to_ng_ml(amount, molar_mass_g_mol())
    return amount
