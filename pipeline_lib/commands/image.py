"""``gantry image build|push|verify-replication``: images to ECR (or any OCI registry)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import GantryError
from .options import add_catalog, add_env, add_registry_for


def _common(p: argparse.ArgumentParser, env_required: bool = False) -> None:
    add_catalog(p)
    p.add_argument("--service", required=True)
    add_env(p, required=env_required, help="environment whose ECR repository is used")
    p.add_argument("--registry", help="registry host (default: the catalog's ECR host in the registry region)")


def _digest(value: str) -> str:
    from pipeline_lib.core.reference import check_digest
    try:
        return check_digest(value)
    except GantryError as exc:
        raise argparse.ArgumentTypeError(exc.what) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("image", help="build, push and verify replication of service images")
    isub = p.add_subparsers(dest="image_command", metavar="ACTION", required=True)

    build = isub.add_parser("build", help="build the service image through the Docker API (DOCKER_HOST)")
    _common(build)
    build.add_argument("--source", type=Path, default=Path("."), help="service checkout (default: .)")
    build.add_argument("--tag", action="append", help="tag (repeatable; default: $GIT_COMMIT[:12] and "
                       "$TAG_NAME when it is a semver tag)")
    build.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    build.add_argument("--vendor-to", type=Path, metavar="DIR",
                       help="copy the build context to DIR and install its pinned requirements.txt into "
                            "DIR/site-packages (pip --target, no RUN step); the image is built from DIR")
    build.add_argument("--wheel-cache", type=Path, metavar="DIR",
                       help="with --vendor-to: wheels cached here (default: DIR/../wheels)")
    build.add_argument("--builder", choices=("docker", "buildkit"), default="docker",
                       help="docker: the Docker API (Docker engine or podman); buildkit: rootless "
                            "BuildKit into an OCI archive (default: %(default)s)")
    build.add_argument("--output-oci", type=Path, default=Path("image.oci.tar"),
                       help="with --builder buildkit: the OCI archive to write (default: %(default)s)")
    build.set_defaults(func=_build, stage="build")

    push = isub.add_parser("push", help="push the image; print and record its digest")
    _common(push)
    push.add_argument("--tag", action="append",
                      help="tag (repeatable; the first is the commit sha, others e.g. the semver; "
                           "default: $GIT_COMMIT[:12] and $TAG_NAME when it is a semver tag)")
    src = push.add_mutually_exclusive_group()
    src.add_argument("--oci-layout", type=Path, help="push this OCI layout directory (no container engine)")
    src.add_argument("--oci-archive", type=Path, help="push this OCI archive (tar of a layout)")
    push.add_argument("--ref", default="", help="image name inside the OCI layout/archive")
    push.add_argument("--mount-from", help="repository in the same registry to mount shared blobs from")
    push.add_argument("--output", type=Path, help="write the result as JSON here")
    push.add_argument("--repo", help="GitOps repository whose DR state names the active registry: while --env is "
                                     "failed over (gantry dr failover) push there instead of the primary "
                                     "(--registry wins; default: not read)")
    push.set_defaults(func=_push, stage="push")

    verify = isub.add_parser("verify-replication",
                             help="wait until the digest is in every replica region (exit 1 on timeout)")
    _common(verify)
    verify.add_argument("--digest", required=True, type=_digest)
    add_registry_for(verify, help="registry host to check for a region (default: its ECR host)")
    verify.add_argument("--timeout", type=float, default=600.0, help="seconds (default: 600)")
    verify.add_argument("--interval", type=float, default=1.0, help="first poll interval (backs off)")
    verify.add_argument("--no-status-api", action="store_true", help="skip DescribeImageReplicationStatus")
    verify.add_argument("--repo", help="GitOps repository whose DR state names the active registry: while --env "
                                       "is failed over (gantry dr failover) the check runs in reverse, from the "
                                       "active replica to the primary (default: not read; primary -> replicas)")
    verify.set_defaults(func=_verify, stage="replicate")


_SEMVER = __import__("re").compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def default_tags(env: dict[str, str]) -> list[str]:
    """Jenkins' ``GIT_COMMIT`` (12 characters) and, on a tag build, ``TAG_NAME`` when it is semver."""
    tags = []
    commit = env.get("GIT_COMMIT", "").strip()
    if commit:
        tags.append(commit[:12])
    tag_name = env.get("TAG_NAME", "").strip()
    if tag_name and _SEMVER.match(tag_name):
        tags.append(tag_name.replace("+", "_"))
    return tags


def _tags(args: argparse.Namespace) -> list[str]:
    from pipeline_lib.core.reference import check_tag
    build = {"GIT_COMMIT": args.settings.git_commit or "", "TAG_NAME": args.settings.tag_name or ""}
    tags = args.tag or default_tags(build)
    if not tags:
        raise GantryError(f"image {args.image_command}", "no tag: pass --tag or set GIT_COMMIT")
    return [check_tag(t, f"image {args.image_command}: --tag") for t in tags]


def _repository(args: argparse.Namespace) -> tuple[object, str, str]:
    catalog = load_catalog(args.catalog)
    env = catalog.service(args.service).environment(args.env)
    host = args.registry or catalog.registry_host
    return catalog, host, env.ecr_repository


def _docker():
    import docker
    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except docker.errors.DockerException as exc:
        raise GantryError("docker", f"cannot reach the Docker API (DOCKER_HOST): {str(exc)[:200]}") from None


def _build(args: argparse.Namespace) -> int:
    from ..stages.build import BuildOptions, run
    catalog, host, repo = _repository(args)
    svc = catalog.service(args.service)
    labels = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GantryError("image build", f"--label {item!r}: expected KEY=VALUE")
        labels[key] = value
    refs = [f"{host}/{repo}:{t}" for t in _tags(args)]
    client = _docker() if args.builder == "docker" else None
    result = run(BuildOptions(args.source / svc.context, svc.dockerfile, refs, args.output_oci, args.builder,
                              labels, client, vendor_to=args.vendor_to, wheel_cache=args.wheel_cache))
    if result.data["image_id"]:
        print(f"built {result.data['image_id']} as {', '.join(refs)}")
    print(f"built {refs[0]} into OCI archive {result.data['oci_archive']}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from ..stages.push import PushOptions, run
    catalog, host, repo = _repository(args)
    engine = None if args.oci_layout or args.oci_archive else _docker()
    record = run(PushOptions(host, repo, _tags(args), args.oci_archive, args.oci_layout, args.ref, args.mount_from,
                             args.output, engine, dr_repo=None if args.registry else args.repo,
                             environment=args.env, gitops_branch=catalog.gitops_branch, out=sys.stderr)).data
    for ref in record["references"]:
        print(f"pushed {ref}@{record['digest']}")
    if "bytes_uploaded" in record:
        print(f"blobs: {record['blobs_uploaded']} uploaded ({record['bytes_uploaded']} bytes), "
              f"{record['blobs_mounted']} mounted, {record['blobs_skipped']} already there")
    print(f"digest {record['digest']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..ecr.auth import ecr_client
    from ..stages.replicate import ReplicateOptions, run
    catalog, host, repo = _repository(args)
    overrides = dict(args.registry_for)
    unknown = set(overrides) - {catalog.registry_region, *catalog.replica_regions}
    if unknown:
        raise GantryError("verify-replication", f"--registry-for: region(s) {', '.join(sorted(unknown))} are "
                                                f"neither the registry region nor a replica region")
    hosts = {r: overrides.get(r) or catalog.ecr_host(r) for r in (catalog.registry_region, *catalog.replica_regions)}
    primary = catalog.registry_region
    primary_host = hosts.pop(primary)
    result = run(ReplicateOptions(repo, args.digest, args.registry or primary_host, hosts,
                                  registry_id=catalog.aws_account_id, timeout=args.timeout, interval=args.interval,
                                  out=sys.stdout, source_region=primary, dr_repo=args.repo, environment=args.env,
                                  gitops_branch=catalog.gitops_branch,
                                  ecr_for=None if args.no_status_api else ecr_client))
    print(f"verify-replication: {repo}@{args.digest} is in "
          f"{', '.join(f'{r} ({s:.1f}s)' for r, s in result.data['present'].items())}")
    return 0
