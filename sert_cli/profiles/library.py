"""Reading profiles from disk: safe YAML, file/line for every error, and a small cache.

YAML is parsed with PyYAML's safe loader (the C one when present). Only regular files
are read (a FIFO, a device or a folder is refused before it is read from), files over
MAX_PROFILE_BYTES are refused before parsing, and a document nested deeper than
MAX_NESTING or holding more than MAX_NODES keys and values is refused from the parser's
events, before anything is built. Anchors and aliases are refused (no 'billion laughs'),
and duplicate keys are errors (the schema escapes control characters in the text it
reads: no terminal escape from a profile reaches a screen). A file is read once: the
bytes parsed are the bytes its cache entry is keyed on. A file that validated once is
cached as plain JSON keyed by its path and content, so a query does not pay for importing
and running the YAML parser (start-up is a feature; see docs/architecture.md "Start-up").
"""

import contextlib
import json
import os
import stat
from pathlib import Path

from sert_cli import __version__
from sert_cli.errors import InputError, ProfileError
from sert_cli.profiles.schema import NAME_PATTERN, Profile, build_profile
from sert_cli.suggest import did_you_mean

MAX_PROFILE_BYTES = 1 << 20
# a bundled profile nests 5 deep and holds about 200 keys and values
MAX_NESTING = 20
MAX_NODES = 10_000
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
    try:
        _check_shape(loader_class, text, path)
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            lines: dict[tuple, int] = {}
            _check_nodes(node, (), lines, set(), path)
            return loader.construct_document(node), lines
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ProfileError(
            f"invalid YAML: {problem}", path=path, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"invalid YAML: {exc}", path=path) from None


def _check_shape(loader_class, text: str, path: str) -> None:
    """Refuse a document nested deeper than MAX_NESTING or with more than MAX_NODES keys
    and values from the parser's events (a flat loop, stopped at the limit), before a node
    is built: building recurses once per level, and a node costs far more to build and
    check than to scan."""
    import yaml

    loader = loader_class(text)
    depth = nodes = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                continue
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_NESTING:
                    raise ProfileError(
                        f"nested more than {MAX_NESTING} levels deep; a profile nests a few",
                        path=path,
                        line=event.start_mark.line + 1,
                    )
            elif not isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                continue
            nodes += 1
            if nodes > MAX_NODES:
                raise ProfileError(
                    f"more than {MAX_NODES:,} keys and values; a profile holds a few hundred",
                    path=path,
                    line=event.start_mark.line + 1,
                )
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


def read_profile_bytes(path: Path) -> bytes:
    """A profile file's bytes, read once (the cache signs exactly what was parsed): a
    regular file only, at most MAX_PROFILE_BYTES (sert_cli/untrusted.py)."""
    from sert_cli.untrusted import NotAFile, read_at_most

    where = str(path)
    try:
        raw = read_at_most(where, MAX_PROFILE_BYTES)
    except NotAFile as exc:  # a FIFO is refused, not waited on
        raise ProfileError(f"{exc}; a profile is a YAML text file", path=where) from None
    except OSError as exc:
        raise ProfileError(f"cannot read the file: {exc.strerror or exc}", path=where) from None
    if raw is None:
        raise ProfileError(
            f"file is larger than {MAX_PROFILE_BYTES >> 20} MiB; a profile is a small text file",
            path=where,
        )
    return raw


def decode_profile(raw: bytes, path: str) -> str:
    if b"\0" in raw:
        raise ProfileError("this is a binary file, not a YAML text profile", path=path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"not UTF-8 text (byte {exc.start})", path=path) from None


def read_profile_text(path: Path) -> str:
    """A profile file's text (a regular file, at most MAX_PROFILE_BYTES, UTF-8)."""
    return decode_profile(read_profile_bytes(path), str(path))


def load_profile_file(path: Path, cache: "ProfileCache | None" = None) -> Profile:
    data, profile = _load_data(path, cache)
    return profile or build_profile(data, str(path))


def _load_data(path: Path, cache: "ProfileCache | None") -> tuple[dict, Profile | None]:
    """A file's validated tree, from the cache when it is unchanged (its Profile is then
    built only when asked for), or parsed and validated now. The file is read once, and
    the cache entry is keyed on exactly the bytes parsed: a file replaced while sert runs
    is never cached with the old numbers under the new content."""
    raw = read_profile_bytes(path)
    signature = content_signature(raw)
    key = os.path.abspath(path) if cache is not None else ""  # no resolve(): links may loop
    if cache is not None:
        data = cache.get(key, signature)
        if data is not None:
            return data, None
    data, lines = parse_yaml(decode_profile(raw, str(path)), str(path))
    profile = build_profile(data, str(path), lines)
    if cache is not None and len(raw) <= ProfileCache.MAX_ENTRY_BYTES:
        cache.put(key, signature, data)
    return data, profile


def content_signature(raw: bytes) -> str:
    """The content's length and CRC-32 (zlib, already loaded: no hashing library to import
    at start-up); others cannot write the cache, so this guards against stale entries, not
    forgery."""
    import zlib

    return f"{len(raw)}:{zlib.crc32(raw):08x}"


class ProfileCache:
    """Validated profile trees as JSON, keyed by path, keyed on the file's content (its
    length and CRC-32) and the validator version. One file per install (named by where the
    package is), so installs sharing a cache folder do not evict each other.

    The cache is the user's own (folder 0700, file 0600) and bounded: only a regular file
    is read (a FIFO, a folder or a link there is ignored and never replaced), one another
    user could have written, one over MAX_FILE_BYTES, or one that cannot be read counts as
    empty, and an entry of the wrong shape is a miss. A profile file over MAX_ENTRY_BYTES
    is not cached, and the file keeps the entries stored last, at most MAX_ENTRIES of them
    and MAX_FILE_BYTES in all, so every command's start-up reads little (a query that only
    reads it does not rewrite it). The folder is made only under a home (or a
    SERT_CACHE_DIR's parent) that exists: without one, no cache."""

    MAX_ENTRIES = 256
    MAX_ENTRY_BYTES = 64 << 10  # of the profile file
    MAX_FILE_BYTES = 2 << 20  # of the cache file

    def __init__(self) -> None:
        import zlib

        self.entries: dict = {}
        self.dirty = False
        self.folder, self.anchor = _cache_folder()
        self.usable = self.folder is not None
        install = zlib.crc32(str(_HERE).encode("utf-8"))
        self.path = (self.folder or Path("/")) / f"profiles-{install:08x}.json"
        if self.usable:
            self.entries = self._read()

    def _read(self) -> dict:
        try:
            fd = os.open(
                self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
            )
        except OSError:
            return {}
        try:
            with open(fd, "rb") as handle:
                info = os.fstat(fd)
                if (
                    not stat.S_ISREG(info.st_mode)
                    or info.st_uid != os.geteuid()
                    or info.st_mode & 0o022  # written by someone else, or writable by others
                    or info.st_size > self.MAX_FILE_BYTES
                ):
                    return {}
                stored = json.loads(handle.read(self.MAX_FILE_BYTES + 1))
        except (OSError, ValueError, RecursionError):
            return {}
        if (
            isinstance(stored, dict)
            and stored.get("stamp") == _VALIDATOR_STAMP
            and isinstance(stored.get("entries"), dict)
        ):
            return stored["entries"]
        return {}

    def get(self, key: str, signature: str):
        entry = self.entries.get(key)
        if not isinstance(entry, dict) or entry.get("signature") != signature:
            return None
        data = entry.get("data")
        name = data.get("name") if isinstance(data, dict) else None
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            return None
        aliases = data.get("aliases", [])  # read before the profile is built: of its type
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            return None
        return data

    def put(self, key: str, signature: str, data) -> None:
        try:
            json.dumps(data, allow_nan=False)  # only plain trees are cached
        except (TypeError, ValueError, RecursionError):
            self.entries.pop(key, None)
            return
        self.entries.pop(key, None)
        self.entries[key] = {"signature": signature, "data": data}
        while len(self.entries) > self.MAX_ENTRIES:
            self.entries.pop(next(iter(self.entries)))
        self.dirty = True

    def _text(self) -> str:
        """The file's JSON: the entries stored last that fit in MAX_FILE_BYTES."""
        head = json.dumps({"stamp": _VALIDATOR_STAMP, "entries": {}})[:-2]  # ...{"entries": {
        kept, size = [], len(head) + 2
        for key, entry in reversed(self.entries.items()):
            try:
                text = f"{json.dumps(key)}: {json.dumps(entry, allow_nan=False)}"
            except (TypeError, ValueError, RecursionError):
                continue
            if size + len(text) + 2 > self.MAX_FILE_BYTES:
                break
            kept.append(text)
            size += len(text) + 2
        return head + ", ".join(reversed(kept)) + "}}"

    def save(self) -> None:
        if not self.dirty or not self.usable or os.environ.get("SERT_NO_CACHE"):
            return
        import tempfile

        tmp = None
        try:
            if not os.path.isdir(self.anchor):
                return  # no home: no folder made under it
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                there = os.lstat(self.path)
            except FileNotFoundError:
                there = None
            if there is not None and not (
                stat.S_ISREG(there.st_mode) and there.st_uid == os.geteuid()
            ):
                return  # not ours (a FIFO, a folder, a link, another's file): left alone
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".profiles-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self._text())
            os.replace(tmp, self.path)  # mkstemp made it 0600
            tmp = None
        except OSError:
            pass  # a cache that cannot be written only costs speed
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _cache_folder() -> tuple[Path | None, str]:
    """The cache folder, and the folder that must exist before it may be made: the parent
    of $SERT_CACHE_DIR; $XDG_CACHE_HOME's parent; else the home (~/.cache/sert). No usable
    home (unset, empty, relative): no cache, never a ./~ folder."""
    chosen = os.environ.get("SERT_CACHE_DIR")
    if chosen:
        folder = os.path.normpath(chosen)
        anchor = os.path.dirname(folder)
    elif os.path.isabs(os.environ.get("XDG_CACHE_HOME") or ""):
        xdg = os.path.normpath(os.environ["XDG_CACHE_HOME"])
        folder, anchor = os.path.join(xdg, "sert"), os.path.dirname(xdg)
    else:
        home = os.environ.get("HOME") if "HOME" in os.environ else os.path.expanduser("~")
        anchor = os.path.normpath(home or ".")
        folder = os.path.join(anchor, ".cache", "sert")
    if not os.path.isabs(folder):
        return None, ""
    return Path(folder), anchor


def profile_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise InputError(f"profiles folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise InputError(f"profiles folder {str(folder)!r} is not a folder")
    try:
        found = sorted(p for p in folder.iterdir() if p.suffix in PROFILE_SUFFIXES)
    except OSError as exc:
        raise InputError(f"cannot list profiles folder {str(folder)!r}: {exc.strerror}") from None
    from sert_cli.untrusted import NotAFile, check_regular

    for path in found:  # a FIFO or a device would hang the read: refuse it first
        try:
            check_regular(path.stat().st_mode)
        except NotAFile as exc:
            raise ProfileError(f"{exc}; a profile is a YAML text file", path=str(path)) from None
        except OSError as exc:
            raise ProfileError(
                f"cannot read the file: {exc.strerror or exc}", path=str(path)
            ) from None
    return found


class _Entry:
    __slots__ = ("path", "data", "profile")

    def __init__(self, path: str, data: dict, profile: Profile | None) -> None:
        self.path, self.data, self.profile = path, data, profile

    def build(self) -> Profile:
        """The profile; a cached tree that no longer validates (or is damaged: of a type
        no file could give) is read from its file."""
        if self.profile is None:
            try:
                self.profile = build_profile(self.data, self.path)
            except (ProfileError, TypeError, ValueError, KeyError, AttributeError, IndexError):
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
