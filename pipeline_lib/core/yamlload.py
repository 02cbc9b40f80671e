"""Strict YAML loading for user-edited files: size cap, no duplicate keys, errors with a line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import GantryError

MAX_YAML_BYTES = 8 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "unhashable mapping key", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# libyaml's parser (when PyYAML has it) reads a file ~6x faster; the constructor, and so the
# duplicate-key rule, is the same Python code. A document it refuses is parsed again by the
# pure-Python loader, whose messages and line numbers are the ones reported.
_FastStrictLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastStrictLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        """CSafeLoader that refuses duplicate mapping keys."""

    _FastStrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_text(text: str, where: str) -> Any:
    """Parse ``text``; a syntax error becomes ``GantryError('<where>:<line>', ...)``."""
    if _FastStrictLoader is not None:
        try:
            return yaml.load(text, Loader=_FastStrictLoader)  # noqa: S506 - CSafeLoader subclass
        except (yaml.YAMLError, ValueError):
            pass   # reported below, as the pure-Python loader words it
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise GantryError(f"{where}{line}", f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        raise GantryError(where, f"invalid YAML: {exc.reason} (character {exc.position})") from None
    except yaml.YAMLError as exc:
        raise GantryError(where, "invalid YAML: " + " ".join(str(exc).split())) from None


def read_text(path: str | Path, where: str | None = None, *, missing: str = "no such file",
              max_bytes: int = MAX_YAML_BYTES) -> str:
    """Read a user's UTF-8 text file; every failure is one :class:`GantryError` naming ``where``."""
    p = Path(path)
    where = where or str(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise GantryError(where, f"file is {size} bytes, over the {max_bytes} byte limit")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise GantryError(where, missing) from None
    except IsADirectoryError:
        raise GantryError(where, "is a directory, expected a YAML file") from None
    except PermissionError:
        raise GantryError(where, "permission denied") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GantryError(where, f"not UTF-8 text (byte {exc.start})") from None


def load_yaml_file(path: str | Path, display: str | None = None) -> Any:
    """Read and parse a YAML file with the checks of :func:`read_text` and :func:`load_yaml_text`."""
    where = display or str(path)
    return load_yaml_text(read_text(path, where), where)
