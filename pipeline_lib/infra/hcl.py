"""Parsed Terraform configuration (python-hcl2), normalised for structure rules.

python-hcl2 keeps string quotes and adds ``__is_block__`` markers; :func:`load_root` strips
them and keeps, per block, the file it came from, so findings name a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from pipeline_lib.core.errors import GantryError

MAX_TF_BYTES = 2 * 1024 * 1024


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unquote(k): _norm(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


@dataclass
class Block:
    """A top-level block: ``resource "type" "name"``, ``module "name"``, ``variable "name"``..."""

    kind: str
    labels: tuple[str, ...]
    body: dict[str, Any]
    file: Path

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    def sub(self, key: str) -> list[dict[str, Any]]:
        """Nested blocks named ``key`` (always a list)."""
        value = self.body.get(key, [])
        return value if isinstance(value, list) else [value]


@dataclass
class Root:
    """Every block of one Terraform root (a module or env directory)."""

    path: Path
    blocks: list[Block] = field(default_factory=list)

    def of(self, kind: str, *labels: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind and b.labels[:len(labels)] == labels]

    def resources(self, rtype: str) -> list[Block]:
        return self.of("resource", rtype)

    def module(self, name: str) -> Block | None:
        found = self.of("module", name)
        return found[0] if found else None

    def modules_from(self, source_suffix: str) -> list[Block]:
        return [b for b in self.of("module") if str(b.get("source", "")).rstrip("/").endswith(source_suffix)]


_LABELS = {"resource": 2, "data": 2, "module": 1, "variable": 1, "output": 1, "provider": 1}


def _flatten(kind: str, value: Any, depth: int, labels: tuple[str, ...], file: Path, out: list[Block]) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if depth == 0 or not isinstance(item, dict):
            out.append(Block(kind, labels, item if isinstance(item, dict) else {}, file))
            continue
        for label, inner in item.items():
            _flatten(kind, inner, depth - 1, labels + (label,), file, out)


def load_file(path: Path) -> list[Block]:
    """Parse one ``.tf`` file; a syntax error is a :class:`GantryError` naming the file."""
    try:
        if path.stat().st_size > MAX_TF_BYTES:
            raise GantryError(str(path), f"over {MAX_TF_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GantryError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise GantryError(str(path), exc.strerror or str(exc)) from None
    try:
        data = _norm(hcl2.loads(text))
    except Exception as exc:  # noqa: BLE001 - lark raises many types; all mean "cannot parse"
        text_exc = " ".join(str(exc).split())
        pos = re.search(r"line (\d+),? col(?:umn)? (\d+)", text_exc)
        if pos:
            raise GantryError(f"{path}:{pos.group(1)}", f"HCL syntax error at column {pos.group(2)}") from None
        raise GantryError(str(path), f"HCL syntax error: {text_exc[:200]}") from None
    blocks: list[Block] = []
    for kind, value in data.items():
        _flatten(kind, value, _LABELS.get(kind, 0), (), path, blocks)
    return blocks


def load_root(path: Path) -> Root:
    """All ``*.tf`` files of one directory."""
    root = Root(path)
    for tf in sorted(path.glob("*.tf")):
        root.blocks.extend(load_file(tf))
    return root


def load_tfvars(path: Path) -> dict[str, Any]:
    """Variable values of one ``.tfvars`` file (HCL), quotes stripped; errors as :func:`load_file`."""
    try:
        return _norm(hcl2.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise GantryError(str(path), exc.strerror or str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - lark raises many types; all mean "cannot parse"
        raise GantryError(str(path), f"HCL syntax error: {' '.join(str(exc).split())[:200]}") from None
