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


_BEFORE_TAB_OK = ":,[{"     # a tab run after these separates tokens (go-yaml: kustomize, Helm)
_AFTER_TAB_OK = ":,]}#\r\n"  # … and before these (or at the end of the text)


class _TabScanner(yaml.SafeLoader):
    """Scanner that treats a tab run between tokens as spaces, recording the tabs (see
    :func:`tabs_as_spaces`)."""

    def __init__(self, text: str, where: str) -> None:
        super().__init__(text)
        self.text = text
        self.where = where
        self.tabs: list[int] = []

    def _separating_run(self) -> None:
        """At a run of spaces/tabs between tokens that holds a tab: accept it or refuse it."""
        text, a = self.text, self.index
        b = a
        while b < len(text) and text[b] in " \t":
            b += 1
        if "\t" not in text[a:b]:
            return
        line_start = text.rfind("\n", 0, a) + 1
        line = self.line + 1   # the scanner's own (0-based) line: no recount per tab
        tab = text.index("\t", a)
        if not text[line_start:a].strip(" \t"):
            raise GantryError(f"{self.where}:{line}", f"tab in indentation (column {tab - line_start + 1}): YAML "
                                                       "indents with spaces only (kubectl kustomize refuses it too)")
        if b < len(text) and text[b] not in _AFTER_TAB_OK and text[a - 1] not in _BEFORE_TAB_OK:
            raise GantryError(f"{self.where}:{line}", f"tab between values (column {tab - line_start + 1}): gantry "
                                                       "reads a tab only before a comment, at the end of a line or "
                                                       "next to ':', ',' or a bracket (kustomize would keep this one "
                                                       "inside the value or refuse it); use a space")
        self.tabs.extend(i for i in range(a, b) if text[i] == "\t")

    def scan_to_next_token(self) -> None:
        # PyYAML's scan_to_next_token, with tabs between tokens skipped like spaces
        if self.index == 0 and self.peek() == "\uFEFF":
            self.forward()
        found = False
        while not found:
            if self.peek() in " \t":
                self._separating_run()
            while self.peek() in " \t":
                self.forward()
            if self.peek() == "#":
                while self.peek() not in "\0\r\n\x85\u2028\u2029":
                    self.forward()
            if self.scan_line_break():
                if not self.flow_level:
                    self.allow_simple_key = True
            else:
                found = True


def tabs_as_spaces(text: str, where: str) -> str:
    """``text`` with every tab that separates YAML tokens replaced by a space (same length: offsets,
    lines and columns stay), e.g. ``newTag: v1<TAB># comment``.

    YAML 1.2 allows tabs as separation inside a line and go-yaml (``kubectl kustomize``, Helm)
    reads them; PyYAML and ruamel.yaml refuse any tab before a token. Accepted: a run of spaces and
    tabs between tokens that ends the line or precedes a comment, ``:``, ``,``, ``]`` or ``}``, or
    follows ``:``, ``,``, ``[`` or ``{``. Refused with :class:`GantryError` naming ``where:<line>``:
    a tab in indentation (YAML and kustomize refuse it) and any other tab between tokens (e.g.
    ``v1<TAB>x``, which kustomize reads as one value). Other syntax errors are left to the parser.
    """
    if "\t" not in text:
        return text
    scanner = _TabScanner(text, where)
    try:
        while not scanner.check_token(yaml.StreamEndToken):
            scanner.get_token()
    except yaml.YAMLError:
        pass   # the parser that reads the text reports it, with its line
    finally:
        scanner.dispose()
    if not scanner.tabs:
        return text
    chars = list(text)
    for i in scanner.tabs:
        chars[i] = " "
    return "".join(chars)


def load_yaml_text(text: str, where: str) -> Any:
    """Parse ``text``; a syntax error becomes ``GantryError('<where>:<line>', ...)``.

    Tabs between tokens are read as YAML 1.2 and kustomize read them (:func:`tabs_as_spaces`).
    """
    text = tabs_as_spaces(text, where)
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
