"""Pin one service's image in one environment's manifest: kustomize ``images:`` or Helm values.

These functions edit text (:class:`gitops.yamlrt.LineDoc`); they do not decide whether the edit
takes effect. Every edit goes through :func:`gitops.effect.apply_intents`, which renders the
result and checks it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from pipeline_lib.core.catalog import Service, ServiceEnvironment
from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.reference import parse_repository

if TYPE_CHECKING:  # ruamel.yaml is imported only when a manifest is edited
    from .yamlrt import LineDoc

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class ImagePin:
    """What a manifest says about the image: repository, tag and digest (any may be None)."""

    name: str | None
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, value: str | None) -> ImagePin:
        """``host/repo[:tag][@digest]`` -> its parts (empty -> all None)."""
        if not value:
            return cls(None, None, None)
        ref, _, digest = value.partition("@")
        head, _, last = ref.rpartition("/")
        name, _, tag = last.partition(":")
        return cls(f"{head}/{name}" if head else name, tag or None, digest or None)

    @property
    def reference(self) -> str:
        return f"{self.name or ''}{':' + self.tag if self.tag else ''}{'@' + self.digest if self.digest else ''}"

    def satisfies(self, intended: ImagePin) -> bool:
        """True when this (rendered) image is exactly ``intended``: same name and digest, and the
        tag either absent or the intended one (a tag beside a digest is not used for the pull)."""
        return (self.name == intended.name and self.digest == intended.digest
                and (self.tag is None or self.tag == intended.tag))


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
    return ImagePin.parse(name).name or ""


def kustomize_entries(doc: LineDoc) -> list[dict]:
    """The ``images:`` entries of a kustomization (plain dicts; non-mappings as empty dicts)."""
    data = doc.data()
    if not isinstance(data, dict):
        raise GantryError(doc.where, "expected a kustomization mapping")
    images = data.get("images")
    if images is None:
        return []
    if not isinstance(images, list):
        raise GantryError(doc.where, "images: expected a list")
    return [e if isinstance(e, dict) else {} for e in images]


def kustomize_candidates(entries: list[dict], service: Service, env: ServiceEnvironment,
                         image: str) -> list[int]:
    """Indexes of the entries that can act on the service's image, in file order.

    Kustomize applies ``images:`` entries in order, each to the image name the previous ones
    produced (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/images/), so
    an entry whose ``name`` is an earlier match's ``newName`` acts on the same container.
    """
    repo = env.ecr_repository
    names = {service.name, repo, repo.rsplit("/", 1)[-1], image} - {""}
    out = []
    for i, entry in enumerate(entries):
        name = str(entry.get("name", ""))
        new_name = _repo_tail(str(entry.get("newName", "")))
        if (name in names or name.endswith("/" + repo) or (image and new_name == image) or new_name == repo
                or new_name.endswith("/" + repo)):
            out.append(i)
            names.add(name)
            if new_name:
                names.add(new_name)
    return out


def describe_entry(entries: list[dict], index: int) -> str:
    e = entries[index]
    extra = ", ".join(f"{k} {e[k]}" for k in ("newName", "newTag", "digest") if e.get(k))
    return f"images[{index}] (name {e.get('name')!r}{', ' + extra if extra else ''})"


def pin_kustomize(doc: LineDoc, index: int, pin: ImagePin) -> bool:
    """Set ``newName``/``newTag``/``digest`` of ``images[index]``; True when the text changed."""
    path: list[str | int] = ["images", index]
    changed = doc.set(path, "newName", str(pin.name))
    changed = (doc.set(path, "newTag", pin.tag) if pin.tag else doc.remove(path, "newTag")) or changed
    if pin.digest:
        changed = doc.set(path, "digest", pin.digest) or changed
    else:
        changed = doc.remove(path, "digest") or changed
    return changed


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def helm_node(doc: LineDoc, env: ServiceEnvironment) -> object:
    """The value under ``values_key`` (a mapping, an image string, or None)."""
    node = doc.data()
    for key in env.values_key.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def helm_pin(doc: LineDoc, env: ServiceEnvironment) -> ImagePin:
    """The image the values give the chart: ``[registry/]repository``, tag, digest.

    A non-empty ``global.imageRegistry`` replaces ``registry`` (Bitnami's
    ``common.images.image`` helper does so), so it is applied here too.
    """
    node = helm_node(doc, env)
    if isinstance(node, str):
        return ImagePin.parse(node)
    if not isinstance(node, dict):
        return ImagePin(None, None, None)
    repository = _str(node.get("repository"))
    if "registry" in node:
        data = doc.data()
        glob = data.get("global") if isinstance(data, dict) else None
        registry = (_str(glob.get("imageRegistry")) if isinstance(glob, dict) else None) or _str(node.get("registry"))
        if registry and repository:
            repository = f"{registry}/{repository}"
    return ImagePin(repository, _str(node.get("tag")) or None, _str(node.get("digest")) or None)


def pin_helm(doc: LineDoc, env: ServiceEnvironment, pin: ImagePin) -> tuple[bool, list[str]]:
    """Write ``pin`` under ``values_key``; returns (changed, keys written).

    A mapping with a ``registry`` key (Bitnami style, ``registry/repository@digest``) gets the
    registry host and the repository path separately; otherwise ``repository`` holds the
    whole name. An image string is replaced whole.
    """
    keys = env.values_key.split(".")
    path: list[str | int] = []
    for key in keys[:-1]:
        doc.set_mapping(path, key)
        path.append(key)
    last = keys[-1]
    current = helm_node(doc, env)
    if isinstance(current, str):
        return doc.set(path, last, pin.reference), [last]
    doc.set_mapping(path, last)
    path.append(last)
    current = helm_node(doc, env)
    assert isinstance(current, dict)
    changed = False
    written = ["repository", "tag", "digest"]
    if "registry" in current:
        name = parse_repository(str(pin.name), f"{doc.where}: {env.values_key}")
        changed = doc.set(path, "registry", name.host) or changed
        changed = doc.set(path, "repository", name.repository) or changed
        written.insert(0, "registry")
    else:
        changed = doc.set(path, "repository", str(pin.name)) or changed
    if pin.tag is not None:
        changed = doc.set(path, "tag", pin.tag) or changed
    elif "tag" in current and current.get("tag"):
        changed = doc.set(path, "tag", "") or changed
    changed = doc.set(path, "digest", str(pin.digest)) or changed
    return changed, written
