"""Whole-document YAML round trips (ruamel) for scaffolding: fresh documents in the repository's
style (:func:`dump_new`) and appending entries to a kustomization (:class:`RoundTrip`).

Pins are never edited here: :mod:`gitops.yamlrt` edits them line by line, byte-exact.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.yamlload import read_text, tabs_as_spaces

MAX_BYTES = 4 * 1024 * 1024


class RoundTrip:
    """A YAML document loaded for editing; :meth:`dump` writes it back with its own style."""

    def __init__(self, text: str, where: str) -> None:
        self.where = where
        self.text = text
        text = tabs_as_spaces(text, where)   # tabs between tokens (kustomize reads them): spaces
        try:
            _, seq_indent, offset = load_yaml_guess_indent(text)
            seq_indent = seq_indent or 2
            offset = offset or 0
            self.yaml = YAML(typ="rt")
            self.yaml.preserve_quotes = True
            self.yaml.width = 4096
            self.yaml.indent(mapping=max(seq_indent - offset, 2), sequence=seq_indent, offset=offset)
            self.data: Any = self.yaml.load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise GantryError(f"{where}{line}", f"invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
        self.explicit_start = text.lstrip().startswith("---")

    @classmethod
    def read(cls, path: Path, where: str) -> RoundTrip:
        return cls(read_text(path, where, missing="manifest not found", max_bytes=MAX_BYTES), where)

    def dump(self) -> str:
        buf = io.StringIO()
        if self.explicit_start:
            self.yaml.explicit_start = True
        self.yaml.dump(self.data, buf)
        return buf.getvalue()


def dump_new(data: Any) -> str:
    """Serialize a fresh document (scaffolding) in the repository's style: 2-space, indented lists."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()
