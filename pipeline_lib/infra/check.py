"""``gantry infra check``: fmt, validate, structure, catalog drift, checkov and plan (against moto), as one report."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_lib.core.catalog import Catalog, load_catalog
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settingsmodel import Settings
from . import checkov as checkov_mod
from .catalogvars import drift
from .cliconfig import write_cli_config
from .plan import plan_env_roots
from .structure import check_structure
from .terraform import Finding, fmt_check, validate_all

STEPS = ("fmt", "validate", "structure", "drift", "checkov", "plan")
DEFAULT_CLI_CONFIG = Path(".venv/terraform.rc")


@dataclass
class StepResult:
    step: str
    findings: list[Finding]
    seconds: float
    note: str = ""


@dataclass
class Report:
    results: list[StepResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def ok(self) -> bool:
        return not self.findings


def _timed(func: Callable, *args: object) -> tuple[object, float]:
    t0 = time.monotonic()
    return func(*args), time.monotonic() - t0


def resolve_cli_config(explicit: Path | None, tmpdir: Path, from_env: str | None = None,
                       mirror: str | None = None) -> Path:
    """``--cli-config``, ``from_env`` (the caller's ``$TF_CLI_CONFIG_FILE``), ``.venv/terraform.rc``
    (make), or a fresh one (provider mirror: ``mirror``, the caller's ``$GANTRY_TF_PROVIDER_MIRROR``,
    else searched)."""
    for candidate in (explicit, from_env, DEFAULT_CLI_CONFIG):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
        if candidate is explicit and explicit is not None:
            raise GantryError(str(explicit), "no such Terraform CLI config file")
    return write_cli_config(tmpdir / "terraform.rc", plugin_cache_dir=tmpdir / "plugin-cache", configured_mirror=mirror)


@dataclass(frozen=True)
class Tools:
    """What ``gantry infra check`` runs, from the settings: ``terraform`` (``$GANTRY_TERRAFORM``),
    ``checkov`` (``$GANTRY_CHECKOV``; None: found), ``cli_config`` (``$TF_CLI_CONFIG_FILE``) and
    ``provider_mirror`` (``$GANTRY_TF_PROVIDER_MIRROR``)."""

    terraform: str = "terraform"
    checkov: str | None = None
    cli_config: str | None = None
    provider_mirror: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Tools:
        return cls(settings.terraform, settings.checkov, settings.tf_cli_config_file, settings.tf_provider_mirror)


def _cli_config(explicit: Path | None, tmpdir: Path, tools: Tools) -> Path:
    return resolve_cli_config(explicit, tmpdir, tools.cli_config, tools.provider_mirror)


def run_check(infra_dir: Path, catalog_path: Path | None, steps: tuple[str, ...] = STEPS,
              cli_config: Path | None = None, project_dir: Path | None = None,
              checkov_reports: list | None = None, moto_url: str | None = None,
              progress: Callable[[StepResult], None] | None = None,
              tools: Tools | None = None) -> Report:
    """Run ``steps`` in order; a step that cannot run is a :class:`GantryError` (exit 2).

    ``plan`` starts its own moto server unless ``moto_url`` names a running one. ``tools``: the
    Terraform and checkov executables and Terraform's CLI config from the settings (None: defaults).
    """
    tools = tools or Tools()
    if not infra_dir.is_dir():
        raise GantryError(str(infra_dir), "no such directory (expected infra/ with modules/ and envs/)")
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise GantryError("infra check", f"unknown step {unknown[0]!r} (steps: {', '.join(STEPS)})")
    catalog: Catalog | None = None
    if catalog_path is not None and ({"structure", "drift"} & set(steps)):
        catalog = load_catalog(catalog_path)
    report = Report()
    pending = None
    with tempfile.TemporaryDirectory(prefix="gantry-infra-") as tmp, ThreadPoolExecutor(max_workers=1) as pool:
        if "checkov" in steps and checkov_reports is None and len(steps) > 1:
            # checkov is a separate process: let it run while Terraform validates.
            pending = pool.submit(_timed, checkov_mod.run_checkov, infra_dir, project_dir,
                                  checkov_mod.DEFAULT_TIMEOUT, tools.checkov)
        for step in steps:
            t0 = time.monotonic()
            note = ""
            if step == "fmt":
                found = fmt_check(infra_dir, terraform=tools.terraform)
            elif step == "validate":
                found = validate_all(infra_dir, _cli_config(cli_config, Path(tmp), tools),
                                     terraform=tools.terraform)
            elif step == "structure":
                found = check_structure(infra_dir, catalog)
            elif step == "plan":
                found, plans = plan_env_roots(infra_dir, _cli_config(cli_config, Path(tmp), tools), moto_url,
                                              terraform=tools.terraform)
                note = "; ".join(f"{Path(p.root).name} {p.plan_seconds:.1f}s" + (f" ({p.summary})" if p.summary else "")
                                 for p in plans)
            elif step == "drift":
                if catalog is None:
                    raise GantryError("infra check", "drift needs the catalog (--catalog)")
                found = [Finding("drift", d.path, d.what) for d in drift(catalog, infra_dir)]
            else:
                if checkov_reports is not None:
                    reports = checkov_reports
                elif pending is not None:
                    reports, own = pending.result()
                    note = f"ran {own:.1f}s in parallel; "
                else:
                    reports = checkov_mod.run_checkov(infra_dir, project_dir, checkov=tools.checkov)
                found = checkov_mod.evaluate(reports, infra_dir)
                s = checkov_mod.summary(reports)
                note += f"{s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped"
            result = StepResult(step, found, time.monotonic() - t0, note)
            report.results.append(result)
            if progress is not None:
                progress(result)
    return report
