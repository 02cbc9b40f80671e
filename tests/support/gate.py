"""Gate files in one call in tests: :mod:`scanners.inputs` reads, :func:`scanners.gate.evaluate` decides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scanners.base import ScanOutcome
from scanners.gate import Verdict, evaluate
from scanners.inputs import read_inputs
from scanners.policy import Policy


def evaluate_files(reports: Sequence[Path], *, policy: Policy, environment: str = "dev",
                   outcomes: Sequence[ScanOutcome] = (), baseline: Path | None = None,
                   licenses: bool = False) -> Verdict:
    inputs = read_inputs(reports, outcomes, baseline=baseline, licenses=licenses)
    return evaluate(inputs.parsed, inputs.outcomes, policy, inputs.baseline, environment=environment,
                    input_errors=inputs.errors, baseline_source=inputs.baseline_source)
