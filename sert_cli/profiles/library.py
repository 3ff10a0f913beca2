"""Reading profiles from disk: safe YAML, file/line for every error, and a small cache.

YAML is parsed with PyYAML's safe loader (the C one when present). Anchors and
aliases are refused (no 'billion laughs'), duplicate keys are errors, and files over
MAX_PROFILE_BYTES are refused before parsing. A file that validated once is cached as
plain JSON keyed by its path and content, so a query does not pay for importing
and running the YAML parser (start-up is a feature; see docs/architecture.md "Start-up").
"""

import json
import os
import stat
from pathlib import Path

from sert_cli import __version__
from sert_cli.errors import InputError, ProfileError
from sert_cli.profiles.schema import Profile, build_profile
from sert_cli.suggest import did_you_mean

MAX_PROFILE_BYTES = 1 << 20
PROFILE_SUFFIXES = (".yaml", ".yml")
_HERE = Path(__file__).resolve().parent
# what builds a cached profile: the schema and the types it builds
_VALIDATOR_FILES = (_HERE / "schema.py", _HERE.parent / "model" / "profile.py")
_VALIDATOR_STAMP = ":".join([__version__, *(str(f.stat().st_mtime_ns) for f in _VALIDATOR_FILES)])


def bundled_profiles_dir() -> Path:
    """Inside the installed wheel; in a source checkout, the repository's drug_profiles/.

    A plain path beside this module rather than importlib.resources: the wheel installs
    unzipped, and the resources machinery costs start-up time on every query."""
    packaged = _HERE.parent / "drug_profiles"
    if packaged.is_dir():
        return packaged
    return _HERE.parent.parent / "drug_profiles"


def parse_yaml(text: str, path: str) -> tuple[object, dict[tuple, int]]:
    """The plain tree of a YAML document and the 1-based line of every key and item."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[tuple, int] = {}
        _check_nodes(node, (), lines, set(), path)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ProfileError(
            f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"invalid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()


def _check_nodes(node, where: tuple, lines: dict, seen: set, path: str) -> None:
    import yaml

    if id(node) in seen:
        raise ProfileError(
            "YAML anchors and aliases are not allowed in profiles",
            path=path,
            line=node.start_mark.line + 1,
            field=".".join(map(str, where)),
        )
    seen.add(id(node))
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        keys_seen: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ProfileError(
                    "keys must be plain text", path=path, line=key_node.start_mark.line + 1
                )
            key = key_node.value
            if key == "<<":
                raise ProfileError(
                    "YAML merge keys ('<<') are not allowed in profiles",
                    path=path,
                    line=key_node.start_mark.line + 1,
                )
            if key in keys_seen:
                raise ProfileError(
                    f"duplicate key '{key}' (first on line {keys_seen[key]})",
                    path=path,
                    line=key_node.start_mark.line + 1,
                    field=".".join(map(str, where + (key,))),
                )
            keys_seen[key] = key_node.start_mark.line + 1
            _check_nodes(value_node, where + (key,), lines, seen, path)
            lines[where + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, where + (index,), lines, seen, path)


def read_profile_text(path: Path) -> str:
    from sert_cli.untrusted import NotAFile, read_at_most

    try:
        raw = read_at_most(str(path), MAX_PROFILE_BYTES)
    except NotAFile as exc:  # a FIFO is refused, not waited on
        raise ProfileError(f"{exc}; a profile is a YAML text file", path=str(path)) from None
    except OSError as exc:
        raise ProfileError(f"cannot read the file: {exc.strerror or exc}", path=str(path)) from None
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"file is larger than {MAX_PROFILE_BYTES >> 20} MiB; a profile is a small text file",
            path=str(path),
        )
    if b"\0" in raw:
        raise ProfileError("this is a binary file, not a YAML text profile", path=str(path))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None


def load_profile_file(path: Path, cache: "ProfileCache | None" = None) -> Profile:
    data, profile = _load_data(path, cache)
    return profile or build_profile(data, str(path))


def _load_data(path: Path, cache: "ProfileCache | None") -> tuple[dict, Profile | None]:
    """A file's validated tree, from the cache when it is unchanged (its Profile is then
    built only when asked for), or parsed and validated now."""
    key = os.path.abspath(path) if cache is not None else ""  # no resolve(): links may loop
    if cache is not None:
        data = cache.get(key, path)
        if data is not None:
            return data, None
    data, lines = parse_yaml(read_profile_text(path), str(path))
    profile = build_profile(data, str(path), lines)
    if cache is not None:
        cache.put(key, path, data)
    return data, profile


class ProfileCache:
    """Validated profile trees as JSON, keyed by path, keyed on the file's content (its
    length and CRC-32) and the validator version. One file per install (named by where the
    package is), so installs sharing a cache folder do not evict each other. The cache is
    the user's own (folder 0700, file 0600); a file another user could have written, or
    one that cannot be read, counts as empty, and it keeps the MAX_ENTRIES files stored
    last (a query that only reads it does not rewrite it)."""

    MAX_ENTRIES = 256

    def __init__(self) -> None:
        import zlib

        self.entries: dict = {}
        self.dirty = False
        base = os.environ.get("SERT_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sert"
        )
        self.usable = os.path.isabs(base)  # no HOME: no cache, never a ./~ folder
        install = zlib.crc32(str(_HERE).encode("utf-8"))
        self.path = Path(base) / f"profiles-{install:08x}.json"
        if not self.usable:
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                info = os.fstat(handle.fileno())
                if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                    return  # written by someone else, or writable by others: not trusted
                stored = json.load(handle)
            if stored.get("stamp") == _VALIDATOR_STAMP and isinstance(stored["entries"], dict):
                self.entries = stored["entries"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.entries = {}

    @staticmethod
    def _signature(path: Path) -> str:
        """The content's length and CRC-32 (zlib, already loaded: no hashing library to
        import at start-up); others cannot write the cache, so this guards against stale
        entries, not forgery."""
        import zlib

        from sert_cli.untrusted import read_at_most

        content = read_at_most(str(path), MAX_PROFILE_BYTES)  # (OSError: not from the cache)
        return f"{len(content)}:{zlib.crc32(content):08x}"

    def get(self, key: str, path: Path):
        entry = self.entries.get(key)
        try:
            if (
                isinstance(entry, dict)
                and entry["signature"] == self._signature(path)
                and isinstance(entry["data"], dict)
                and isinstance(entry["data"].get("name"), str)
            ):
                return entry["data"]
        except (OSError, KeyError, TypeError):
            pass
        return None

    def put(self, key: str, path: Path, data) -> None:
        try:
            self.entries.pop(key, None)
            self.entries[key] = {"signature": self._signature(path), "data": data}
            json.dumps(data, allow_nan=False)  # only plain trees are cached
        except (OSError, TypeError, ValueError):
            self.entries.pop(key, None)
            return
        while len(self.entries) > self.MAX_ENTRIES:
            self.entries.pop(next(iter(self.entries)))
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or not self.usable or os.environ.get("SERT_NO_CACHE"):
            return
        import tempfile

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".profiles-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"stamp": _VALIDATOR_STAMP, "entries": self.entries}, handle)
            os.replace(tmp, self.path)  # mkstemp made it 0600
        except OSError:
            pass  # a cache that cannot be written only costs speed


def profile_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise InputError(f"profiles folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise InputError(f"profiles folder {str(folder)!r} is not a folder")
    try:
        found = sorted(p for p in folder.iterdir() if p.suffix in PROFILE_SUFFIXES)
    except OSError as exc:
        raise InputError(f"cannot list profiles folder {str(folder)!r}: {exc.strerror}") from None
    for path in found:  # a FIFO or a device would hang the read: refuse it first
        try:
            regular = stat.S_ISREG(path.stat().st_mode)
        except OSError as exc:
            raise ProfileError(
                f"cannot read the file: {exc.strerror or exc}", path=str(path)
            ) from None
        if not regular:
            raise ProfileError("not a regular file; a profile is a YAML text file", path=str(path))
    return found


class _Entry:
    __slots__ = ("path", "data", "profile")

    def __init__(self, path: str, data: dict, profile: Profile | None) -> None:
        self.path, self.data, self.profile = path, data, profile

    def build(self) -> Profile:
        """The profile; a cached tree that no longer validates is read from its file."""
        if self.profile is None:
            try:
                self.profile = build_profile(self.data, self.path)
            except ProfileError:
                self.profile = load_profile_file(Path(self.path))
        return self.profile


class Library:
    """All profiles visible to a command: bundled, then the user's folder on top. Profiles
    are built from their (valid) trees when first asked for: a query builds one."""

    def __init__(self, entries: dict[str, _Entry]) -> None:
        self.entries = entries
        self.overrides: dict[str, str] = {}  # name -> the bundled path replaced
        # alias -> (user profile path, bundled profile whose name or alias it takes)
        self.taken_aliases: dict[str, tuple[str, str]] = {}

    @classmethod
    def of(cls, *profiles: Profile) -> "Library":
        """A library of profiles already built (a profile made in a test, say)."""
        return cls({p.name: _Entry(p.path, dict(p.raw), p) for p in profiles})

    def _build(self, name: str) -> Profile:
        return self.entries[name].build()

    @property
    def profiles(self) -> dict[str, Profile]:
        return {name: self._build(name) for name in self.entries}

    def get(self, name: str) -> Profile:
        wanted = name.strip().lower()
        if wanted in self.entries:
            return self._build(wanted)
        for key, entry in self.entries.items():
            if wanted in (str(a).lower() for a in entry.data.get("aliases", [])):
                return self._build(key)
        choices = [
            *self.entries,
            *(str(a) for e in self.entries.values() for a in e.data.get("aliases", [])),
        ]
        raise InputError(
            f"unknown drug '{name}'{did_you_mean(name, choices)} (see 'sert profiles list')"
        )


def load_folder(folder: Path, cache: ProfileCache | None) -> dict[str, _Entry]:
    found: dict[str, _Entry] = {}
    for path in profile_files(folder):
        data, profile = _load_data(path, cache)
        name = data["name"]
        if name in found:
            raise ProfileError(
                f"profile name '{name}' is also used by {found[name].path}",
                path=str(path),
                field="name",
            )
        found[name] = _Entry(str(path), data, profile)
    return found


def load_library(user_dir: str | None = None, use_cache: bool = True) -> Library:
    cache = ProfileCache() if use_cache and not os.environ.get("SERT_NO_CACHE") else None
    try:
        library = _load_library(user_dir, cache)
    except ProfileError:
        if cache is None:
            raise
        # a cached tree that no longer fits (a damaged cache): read every file again
        cache.entries.clear()
        library = _load_library(user_dir, cache)
    if cache is not None:
        cache.save()
    return library


def _load_library(user_dir: str | None, cache: ProfileCache | None) -> Library:
    library = Library(load_folder(bundled_profiles_dir(), cache))
    if user_dir:
        bundled = {
            str(a).lower(): name
            for name, e in library.entries.items()
            for a in (name, *e.data.get("aliases", []))
        }
        for name, entry in load_folder(Path(user_dir).expanduser(), cache).items():
            if name in library.entries:
                library.overrides[name] = library.entries[name].path
            for alias in entry.data.get("aliases", []):
                owner = bundled.get(str(alias).lower())
                if owner is not None and owner != name:
                    library.taken_aliases[str(alias)] = (entry.path, owner)
            library.entries[name] = entry
    return library
