"""A small world for promotion tests: a real bare GitOps repo (dev + prod layouts), a catalog with
``signing:`` (prod: required, its own key), real signed evidence per digest (exported bundles),
the Argo CD API on pytest-httpserver (:class:`tests.support.argocd.FakeArgoCD`) and a clock."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from gitops.bump import bump
from dataclasses import replace

from gitops.freight import Freight, Item, make
from gitops.git import git, transact
from gitops.hostlock import Writers
from gitops.layout import init_repo, scaffold
from pipeline_lib.core.catalog import Catalog, load_catalog
from pipeline_lib.stages.promote import PromoteOptions
from tests.attest.helpers import new_key, signed
from tests.support.argocd import FakeArgoCD
from tests.support.paths import PROJECT_ROOT

REGISTRY = "127.0.0.1:5000"
IMAGE = f"{REGISTRY}/shop/storefront"
START = datetime(2026, 12, 6, 0, 0, tzinfo=timezone.utc)


def write_catalog(directory: Path, prod_pub: Path, dev_pub: Path, soak: str = "30m") -> Path:
    raw = yaml.safe_load((PROJECT_ROOT / "jobs" / "catalog.yaml").read_text())
    body = raw[0]["_catalog"]
    body["promotion"] = {"soak": soak, "source": "dev"}
    body["signing"] = {"prod": {"evidence": "required", "trusted_keys": [str(prod_pub)]},
                       "dev": {"evidence": "warn", "trusted_keys": [str(dev_pub)]}}
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def init_gitops(bare: Path, catalog: Catalog) -> Path:
    assert init_repo(bare, catalog, catalog.services_in("dev"), "dev", REGISTRY)

    def more(wd: Path):
        return "scaffold prod", scaffold(wd, catalog, catalog.services_in("prod"), ["prod"], REGISTRY), None
    transact(bare.as_uri(), more)
    return bare


@dataclass
class World:
    tmp: Path
    httpserver: object
    now: datetime = START
    bundles: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prod_key = new_key(self.tmp / "prod-key")
        self.dev_key = new_key(self.tmp / "dev-key")
        pub = lambda k: Path(k.source).with_name("gantry.pub")  # noqa: E731
        self.catalog_path = write_catalog(self.tmp, pub(self.prod_key), pub(self.dev_key))
        self.catalog = load_catalog(self.catalog_path)
        self.bare = init_gitops(self.tmp / "gitops.git", self.catalog)
        self.url = self.bare.as_uri()
        self.argocd = FakeArgoCD(self.httpserver)
        self.writers = Writers(lock_dir=str(self.tmp / "locks"), batch=False)

    def clock(self) -> datetime:
        return self.now

    def new_digest(self) -> str:
        return "sha256:" + secrets.token_hex(32)

    def sign(self, digest: str, environment: str = "prod", passing: bool = True, key=None) -> None:
        """Real signed evidence (provenance, SBOM, gate verdict under ``environment``'s policy)."""
        bundles = signed(key or self.prod_key, digest=digest, environment=environment, passing=passing, image=IMAGE)
        self.bundles[digest] = [(f"{IMAGE}@{kind}", data) for kind, data in bundles.items()]

    def bundles_for(self, image: str, digest: str) -> list[tuple[str, bytes]]:
        return list(self.bundles.get(digest, []))

    def build(self, service: str = "storefront", sign: bool = True) -> Freight:
        """A build delivered to dev: bump, freight recorded, Argo CD synced it at ``now``."""
        digest = self.new_digest()
        if sign:
            self.sign(digest)
        result = bump(self.url, catalog=self.catalog, service=service, environment="dev", image=IMAGE, digest=digest,
                      tag=digest[7:19], writers=self.writers, workdir=self.tmp / "wd-build", freight=True)
        assert result.commit and result.freight
        base = git(self.bare, "rev-parse", f"{result.commit}~1").stdout.strip()
        freight = make("dev", base, [Item(service, IMAGE, digest, digest[7:19], result.manifest)], now=self.now)
        assert freight.id == result.freight            # the documented ID: items + the tip it was pinned on
        self.sync(service)
        return replace(freight, commit=result.commit)

    def sync(self, service: str = "storefront", health: str = "Healthy") -> None:
        """Argo CD syncs dev to the branch tip now."""
        self.argocd.deploy(f"{service}-dev", git(self.bare, "rev-parse", "main").stdout.strip(), self.now, health)

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    def options(self, **kw) -> PromoteOptions:
        base = dict(repo_url=self.url, argocd_server=self.argocd.url, argocd_token=self.argocd.token,
                    replica_hosts={}, mode="commit", writers=self.writers, by="tester", bundles_for=self.bundles_for,
                    clock=self.clock)
        base.update(kw)
        return PromoteOptions(self.catalog, "dev", "prod", **base)

    def prod_digest(self, service: str = "storefront") -> str | None:
        from gitops.pins import read_environment
        pins, _ = read_environment(self.url, self.catalog, "prod")
        return pins[service].digest if service in pins else None

    def head(self) -> str:
        return git(self.bare, "rev-parse", "main").stdout.strip()

    def parent(self, commit: str) -> str:
        return git(self.bare, "rev-parse", f"{commit}~1").stdout.strip()
