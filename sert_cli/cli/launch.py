"""The `sert` program's entry point (the console script and `python -m sert_cli`).

A single query is a short process that allocates many objects while it loads and makes
few cycles: the cyclic collector waits until the app is built (`app.main` then freezes
what exists and turns it back on), which saves about a sixth of a query's time. Importing
sert_cli as a library leaves the collector alone.
"""

import gc

gc.disable()

from sert_cli.cli.app import main  # noqa: E402

__all__ = ["main"]
