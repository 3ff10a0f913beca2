"""Issue 26 (reliability), profiles: the attacks on profile loading, the YAML reader and
the profile cache, each run through the real code (the command's main() in process, or
the library), each ending in a result or one clean line, never a hang or a stale number."""

import json
import os
import stat
import time
from pathlib import Path

import pytest
from conftest import EXAMPLAMINE, sert, sert_json

from sert_cli.errors import ProfileError
from sert_cli.profiles import library
from sert_cli.profiles.library import (
    MAX_NESTING,
    MAX_NODES,
    ProfileCache,
    load_library,
    load_profile_file,
    read_profile_bytes,
)


def assert_one_line_error(done, code: int = 2, *words: str) -> None:
    assert done.returncode == code, (done.returncode, done.stdout[:200], done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("sert: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""
    for word in words:
        assert word in done.stderr, done.stderr


def edit(old: str, new: str, text: str = EXAMPLAMINE) -> str:
    assert old in text, old
    return text.replace(old, new)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own, for the in-process library and for sert()."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SERT_CACHE_DIR", str(folder))
    monkeypatch.delenv("SERT_NO_CACHE", raising=False)
    return folder


def cache_file() -> Path:
    return ProfileCache().path


def user_folder(tmp_path: Path, text: str = EXAMPLAMINE, name: str = "examplamine") -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def sert_ki(folder: Path) -> float:
    return load_library(str(folder)).get("examplamine").parent.k_nm["SERT"]


# --- 1. the cache is keyed on the bytes that were parsed ------------------------------


def test_a_profile_replaced_while_it_is_read_is_not_cached_with_the_old_numbers(
    tmp_path, cache_dir, monkeypatch
):
    folder = user_folder(tmp_path)
    path = folder / "examplamine.yaml"
    real_build = library.build_profile

    def build_then_replace(data, where="", lines=None):
        built = real_build(data, where, lines)
        if where == str(path) and "ki: 2 nM" in path.read_text():  # another editor saves
            path.write_text(edit("ki: 2 nM", "ki: 4 nM"), encoding="utf-8")
        return built

    monkeypatch.setattr(library, "build_profile", build_then_replace)
    assert sert_ki(folder) == 2.0  # what this run read
    monkeypatch.setattr(library, "build_profile", real_build)
    assert sert_ki(folder) == 4.0  # the next run: the file as it is now, not the cache
    assert sert_ki(folder) == 4.0  # and the cache now holds the new content


def test_a_profile_is_read_once_per_load(tmp_path, cache_dir, monkeypatch):
    folder = user_folder(tmp_path)
    path = str(folder / "examplamine.yaml")
    opened = []
    real_open = os.open

    def counting_open(name, *args, **kwargs):
        if str(name) == path:
            opened.append(name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(library.os, "open", counting_open)
    load_library(str(folder))  # parsed, then cached
    load_library(str(folder))  # from the cache
    assert len(opened) == 2


# --- 2. the cache file: only a regular file of ours, read or replaced -------------------


def test_a_fifo_at_the_cache_path_does_not_hang_and_is_left_alone(cache_dir):
    cache_dir.mkdir()
    path = cache_file()
    os.mkfifo(path)
    done = sert("dose", "escitalopram", "--format", "json", timeout=20)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["drug"] == "escitalopram"
    assert stat.S_ISFIFO(os.lstat(path).st_mode)  # not deleted, not replaced
    assert sorted(p.name for p in cache_dir.iterdir()) == [path.name]  # no temporary file


@pytest.mark.parametrize("kind", ["folder", "symlink", "foreign file"])
def test_something_else_at_the_cache_path_leaves_no_temporary_file(cache_dir, kind, tmp_path):
    cache_dir.mkdir()
    path = cache_file()
    if kind == "folder":
        path.mkdir()
    elif kind == "symlink":
        target = tmp_path / "elsewhere.json"
        target.write_text("{}")
        path.symlink_to(target)
    else:
        if os.geteuid() != 0:
            pytest.skip("making a file another user's needs root")
        path.write_text("{}")
        os.chown(path, 12345, 12345)
    for _ in range(2):
        assert sert("dose", "escitalopram", "--format", "json").returncode == 0
    assert sorted(p.name for p in cache_dir.iterdir()) == [path.name]
    if kind == "folder":
        assert path.is_dir()
    elif kind == "symlink":
        assert path.is_symlink() and (tmp_path / "elsewhere.json").read_text() == "{}"
    else:
        assert path.read_text() == "{}" and path.stat().st_uid == 12345


def _damage(how: str, stored: dict):
    entries = stored["entries"]
    key = next(k for k in entries if k.endswith("escitalopram.yaml"))
    entry = entries[key]
    if how == "list file":
        return [stored]
    if how == "entries a list":
        stored["entries"] = list(entries.values())
    elif how == "entry a list":
        entries[key] = [entry]
    elif how == "data a list":
        entry["data"] = [entry["data"]]
    elif how == "signature a list":
        entry["signature"] = [entry["signature"]]
    elif how == "aliases a number":
        entry["data"]["aliases"] = 5
    elif how == "aliases a mapping":
        entry["data"]["aliases"] = {"S-citalopram": 1}
    elif how == "alias a list":
        entry["data"]["aliases"] = [["S-citalopram"]]
    elif how == "name a number":
        entry["data"]["name"] = 7
    elif how == "name not a name":
        entry["data"]["name"] = "Not A Name"
    elif how == "pk a list":
        entry["data"]["pk"] = []
    elif how == "targets of lists":
        entry["data"]["targets"] = {"SERT": [1]}
    elif how == "dosing a number":
        entry["data"]["dosing"] = 5
    return stored


DAMAGE = [
    "list file",
    "entries a list",
    "entry a list",
    "data a list",
    "signature a list",
    "aliases a number",
    "aliases a mapping",
    "alias a list",
    "name a number",
    "name not a name",
    "pk a list",
    "targets of lists",
    "dosing a number",
    "deep JSON",
    "truncated",
]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_or_wrong_typed_cache_entry_is_a_miss(cache_dir, how):
    args = ("occupancy", "S-citalopram", "--dose", "10", "--format", "json")
    expected = sert_json(*args)["occupancy"]  # a run that writes the cache
    path = cache_file()
    text = path.read_text()
    if how == "deep JSON":
        text = "[" * 100_000 + "]" * 100_000
    elif how == "truncated":
        text = text[: len(text) // 2]
    else:
        text = json.dumps(_damage(how, json.loads(text)))
    path.write_text(text)
    for command in (args, ("profiles", "list", "--format", "json")):
        done = sert(*command)
        assert done.returncode == 0, done.stderr
    assert json.loads(sert(*args).stdout)["occupancy"] == expected


def test_no_cache_folder_under_a_home_that_does_not_exist(tmp_path, monkeypatch):
    monkeypatch.delenv("SERT_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    missing = tmp_path / "gone" / "home"
    done = sert("dose", "escitalopram", "--format", "json", env={"HOME": str(missing)})
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "gone").exists()
    home = tmp_path / "home"  # a home that exists: its ~/.cache/sert is made, 0700
    home.mkdir()
    assert sert("dose", "escitalopram", env={"HOME": str(home)}).returncode == 0
    assert stat.S_IMODE((home / ".cache" / "sert").stat().st_mode) == 0o700
    assert len(list((home / ".cache" / "sert").glob("profiles-*.json"))) == 1


def test_no_cache_folder_under_a_missing_sert_cache_dir_parent(tmp_path):
    chosen = tmp_path / "gone" / "cache"
    done = sert("dose", "escitalopram", "--format", "json", env={"SERT_CACHE_DIR": str(chosen)})
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "gone").exists()


# --- 3. the cache is bounded -------------------------------------------------------------


def test_a_profile_above_the_entry_size_is_not_cached(tmp_path, cache_dir):
    big = EXAMPLAMINE + "notes: " + "x" * ProfileCache.MAX_ENTRY_BYTES + "\n"
    folder = user_folder(tmp_path, big)
    assert sert_ki(folder) == 2.0
    stored = json.loads(cache_file().read_text())["entries"]
    assert not any(key.endswith("examplamine.yaml") for key in stored)
    assert any(key.endswith("escitalopram.yaml") for key in stored)  # the rest are
    assert sert_ki(folder) == 2.0


def test_the_cache_file_keeps_the_entries_stored_last_within_its_size(
    tmp_path, cache_dir, monkeypatch
):
    monkeypatch.setattr(ProfileCache, "MAX_FILE_BYTES", 60_000)
    folder = tmp_path / "profiles"
    folder.mkdir()
    note = "notes: " + "y" * 30_000 + "\n"
    for index in range(8):  # each about 31 kB: not all fit in 60 kB
        name = f"drug-{index}"
        (folder / f"{name}.yaml").write_text(
            edit("name: examplamine", f"name: {name}") + note, encoding="utf-8"
        )
    load_library(str(folder))
    assert cache_file().stat().st_size <= 60_000
    stored = json.loads(cache_file().read_text())["entries"]
    assert list(stored) == [str(folder / "drug-7.yaml")]  # the one stored last
    assert len(load_library(str(folder)).entries) == 17 + 8


def test_a_cache_file_over_its_size_is_not_read(cache_dir, monkeypatch):
    sert_json("dose", "escitalopram")
    assert ProfileCache().entries  # read while small
    with open(cache_file(), "a") as handle:
        handle.write(" " * ProfileCache.MAX_FILE_BYTES)  # still valid JSON
    assert ProfileCache().entries == {}
    assert sert_json("dose", "escitalopram")["dose_mg"] > 0
    assert cache_file().stat().st_size <= ProfileCache.MAX_FILE_BYTES  # written anew
    assert ProfileCache().entries


# --- 4. deep and wide YAML: refused from the parser's events, before it is built -------


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 990 + "]" * 990 + "\n",
        "".join("  " * i + f"k{i}:\n" for i in range(990)) + "  " * 990 + "x: 1\n",
        "a: " + "[" * 500_000 + "]" * 500_000 + "\n",  # about 1 MB
        "".join("  " * i + "- \n" for i in range(300)) + "  " * 300 + "- 1\n",
    ],
    ids=["flow 990", "block 990", "flow 500000", "block list 300"],
)
def test_deep_yaml_is_one_line_naming_the_file(tmp_path, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    done = sert("profiles", "check", str(path))
    # (libyaml's scanner refuses a very deep flow itself: "exceeded maximum nesting depth")
    assert_one_line_error(done, 2, str(path), "nest")


def test_a_profile_nested_to_the_limit_is_read():
    text = "a: " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "\n"
    tree, _ = library.parse_yaml(text, "ok.yaml")
    assert tree["a"] is not None


def _many_keys(count: int) -> str:
    import itertools
    import string

    keys = itertools.islice(itertools.product(string.ascii_lowercase, repeat=4), count)
    return "schema: 1\nname: x\npk: {" + ",".join("".join(k) for k in keys) + "}\n"


def test_200000_keys_in_1_mb_are_refused_before_they_are_built(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text(_many_keys(200_000), encoding="utf-8")
    assert 900_000 < path.stat().st_size <= library.MAX_PROFILE_BYTES
    start = time.perf_counter()
    done = sert("profiles", "check", str(path))
    took = time.perf_counter() - start
    assert_one_line_error(done, 2, str(path), f"more than {MAX_NODES:,} keys and values")
    assert took < 1.0  # it took 2.3 s (and 230 MB) to build and check them all


def test_keys_to_the_limit_are_checked_in_linear_time(tmp_path):
    """A profile within the limits, made of what costs most to check: a mapping of
    unknown keys (a did-you-mean for the first only) and strengths checked against scored
    tablets (a set, not a scan per tablet)."""
    count = MAX_NODES // 2 - 100
    strengths = ", ".join(f"{1 + i / 1000:g} mg" for i in range(count))
    text = edit("strengths: [5 mg, 10 mg]", f"strengths: [{strengths}]\n  scored: [{strengths}]")
    text = edit("label_range: [5 mg, 20 mg]", "label_range: [1 mg, 20 mg]", text)
    path = tmp_path / "examplamine.yaml"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    profile = load_profile_file(path)
    assert time.perf_counter() - start < 1.0
    assert len(profile.scored_mg) == count
    wide = tmp_path / "wide.yaml"  # each key and its (empty) value count
    wide.write_text(_many_keys(MAX_NODES // 2 - 10).split("pk: ")[1], encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(ProfileError, match="unknown key 'aaaa'"):
        load_profile_file(wide)
    assert time.perf_counter() - start < 1.0


# --- 5. only regular files are read as profiles ----------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "link to a device"])
def test_a_profile_path_that_is_not_a_regular_file(tmp_path, kind):
    path = tmp_path / "trap.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    done = sert("profiles", "check", str(path), timeout=20)
    assert_one_line_error(done, 2, str(path), "not a file")
    done = sert("profiles", "check", "--sources", str(path), timeout=20)
    assert_one_line_error(done, 2, "not a file")
    if kind in ("fifo", "link to a device"):  # in a profiles folder: the same
        done = sert("dose", "escitalopram", "--profiles-dir", str(tmp_path), timeout=20)
        assert_one_line_error(done, 2, "not a file")


def test_a_fifo_swapped_in_after_the_folder_was_listed_does_not_block(tmp_path, monkeypatch):
    """The open itself never blocks (O_NONBLOCK, then fstat): a FIFO put in place of a
    profile between the check and the read is refused, not waited on."""
    path = tmp_path / "examplamine.yaml"
    os.mkfifo(path)
    real_stat = os.stat

    def stat_before_the_swap(name, *args, **kwargs):
        return real_stat(__file__ if str(name) == str(path) else name, *args, **kwargs)

    monkeypatch.setattr(library.os, "stat", stat_before_the_swap)
    with pytest.raises(ProfileError, match="not a file"):
        read_profile_bytes(path)


def test_a_profiles_dir_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "folder")
    done = sert("dose", "escitalopram", "--profiles-dir", str(tmp_path / "folder"), timeout=20)
    assert_one_line_error(done, 2, "is not a folder")


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(library.MAX_PROFILE_BYTES + 1)  # sparse: its size says enough
    reads = []
    real_read = os.read
    monkeypatch.setattr(library.os, "read", lambda *a: reads.append(a) or real_read(*a))
    with pytest.raises(ProfileError, match="larger than 1 MiB"):
        read_profile_bytes(path)
    assert reads == []


# --- 6. untrusted text from a profile never reaches a terminal raw ----------------------

ESCAPES = ("\x1b", "\x9b", "\u202e", "\x07", "\r")
HOSTILE = edit(
    "class: SSRI",
    'class: "SS\\e[31mRI\\a"\nnotes: "line one\\nline \\x9b2J two \\u202E"',
    edit(
        '  - "where each number comes from"',
        '  - "cited \\e]0;title\\a here\\r"',
        edit(
            "  strengths: [5 mg, 10 mg]",
            '  strengths: [5 mg, 10 mg]\n  form: "tab\\e[2Jlet"\n'
            '  oral_liquids:\n    - {form: "drops\\x9b31m", strength: 1 mg/mL}',
            edit(
                "targets:\n",
                "targets:\n  SERT: {ki: 2 nM, pet_ec50_plasma: 3 ng/mL, pet_emax: 0.8, "
                'pet_basis: assumed, pet_note: "n\\e[5mote"}\n',
            ).replace("\n  SERT: {ki: 2 nM}\n", "\n", 1),
        ),
    ),
)
HOSTILE += (
    'metabolites:\n  - name: "des\\e[1mexamplamine"\n    molar_mass: 286 g/mol\n'
    "    pk: {apparent_clearance: 30 L/h, fraction_unbound: 0.6}\n"
    "    targets: {SERT: {ki: 10 nM}}\n"
)


def test_the_hostile_profile_holds_what_it_should():
    """The test's own profile: its strings do carry the escapes once parsed."""
    tree, _ = library.parse_yaml(HOSTILE, "h.yaml")
    assert "\x1b" in tree["class"] and "\x9b" in tree["notes"]
    assert "\x1b" in tree["metabolites"][0]["name"] and "\u202e" in tree["notes"]


def test_control_characters_in_profile_text_are_escaped_where_they_are_read(tmp_path):
    path = tmp_path / "examplamine.yaml"
    path.write_text(HOSTILE, encoding="utf-8")
    profile = load_profile_file(path)
    texts = [
        profile.drug_class,
        profile.notes,
        profile.dose_form,
        profile.metabolites[0].name,
        profile.parent.pet["SERT"].note,
        *(form for form, _ in profile.oral_liquids),
        *(text for _, text in profile.sources),
        json.dumps(profile.raw, ensure_ascii=False),
    ]
    for text in texts:
        assert not any(c in text for c in ESCAPES), repr(text)
    assert profile.drug_class == "SS\\x1b[31mRI\\x07"
    assert profile.notes == "line one\nline \\x9b2J two \\u202e"  # a line break is kept


@pytest.mark.parametrize(
    "args",
    [
        ("profiles", "list"),
        ("profiles", "list", "--format", "json"),
        ("profiles", "list", "--format", "csv"),
        ("profiles", "show", "examplamine"),
        ("profiles", "show", "examplamine", "--format", "json"),
        ("profiles", "show", "examplamine", "--format", "csv"),
        ("occupancy", "examplamine", "--dose", "10"),
        ("occupancy", "examplamine", "--dose", "10", "--explain"),
        ("dose", "examplamine"),
        ("table", "examplamine"),
        ("taper", "examplamine", "--from", "10"),
        ("taper", "examplamine", "--from", "10", "--format", "json"),
        ("compare", "examplamine:10", "escitalopram:10"),
    ],
    ids=lambda a: " ".join(a),
)
def test_no_terminal_escape_from_a_profile_reaches_the_output(tmp_path, args):
    folder = user_folder(tmp_path, HOSTILE)
    done = sert(*args, "--profiles-dir", str(folder))
    assert done.returncode in (0, 1), done.stderr
    for stream in (done.stdout, done.stderr):
        assert not any(c in stream for c in ESCAPES), repr(stream[:2000])


def test_profiles_show_on_a_terminal_escapes_the_file_text():
    import io

    from sert_cli.cli.environment import Environment
    from sert_cli.render import table_format

    text = "class: SSRI  # \u202eevil \x85next\nnotes: x\n"  # what YAML lets through raw
    for colour in (False, True):
        out = io.StringIO()
        env = Environment(
            stdin=None,
            stdout=out,
            stderr=io.StringIO(),
            stdout_isatty=True,
            width_columns=80,
            colour=colour,
        )
        table_format.profile_show(text, env)
        assert "\u202e" not in out.getvalue() and "\x85" not in out.getvalue()
        assert "\\u202e" in out.getvalue() and "notes" in out.getvalue()
    out = io.StringIO()  # not a terminal: byte for byte (`profiles show X > x.yaml`)
    env = Environment(None, out, io.StringIO(), stdout_isatty=False, width_columns=80, colour=False)
    table_format.profile_show(text, env)
    assert out.getvalue() == text


def test_an_escape_in_a_profile_path_is_escaped(tmp_path):
    folder = tmp_path / "a\x1b[31m"
    folder.mkdir()
    (folder / "examplamine.yaml").write_text(EXAMPLAMINE, encoding="utf-8")
    done = sert("profiles", "list", "--profiles-dir", str(folder))
    assert done.returncode == 0 and "\x1b" not in done.stdout and "\\x1b" in done.stdout
    done = sert("profiles", "check", str(folder / "examplamine.yaml"))
    assert done.returncode == 0 and "\x1b" not in done.stdout + done.stderr


# --- 7. extreme but valid profiles: a result or one clean line ---------------------------

BASE = edit("  kp_uu_brain: 1.0\n", "  kp_uu_brain: 1.0\n  absorption: {ka: 1 /h}\n")
NO_PHENOTYPES = edit(
    "  phenotypes:                    # clearance by CYP phenotype\n"
    "    gene: CYP2C19\n"
    "    apparent_clearance: {PM: 8 L/h, IM: 14 L/h, NM: 20 L/h, RM: 24 L/h, UM: 28 L/h}\n",
    "",
    BASE,
)


def _with(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        text = edit(old, new, text)
    return text


# at the limits the schema allows (schema.PLAUSIBLE, fractions in (0, 1], Kp,uu 1e-3..100)
EXTREME = {
    "half-life 1e-3 h": _with(BASE, ("half_life: 30 h", "half_life: 0.001 h")),
    "half-life 1e5 h": _with(BASE, ("half_life: 30 h", "half_life: 100000 h")),
    "fu 5e-324": _with(BASE, ("fraction_unbound: 0.5", "fraction_unbound: 5e-324")),
    "fu 1": _with(BASE, ("fraction_unbound: 0.5", "fraction_unbound: 1")),
    "Kp,uu 1e-3": _with(BASE, ("kp_uu_brain: 1.0", "kp_uu_brain: 0.001")),
    "Kp,uu 100": _with(BASE, ("kp_uu_brain: 1.0", "kp_uu_brain: 100")),
    "MW 10": _with(BASE, ("300 g/mol", "10 g/mol")),
    "MW 5000": _with(BASE, ("300 g/mol", "5000 g/mol")),
    "Ki 1e-6 nM": _with(BASE, ("SERT: {ki: 2 nM}", "SERT: {ki: 0.000001 nM}")),
    "Ki 1e9 nM": _with(BASE, ("SERT: {ki: 2 nM}", "SERT: {ki: 1000000000 nM}")),
    "CL 1e-6 L/h": _with(NO_PHENOTYPES, ("20 L/h ", "0.000001 L/h ")),
    "CL 1e6 L/h": _with(NO_PHENOTYPES, ("20 L/h ", "1000000 L/h ")),
    "interval 1e-3 h": _with(BASE, ("interval: 24 h", "interval: 0.001 h")),
    "interval 1e5 h": _with(BASE, ("interval: 24 h", "interval: 100000 h")),
    "strengths 1e-3 and 1e6 mg": _with(
        BASE,
        ("[5 mg, 20 mg]", "[0.001 mg, 1000000 mg]"),
        ("[5 mg, 10 mg]", "[0.001 mg, 1000000 mg]"),
    ),
    "V 1e8 L": _with(BASE, ("half_life: 30 h", "volume: 100000000 L")),
    "ka 1e-6 /h": _with(BASE, ("ka: 1 /h", "ka: 0.000001 /h")),
    "saturable at the limits": _with(
        NO_PHENOTYPES,
        (
            "half_life: 30 h",
            "volume: 1000 L\n  saturable_clearance: {vmax: 1e-9 mg/h, km: 1e-6 ng/mL}",
        ),
    ),
    "all highest": _with(
        BASE,
        ("half_life: 30 h", "half_life: 100000 h"),
        ("fraction_unbound: 0.5", "fraction_unbound: 1"),
        ("kp_uu_brain: 1.0", "kp_uu_brain: 100"),
        ("SERT: {ki: 2 nM}", "SERT: {ki: 0.000001 nM}"),
    ),
    "all lowest": _with(
        BASE,
        ("half_life: 30 h", "half_life: 0.001 h"),
        ("fraction_unbound: 0.5", "fraction_unbound: 1e-300"),
        ("kp_uu_brain: 1.0", "kp_uu_brain: 0.001"),
        ("SERT: {ki: 2 nM}", "SERT: {ki: 1000000000 nM}"),
    ),
}
COMMANDS = {
    "occupancy": ("occupancy", "examplamine", "--dose", "10"),
    "occupancy PM": ("occupancy", "examplamine", "--dose", "10", "-p", "CYP2C19=PM"),
    "dose": ("dose", "examplamine"),
    "switch from": ("switch", "examplamine", "10", "escitalopram"),
    "switch to": ("switch", "escitalopram", "10", "examplamine"),
    "tdm": ("tdm", "examplamine", "--dose", "10", "--level", "30"),
    "taper": ("taper", "examplamine", "--from", "10"),
    "population": ("population", "examplamine", "--dose", "10", "--n", "20"),
}
# a clean answer, but slow (seconds): run by `make fuzz` (SERT_FUZZ_EXAMPLES) only
SLOW = {
    ("half-life 1e5 h", "switch from"),
    ("all highest", "switch from"),
    ("V 1e8 L", "switch from"),
}


def _sane(value) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _sane(item)
    elif isinstance(value, list):
        for item in value:
            _sane(item)
    elif isinstance(value, float):
        assert value == value and abs(value) != float("inf"), value


@pytest.mark.parametrize("case", list(EXTREME), ids=list(EXTREME))
def test_extreme_valid_profiles_answer_or_fail_in_one_line(tmp_path, case):
    folder = user_folder(tmp_path, EXTREME[case])
    load_profile_file(folder / "examplamine.yaml")  # valid: at, not beyond, the limits
    slow_too = bool(os.environ.get("SERT_FUZZ_EXAMPLES"))
    for command, args in COMMANDS.items():
        if (case, command) in SLOW and not slow_too:
            continue
        done = sert(*args, "--profiles-dir", str(folder), "--format", "json", timeout=60)
        if done.returncode == 0:
            _sane(json.loads(done.stdout))
        else:
            assert_one_line_error(done, done.returncode)
            assert done.returncode in (1, 2)
