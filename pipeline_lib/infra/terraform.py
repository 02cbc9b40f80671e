"""The ``terraform`` CLI at the edge: ``fmt -check`` and ``init -backend=false`` + ``validate``.

Validation runs on a private copy of ``infra/`` so ``.terraform/`` and lock files never land in
the tree. Roots are validated in parallel (each ``init`` links the provider from the mirror).
A module that declares ``configuration_aliases`` gets the aliased provider blocks in its copy,
as a caller would pass them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline_lib.core.errors import GantryError, TimeoutExceeded
from pipeline_lib.core.process import Completed, run
from pipeline_lib.core.settings import child_env

DEFAULT_TIMEOUT = 300.0
_ALIASES = re.compile(r"configuration_aliases\s*=\s*\[([^\]]*)\]")


@dataclass(frozen=True)
class Finding:
    """One failed check: where (file or root) and what."""

    step: str
    where: str
    what: str

    def line(self) -> str:
        return f"{self.step}: {self.where}: {self.what}"


def terraform_bin(exe: str = "terraform") -> str:
    """The path of ``exe`` (the caller's ``$GANTRY_TERRAFORM``, default ``terraform``) on PATH."""
    path = shutil.which(exe)
    if path is None:
        raise GantryError("terraform", f"{exe!r} not found on PATH (install Terraform 1.11)")
    return path


def roots(infra_dir: Path) -> list[Path]:
    """Every module and environment root, sorted (modules first)."""
    out = []
    for group in ("modules", "envs"):
        base = infra_dir / group
        if base.is_dir():
            out += sorted(p for p in base.iterdir() if p.is_dir() and any(p.glob("*.tf")))
    return out


def _first_error(text: str) -> str:
    """The first ``Error: ...`` of Terraform's output with its location, as one line."""
    lines = [ln.strip(" │╷╵") for ln in text.splitlines()]
    lines = [ln.strip() for ln in lines if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("Error:") and "encountered problems during initiali" not in ln:
            where = next((x for x in lines[i + 1:i + 3] if x.startswith("on ")), "")
            detail = next((x for x in lines[i + 1:i + 6] if not x.startswith(("on ", "Error:")) and ":" not in x[:4]), "")
            msg = ln.removeprefix("Error:").strip()
            parts = [msg] + ([where.removeprefix("on ").split(",")[0]] if where else []) + ([detail] if detail else [])
            return " — ".join(parts)
    return lines[-1] if lines else "failed with no output"


def error_summary(text: str) -> str:
    """Terraform's first ``Error:`` (human output, ``-no-color``) as one line: the error, the
    resource address of its ``with <address>,`` line and the first detail line. Falls back to
    the last non-empty line, or ``no output``."""
    lines = [ln.strip(" │╷╵").strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    for i, ln in enumerate(lines):
        if not ln.startswith("Error:"):
            continue
        follow = lines[i + 1:i + 8]
        follow = follow[:next((j for j, x in enumerate(follow) if x.startswith("Error:")), len(follow))]
        address = next((x[5:].rstrip(",") for x in follow if x.startswith("with ")), "")
        detail = next((x for x in follow if not x.startswith(("with ", "on ")) and not re.match(r"^\d+:", x)), "")
        return ln + (f" [{address}]" if address else "") + (f" — {detail[:300]}" if detail else "")
    return lines[-1][:300] if lines else "no output"


def fmt_check(infra_dir: Path, timeout: float = 60.0, terraform: str = "terraform") -> list[Finding]:
    """``terraform fmt -check -recursive``: one finding per badly formatted or unparsable file."""
    if not infra_dir.is_dir():
        raise GantryError(str(infra_dir), "no such directory")
    proc = _run([terraform_bin(terraform), "fmt", "-check", "-recursive", "-list=true", "-no-color", "."],
                cwd=infra_dir, timeout=timeout)
    findings = [Finding("fmt", str(infra_dir / ln.strip()), f"not formatted (run 'terraform fmt -recursive {infra_dir}')")
                for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 and not findings:
        message = _first_error(proc.stderr or proc.stdout)
        where = str(infra_dir)
        m = re.search(r" — (\S+) line (\d+)", message)
        if m:
            where = f"{infra_dir / m.group(1)}:{m.group(2)}"
            message = message.replace(m.group(0), "")
        findings.append(Finding("fmt", where, message))
    return findings


def _env(cli_config: Path | None) -> dict[str, str]:
    env = child_env(TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    if cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    return env


def _run(argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> Completed:
    try:
        return run(argv, cwd=cwd, timeout=timeout, env=env, what=f"terraform {argv[1]}")
    except TimeoutExceeded:
        raise TimeoutExceeded(f"terraform {argv[1]}", f"timed out after {timeout:.0f}s in {cwd}") from None


def _add_alias_providers(root: Path) -> None:
    aliases: list[str] = []
    for tf in root.glob("*.tf"):
        for m in _ALIASES.finditer(tf.read_text(encoding="utf-8", errors="replace")):
            aliases += [a.strip() for a in m.group(1).split(",") if a.strip()]
    blocks = []
    for alias in aliases:
        name, _, al = alias.partition(".")
        blocks.append(f'provider "{name}" {{\n  alias = "{al}"\n}}\n')
    if blocks:
        (root / "zz_gantry_validate_aliases.tf").write_text("\n".join(blocks), encoding="utf-8")


def validate_root(root: Path, display: str, cli_config: Path | None, timeout: float,
                  terraform: str = "terraform") -> list[Finding]:
    """``init -backend=false`` then ``validate -json`` in ``root`` (a copy)."""
    env = _env(cli_config)
    tf = terraform_bin(terraform)
    _add_alias_providers(root)
    init = _run([tf, "init", "-backend=false", "-input=false", "-no-color"], root, timeout, env)
    if init.returncode != 0:
        return [Finding("validate", display, "terraform init failed: " + _first_error(init.stderr or init.stdout))]
    proc = _run([tf, "validate", "-json", "-no-color"], root, timeout, env)
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [Finding("validate", display, _first_error(proc.stderr or proc.stdout))]
    findings = []
    for diag in result.get("diagnostics", []):
        if diag.get("severity") != "error":
            continue
        rng = diag.get("range") or {}
        where = display
        if rng.get("filename"):
            where = f"{os.path.normpath(os.path.join(display, rng['filename']))}:{(rng.get('start') or {}).get('line', '?')}"
        what = diag.get("summary", "error")
        if diag.get("detail"):
            what += f" ({' '.join(diag['detail'].split())[:300]})"
        findings.append(Finding("validate", where, what))
    if proc.returncode != 0 and not findings:
        findings.append(Finding("validate", display, _first_error(proc.stderr or proc.stdout)))
    return findings


def validate_all(infra_dir: Path, cli_config: Path | None, jobs: int = 0,
                 timeout: float = DEFAULT_TIMEOUT, terraform: str = "terraform") -> list[Finding]:
    """Validate every module and env root of ``infra_dir`` on a private copy, in parallel."""
    all_roots = roots(infra_dir)
    if not all_roots:
        return [Finding("validate", str(infra_dir), "no Terraform roots under modules/ or envs/")]
    jobs = jobs or max(2, min(4, os.cpu_count() or 2))
    with tempfile.TemporaryDirectory(prefix="gantry-tf-validate-") as tmp:
        copy = Path(tmp) / "infra"
        shutil.copytree(infra_dir, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        pairs = [(copy / r.relative_to(infra_dir), str(r)) for r in all_roots]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda p: validate_root(p[0], p[1], cli_config, timeout, terraform), pairs))
    return [f for res in results for f in res]
