"""sert as a library: the same queries, engine and results as the command line, for a
notebook or a script.

    from sert_cli.api import DoseQuery, Patient, answer
    answer(DoseQuery("escitalopram", patient=Patient(phenotypes=(("CYP2C19", "PM"),))))

A query is a value (queries/values.py); `answer` gives its result or raises a SertError,
`answer_many` gives a result or the error for each query, in order (a drug's steady-state
queries are computed together, as `sert batch` does). A result's `record()` is exactly
what `--format json` prints. Not medical advice.
"""

from collections.abc import Iterable

from sert_cli.errors import InputError, ModelError, ProfileError, SertError
from sert_cli.pgx.patient import Patient
from sert_cli.profiles.library import Library, load_library
from sert_cli.queries.engine import Engine
from sert_cli.queries.results import (
    DoseResult,
    GridResult,
    OccupancyResult,
    PopulationResult,
    SimulationResult,
    SwitchResult,
    TaperResult,
    TdmResult,
)
from sert_cli.queries.values import (
    DoseQuery,
    GridQuery,
    OccupancyQuery,
    PopulationQuery,
    SimulateQuery,
    SwitchQuery,
    TaperQuery,
    TdmQuery,
)

__all__ = [
    "DoseQuery",
    "DoseResult",
    "GridQuery",
    "GridResult",
    "InputError",
    "Library",
    "ModelError",
    "OccupancyQuery",
    "OccupancyResult",
    "Patient",
    "PopulationQuery",
    "PopulationResult",
    "ProfileError",
    "SertError",
    "SimulateQuery",
    "SimulationResult",
    "SwitchQuery",
    "SwitchResult",
    "TaperQuery",
    "TaperResult",
    "TdmQuery",
    "TdmResult",
    "answer",
    "answer_many",
    "load_library",
    "to_records",
]

_bundled: list[Library] = []  # the bundled profiles, loaded on the first query without one


def _library(library: Library | None) -> Library:
    if library is not None:
        return library
    if not _bundled:
        _bundled.append(load_library())
    return _bundled[0]


def answer(query, library: Library | None = None):
    """One query's result, or its SertError raised (InputError: a wrong value; ModelError:
    a question the model cannot answer). Without a library, the bundled profiles."""
    return Engine(_library(library)).answer(query)


def answer_many(queries: Iterable, library: Library | None = None) -> list:
    """A result or a SertError (returned, not raised) for each query, in order: one bad
    row does not stop the rest. Without a library, the bundled profiles."""
    return Engine(_library(library)).answer_many(queries)


def to_records(results: Iterable) -> list:
    """Each result's `record()` (what `--format json` prints; a grid's is a list of rows),
    an error as {"error": its message, prefixed with the query field it is about}: ready
    for json.dumps or pandas.DataFrame."""
    return [
        {"error": found.worded(str)} if isinstance(found, SertError) else found.record()
        for found in results
    ]
