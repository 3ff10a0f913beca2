"""How well each shipped number is sourced: `sert profiles check --sources`.

Every source text in the bundled profiles (their `sources:` entries) and in the data
files (a `source` column, and a `status` column where the file has one) is counted as
one of:
- unverified: the data mark it so (status 'unverified', or the word UNVERIFIED): shown,
  never fitted or relied on;
- secondary: read in a copy, not at the primary source (the word SECONDARY, the data's
  convention for it);
- derived: computed by sert or assumed (DERIVED, FITTED, ESTIMATED, EXTRAPOLATED,
  ASSUMED, COMPUTED first in the text, or those words or 'assumption' anywhere in a text
  not marked SECONDARY): its inputs carry their own sources;
- primary: read at the label, SmPC or paper it cites.
The markers are the data files' documented convention, so the counts are only as good
as the marking; the README states the totals.
"""

from dataclasses import dataclass
from pathlib import Path

from sert_cli.datafiles import DATA, read_table

KINDS = ("primary", "secondary", "derived", "unverified")
DERIVED_MARKS = ("DERIVED", "FITTED", "ESTIMATED", "EXTRAPOLATED", "ASSUMED", "COMPUTED")
# the same in running text: an assumption or a computation, not a reading
DERIVED_WORDS = ("assumed", "assumption", "computed", "derived")


@dataclass(frozen=True)
class SourceCounts:
    file: str
    primary: int
    secondary: int
    derived: int
    unverified: int

    @property
    def total(self) -> int:
        return self.primary + self.secondary + self.derived + self.unverified


def kind_of(source: str, status: str = "") -> str:
    """The kind of one source text (its first word decides where it names one: a value
    DERIVED from secondary inputs is derived; its inputs are counted where they stand)."""
    if status == "unverified" or "UNVERIFIED" in source:
        return "unverified"
    if source.lstrip().startswith(DERIVED_MARKS):
        return "derived"
    if "SECONDARY" in source:
        return "secondary"
    lowered = source.lower()
    if any(mark in source for mark in DERIVED_MARKS) or any(w in lowered for w in DERIVED_WORDS):
        return "derived"
    return "primary"


def _counts(file: str, kinds: list[str]) -> SourceCounts:
    return SourceCounts(file, *(kinds.count(k) for k in KINDS))


def data_file_counts() -> list[SourceCounts]:
    """One count per shipped data file with a source column."""
    results = []
    for path in sorted(DATA.rglob("*.csv")):
        name = str(path.relative_to(DATA))
        rows = read_table(name)[1]
        if not rows or "source" not in rows[0]:
            continue
        results.append(
            _counts(
                f"sert_cli/data/{name}",
                [kind_of(r["source"] or "", r.get("status") or "") for r in rows],
            )
        )
    return results


def profile_counts(path: Path, sources: tuple[tuple[str, str], ...]) -> SourceCounts:
    return _counts(str(path), [kind_of(text) for _, text in sources])
