"""A group's values: one float for a single query (which needs no numpy), numpy arrays
for more, and the steady state's arrays as lists so that a row's values are picked
without numpy. Shared by the engine's groups and the workflows that compute over doses."""

from sert_cli.pk.steady_state import SteadyState


def vector(values: list[float]):
    """One value stays a float (a single query needs no numpy); more become an array."""
    if len(values) == 1:
        return values[0]
    import numpy as np

    return np.array(values)


def as_lists(state: SteadyState) -> SteadyState:
    """A group's arrays as lists: a row's values are then picked without numpy."""

    def plain(value):
        return value.tolist() if hasattr(value, "tolist") else value

    return state._replace(
        levels=tuple(
            lv._replace(**{f: plain(getattr(lv, f)) for f in lv._fields[1:]}) for lv in state.levels
        ),
        loads={t: plain(v) for t, v in state.loads.items()},
        occupancy={t: plain(v) for t, v in state.occupancy.items()},
        shares={t: {m: plain(v) for m, v in s.items()} for t, s in state.shares.items()},
        time_to_steady_state_h={f: plain(v) for f, v in state.time_to_steady_state_h.items()},
    )
