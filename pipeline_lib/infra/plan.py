"""The ``plan`` step of ``gantry infra check``: ``terraform plan`` of every env root against moto.

``validate`` cannot see arguments that conflict only once values are known (e.g. a DMS endpoint
with both ``secrets_manager_arn`` and ``server_name``); ``plan`` can. Each env root is planned
in a private copy of ``infra/`` with override files (see :mod:`.localaws`): a local backend,
the AWS providers pointed at a moto server this step starts (``MOTO_IAM_LOAD_MANAGED_POLICIES``
on, so AWS-managed policies resolve), and every ``terraform_remote_state`` read from a
generated local state holding the outputs the root reads (placeholder values). Required
variables no committed file sets (CI secrets such as ``redis_auth_token``, the image digests
the lifecycle pins) get placeholders in a generated ``*.auto.tfvars.json``. Nothing is written
into ``infra/``.

All inits run in parallel (with a filesystem mirror each links the provider in well under a
second; with a shared plugin cache the first init runs alone to fill it), then all plans in
parallel: the step takes about as long as the slowest root's plan.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.fileio import write_atomic
from pipeline_lib.localparts.moto_server import MotoServer
from .hcl import load_root, load_tfvars
from .localaws import remote_state_outputs, remote_states, write_local_state, write_overrides
from .terraform import Finding, terraform_bin
from pipeline_lib.core.errors import TimeoutExceeded
from pipeline_lib.core.process import Completed, kill_running, run

DEFAULT_TIMEOUT = 600.0
PLACEHOLDER_TFVARS = "zz_gantry_plan.auto.tfvars.json"
MOTO_SETTINGS = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
_FAKE_DIGEST = "sha256:" + "0" * 64


@dataclass
class RootPlan:
    """One env root's plan: its display path, timings (s), change summary and findings."""

    root: str
    init_seconds: float = 0.0
    plan_seconds: float = 0.0
    summary: str = ""
    findings: list[Finding] = field(default_factory=list)


def _placeholder(name: str, set_values: dict[str, Any]) -> Any:
    """Plan-time value of a required variable that only CI or the lifecycle handler sets."""
    if name == "image_digests":   # written by the lifecycle handler from the GitOps repo
        return {svc: _FAKE_DIGEST for svc in (set_values.get("services") or {})}
    if name.endswith(("_token", "_password", "_secret")):  # CI secret store (TF_VAR_...)
        return "gantry-plan-placeholder-0123456789"
    return None


def _set_values(root: Path) -> dict[str, Any]:
    """Variable values the root's committed tfvars files set (``terraform.tfvars``, ``*.auto.tfvars[.json]``)."""
    values: dict[str, Any] = {}
    for path in sorted(root.iterdir()):
        if path.name == "terraform.tfvars" or path.name.endswith(".auto.tfvars"):
            values.update(load_tfvars(path))
        elif path.name.endswith((".auto.tfvars.json", "terraform.tfvars.json")):
            try:
                values.update(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise GantryError(str(path), f"cannot read variable values: {exc}") from None
    return values


def placeholder_values(root: Path) -> dict[str, Any]:
    """Placeholders for the root's required variables that no tfvars file or ``TF_VAR_`` sets."""
    values = _set_values(root)
    out = {}
    for block in load_root(root).of("variable"):
        name = block.labels[0]
        if "default" in block.body or name in values or f"TF_VAR_{name}" in os.environ:
            continue
        value = _placeholder(name, values)
        if value is not None:
            out[name] = value
    return out


def placeholder_outputs(infra_dir: Path, env: str, names: set[str]) -> tuple[dict[str, Any], list[str]]:
    """Values for outputs ``names`` of env root ``env``, and the names that root does not declare."""
    root = infra_dir / "envs" / env
    declared = {b.labels[0] for b in load_root(root).of("output")} if root.is_dir() else set()
    cidr = str(_set_values(root).get("vpc_cidr", "10.0.0.0/16")) if root.is_dir() else "10.0.0.0/16"
    region = "ap-northeast-2"
    known: dict[str, Any] = {
        "vpc_id": "vpc-0123456789abcdef0",
        "vpc_cidr_block": cidr,
        "private_route_table_ids": ["rtb-0123456789abcdef0", "rtb-0123456789abcdef1"],
        "db": {"address": f"{env}.cluster-placeholder.{region}.rds.amazonaws.com", "port": 5432,
               "secret_arn": f"arn:aws:secretsmanager:{region}:123456789012:secret:{env}/dms-replication-AbCdEf",
               "kms_key_arn": f"arn:aws:kms:{region}:123456789012:key/00000000-0000-4000-8000-000000000000"},
    }
    missing = sorted(n for n in names if n not in declared)
    return {n: known.get(n, f"placeholder-{n}") for n in sorted(names)}, missing


def _diagnostics(stdout: str) -> tuple[list[dict[str, Any]], str]:
    """Error diagnostics and the change summary from ``terraform -json`` output lines."""
    errors, summary = [], ""
    for line in stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("type") == "diagnostic" and (msg.get("diagnostic") or {}).get("severity") == "error":
            errors.append(msg["diagnostic"])
        elif msg.get("type") == "change_summary":
            c = msg.get("changes") or {}
            summary = f"{c.get('add', 0)} to add, {c.get('change', 0)} to change, {c.get('remove', 0)} to destroy"
    return errors, summary


def diagnostic_finding(display: str, diag: dict[str, Any], others: int) -> Finding:
    """``plan: <root>: <address>: <summary> — <detail> (<file>:<line>)``."""
    where = display + (f": {diag['address']}" if diag.get("address") else "")
    what = diag.get("summary", "error")
    detail = " ".join(str(diag.get("detail") or "").split())
    if detail:
        what += f" — {detail[:300]}"
    rng = diag.get("range") or {}
    if rng.get("filename"):
        what += f" ({os.path.normpath(os.path.join(display, rng['filename']))}:{(rng.get('start') or {}).get('line', '?')})"
    if others:
        what += f" (+{others} more error{'s' if others > 1 else ''})"
    return Finding("plan", where, what)


def _tf(argv: list[str], root: Path, env: dict[str, str], timeout: float) -> Completed:
    """Terraform in its own process group (its provider plugins die with it on timeout or Ctrl-C)."""
    try:
        return run(argv, cwd=root, env=env, timeout=timeout, what=f"infra check: plan: {root.name}")
    except TimeoutExceeded:
        raise GantryError(f"infra check: plan: {root.name}", f"terraform {argv[1]} timed out after {timeout:.0f}s") from None


def _init(root: Path, display: str, env: dict[str, str], timeout: float, result: RootPlan) -> None:
    t0 = time.monotonic()
    proc = _tf([terraform_bin(), "init", "-input=false", "-no-color", "-json"], root, env, timeout)
    result.init_seconds = time.monotonic() - t0
    if proc.returncode != 0:
        errors, _ = _diagnostics(proc.stdout)
        if errors:
            result.findings.append(diagnostic_finding(display, errors[0], len(errors) - 1))
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            result.findings.append(Finding("plan", display, f"terraform init failed: {tail[0][:300]}"))


def _plan(root: Path, display: str, env: dict[str, str], timeout: float, result: RootPlan) -> None:
    t0 = time.monotonic()
    proc = _tf([terraform_bin(), "plan", "-input=false", "-no-color", "-json", "-lock=false"], root, env, timeout)
    result.plan_seconds = time.monotonic() - t0
    errors, result.summary = _diagnostics(proc.stdout)
    if errors:
        result.findings.append(diagnostic_finding(display, errors[0], len(errors) - 1))
    elif proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        result.findings.append(Finding("plan", display, f"terraform plan exited {proc.returncode}: {tail[0][:300]}"))


def _uses_plugin_cache(cli_config: Path | None) -> bool:
    """True when providers are downloaded into a shared ``plugin_cache_dir`` (no filesystem mirror):
    concurrent inits must not race to fill it (Terraform docs, "Provider Plugin Cache")."""
    if cli_config is None:
        return bool(os.environ.get("TF_PLUGIN_CACHE_DIR"))
    try:
        text = cli_config.read_text(encoding="utf-8")
    except OSError:
        return False
    return "plugin_cache_dir" in text and "filesystem_mirror" not in text


def env_roots(infra_dir: Path) -> list[Path]:
    """``infra/envs/*`` directories holding ``.tf`` files, sorted."""
    base = infra_dir / "envs"
    return sorted(p for p in base.iterdir() if p.is_dir() and any(p.glob("*.tf"))) if base.is_dir() else []


def prepare_root(infra_dir: Path, root: Path, url: str, workdir: Path, display: str = "") -> list[Finding]:
    """Write the overrides, remote-state files and placeholder tfvars into ``root`` (a copy).

    Returns findings for remote-state outputs the read root does not declare.
    """
    findings = []
    states = {}
    for name, env in remote_states(root).items():
        outputs, missing = placeholder_outputs(infra_dir, env, remote_state_outputs(root, name))
        findings += [Finding("plan", display or str(root), f"reads output {m!r} of envs/{env}, which does not declare it")
                     for m in missing]
        states[name] = write_local_state(workdir / f"{root.name}-reads-{env}.tfstate", outputs)
    write_overrides(root, url, workdir / f"{root.name}.tfstate", states)
    values = placeholder_values(root)
    if values:
        write_atomic(root / PLACEHOLDER_TFVARS, json.dumps(values, indent=2) + "\n")
    return findings


def plan_env_roots(infra_dir: Path, cli_config: Path | None, moto_url: str | None = None,
                   timeout: float = DEFAULT_TIMEOUT,
                   progress: Callable[[str], None] | None = None) -> tuple[list[Finding], list[RootPlan]]:
    """Plan every env root of ``infra_dir`` against moto (started here unless ``moto_url``).

    Returns the findings (the first error of each failing root) and per-root results.
    Raises :class:`GantryError` when Terraform or moto cannot run.
    """
    roots = env_roots(infra_dir)
    if not roots:
        return [Finding("plan", str(infra_dir), "no env roots under envs/")], []
    terraform_bin()  # fail early (exit 2) when Terraform is missing
    with tempfile.TemporaryDirectory(prefix="gantry-tf-plan-") as tmp:
        work = Path(tmp)
        copy = work / "infra"
        shutil.copytree(infra_dir, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "*.tfplan"))
        server = None if moto_url else MotoServer(work / "moto", settings=MOTO_SETTINGS)
        try:
            try:
                url = moto_url or server.start().url  # type: ignore[union-attr]
            except GantryError as exc:
                raise GantryError("infra check: plan", f"cannot start moto ({exc}); install it (pip install 'gantry[infra]') "
                                  "or leave plan out of --steps") from None
            env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_INPUT="0",
                       AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
            env.pop("AWS_PROFILE", None)
            if cli_config is not None:
                env["TF_CLI_CONFIG_FILE"] = str(cli_config)
            results = [RootPlan(str(r)) for r in roots]
            pairs = [(copy / r.relative_to(infra_dir), res) for r, res in zip(roots, results)]
            findings: list[Finding] = []
            for root, res in pairs:
                res.findings += prepare_root(copy, root, url, work, res.root)
            with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
                try:
                    first = 1 if _uses_plugin_cache(cli_config) else 0
                    for p in pairs[:first]:   # fills the shared plugin cache; the others link from it
                        _init(p[0], p[1].root, env, timeout, p[1])
                    list(pool.map(lambda p: _init(p[0], p[1].root, env, timeout, p[1]), pairs[first:]))
                    ready = [p for p in pairs if not p[1].findings]
                    list(pool.map(lambda p: _plan(p[0], p[1].root, env, timeout, p[1]), ready))
                except BaseException:
                    kill_running()   # an interrupt: do not wait for the other roots' plans
                    raise
            for res in results:
                findings += res.findings
                if progress is not None:
                    progress(f"{res.root}: init {res.init_seconds:.1f}s, plan {res.plan_seconds:.1f}s"
                             + (f" ({res.summary})" if res.summary else ""))
            return findings, results
        finally:
            if server is not None:
                server.stop()

