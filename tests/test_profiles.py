"""Profile validation: every bad file is refused with its file, line and field."""

import pytest
from conftest import EXAMPLAMINE

from sert_cli.errors import ProfileError
from sert_cli.profiles.library import bundled_profiles_dir, load_library, load_profile_file
from sert_cli.profiles.schema import unsourced_fields


def check(write_profile, text):
    return load_profile_file(write_profile(text))


def expect_error(write_profile, text, *, message, line=None, field=None):
    with pytest.raises(ProfileError) as info:
        check(write_profile, text)
    err = info.value
    assert message in err.detail, err.detail
    if line is not None:
        assert err.line == line, str(err)
    if field is not None:
        assert err.field == field, str(err)
    assert "\n" not in str(err)
    return err


def test_examplamine_is_valid(write_profile):
    profile = check(write_profile, EXAMPLAMINE)
    assert profile.parent.apparent_clearance_l_h == 20.0
    assert profile.parent.phenotypes.apparent_clearance_l_h["PM"] == 8.0
    assert profile.aliases == ("Examplex",)


def edit(old: str, new: str) -> str:
    assert old in EXAMPLAMINE
    return EXAMPLAMINE.replace(old, new)


def test_unknown_key_suggests_the_right_one(write_profile):
    text = edit("  fraction_unbound: 0.5", "  fraction_unbund: 0.5")
    expect_error(
        write_profile,
        text,
        message="did you mean 'fraction_unbound'",
        line=12,
        field="pk.fraction_unbund",
    )


def test_duplicate_key_at_depth(write_profile):
    text = edit("  kp_uu_brain: 1.0", "  kp_uu_brain: 1.0\n  kp_uu_brain: 0.5")
    expect_error(write_profile, text, message="duplicate key 'kp_uu_brain'", line=14)


def test_missing_required_key(write_profile):
    text = edit("  fraction_unbound: 0.5\n", "")
    expect_error(write_profile, text, message="missing required key 'fraction_unbound'", field="pk")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20 mg", "unit of mass"),
        ("20", "has no unit"),
        ("20 L/hr", "did you mean 'L/h'"),
        (".nan", "finite"),
        ("nan L/h", "finite"),
        ("-20 L/h", "greater than 0"),
        ("0 L/h", "greater than 0"),
    ],
)
def test_bad_clearance(write_profile, value, message):
    text = edit("  apparent_clearance: 20 L/h", f"  apparent_clearance: {value}")
    expect_error(write_profile, text, message=message, line=11, field="pk.apparent_clearance")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1.5", "fraction in (0, 1]"),
        ("0", "greater than 0"),
        (".inf", "finite"),
        ("yes", "expected a number"),
        ("half", "expected a number"),
    ],
)
def test_bad_fraction(write_profile, value, message):
    text = edit("  fraction_unbound: 0.5", f"  fraction_unbound: {value}")
    expect_error(write_profile, text, message=message, line=12)


def test_yaml_1_1_exponent_string_is_read_as_a_number(write_profile):
    profile = check(write_profile, edit("  fraction_unbound: 0.5", "  fraction_unbound: 5e-1"))
    assert profile.parent.fraction_unbound == 0.5


def test_phenotype_table_without_nm(write_profile):
    text = edit("NM: 20 L/h, ", "")
    expect_error(write_profile, text, message="missing required key 'NM'")


def test_nm_must_match_apparent_clearance(write_profile):
    text = edit("NM: 20 L/h", "NM: 21 L/h")
    expect_error(write_profile, text, message="must match pk.apparent_clearance")


def test_unknown_gene(write_profile):
    text = edit("gene: CYP2C19", "gene: CYP2C91")
    expect_error(write_profile, text, message="not a gene sert knows", field="pk.phenotypes.gene")


def test_rm_only_where_cpic_defines_it(write_profile):
    text = edit("gene: CYP2C19", "gene: CYP2D6")
    expect_error(write_profile, text, message="no rapid metabolizer")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("just a string\n", "expected a mapping"),
        ("name: [unclosed\n", "invalid YAML"),
        ("!!python/object:os.system {}\n", "invalid YAML"),
        ("a: &x [1, 2]\nb: *x\n", "aliases are not allowed"),
    ],
)
def test_not_a_profile(write_profile, text, message):
    expect_error(write_profile, text, message=message)


def test_billion_laughs_is_refused_quickly(write_profile):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    expect_error(write_profile, "\n".join(lines) + "\n", message="aliases are not allowed")


def test_binary_and_non_utf8_files(write_profile):
    expect_error(write_profile, b"\x00\x01\x02binary", message="binary file")
    expect_error(write_profile, "name: caf\xe9\n".encode("latin-1"), message="not UTF-8")


def test_oversized_file_is_refused_before_parsing(write_profile):
    expect_error(write_profile, "# " + "x" * (2 << 20) + "\n", message="larger than 1 MiB")


def test_sources_keys_must_name_fields(write_profile):
    text = edit(
        'sources:\n  - "where each number comes from"', 'sources:\n  pk.aparent_clearance: "a typo"'
    )
    expect_error(write_profile, text, message="names no field")


def test_two_profiles_with_one_name_in_a_folder(tmp_path):
    (tmp_path / "a.yaml").write_text(EXAMPLAMINE, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(EXAMPLAMINE, encoding="utf-8")
    with pytest.raises(ProfileError, match="also used by"):
        load_library(str(tmp_path), use_cache=False)


def test_bundled_profiles_validate_and_cite_every_number():
    library = load_library(use_cache=False)
    assert {"escitalopram", "sertraline", "venlafaxine"} <= set(library.profiles)
    for profile in library.profiles.values():
        assert profile.path.startswith(str(bundled_profiles_dir()))
        assert unsourced_fields(profile) == [], profile.name
        assert all(key for key, _ in profile.sources), f"{profile.name}: cite per field"


def test_cache_gives_the_same_profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("SERT_CACHE_DIR", str(tmp_path))
    first = load_library()
    assert len(list(tmp_path.glob("profiles-*.json"))) == 1  # one file per install
    second = load_library()
    assert first.profiles == second.profiles


@pytest.mark.parametrize(
    ("targets", "message", "field"),
    [
        (
            "{ki: 2 nM, pet_ec50_plasma: 3 ng/mL}",
            "missing 'pet_emax': the PET constants come together",
            "targets.SERT",
        ),
        (
            "{ki: 2 nM, pet_ec50_plasma: 3 ng/mL, pet_emax: 1.5, pet_basis: fitted}",
            "must be a fraction in (0, 1]",
            "targets.SERT.pet_emax",
        ),
        (
            "{ki: 2 nM, pet_ec50_plasma: 3 ng/mL, pet_emax: 0.85, pet_basis: fited}",
            "did you mean 'fitted'",
            "targets.SERT.pet_basis",
        ),
        (
            "{ki: 2 nM, pet_ec50_plasma: -3 ng/mL, pet_emax: 0.85, pet_basis: fitted}",
            "",
            "targets.SERT.pet_ec50_plasma",
        ),
    ],
)
def test_bad_pet_calibration_names_file_line_and_field(write_profile, targets, message, field):
    text = edit("  SERT: {ki: 2 nM}", f"  SERT: {targets}")
    err = expect_error(write_profile, text, message=message, field=field)
    assert err.line is not None and err.path


@pytest.mark.parametrize(
    ("addition", "message", "field"),
    [
        ("  scored: [7 mg]\n", "must be one of the strengths", "dosing.scored.0"),
        ("  oral_liquids:\n    - {form: drops, strength: 2 mg}\n", "mg", None),
        ("  oral_liquids:\n    - {form: drops, strenght: 2 mg/mL}\n", "strength", None),
    ],
)
def test_bad_marketed_forms(write_profile, addition, message, field):
    marker = "  strengths: [5 mg, 10 mg]       # marketed unit strengths\n"
    expect_error(write_profile, edit(marker, marker + addition), message=message, field=field)


def test_marketed_forms_are_read_in_mg_per_ml(write_profile):
    marker = "  strengths: [5 mg, 10 mg]       # marketed unit strengths\n"
    text = (
        marker + "  scored: [10 mg]\n  oral_liquids:\n    - {form: solution, strength: 5 mg/5 mL}\n"
    )
    with pytest.raises(ProfileError):  # a compound unit the reader does not know
        check(write_profile, edit(marker, text))
    profile = check(
        write_profile,
        edit(
            marker,
            marker + "  scored: [10 mg]\n  oral_liquids:\n    - {form: s, strength: 4 mg/mL}\n",
        ),
    )
    assert profile.scored_mg == (10.0,) and profile.oral_liquids == (("s", 4.0),)
