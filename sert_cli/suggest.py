"""'Did you mean' hints, shared by every place that rejects a name."""

from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib

    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[match[0]]}'?" if match else ""
