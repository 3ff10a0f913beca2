"""What a calculation did, recorded as it does it: each step's formula, the numbers that
went in and came out, and where the formula or the numbers come from.

`--explain` and the "Assumed:" line are renderings of these records, so they cannot
disagree with the result. A step computed for many doses at once holds arrays; `at(i)`
gives one query's step.
"""

from typing import NamedTuple


class Step(NamedTuple):
    name: str
    formula: str
    values: tuple[tuple[str, object, str], ...]  # (symbol, number, array or text, unit)
    source: str
    # what the "Assumed:" line says of this step, if anything (an array over a group's
    # rows where it quotes their numbers)
    assumes: object = ""
    kind: str = ""  # what made it, where a renderer picks steps by it ("patient factor")

    def at(self, index: int) -> "Step":
        if not any(hasattr(v, "shape") for _, v, _ in self.values):
            return self
        return self._replace(
            values=tuple(
                (s, v[index].item() if hasattr(v, "shape") else v, u) for s, v, u in self.values
            ),
            assumes=self.assumes[index].item() if hasattr(self.assumes, "shape") else self.assumes,
        )

    def numbers(self) -> str:
        return ", ".join(f"{s} = {_text(v)}{' ' + u if u else ''}" for s, v, u in self.values)

    def record(self) -> dict:
        return {
            "step": self.name,
            "formula": self.formula,
            "values": {s: v for s, v, _ in self.values},
            "units": {s: u for s, _, u in self.values if u},
            "numbers": self.numbers(),
            "source": self.source,
            **({"assumes": self.assumes} if self.assumes else {}),
        }


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def model_section(number: int) -> str:
    return f"docs/model.md section {number}"


class Note(str):
    """A note as a record keeps it (its whole text, the source in parentheses) that also
    knows its short form without the source: what a table shows unless --explain asks,
    and that form's parts (a note that joins several assumptions keeps each one, so that a
    line of notes says each once without reading their text)."""

    def __new__(
        cls,
        text: str,
        source: str = "",
        tail: str = "",
        short: str | None = None,
        parts: tuple[str, ...] | None = None,
    ) -> "Note":
        """short: the table's form (None: the text without its source; "": only with
        --explain); parts: the short form's parts (None: the short form whole, or none
        where it is empty); the short form is then its parts joined by "; "."""
        note = super().__new__(cls, f"{text} ({source}){tail}" if source else text + tail)
        if parts is not None:
            parts = tuple(p for p in parts if p)
            short = "; ".join(parts)
        note.short = text + tail if short is None else short
        note.parts = parts if parts is not None else ((note.short,) if note.short else ())
        return note


def note_parts(note) -> tuple[str, ...]:
    """A note's short parts; a plain string is one part."""
    return note.parts if isinstance(note, Note) else ((note,) if note else ())
