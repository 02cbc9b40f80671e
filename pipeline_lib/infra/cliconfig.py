"""Terraform CLI configuration: use a local provider filesystem mirror when there is one.

Offline machines carry the AWS provider in a directory tree ending in
``registry.terraform.io/hashicorp/aws/<version>``. :func:`find_mirror` looks for it at run time
(never a hard-coded path) and :func:`write_cli_config` writes a CLI config whose
``provider_installation`` uses it, so ``terraform init -backend=false`` works without network.
Without a mirror, the config only sets a shared ``plugin_cache_dir`` and ``init`` downloads.
"""

from __future__ import annotations

from pathlib import Path

from pipeline_lib.core.fileio import write_atomic

PROVIDER_HOST = "registry.terraform.io"
SEARCH_ROOTS = ("/opt", "/usr/share", "/usr/local/share", "~/.terraform.d", "~/.local/share/terraform")
MAX_DEPTH = 5


def find_mirror(roots: tuple[str, ...] | list[str] = SEARCH_ROOTS, provider: str = "hashicorp/aws",
                version: str | None = None, configured: str | None = None) -> Path | None:
    """The mirror directory (the parent of ``registry.terraform.io``) holding ``provider``:
    searched in ``configured`` alone (the caller's ``$GANTRY_TF_PROVIDER_MIRROR``), else ``roots``."""
    candidates = [configured] if configured else list(roots)
    for raw in candidates:
        root = Path(raw).expanduser()
        if not root.is_dir():
            continue
        found = _walk(root, provider, version, 0)
        if found is not None:
            return found
    return None


def _walk(directory: Path, provider: str, version: str | None, depth: int) -> Path | None:
    target = directory / PROVIDER_HOST / provider
    if target.is_dir() and any((target / v).is_dir() for v in ([version] if version else
                                                                   [p.name for p in target.iterdir()])):
        return directory
    if depth >= MAX_DEPTH:
        return None
    try:
        children = sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return None
    for child in children:
        if child.name.startswith(".") or child.name in {"proc", "sys", "dev"}:
            continue
        found = _walk(child, provider, version, depth + 1)
        if found is not None:
            return found
    return None


def render_cli_config(mirror: Path | None, plugin_cache_dir: Path | None) -> str:
    """CLI config text: the mirror for hashicorp providers if given; a plugin cache otherwise.

    With an unpacked mirror Terraform links providers straight from it, so no cache is needed
    (and a shared cache is not safe for parallel ``init``).
    """
    lines = ["# Written by gantry (make tf-cli-config); do not edit."]
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f"    path    = \"{mirror}\"",
            "    include = [\"registry.terraform.io/hashicorp/*\"]",
            "  }",
            "  direct {",
            "    exclude = [\"registry.terraform.io/hashicorp/*\"]",
            "  }",
            "}",
        ]
    elif plugin_cache_dir is not None:
        lines.append(f"plugin_cache_dir = \"{plugin_cache_dir}\"")
    return "\n".join(lines) + "\n"


def write_cli_config(path: Path, mirror: Path | None = None, plugin_cache_dir: Path | None = None,
                     search: bool = True, configured_mirror: str | None = None) -> Path:
    """Write the CLI config to ``path`` (searching for a mirror unless one is given; in
    ``configured_mirror`` alone when set, see :func:`find_mirror`)."""
    if mirror is None and search:
        mirror = find_mirror(configured=configured_mirror)
    if mirror is None and plugin_cache_dir is not None:
        plugin_cache_dir.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, render_cli_config(mirror, plugin_cache_dir))
