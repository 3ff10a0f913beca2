"""Shell completion of drug names and brands, genes, phenotypes and co-medications."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sert_cli.cli import completion


def test_the_completions_are_what_the_commands_accept():
    assert completion.drugs("escit") == ["escitalopram"]
    assert completion.drugs("lex") == ["lexapro"] and completion.drugs("Lex") == ["Lexapro"]
    assert "CYP2C19=PM" in completion.phenotypes("CYP2C19=") and "CYP2D6=UM" in (
        completion.phenotypes("cyp2d6")
    )
    assert completion.genotypes("CYP2") == ["CYP2B6=", "CYP2C19=", "CYP2D6="]
    assert "omeprazole" in completion.comedications("omep")


def test_the_installed_command_completes_a_drug_name():
    """Through the shell's own protocol (bash), from the console script."""
    sert = Path(sys.executable).parent / "sert"
    if not sert.exists():
        pytest.skip("no installed sert console script beside this Python")
    env = {
        **os.environ,
        "_SERT_COMPLETE": "complete_bash",
        "COMP_WORDS": "sert occupancy escit",
        "COMP_CWORD": "2",
    }
    done = subprocess.run([str(sert)], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["escitalopram"], done.stderr
