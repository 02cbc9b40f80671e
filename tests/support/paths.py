"""Where the tests' own data lives: ``tests/fixtures`` (real files, see its SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
