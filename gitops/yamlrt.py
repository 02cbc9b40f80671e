"""Line-level YAML edits located through the parsed tree: every byte outside the edited value stays.

A :class:`LineDoc` keeps the file's exact text (line endings, BOM-less UTF-8, comments, blank
lines, ``---`` markers, quoting and flow style). ruamel.yaml's event parser gives each node's
character span; an edit replaces only the span of one scalar value, inserts one ``key: value``
line (block mappings) or one ``, key: value`` item (flow mappings), or removes one such line or
item. Later edits are located in the new text. An edit whose outcome is certain updates the
parsed nodes in place (its spans, later offsets shifted): a single-line scalar of a block mapping
replaced by a one-line scalar that reads back as the value, or one ``key: value`` line appended
to a block mapping whose last content ends on its line (:meth:`LineDoc._appendable`). Any other
edit parses the whole text again. Both give the same nodes (tests/gitops/test_yamlrt_fast.py
compares them with a fresh parse); the first costs no parse (issue 21: ``pin_kustomize`` of a
``gantry gitops init`` overlay, 3.3 -> 0.035 ms CPU, the file's first parse ~0.8 ms).

Refused (:class:`GantryError`, exit 2), because a text edit could not be limited to the pin:
an edited value that carries an anchor other nodes alias, a duplicate key in an edited mapping,
and a key whose value is a collection where a scalar is expected.

Tabs between tokens (``newTag: v1<TAB># note``), which kustomize reads and ruamel does not, are
parsed as spaces of the same length (:func:`pipeline_lib.core.yamlload.tabs_as_spaces`), so the
spans still index the real text and the tabs stay in the file.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import read_text, tabs_as_spaces

MAX_BYTES = 4 * 1024 * 1024
_PROPS = re.compile(r"(?:[&!][^\s]*[ \t]+)+")  # node properties before a value: &anchor !tag
# Strings that read back as themselves when written plain, in YAML 1.1 and 1.2, block or flow:
# a letter first (no implicit type of either version — bool, null, int, float, timestamp, merge,
# value — starts with a letter and has a character other than letters), then letters, digits and
# ``._/+@-``, and ``:`` only between two such characters (never ``: `` or a final ``:``). A subset
# of what :func:`_plain_ok` accepts (tests/gitops/test_yamlrt_fast.py checks both agree), e.g.
# ``v1.2``, ``sha256:<hex>``; anything else gets the full check.
_PLAIN_SURE = re.compile(r"[A-Za-z][A-Za-z0-9._/+@-]*(?::[A-Za-z0-9._/+@-]+)*")
_LETTERS = re.compile(r"[A-Za-z]+")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")  # quoted by json.dumps or '': only " \\ ' escaped, read back as is
_FIRST_KEY_PREFIX = re.compile(r"(?:[ ]*-[ ]+)*[ ]*")  # before a block mapping's first key: indent, "- "s
_LOCAL = threading.local()  # per thread: ruamel YAML instances are reused, not shared


@dataclass
class Node:
    """One parsed node: ``kind`` map|seq|scalar|alias, character span ``[start, end)``."""

    kind: str
    start: int
    end: int
    value: str | None = None
    style: str | None = None
    anchor: str | None = None
    flow: bool = False
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)

    def get(self, key: str) -> Node | None:
        for k, v in self.pairs:
            if k.kind == "scalar" and k.value == key:
                return v
        return None

    def key_node(self, key: str) -> Node | None:
        for k, _ in self.pairs:
            if k.kind == "scalar" and k.value == key:
                return k
        return None


def _build(events: list, where: str) -> tuple[list[Node], set[str], dict[str, Node], list[Node]]:
    """Documents' root nodes, the anchors aliased somewhere, anchor -> node, and every node."""
    docs: list[Node] = []
    nodes: list[Node] = []
    aliased: set[str] = set()
    anchors: dict[str, Node] = {}
    stack: list[Node] = []
    pending_key: list[Node | None] = []

    def add(node: Node) -> None:
        if not stack:
            docs.append(node)
            return
        parent = stack[-1]
        if parent.kind == "seq":
            parent.items.append(node)
        elif pending_key[-1] is None:
            pending_key[-1] = node
        else:
            parent.pairs.append((pending_key[-1], node))
            pending_key[-1] = None

    for ev in events:
        name = type(ev).__name__
        if name in ("ScalarEvent", "AliasEvent", "MappingStartEvent", "SequenceStartEvent"):
            start, end = ev.start_mark.index, ev.end_mark.index
            anchor = getattr(ev, "anchor", None)
            if name == "ScalarEvent":
                node = Node("scalar", start, end, ev.value, ev.style, anchor)
            elif name == "AliasEvent":
                node = Node("alias", start, end, anchor=anchor)
                aliased.add(anchor)
            else:
                node = Node("map" if name == "MappingStartEvent" else "seq", start, end, anchor=anchor,
                            flow=bool(ev.flow_style))
            if anchor and name != "AliasEvent":
                anchors[anchor] = node
            nodes.append(node)
            add(node)
            if node.kind in ("map", "seq"):
                stack.append(node)
                pending_key.append(None)
        elif name in ("MappingEndEvent", "SequenceEndEvent"):
            node = stack.pop()
            pending_key.pop()
            node.end = max(node.end, ev.end_mark.index) if node.flow else node.end
    return docs, aliased, anchors, nodes


def _last_content(node: Node) -> int:
    """Offset just after the last character that belongs to ``node`` (block collections: their last leaf)."""
    if node.kind == "map" and not node.flow and node.pairs:
        return _last_content(node.pairs[-1][1]) if not _empty(node.pairs[-1][1]) else node.pairs[-1][0].end
    if node.kind == "seq" and not node.flow and node.items:
        return _last_content(node.items[-1])
    return node.end


def _empty(node: Node) -> bool:
    return node.kind == "scalar" and node.style is None and node.value == "" and node.start == node.end


def _yaml(typ: str) -> YAML:
    """This thread's ruamel ``YAML`` instance of ``typ`` (rt, or safe pure), built once."""
    cache = _LOCAL.__dict__.setdefault("yaml", {})
    if typ not in cache:
        cache[typ] = YAML(typ="rt") if typ == "rt" else YAML(typ="safe", pure=True)
    return cache[typ]


def _plain_ok(value: str, flow: bool) -> bool:
    """True when ``value`` written plain reads back as the same string in YAML 1.1 and 1.2."""
    if _PLAIN_SURE.fullmatch(value) and not _LETTERS.fullmatch(value):
        return True
    return _plain_checked(value, flow)


@functools.lru_cache(maxsize=4096)
def _plain_checked(value: str, flow: bool) -> bool:
    """:func:`_plain_ok` by loading ``k: <value>`` with ruamel (1.2) and PyYAML (1.1)."""
    import yaml as pyyaml
    if not value or value != value.strip() or "\n" in value or " #" in value or ": " in value:
        return False
    if flow and any(c in value for c in ",[]{}"):
        return False
    if value[0] in "!&*%@`|>'\"#?-[]{},:" and not (value[0] == "-" and len(value) > 1 and value[1] != " "):
        return False
    try:
        loaded12 = _yaml("safe").load(f"k: {value}\n")
        loaded11 = pyyaml.safe_load(f"k: {value}\n")
    except Exception:  # noqa: BLE001 - anything unparsable is quoted
        return False
    return loaded12 == {"k": value} and loaded11 == {"k": value}


def render_scalar(value: str, style: str | None = None, flow: bool = False) -> str:
    """``value`` as a YAML scalar in ``style`` (the style of the value it replaces) when that is safe."""
    return _render(value, style, flow)[0]


def _render(value: str, style: str | None, flow: bool) -> tuple[str, str | None]:
    """:func:`render_scalar`'s text and its style as parsed: None (plain), ``'`` or ``"``."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'", "'"
    if style == '"' or not _plain_ok(value, flow):
        return json.dumps(value), '"'
    return value, None


def _sure(value: str, style: str | None) -> bool:
    """True when :func:`_render`'s text of ``value`` in ``style`` is one line that a parse reads
    back as ``value`` (plain: checked by :func:`_plain_ok`; quoted: printable ASCII only)."""
    return style is None or _PRINTABLE_ASCII.fullmatch(value) is not None


class LineDoc:
    """A YAML file edited line by line; :attr:`text` is the current text, :attr:`original` the input."""

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.original = text
        self.text = text
        self.newline = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
        self._parse()

    @classmethod
    def read(cls, path: Path, where: str) -> LineDoc:
        return cls(read_text(path, where, missing="manifest not found", max_bytes=MAX_BYTES), where)

    def _parse(self) -> None:
        try:
            events = list(_yaml("rt").parse(tabs_as_spaces(self.text, self.where)))
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise GantryError(f"{self.where}{line}", f"invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
        docs, self.aliased, self.anchors, self._nodes = _build(events, self.where)
        self.root: Node | None = next((d for d in docs if not _empty(d)), docs[0] if docs else None)

    # -- reading ----------------------------------------------------------------------------------
    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def data(self, node: Node | None = None) -> Any:
        """Plain Python value of ``node`` (default: the document); aliases resolved, scalars as strings."""
        node = self.root if node is None else node
        if node is None:
            return None
        if node.kind == "alias":
            target = self.anchors.get(node.anchor or "")
            return self.data(target) if target is not None else None
        if node.kind == "map":
            return {str(self.data(k)): self.data(v) for k, v in node.pairs}
        if node.kind == "seq":
            return [self.data(i) for i in node.items]
        if node.style is None and node.value in ("", "~", "null", "Null", "NULL"):
            return None
        return node.value

    def find(self, path: list[str | int]) -> Node | None:
        """The node at ``path`` (mapping keys and sequence indexes); aliases are followed."""
        node = self.root
        for step in path:
            if node is not None and node.kind == "alias":
                node = self.anchors.get(node.anchor or "")
            if node is None:
                return None
            if isinstance(step, int):
                node = node.items[step] if node.kind == "seq" and step < len(node.items) else None
            else:
                node = node.get(step) if node.kind == "map" else None
        return node

    def _mapping(self, path: list[str | int]) -> Node:
        node = self.find(path)
        if node is None or node.kind != "map":
            raise GantryError(self.where, f"{_show(path)}: expected a mapping")
        keys = [k.value for k, _ in node.pairs if k.kind == "scalar"]
        dup = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if dup is not None:
            raise GantryError(f"{self.where}:{self.line_of(node.start)}",
                              f"{_show(path)}: duplicate key {dup!r} (which one takes effect is ambiguous)")
        return node

    # -- editing ----------------------------------------------------------------------------------
    def _splice(self, start: int, end: int, new: str) -> None:
        self.text = self.text[:start] + new + self.text[end:]
        self._parse()

    def _moved(self, after: int, delta: int, skip: Node | None = None) -> None:
        """Every node offset greater than ``after`` (``skip``'s excepted) moves by ``delta``."""
        for node in self._nodes:
            if node is not skip:
                node.start += delta if node.start > after else 0
                node.end += delta if node.end > after else 0

    def _replace_in_place(self, node: Node, start: int, new: str, style: str | None, value: str) -> None:
        """``text[start:node.end]`` (a single-line scalar of a block mapping) becomes ``new``, read
        back as ``value`` in ``style``: nodes updated without parsing again."""
        end = node.end
        self.text = self.text[:start] + new + self.text[end:]
        self._moved(end - 1, len(new) - (end - start), skip=node)
        node.end, node.value, node.style = start + len(new), value, style

    def _append_in_place(self, mapping: Node, at: int, line: str, key: Node, value: Node) -> None:
        """``line`` (newline, indent, ``key: value``) inserted at ``at``; ``key``/``value`` (spans in
        the new text) become the last pair of ``mapping``, without parsing again."""
        self.text = self.text[:at] + line + self.text[at:]
        self._moved(at, len(line))
        mapping.pairs.append((key, value))
        self._nodes += [key, value]

    def _line_end(self, end: int) -> int:
        """Offset of the line terminator of the line holding the character before ``end``."""
        nl = self.text.find("\n", max(end - 1, 0))
        if nl < 0:
            return len(self.text)
        return nl - 1 if nl > 0 and self.text[nl - 1] == "\r" else nl

    def _column(self, offset: int) -> int:
        return offset - (self.text.rfind("\n", 0, offset) + 1)

    def set(self, path: list[str | int], key: str, value: str) -> bool:
        """Set ``key`` to the string ``value`` in the mapping at ``path``; True when the text changed."""
        mapping = self._mapping(path)
        current = mapping.get(key)
        if current is None:
            self._insert(mapping, key, value)
            return True
        if current.kind in ("map", "seq"):
            raise GantryError(f"{self.where}:{self.line_of(current.start)}",
                              f"{_show(path + [key])}: expected a scalar, found a {current.kind}")
        if current.kind == "scalar" and current.value == value and not _empty(current):
            return False
        if current.kind == "scalar" and current.anchor and current.anchor in self.aliased:
            raise GantryError(f"{self.where}:{self.line_of(current.start)}",
                              f"{_show(path + [key])} carries anchor &{current.anchor}, aliased elsewhere: "
                              "editing it would change those values too; edit the file by hand")
        if _empty(current):
            key_node = mapping.key_node(key)
            assert key_node is not None
            colon = self.text.index(":", key_node.end)
            self._splice(colon + 1, colon + 1, " " + render_scalar(value, None, mapping.flow))
            return True
        start = current.start
        if current.kind == "scalar":
            props = _PROPS.match(self.text, start)
            start = props.end() if props else start
        style = current.style if current.kind == "scalar" and current.style in ("'", '"') else None
        rendered, new_style = _render(value, style, mapping.flow)
        if (current.kind == "scalar" and current.style in (None, "'", '"') and not mapping.flow
                and start == current.start and "\n" not in self.text[start:current.end]
                and _sure(value, new_style) and self._plain_text()):
            self._replace_in_place(current, start, rendered, new_style, value)
        else:
            self._splice(start, current.end, rendered)
        return True

    def set_mapping(self, path: list[str | int], key: str) -> None:
        """Ensure ``key`` holds a mapping under ``path`` (inserts ``key: {}`` style block when absent)."""
        mapping = self._mapping(path)
        current = mapping.get(key)
        if current is not None and current.kind == "map":
            return
        if current is not None and not (current.kind == "scalar" and current.value in ("", "~", "null")):
            raise GantryError(self.where, f"{_show(path + [key])}: expected a mapping")
        if current is not None:
            self.remove(path, key)
            mapping = self._mapping(path)
        self._insert(mapping, key, None)

    def remove(self, path: list[str | int], key: str) -> bool:
        """Remove ``key`` (its whole line in a block mapping, its item in a flow mapping)."""
        mapping = self._mapping(path)
        key_node = mapping.key_node(key)
        value = mapping.get(key)
        if key_node is None or value is None:
            return False
        if mapping.flow:
            end = value.end if not _empty(value) else self.text.index(":", key_node.end) + 1
            after = re.compile(r"[ \t]*,[ \t]*").match(self.text, end)
            if after:
                self._splice(key_node.start, after.end(), "")
            else:
                before = re.search(r",[ \t]*$", self.text[:key_node.start])
                self._splice(before.start() if before else key_node.start, end, "")
            return True
        line_start = self.text.rfind("\n", 0, key_node.start) + 1
        if self.text[line_start:key_node.start].strip():
            raise GantryError(f"{self.where}:{self.line_of(key_node.start)}",
                              f"{_show(path + [key])}: cannot remove a key that shares its line; edit by hand")
        eol = self._line_end(_last_content(value) if not _empty(value) else key_node.end)
        nl_end = eol + (2 if self.text.startswith("\r\n", eol) else 1 if self.text.startswith("\n", eol) else 0)
        self._splice(line_start, nl_end, "")
        return True

    def _insert(self, mapping: Node, key: str, value: str | None) -> None:
        rendered = render_scalar(key, None, mapping.flow) + ":" + (
            "" if value is None and not mapping.flow else
            " {}" if value is None else " " + render_scalar(value, None, mapping.flow))
        if mapping.flow:
            body = self.text[mapping.start + 1:mapping.end - 1]
            if body.strip():
                at = mapping.start + 1 + len(body.rstrip())
                self._splice(at, at, ", " + rendered)
            else:
                self._splice(mapping.start + 1, mapping.start + 1, (" " if body else "") + rendered)
            return
        if not mapping.pairs:
            raise GantryError(self.where, f"cannot add {key!r} to an empty mapping; edit by hand")
        indent = " " * self._column(mapping.pairs[0][0].start)
        eol = self._line_end(_last_content(mapping))
        if value is None:  # a new block mapping: the caller inserts its first key next
            self._splice(eol, eol, self.newline + indent + rendered + " {}")
            return
        key_text, key_style = _render(key, None, False)
        value_text, value_style = _render(value, None, False)
        if (len(key_text) < 1000 and _sure(key, key_style) and _sure(value, value_style)
                and self._appendable(mapping)):
            k = eol + len(self.newline) + len(indent)
            v = k + len(key_text) + 2
            self._append_in_place(mapping, eol, self.newline + indent + rendered,
                                  Node("scalar", k, k + len(key_text), key, key_style),
                                  Node("scalar", v, v + len(value_text), value, value_style))
            return
        self._splice(eol, eol, self.newline + indent + rendered)

    def _appendable(self, mapping: Node) -> bool:
        """True when a ``key: value`` line at the first key's column, after the line of the
        mapping's last content, surely parses as one more pair of this block ``mapping`` and leaves
        every other node as it was (shifted): the first key follows only indentation and ``- ``
        (not ``? ``, so that column is the mapping's indent), and the last content is a plain or
        quoted scalar, an alias, a flow collection, or an empty value right after its ``:``/``-``
        on the line of its key, so no node ends or starts beyond the inserted line. A multi-line
        plain last scalar ends there too: continuation lines are more indented than the mapping."""
        if not self._plain_text():
            return False
        first = mapping.pairs[0][0]
        if not _FIRST_KEY_PREFIX.fullmatch(self.text, self.text.rfind("\n", 0, first.start) + 1, first.start):
            return False
        node, key = mapping, None
        while node.kind in ("map", "seq") and not node.flow:
            if node.kind == "map":
                key, node = node.pairs[-1]
            else:
                key, node = None, node.items[-1]
        if node.kind == "scalar" and _empty(node):
            mark = self.text[node.start - 1:node.start]
            if key is not None:  # the ':' right after the key, on its line
                return mark == ":" and "\n" not in self.text[key.end:node.start]
            return mark == "-"
        return node.kind in ("alias", "map", "seq") or node.style in (None, "'", '"')

    def _plain_text(self) -> bool:
        """True when the text has no tab and no line break other than LF and CRLF (offsets and
        lines are then what the in-place edits assume)."""
        text = self.text
        return ("\t" not in text and text.count("\r") == text.count("\r\n")
                and not any(c in text for c in "\x85\u2028\u2029"))


def _show(path: list[str | int]) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path) or "(document)"
