"""CSV: one row per record, nested fields flattened as parent_child, lists joined by '; '."""

import csv
import io

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def flatten(record: dict, prefix: str = "") -> dict:
    flat: dict = {}
    for key, value in record.items():
        name = prefix + str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name + "_"))
        elif isinstance(value, list):
            flat[name] = "; ".join(map(item_text, value))
        else:
            flat[name] = "" if value is None else value
    return flat


def item_text(item) -> str:
    """A list item in one cell: a record as key=value pairs."""
    if isinstance(item, dict):
        return ", ".join([f"{k}={x}" for k, x in item.items()])
    return str(item)


def safe_cell(value):
    """Text that a spreadsheet would run as a formula is prefixed with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def render(records: list[dict]) -> str:
    rows = [flatten(r) for r in records]
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: safe_cell(v) for k, v in row.items()})
    return out.getvalue()
