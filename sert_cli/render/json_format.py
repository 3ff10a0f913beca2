"""JSON: full precision, no NaN, keys in the documented order."""

import json


def render(value) -> str:
    return json.dumps(value, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
