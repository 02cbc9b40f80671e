"""yamlload reads with libyaml when PyYAML has it, with the same data and the same rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline_lib.core import yamlload
from pipeline_lib.core.errors import GantryError

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("jobs/*.yaml"), ROOT / "scanners" / "policy.default.yaml"])


def test_libyaml_is_used_when_available() -> None:
    assert (yamlload._FastStrictLoader is not None) == bool(yaml.__with_libyaml__)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_and_pure_python_loaders_agree(path: Path) -> None:
    if yamlload._FastStrictLoader is None:
        pytest.skip("PyYAML without libyaml")
    text = path.read_text()
    assert yaml.load(text, Loader=yamlload._FastStrictLoader) == yaml.load(text, Loader=yamlload._StrictLoader)


def test_fast_loader_refuses_duplicate_keys_too() -> None:
    if yamlload._FastStrictLoader is None:
        pytest.skip("PyYAML without libyaml")
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'a'"):
        yaml.load("a: 1\nb: {c: 1}\na: 2\n", Loader=yamlload._FastStrictLoader)
    with pytest.raises(GantryError) as info:
        yamlload.load_yaml_text("x:\n  a: 1\n  a: 2\n", "f.yaml")
    assert str(info.value) == "f.yaml:3: invalid YAML: duplicate key 'a' (first on line 2)"
