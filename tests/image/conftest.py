"""Helpers for image tests: a tiny build context (FROM scratch + COPY, no RUN)."""

from __future__ import annotations

from pathlib import Path

import pytest


def make_context(root: Path, content: str = "hello", extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.txt").write_text(content)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY app.txt /app/app.txt\n" + extra)
    return root


@pytest.fixture()
def context(tmp_path: Path) -> Path:
    return make_context(tmp_path / "ctx", f"hello {tmp_path.name}")
