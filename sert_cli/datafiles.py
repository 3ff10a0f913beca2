"""The CSV data shipped in sert_cli/data/: '#' lines say where the data come from."""

import csv
import functools
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def read_table(name: str) -> tuple[tuple[str, ...], tuple[dict, ...]]:
    """(the '#' comment lines, the rows as dicts) of a data file, by path under data/."""
    with open(DATA / name, encoding="utf-8", newline="") as handle:
        lines = handle.readlines()
    comments = tuple(line[1:].strip() for line in lines if line.startswith("#"))
    rows = tuple(csv.DictReader(line for line in lines if not line.startswith("#")))
    return comments, rows
