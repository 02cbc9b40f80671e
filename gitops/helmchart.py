"""Does a Helm values key reach an ``image:`` field? A textual reading of the chart's templates.

``helm`` is not installable here (neither Debian nor PyPI ship it), so the effect check of a
Helm values edit (:func:`gitops.effect.check_chart` -> :func:`check_image_key`) reads the
chart's Go templates instead of rendering them, following Helm's chart tree:

- :func:`load_chart` reads a chart directory with its dependencies, both unpacked
  (``charts/<name>/``) and vendored archives (``charts/<name>-<version>.tgz``, nested archives
  included), keeping only ``Chart.yaml``, ``requirements.yaml``, ``values.yaml`` and ``templates/``.
- :func:`scope_chain` resolves a values key the way Helm hands values to charts
  (https://helm.sh/docs/chart_template_guide/subcharts_and_globals/): a top-level key is read by
  the parent chart's templates; a key under a dependency's name (its ``alias`` when
  ``Chart.yaml`` gives one) is that subchart's ``.Values``, read by the subchart's templates only.
- :func:`image_reads` walks the templates that render (files under ``templates/`` not starting with
  ``_``, as Helm renders them) with a small abstract interpreter of Go template actions: ``.Values``
  paths through field chains, variables (``$x := …``, ``$x = …``), ``with``/``range`` dots,
  ``dict``/``index``/``get``, and ``include``/``template`` of helpers defined anywhere in the tree
  (Helm shares ``define``s across the parent and its subcharts) with the argument they are given.
  For every ``image:`` field of the output (the ``image:`` line, its ``{{-`` continuation lines and
  the helpers it includes) it reports the values paths printed into it.

The reading is deliberately narrow: a values path counts only when it is *printed* in an
``image:`` field (a path only tested by ``if`` does not), and anything it does not understand
reads nothing, so the caller refuses rather than accepting on a guess. Each printed path carries
the simple conditions it is printed under (``if``/``else if``/``else``/``with`` on one path, ``not``
of one, ``and`` of several); :func:`values_truth` decides those on the edited key from the values
(the edited file over each chart's ``values.yaml``). Conditions on other keys, or of other
shapes, are taken to hold (a chart or component switched off is not this check's concern).
"""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import load_yaml_text, tabs_as_spaces

MAX_MEMBER_BYTES = 4 * 1024 * 1024     # one template or Chart.yaml
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024   # everything read from one chart tree's archives
MAX_NESTING = 6                        # charts inside charts
MAX_INCLUDE_DEPTH = 24                 # include inside include


# -- the chart tree --------------------------------------------------------------------------------
@dataclass
class Chart:
    """One chart of the tree: ``name`` from Chart.yaml, ``where`` for messages, its templates
    (path under ``templates/`` -> text), its declared dependencies and its subcharts."""

    name: str
    where: str
    templates: dict[str, str]
    dependencies: list[dict]
    subcharts: list[Chart] = field(default_factory=list)
    values: Any = None   # its values.yaml (defaults), None when absent or unreadable

    def walk(self) -> Iterator[tuple[int, Chart]]:
        """(depth, chart) for this chart and every subchart below it, parents first."""
        stack = [(0, self)]
        while stack:
            depth, chart = stack.pop(0)
            yield depth, chart
            stack.extend((depth + 1, sub) for sub in chart.subcharts)


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_ARCHIVE_BYTES

    def take(self, n: int, where: str) -> None:
        self.left -= n
        if self.left < 0:
            raise GantryError(where, f"chart archives hold over {MAX_ARCHIVE_BYTES} bytes of templates: "
                                     "refusing to read them")


def _chart_from_files(files: dict[str, bytes], where: str, budget: _Budget, depth: int) -> Chart:
    """A chart from its files (paths relative to the chart root)."""
    if depth > MAX_NESTING:
        raise GantryError(where, f"charts nested over {MAX_NESTING} levels deep: refusing to read them")
    raw = files.get("Chart.yaml")
    if raw is None:
        raise GantryError(where, "no Chart.yaml: cannot tell which values this chart reads")
    meta = load_yaml_text(raw.decode("utf-8", errors="replace"), posixpath.join(where, "Chart.yaml"))
    if not isinstance(meta, dict) or not meta.get("name"):
        raise GantryError(posixpath.join(where, "Chart.yaml"), "expected a mapping with a name")
    deps = [d for d in meta.get("dependencies") or [] if isinstance(d, dict)]
    if "requirements.yaml" in files:   # apiVersion v1 charts declare dependencies there
        req = load_yaml_text(files["requirements.yaml"].decode("utf-8", errors="replace"),
                             posixpath.join(where, "requirements.yaml"))
        deps += [d for d in (req.get("dependencies") or [] if isinstance(req, dict) else []) if isinstance(d, dict)]
    templates = {p[len("templates/"):]: b.decode("utf-8", errors="replace")
                 for p, b in sorted(files.items()) if p.startswith("templates/") and not p.endswith("/")}
    chart = Chart(str(meta["name"]), where, templates, deps, values=_values(files.get("values.yaml")))
    subdirs: dict[str, dict[str, bytes]] = {}
    for p, b in sorted(files.items()):
        if not p.startswith("charts/"):
            continue
        rest = p[len("charts/"):]
        if "/" in rest:
            top, _, inner = rest.partition("/")
            subdirs.setdefault(top, {})[inner] = b
        elif rest.endswith(".tgz"):
            chart.subcharts.append(_chart_from_tgz(b, posixpath.join(where, p), budget, depth + 1))
    for top, sub in sorted(subdirs.items()):
        if "Chart.yaml" in sub:
            chart.subcharts.append(_chart_from_files(sub, posixpath.join(where, "charts", top), budget, depth + 1))
    return chart


def _values(raw: bytes | None) -> Any:
    """A chart's default values (None when absent or unreadable: conditions on them stay unknown)."""
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8")
        return yaml.safe_load(tabs_as_spaces(text, "values.yaml"))
    except (UnicodeDecodeError, yaml.YAMLError, GantryError):
        return None


def _wanted(rel: str) -> bool:
    """Only what tells which values reach which template: Chart.yaml, templates/, charts/."""
    parts = rel.split("/")
    while len(parts) >= 2 and parts[0] == "charts":
        if len(parts) == 2:
            return parts[1].endswith(".tgz")
        parts = parts[2:]
    return parts in (["Chart.yaml"], ["requirements.yaml"], ["values.yaml"]) or (len(parts) > 1 and parts[0] == "templates")


def _chart_from_tgz(data: bytes, where: str, budget: _Budget, depth: int) -> Chart:
    """A packaged chart (``helm package``: one top directory holding Chart.yaml, templates/, charts/)."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = posixpath.normpath(member.name.lstrip("./"))
                top, _, rel = name.partition("/")
                if not rel or rel.startswith("../") or not _wanted(rel):
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise GantryError(where, f"{name} is {member.size} bytes, over the {MAX_MEMBER_BYTES} byte limit")
                budget.take(member.size, where)
                fh = tar.extractfile(member)
                if fh is not None:
                    files.setdefault(rel, fh.read())
    except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
        raise GantryError(where, f"unreadable chart archive ({exc.__class__.__name__}: {exc}): cannot check "
                                 "which templates read the values gantry writes") from None
    return _chart_from_files(files, where, budget, depth)


def load_chart(chart_dir: Path, where: str) -> Chart:
    """The chart in ``chart_dir`` with its subcharts (unpacked and ``.tgz``); ``where`` names it in errors.

    Raises :class:`GantryError` (exit 2) for an unreadable Chart.yaml or archive, or archives over
    the size limits (``MAX_MEMBER_BYTES`` per file, ``MAX_ARCHIVE_BYTES`` per tree).
    """
    files: dict[str, bytes] = {}
    for p in sorted(chart_dir.rglob("*")):
        rel = p.relative_to(chart_dir).as_posix()
        if not p.is_file() or not _wanted(rel):
            continue
        size = p.stat().st_size
        if size > MAX_MEMBER_BYTES:
            raise GantryError(posixpath.join(where, rel), f"file is {size} bytes, over the {MAX_MEMBER_BYTES} byte limit")
        files[rel] = p.read_bytes()
    return _chart_from_files(files, where, _Budget(), 0)


def _values_name(parent: Chart, sub: Chart) -> list[str]:
    """The key(s) under which ``parent``'s values reach ``sub``: each alias, else its name."""
    aliases = [str(d["alias"]) for d in parent.dependencies if d.get("name") == sub.name and d.get("alias")]
    return aliases or [sub.name]


def scope(chart: Chart, values_key: str) -> tuple[Chart, list[str]]:
    """The chart whose templates read ``values_key`` and the key relative to its ``.Values``
    (the last of :func:`scope_chain`)."""
    return scope_chain(chart, values_key)[-1]


def scope_chain(chart: Chart, values_key: str) -> list[tuple[Chart, list[str]]]:
    """The charts ``values_key`` passes through, parent first, each with the key relative to its
    ``.Values``; the last one's templates read it.

    ``prometheus-node-exporter.image`` in kube-prometheus-stack's values is the node-exporter
    subchart's ``image``; ``image`` is the parent's own.

    Raises :class:`GantryError` (exit 2) when the key is under a dependency that ``Chart.yaml``
    declares but ``charts/`` does not hold (Argo CD fetches it at render time: nothing to read).
    """
    keys = values_key.split(".")
    chain = [(chart, keys)]
    while len(keys) > 1:
        sub = next((s for s in chart.subcharts if keys[0] in _values_name(chart, s)), None)
        if sub is None:
            dep = next((d for d in chart.dependencies if keys[0] == str(d.get("alias") or d.get("name"))), None)
            if dep is not None:
                raise GantryError(chart.where, f"{values_key} belongs to dependency {dep.get('name')} "
                                               f"{dep.get('version', '')} ({dep.get('repository', 'no repository')}), "
                                               "which is not vendored in charts/: its templates cannot be read, so "
                                               "gantry cannot show the pin reaches an image: field; vendor it "
                                               "(helm dependency build, commit charts/*.tgz) or pin it by hand")
            break
        chart, keys = sub, keys[1:]
        chain.append((chart, keys))
    return chain


def _truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, lists and maps are false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return value is not None and (not hasattr(value, "__len__") or len(value) > 0)


def values_truth(chain: list[tuple[Chart, list[str]]], values: Any) -> Callable[[VPath], bool | None]:
    """Whether a values path (relative to the last chart of ``chain``) is truthy once Helm merges
    ``values`` (the edited values file, given to the top chart) over each chart's values.yaml, the
    parent's winning; None for a path outside the edited key (unknown here)."""
    base = tuple(chain[-1][1])
    sources = [(values, chain[0][1])] + [(c.values, k) for c, k in chain]

    def truth(path: VPath) -> bool | None:
        if path[:len(base)] != base:
            return None
        rel = list(path[len(base):])
        for data, key in sources:
            node = data
            for step in [*key, *rel]:
                if not isinstance(node, dict) or step not in node:
                    break
                node = node[step]
            else:
                return _truthy(node)
        return False
    return truth


# -- Go template actions ---------------------------------------------------------------------------
VPath = tuple[str, ...]              # a values path, relative to the chart's .Values
Guard = tuple[VPath, bool]            # "rendered only when this path is truthy (True) / empty (False)"
Guards = tuple[Guard, ...]


@dataclass(frozen=True)
class Val:
    """What an expression may evaluate to: values paths (relative to ``.Values``), the chart's
    top-level context (``root``: has ``.Values``), the fields of a ``dict``, and paths a helper
    prints only under conditions (``guarded``: (path, guards))."""

    paths: frozenset[VPath] = frozenset()
    root: bool = False
    fields: tuple[tuple[str, Val], ...] = ()
    guarded: frozenset[tuple[VPath, Guards]] = frozenset()

    def __or__(self, other: Val) -> Val:
        return Val(self.paths | other.paths, self.root or other.root, self.fields + other.fields,
                   self.guarded | other.guarded)

    def prints(self, guards: Guards) -> frozenset[tuple[VPath, Guards]]:
        """(path, guards) of what printing this value prints, under ``guards``."""
        return frozenset({(p, guards) for p in self.paths} | {(p, guards + g) for p, g in self.guarded})

    def attr(self, name: str) -> Val:
        paths = {p + (name,) for p in self.paths}
        if self.root and name == "Values":
            paths.add(())
        out = Val(frozenset(paths))
        for key, value in self.fields:
            if key == name:
                out = out | value
        return out


NOTHING = Val()
ROOT = Val(root=True)

_TOKEN = re.compile(r"""
    (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`|'(?:[^'\\]|\\.)*')
  | (?P<decl>:=) | (?P<assign>=(?!=)) | (?P<pipe>\|) | (?P<open>\() | (?P<close>\)) | (?P<comma>,)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<num>[-+]?[0-9][0-9A-Za-z_.+-]*)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.X | re.S)


@dataclass
class Action:
    start: int        # offset of "{{" in the file
    end: int          # offset after "}}"
    tokens: list[tuple[str, str]]   # (kind, text), spaces dropped; "chain": a field right after ")"

    @property
    def keyword(self) -> str:
        if self.tokens and self.tokens[0][0] == "ident" and self.tokens[0][1] in _KEYWORDS:
            return self.tokens[0][1]
        return ""


_KEYWORDS = {"if", "else", "with", "range", "end", "define", "block", "template", "break", "continue"}
_OPENERS = {"if", "with", "range", "define", "block"}


def _lex(body: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    spaced = True
    for m in _TOKEN.finditer(body):
        kind = m.lastgroup or "other"
        if kind == "space":
            spaced = True
            continue
        if kind == "field" and not spaced and out and out[-1][0] == "close":
            kind = "chain"   # (expr).field
        out.append((kind, m.group()))
        spaced = False
    return out


_ACTION_BODY = re.compile(r"""(?:[^"'`}]+|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`|\}(?!\}))*""")


def _actions(text: str) -> list[Action]:
    """Every ``{{ … }}`` action of a template (comments dropped), in order."""
    out: list[Action] = []
    i = 0
    n = len(text)
    while True:
        start = text.find("{{", i)
        if start < 0:
            return out
        k = start + 2
        if text.startswith("-", k) and k + 1 < n and text[k + 1] in " \t\r\n":
            k += 1
        while k < n and text[k] in " \t\r\n":
            k += 1
        if text.startswith("/*", k):
            close = text.find("*/", k + 2)
            end = text.find("}}", close + 2) if close >= 0 else -1
            if end < 0:
                return out
            i = end + 2
            continue
        j = _ACTION_BODY.match(text, k).end()
        if not text.startswith("}}", j):
            return out   # unterminated: helm would refuse the template; nothing more is read
        body = text[k:j].rstrip()
        if body.endswith("-") and (len(body) == 1 or body[-2] in " \t\r\n"):
            body = body[:-1]
        out.append(Action(start, j + 2, _lex(body)))
        i = j + 2


@dataclass
class Source:
    """One template file: its text, actions, and the lines that belong to ``image:`` fields."""

    chart: Chart
    path: str
    text: str
    actions: list[Action]
    line_starts: list[int]
    image_line: dict[int, int]   # line number -> the line of the image: key it belongs to
    closers: dict[int, int]      # index of an opening action -> index of its {{ end }}

    def line(self, offset: int) -> int:
        lo, hi = 0, len(self.line_starts)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if self.line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo


_IMAGE_KEY = re.compile(r"""^(\s*)(?:-\s+)?(?:image|"image"|'image')\s*:(?:\s+(.*))?$""")


def _image_lines(text: str) -> dict[int, int]:
    """Lines of ``image:`` fields: the key's line, then lines starting with ``{{-`` (trimmed onto it)
    or, for a value on the next lines (``image:`` / ``image: >-``), the more-indented lines."""
    lines = text.split("\n")
    out: dict[int, int] = {}
    for i, line in enumerate(lines):
        m = _IMAGE_KEY.match(line)
        if not m:
            continue
        out[i] = i
        value = (m.group(2) or "").strip()
        block = value in ("", "|", ">", "|-", ">-", "|+", ">+")
        indent = len(m.group(1))
        for j in range(i + 1, len(lines)):
            nxt = lines[j]
            stripped = nxt.lstrip()
            if stripped.startswith("{{-"):
                out[j] = i
            elif block and stripped and len(nxt) - len(stripped) > indent:
                out[j] = i
            else:
                break
    return out


def _source(chart: Chart, path: str, text: str) -> Source:
    actions = _actions(text)
    closers: dict[int, int] = {}
    stack: list[int] = []
    for idx, act in enumerate(actions):
        kw = act.keyword
        if kw in _OPENERS:
            stack.append(idx)
        elif kw == "end" and stack:
            closers[stack.pop()] = idx
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return Source(chart, path, text, actions, starts, _image_lines(text), closers)


@dataclass
class ImageField:
    """An ``image:`` field as rendered from one template (and the include chain leading to it):
    each values path printed into it with the conditions it is printed under (``prints``)."""

    where: str
    prints: set[tuple[VPath, Guards]] = field(default_factory=set)

    @property
    def printed(self) -> set[VPath]:
        return {p for p, _ in self.prints}

    def reaches(self, path: VPath, truthy: Callable[[VPath], bool | None]) -> bool:
        """True when ``path`` is printed under conditions that hold (``truthy``: a path's truth, None
        when unknown — an unknown condition is taken to hold)."""
        return any(p == path and all(truthy(g) in (None, want) for g, want in gs) for p, gs in self.prints)

    def blocking(self, path: VPath, truthy: Callable[[VPath], bool | None]) -> Guard | None:
        """A condition that keeps ``path`` out of this field (None when it is printed, or not at all)."""
        for p, gs in sorted(self.prints):
            if p == path:
                return next(((g, want) for g, want in gs if truthy(g) not in (None, want)), None)
        return None


class _Interpreter:
    def __init__(self, tree: Chart) -> None:
        self.defines: dict[str, tuple[Source, int]] = {}
        self.sources: dict[int, list[Source]] = {}
        # Helm parses the parent's templates after its subcharts', so a parent's define wins
        for depth, chart in sorted(tree.walk(), key=lambda dc: -dc[0]):
            for path, text in sorted(chart.templates.items()):
                src = _source(chart, path, text)
                self.sources.setdefault(id(chart), []).append(src)
                for idx, act in enumerate(src.actions):
                    if act.keyword in ("define", "block") and len(act.tokens) > 1 and act.tokens[1][0] == "str":
                        self.defines[_unquote(act.tokens[1][1])] = (src, idx)
        self.fields: list[ImageField] = []
        self._memo: dict[tuple[str, Val, Guards], Val] = {}
        self._active: set[tuple[str, Val, Guards]] = set()
        self._now: Guards = ()   # the guards of the action being interpreted (fields in helpers get them)

    # -- statements --------------------------------------------------------------------------
    def run(self, src: Source, first: int, last: int, dot: Val, dollar: Val, chain: str,
            depth: int, outer: Guards = ()) -> Val:
        """Interpret actions ``first``..``last`` (exclusive) under the caller's guards ``outer``;
        returns what they print, guarded by the conditions met inside."""
        variables: dict[str, Val] = {"$": dollar}
        printed = NOTHING
        fields: dict[int, ImageField] = {}
        # open blocks: [keyword, dot before it, negations of the conditions so far, guards of this branch]
        stack: list[list] = []
        idx = first
        while idx < last:
            act = src.actions[idx]
            kw = act.keyword
            toks = act.tokens
            local: Guards = tuple(g for entry in stack for g in entry[3])
            self._now = outer + local
            if kw == "define":
                idx = src.closers.get(idx, last) + 1
                continue
            if kw in ("if", "with", "range"):
                value = self._pipeline(toks[1:], dot, variables, depth, declare=True, ranging=kw == "range")
                guards, negation = (self._condition(toks[1:], dot, variables, depth) if kw != "range"
                                    else ((), None))
                stack.append([kw, dot, [negation], guards])
                if kw == "with":
                    dot = value
                elif kw == "range":
                    dot = Val(frozenset(p + ("[]",) for p in value.paths))
            elif kw == "else":
                if stack:
                    entry = stack[-1]
                    dot = entry[1]
                    entry[3] = tuple(g for neg in entry[2] if neg is not None for g in neg)
                    rest = toks[1:]
                    if rest and rest[0] in (("ident", "with"), ("ident", "if")):
                        value = self._pipeline(rest[1:], dot, variables, depth, declare=True)
                        guards, negation = self._condition(rest[1:], dot, variables, depth)
                        entry[2].append(negation)
                        entry[3] = entry[3] + guards
                        if rest[0][1] == "with":
                            entry[0] = "with"
                            dot = value
            elif kw == "end":
                if stack:
                    dot = stack.pop()[1]
            elif kw in ("template", "block"):
                name = _unquote(toks[1][1]) if len(toks) > 1 and toks[1][0] == "str" else ""
                arg = self._pipeline(toks[2:], dot, variables, depth) if len(toks) > 2 else NOTHING
                out = self._include(name, arg, chain, depth)
                printed = printed | Val(guarded=out.prints(local))
                self._image_field(src, act, fields, chain, out.prints(outer + local))
                if kw == "block":
                    idx = src.closers.get(idx, last) + 1
                    continue
            elif kw in ("break", "continue"):
                pass
            else:
                out = self._pipeline(toks, dot, variables, depth, declare=True, statement=True)
                printed = printed | Val(guarded=out.prints(local))
                self._image_field(src, act, fields, chain, out.prints(outer + local))
            idx += 1
        self.fields.extend(fields.values())
        return printed

    def _image_field(self, src: Source, act: Action, fields: dict[int, ImageField], chain: str,
                     prints: frozenset[tuple[VPath, Guards]]) -> None:
        key_line = src.image_line.get(src.line(act.start))
        if key_line is None:
            return
        f = fields.setdefault(key_line, ImageField(f"{src.chart.where}/templates/{src.path}:{key_line + 1}{chain}"))
        f.prints |= prints

    def _include(self, name: str, arg: Val, chain: str, depth: int) -> Val:
        found = self.defines.get(name)
        outer = self._now
        key = (name, arg, outer)
        if found is None or depth >= MAX_INCLUDE_DEPTH or key in self._active:
            return NOTHING
        if key in self._memo:
            return self._memo[key]
        src, idx = found
        self._active.add(key)
        try:
            out = self.run(src, idx + 1, src.closers.get(idx, len(src.actions)), arg, arg,
                           f"{chain} <- {name}" if chain else f" (via {name})", depth + 1, outer)
        finally:
            self._active.discard(key)
            self._now = outer
        self._memo[key] = out
        return out

    # -- expressions ---------------------------------------------------------------------------
    def _condition(self, toks: list[tuple[str, str]], dot: Val, variables: dict[str, Val],
                   depth: int) -> tuple[Guards, Guards | None]:
        """Guards of the branch an ``if``/``with`` pipeline opens, and of its negation (None: unknown).

        Understood: one values path (``if .Values.image.digest``), ``not`` of one, ``and`` of
        several; any other condition guards nothing (it is taken to hold)."""
        for i, tok in enumerate(toks):   # `with $x := …`: the declared pipeline
            if tok[0] == "decl":
                toks = toks[i + 1:]
                break
        cmds = _split(toks, "pipe")
        if len(cmds) != 1:
            return (), None
        operands = self._operands(cmds[0], dot, variables, depth)

        def single(v: Val) -> VPath | None:
            return next(iter(v.paths)) if len(v.paths) == 1 and not v.fields and not v.root and not v.guarded else None

        head = cmds[0][0]
        if head[0] != "ident" and len(operands) == 1 and single(operands[0][1]) is not None:
            path = single(operands[0][1])
            assert path is not None
            return ((path, True),), ((path, False),)
        if head == ("ident", "not") and len(operands) == 2 and single(operands[1][1]) is not None:
            path = single(operands[1][1])
            assert path is not None
            return ((path, False),), ((path, True),)
        if head == ("ident", "and") and len(operands) > 1:
            paths = [single(v) for _, v in operands[1:]]
            if all(p is not None for p in paths):
                return tuple((p, True) for p in paths if p is not None), None
        return (), None

    def _pipeline(self, toks: list[tuple[str, str]], dot: Val, variables: dict[str, Val], depth: int, *,
                  declare: bool = False, ranging: bool = False, statement: bool = False) -> Val:
        """Value of ``[$v [, $w] :=|=] cmd | cmd …``; a declaration binds and prints nothing."""
        targets: list[str] = []
        op = ""
        if declare:
            j = 0
            names = []
            while j < len(toks) and toks[j][0] == "var" and "." not in toks[j][1]:
                names.append(toks[j][1])
                j += 1
                if j < len(toks) and toks[j][0] == "comma":
                    j += 1
                    continue
                break
            if names and j < len(toks) and toks[j][0] in ("decl", "assign"):
                targets, op, toks = names, toks[j][0], toks[j + 1:]
        value: Val | None = None
        for cmd in _split(toks, "pipe"):
            value = self._command(cmd, dot, variables, depth, value)
        value = value or NOTHING
        if targets:
            bound = Val(frozenset(p + ("[]",) for p in value.paths)) if ranging else value
            name = targets[-1]
            if op == "assign" and name in variables:
                bound = variables[name] | bound
            variables[name] = bound
            if len(targets) > 1:
                variables[targets[0]] = NOTHING
            return value if not statement else NOTHING
        return value

    def _command(self, toks: list[tuple[str, str]], dot: Val, variables: dict[str, Val], depth: int,
                 piped: Val | None) -> Val:
        args = self._operands(toks, dot, variables, depth)
        if not args:
            return piped or NOTHING
        head_kind, head = toks[0]
        if head_kind == "ident" and head not in ("true", "false", "nil"):
            fn_args = [v for _, v in args[1:]] + ([piped] if piped is not None else [])
            lits = [t for t, _ in args[1:]]
            if head in ("include", "template"):
                name = _unquote(lits[0]) if lits and lits[0].startswith(('"', "`")) else ""
                arg = fn_args[1] if len(fn_args) > 1 else NOTHING
                return self._include(name, arg, "", depth)
            if head == "dict":
                pairs = [(_unquote(lits[i]), fn_args[i + 1]) for i in range(0, len(lits) - 1, 2)
                         if lits[i].startswith(('"', "`"))]
                return Val(fields=tuple(pairs))
            if head in ("index", "get") and fn_args:
                value = fn_args[0]
                for lit in lits[1:]:
                    if not lit.startswith(('"', "`")):
                        return NOTHING
                    value = value.attr(_unquote(lit))
                return value
            if head in ("fail", "len", "typeOf", "kindOf", "hasKey", "empty", "not", "eq", "ne", "lt", "le",
                        "gt", "ge", "and", "or", "semverCompare", "contains", "hasPrefix", "hasSuffix"):
                return NOTHING   # tests and errors: nothing of their arguments reaches the output
            out = NOTHING
            for v in fn_args:
                out = out | v
            return Val(out.paths, guarded=out.guarded)
        value = NOTHING
        for _, v in args:
            value = value | v
        return value | piped if piped is not None else value

    def _operands(self, toks: list[tuple[str, str]], dot: Val, variables: dict[str, Val],
                  depth: int) -> list[tuple[str, Val]]:
        """(source text, value) of each operand of one command."""
        out: list[tuple[str, Val]] = []
        i = 0
        while i < len(toks):
            kind, text = toks[i]
            if kind == "open":
                level, j = 1, i + 1
                while j < len(toks) and level:
                    level += {"open": 1, "close": -1}.get(toks[j][0], 0)
                    j += 1
                value = self._pipeline(toks[i + 1:j - 1], dot, variables, depth)
                while j < len(toks) and toks[j][0] == "chain":
                    value = _chain(value, toks[j][1])
                    j += 1
                out.append(("(…)", value))
                i = j
                continue
            if kind == "field":
                out.append((text, _chain(dot, text)))
            elif kind == "var":
                name, _, rest = text.partition(".")
                value = variables.get(name, NOTHING)
                out.append((text, _chain(value, "." + rest) if rest else value))
            else:
                out.append((text, NOTHING))
            i += 1
        return out


def _chain(value: Val, text: str) -> Val:
    for name in [p for p in text.split(".") if p]:
        value = value.attr(name)
    return value


def _split(toks: list[tuple[str, str]], kind: str) -> list[list[tuple[str, str]]]:
    parts: list[list[tuple[str, str]]] = [[]]
    level = 0
    for tok in toks:
        level += {"open": 1, "close": -1}.get(tok[0], 0)
        if tok[0] == kind and level == 0:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


def _unquote(lit: str) -> str:
    if lit[:1] == "`":
        return lit[1:-1]
    return re.sub(r"\\(.)", r"\1", lit[1:-1])


def image_reads(tree: Chart, chart: Chart) -> list[ImageField]:
    """The ``image:`` fields ``chart``'s rendered templates produce, each with the values paths
    (relative to ``chart``'s ``.Values``) printed into it. Helpers come from the whole ``tree``."""
    interp = _Interpreter(tree)
    for src in interp.sources.get(id(chart), []):
        if posixpath.basename(src.path).startswith("_") or src.path == "NOTES.txt":
            continue
        interp.run(src, 0, len(src.actions), ROOT, ROOT, "", 0)
    return interp.fields


# -- the check -------------------------------------------------------------------------------------
def check_image_key(tree: Chart, values_key: str, written: list[str], values_text: str | None,
                    values_where: str) -> None:
    """Raise :class:`GantryError` (exit 2) unless one ``image:`` field rendered by the chart that
    reads ``values_key`` prints every key gantry wrote that names the image — ``digest``,
    ``repository``, ``registry`` when written (the key itself for a single-string image) — under
    conditions the edited values (``values_text``, the file at ``values_where``) make hold.
    The message names the chart, the closest field, what it prints and the condition in the way.
    """
    chain = scope_chain(tree, values_key)
    target, key = chain[-1]
    base = tuple(key)
    try:
        values = yaml.safe_load(tabs_as_spaces(values_text, values_where)) if values_text is not None else None
    except (yaml.YAMLError, GantryError):
        values = None
    truthy = values_truth(chain, values)
    if written == [values_key.split(".")[-1]]:   # a single-string image: the key itself
        required = [base]
    else:
        required = [base + (k,) for k in ("digest", "repository", "registry") if k in written]
    fields = image_reads(tree, target)
    if any(all(f.reaches(r, truthy) for r in required) for f in fields):
        return
    best = max(fields, key=lambda f: (sum(r in f.printed for r in required),
                                      sum(f.reaches(r, truthy) for r in required)), default=None)
    missing = next(r for r in required if best is None or not best.reaches(r, truthy))
    if best is None:
        detail = "no template of that chart renders an image: field"
    else:
        shown = ", ".join(sorted(".".join(p) for p in best.printed if p[:len(base)] == base)) or "none of it"
        detail = f"closest: {best.where} prints {shown}"
        guard = best.blocking(missing, truthy)
        if guard is not None:
            detail += (f", but .{missing[-1]} only when .Values.{'.'.join(guard[0])} is "
                       f"{'set' if guard[1] else 'empty'}, and the values make it {'empty' if guard[1] else 'set'}")
    whose = (f"chart {target.name}" if target is tree
             else f"subchart {target.name} ({target.where}; {values_key} is its .Values.{'.'.join(key)})")
    what = (f".{missing[-1]} of .Values.{'.'.join(base)}" if missing != base else f".Values.{'.'.join(base)}")
    raise GantryError(target.where, f"the templates of {whose} never read {what} into an image: field ({detail}): "
                                    f"a value the rendered image ignores is not a pin; refusing (templates read "
                                    f"textually: helm is not available to render)")
