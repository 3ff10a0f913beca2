"""CSV, the one encoder of every command and of batch: a row per record; an object spread
over columns parent_key (`occupancy_SERT`) unless the field catalogue keeps it in one cell
(sert_cli/fields.py); a list, and such an object, as JSON text; booleans `true`/`false`;
null as an empty cell. Text a spreadsheet would run as a formula gets a leading `'`.
"""

import csv
import io
import json
import re

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A cell that begins like a formula but is a number is left as it is ("-0.5").
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
_FORMULA_START = re.compile(r"(?:^|\n)[=+\-@\t\r]")
LINE_END = "\n"


def flatten(record: dict, prefix: str = "") -> dict:
    """Column name -> value (not yet text) of a record, in record order: an object spreads
    over columns parent_key, except one the field catalogue keeps in one cell."""
    from sert_cli.fields import one_cell

    flat: dict = {}
    for key, value in record.items():
        name = prefix + str(key)
        if isinstance(value, dict) and not one_cell(name):
            flat.update(flatten(value, name + "_"))
        else:
            flat[name] = value
    return flat


def cell(value) -> str:
    """One value's text: numbers as Python writes them in full, JSON text for lists and
    objects, true/false, "" for null, formula-safe text."""
    kind = type(value)
    if kind is str:
        return safe_text(value)
    if kind is float or kind is int:
        return repr(value)
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def text_column(values: list) -> list[str]:
    """cell() of each value of a column, a column at a time: numbers, texts and flags (and
    nulls among them) without a call per value; a list encoded once per distinct list of
    the column (warnings repeat row after row)."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds <= {float}:
        return ["" if v is None else repr(v) for v in values]
    if kinds == {str}:
        return safe_column(["" if v is None else v for v in values])
    if kinds == {bool}:
        return ["" if v is None else "true" if v else "false" for v in values]
    texts, encoded = [], {}
    for value in values:
        if type(value) is list:
            try:
                key = tuple(value)
                text = encoded.get(key)
                if text is None:
                    text = encoded[key] = cell(value)
            except TypeError:  # (items that are objects)
                text = cell(value)
            texts.append(text)
        else:
            texts.append(cell(value))
    return texts


def safe_text(text: str) -> str:
    if text.startswith(FORMULA_PREFIXES) and not _NUMBER.match(text):
        return "'" + text
    return text


def safe_column(texts: list[str]) -> list[str]:
    """A column of texts from the input, formula-safe (one search over the column where,
    as almost always, no cell needs it)."""
    if _FORMULA_START.search("\n".join(texts)) is None:
        return texts
    return list(map(safe_text, texts))


def writer(stream):
    """The csv module's writer as every sert CSV is written (minimal quoting, \\n lines)."""
    return csv.writer(stream, lineterminator=LINE_END)


def render(records: list[dict]) -> str:
    rows = [flatten(r) for r in records]
    header: dict[str, None] = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    out = io.StringIO()
    write = writer(out)
    write.writerow(header)
    write.writerows([cell(row.get(name)) for name in header] for row in rows)
    return out.getvalue()
