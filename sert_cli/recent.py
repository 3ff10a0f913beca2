"""A bounded memory of what was made most recently: the engine's prepared patients and
batch's parsed ones. Least recently used first out; never cleared wholesale."""

from collections import OrderedDict
from collections.abc import Callable, Hashable

from sert_cli.errors import SertError, held


class Recent(OrderedDict):
    """Key -> what `make` made of it (or the SertError it raised, kept too: a bad patient
    is as bad the next time), for the `limit` keys used most recently."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def made(self, key: Hashable, make: Callable[[], object]):
        """What was made for the key (made now if it is not kept); its error raised."""
        found = self.get(key)
        if found is None:
            try:
                found = make()
            except SertError as exc:
                found = held(exc)  # (see errors.held)
            self[key] = found
            if len(self) > self.limit:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        if isinstance(found, SertError):
            raise held(found)
        return found
