"""Pin one service's image in one environment's manifest: kustomize ``images:`` or Helm values."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from pipeline_lib.core.catalog import Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError

if TYPE_CHECKING:  # ruamel.yaml is imported only when a manifest is edited
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from .yamlrt import RoundTrip

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class ImagePin:
    """What a manifest says about the image: repository, tag and digest (any may be None)."""

    name: str | None
    tag: str | None
    digest: str | None


def manifest_file(checkout: Path, env: ServiceEnvironment) -> tuple[Path, str]:
    """The YAML file to edit and its repository-relative path."""
    rel = env.manifest.rstrip("/")
    path = checkout / rel
    if env.manifest_format == "kustomize" and not rel.endswith((".yaml", ".yml")):
        for name in KUSTOMIZATION_NAMES:
            if (path / name).is_file():
                return path / name, posixpath.join(rel, name)
        if not path.exists():
            raise GantryError(rel, "manifest not found (no such overlay directory in the GitOps repo)")
        raise GantryError(rel, "manifest not found (no kustomization.yaml in the overlay directory)")
    if not path.is_file():
        raise GantryError(rel, "manifest not found in the GitOps repo")
    return path, rel


def _repo_tail(name: str) -> str:
    name = name.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def _find_kustomize_entry(images: CommentedSeq, service: Service, env: ServiceEnvironment) -> CommentedMap | None:
    repo = env.ecr_repository
    wanted = {service.name, repo, repo.rsplit("/", 1)[-1]}
    for entry in images:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name", ""))
        new_name = _repo_tail(str(entry.get("newName", "")))
        if name in wanted or name.endswith("/" + repo) or new_name == repo or new_name.endswith("/" + repo):
            return entry
    return None


def _set(mapping: CommentedMap, key: str, value: str | None) -> bool:
    """Set (or with None remove) ``key``; True when the document changed."""
    if value is None:
        if key in mapping:
            del mapping[key]
            return True
        return False
    current = mapping.get(key)
    if current is not None and str(current) == value:
        return False
    mapping[key] = value
    return True


def pin_kustomize(doc: RoundTrip, service: Service, env: ServiceEnvironment, image: str,
                  tag: str | None, digest: str) -> tuple[ImagePin, bool]:
    """Set ``newName``/``newTag``/``digest`` on the service's ``images:`` entry.

    Returns the old pin and whether anything changed.
    """
    data = doc.data
    if not isinstance(data, dict):
        raise GantryError(doc.where, "expected a kustomization mapping")
    images = data.get("images")
    entry = _find_kustomize_entry(images, service, env) if isinstance(images, list) else None
    if entry is None:
        raise GantryError(doc.where, f"no images: entry for service {service.name} "
                                     f"(name {service.name!r} or newName ending in {env.ecr_repository!r})")
    old = ImagePin(entry.get("newName"), _str(entry.get("newTag")), entry.get("digest"))
    changed = [_set(entry, "newName", image), _set(entry, "newTag", tag), _set(entry, "digest", digest)]
    return old, any(changed)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def pin_helm(doc: RoundTrip, env: ServiceEnvironment, image: str, tag: str | None,
             digest: str) -> tuple[ImagePin, bool]:
    """Set ``repository``/``tag``/``digest`` under ``values_key`` (a dotted path) in a values file."""
    from ruamel.yaml.comments import CommentedMap
    data = doc.data
    if data is None:
        doc.data = data = CommentedMap()
    if not isinstance(data, dict):
        raise GantryError(doc.where, "expected a Helm values mapping")
    node = data
    keys = env.values_key.split(".")
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = CommentedMap()
        if not isinstance(child, dict):
            raise GantryError(doc.where, f"{env.values_key}: {key} is not a mapping")
        node = child
    last = keys[-1]
    current = node.get(last)
    if isinstance(current, str):
        # a single image string: "repo:tag@sha256:…"
        old = _parse_image_string(current)
        return old, _set(node, last, f"{image}{':' + tag if tag else ''}@{digest}")
    if current is None:
        current = node[last] = CommentedMap()
    if not isinstance(current, dict):
        raise GantryError(doc.where, f"{env.values_key}: expected a mapping or an image string")
    old = ImagePin(current.get("repository"), _str(current.get("tag")) or None, current.get("digest") or None)
    changed = [_set(current, "repository", image),
               _set(current, "tag", "" if tag is None and "tag" in current else tag),
               _set(current, "digest", digest)]
    return old, any(changed)


def _parse_image_string(value: str) -> ImagePin:
    if not value:
        return ImagePin(None, None, None)
    ref, _, digest = value.partition("@")
    head, _, last = ref.rpartition("/")
    name, _, tag = last.partition(":")
    return ImagePin(f"{head}/{name}" if head else name, tag or None, digest or None)


def read_pin(checkout: Path, service: Service, env: ServiceEnvironment) -> ImagePin:
    """The image pinned for ``service`` in ``env`` (used by promote)."""
    from .yamlrt import RoundTrip
    path, rel = manifest_file(checkout, env)
    doc = RoundTrip.read(path, rel)
    if env.manifest_format == "kustomize":
        images = doc.data.get("images") if isinstance(doc.data, dict) else None
        entry = _find_kustomize_entry(images, service, env) if isinstance(images, list) else None
        if entry is None:
            raise GantryError(rel, f"no images: entry for service {service.name}")
        return ImagePin(entry.get("newName"), _str(entry.get("newTag")), entry.get("digest"))
    node = doc.data
    for key in env.values_key.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, str):
        return _parse_image_string(node)
    if isinstance(node, dict):
        return ImagePin(node.get("repository"), _str(node.get("tag")) or None, node.get("digest") or None)
    return ImagePin(None, None, None)
