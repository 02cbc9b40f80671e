"""checkov runs offline in .venv-checkov; unjustified failures and reasonless skips fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_lib.infra.check import run_check

pytestmark = pytest.mark.integration

TINY = '''
resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18
  # checkov:skip=CKV_AWS_144:single-region by design, a copy exists in the archive account
  bucket = "tiny-logs"
}
'''


def test_unjustified_failure_and_reasonless_skip_fail(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(TINY, encoding="utf-8")
    report = run_check(tmp_path, None, ("checkov",))
    lines = [f.line() for f in report.findings]
    assert not report.ok
    assert any("CKV_AWS_18 skipped without a reason" in ln for ln in lines), lines
    assert any("CKV2_AWS_6 failed" in ln for ln in lines), lines  # no public access block
    assert not any("CKV_AWS_144" in ln for ln in lines), lines    # skipped with a reason
    assert all(ln.startswith(f"checkov: {tmp_path}/main.tf:2 aws_s3_bucket.logs") for ln in lines), lines
