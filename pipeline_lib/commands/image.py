"""``gantry image build|push|verify-replication``: images to ECR (or any OCI registry);
``gantry image keygen|sign|verify|attestations``: signed evidence (Sigstore bundles) stored next
to the image as OCI referrers (see :mod:`pipeline_lib.attest`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline_lib.core.catalog import load_catalog
from pipeline_lib.core.errors import GantryError
from .options import add_catalog, add_env, add_format, add_registry_for


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
    push.add_argument("--evidence", type=Path, metavar="REPORTS",
                      help="when the environment has a signing key (catalog signing.<env>.key, or --sign-key): sign "
                           "provenance (from Jenkins' JOB_URL, BUILD_URL, GIT_*), REPORTS/scans/sbom.cdx.json and "
                           "REPORTS/gate/verdict.json and push them as referrers of the image")
    push.add_argument("--sign-key", help="signing key (PEM or awskms://…; default: the catalog's for --env)")
    push.add_argument("--source", type=Path, default=Path("."), help="service checkout, for the provenance's "
                      "pinned base image and requirements.txt digest (default: .)")
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
    _register_evidence(isub)


def _image_at_digest(value: str) -> tuple[str, str]:
    """argparse ``type=`` for ``host/repository[:tag]@sha256:…`` → (host/repository, digest)."""
    from pipeline_lib.core.reference import check_digest, parse_repository, strip_reference
    name, sep, digest = value.rpartition("@")
    try:
        if not sep:
            raise GantryError("IMAGE@DIGEST", f"{value!r} has no @sha256:… digest")
        check_digest(digest, "IMAGE@DIGEST")
        repo = strip_reference(name)
        parse_repository(repo, "IMAGE@DIGEST")
    except GantryError as exc:
        raise argparse.ArgumentTypeError(exc.what) from None
    return repo, digest


def _register_evidence(isub: argparse._SubParsersAction) -> None:
    keygen = isub.add_parser("keygen", help="write a new ECDSA P-256 key pair (gantry.key, gantry.pub) for "
                                            "the demo and development")
    keygen.add_argument("--out", type=Path, required=True, metavar="DIR")
    keygen.set_defaults(func=_keygen)

    sign = isub.add_parser("sign", help="attest IMAGE@DIGEST: provenance, SBOM and gate verdict, each a signed "
                                        "Sigstore bundle pushed as an OCI referrer of the image")
    sign.add_argument("image", type=_image_at_digest, metavar="IMAGE@DIGEST")
    sign.add_argument("--key", required=True, help="PEM private key (PKCS#8, ECDSA P-256) or "
                      "awskms:///alias/NAME | awskms:///arn:aws:kms:…")
    sign.add_argument("--provenance", type=Path, metavar="FILE",
                      help="build facts as JSON (builder_id, repository, commit, ref, service, environment, "
                           "build_url, started_on, finished_on, base_image, requirements_digest)")
    sign.add_argument("--sbom", type=Path, metavar="FILE", help="CycloneDX JSON (the image scan's *.cdx.json)")
    sign.add_argument("--verdict", type=Path, metavar="FILE", help="the gate's verdict.json")
    sign.add_argument("--policy", type=Path, metavar="FILE",
                      help="with --verdict: the policy file the gate used (default: gantry's default policy)")
    sign.add_argument("--outcomes", type=Path, metavar="DIR",
                      help="with --verdict: scan outcomes whose db_updated_at gives the vulnerability DB's age")
    sign.add_argument("--out", type=Path, metavar="DIR", help="also write each bundle as DIR/<kind>.sigstore.json")
    sign.add_argument("--no-push", action="store_true", help="do not push the bundles (with --out)")
    sign.set_defaults(func=_sign)

    ver = isub.add_parser("verify", help="verify IMAGE@DIGEST's evidence (exit 0 verified, 1 missing or "
                                         "invalid, 2 cannot evaluate)")
    ver.add_argument("image", type=_image_at_digest, metavar="IMAGE@DIGEST")
    add_catalog(ver)
    who = ver.add_mutually_exclusive_group(required=True)
    who.add_argument("--key", action="append", metavar="PUB", help="trusted PEM public key (repeatable)")
    add_env(who, default=None, help="trust the catalog's keys for ENV (signing:); the verdict must have passed "
                                    "under ENV's policy")
    ver.add_argument("--require", help="comma-separated kinds: provenance,sbom,verdict (default: the catalog's "
                                       "for --env, all three for --key)")
    ver.add_argument("--bundles", type=Path, metavar="DIR",
                     help="verify the *.sigstore.json files in DIR (gantry image attestations) instead of the registry")
    add_format(ver)
    ver.set_defaults(func=_verify_evidence)

    att = isub.add_parser("attestations", help="write every bundle of IMAGE@DIGEST as DIR/<kind>.sigstore.json "
                                               "(not verified: see gantry image verify --bundles)")
    att.add_argument("image", type=_image_at_digest, metavar="IMAGE@DIGEST")
    att.add_argument("--out", type=Path, required=True, metavar="DIR")
    att.set_defaults(func=_attestations)


def _keygen(args: argparse.Namespace) -> int:
    from ..attest.keys import generate
    private, public = generate(args.out)
    print(f"keygen: wrote {private} (private, 0600) and {public}")
    return 0


def _predicates(args: argparse.Namespace) -> dict:
    from ..attest.publish import EvidenceFiles, predicates
    return predicates(EvidenceFiles(args.provenance, args.sbom, args.verdict, args.policy, args.outcomes))


def _sign(args: argparse.Namespace) -> int:
    image, digest = args.image
    if args.no_push and args.out is None:
        raise GantryError("image sign", "--no-push needs --out (the bundles would go nowhere)")
    from ..attest.publish import sign_image
    for line in sign_image(image, digest, args.key, _predicates(args), out=args.out, push=not args.no_push,
                           key_password=args.settings.key_password).lines:
        print(line)
    return 0


def _verify_evidence(args: argparse.Namespace) -> int:
    from pipeline_lib.core.errors import EXIT_CHECK_FAILED
    from ..attest.keys import load_public_key
    from ..attest.statement import KINDS, check_kinds
    from ..attest.verify import check_evidence, trusted_keys
    image, digest = args.image
    if args.env:
        from ..attest.enforce import trusted_for
        catalog = load_catalog(args.catalog)
        policy = catalog.signing_for(args.env)
        trusted = trusted_for(catalog, args.env)
        if not trusted:
            raise GantryError(f"catalog signing.{args.env}", "no trusted public key: cannot verify evidence")
        default_require = policy.require
    else:
        trusted = trusted_keys([load_public_key(k, "--key") for k in args.key])
        default_require = tuple(KINDS)
    require = check_kinds([k.strip() for k in args.require.split(",") if k.strip()]) if args.require \
        else default_require
    if args.bundles is not None:
        files = sorted(args.bundles.glob("*.sigstore.json"))
        bundles = []
        for f in files:
            try:
                bundles.append((f.name, f.read_bytes()))
            except OSError as exc:
                raise GantryError(str(f), f"cannot read: {exc.strerror or exc}") from None
        ev = check_evidence(digest, bundles, trusted, require, args.env)
        where = str(args.bundles)
    else:
        from pipeline_lib.core.reference import parse_repository
        from ..attest.store import verify_in_registry
        from ..image.registry import registry_for
        name = parse_repository(image, "image verify")
        ev = verify_in_registry(registry_for(name.host), name.repository, digest, trusted, require, args.env)
        where = name.host
    if args.format == "json":
        print(json.dumps({**ev.to_json(), "image": image, "where": where, "required": list(require)}, indent=2))
    for p in ev.problems:
        print(f"gantry: image verify: {p}", file=sys.stderr)
    if ev.problems:
        return EXIT_CHECK_FAILED
    if args.format != "json":
        print(f"verify: {image}@{digest[:19]}…: {', '.join(k for k in require)} verified in {where}")
    return 0


def _attestations(args: argparse.Namespace) -> int:
    from pipeline_lib.core.fileio import write_atomic
    from pipeline_lib.core.reference import parse_repository
    from ..attest.store import fetch_bundles, kind_of_bundle
    from ..image.registry import registry_for
    image, digest = args.image
    name = parse_repository(image, "image attestations")
    got = fetch_bundles(registry_for(name.host), name.repository, digest)
    for p in got.problems:
        print(f"gantry: warning: image attestations: {p}", file=sys.stderr)
    if not got.bundles:
        raise GantryError("image attestations", f"no bundle refers to {image}@{digest}", exit_code=1)
    seen: dict[str, int] = {}
    for _, data in got.bundles:
        kind = kind_of_bundle(data)
        seen[kind] = seen.get(kind, 0) + 1
        path = args.out / (f"{kind}.sigstore.json" if seen[kind] == 1 else f"{kind}-{seen[kind]}.sigstore.json")
        write_atomic(path, data)
        print(f"attestations: wrote {path}")
    return 0


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
    from ..stages.push import PushOptions, evidence_from_reports, run
    catalog, host, repo = _repository(args)
    tags = _tags(args)
    key = args.sign_key or catalog.signing_for(args.env).key
    evidence = provenance = None
    if key and args.evidence is None:
        print(f"gantry: warning: push: {args.env} has a signing key but no --evidence was given: not signing",
              file=sys.stderr)
        key = None
    elif key:
        svc = catalog.service(args.service)
        s = args.settings
        jenkins = {k: v for k, v in (("JOB_URL", s.job_url), ("BUILD_URL", s.build_url), ("GIT_URL", s.git_url),
                                     ("GIT_COMMIT", s.git_commit), ("GIT_BRANCH", s.git_branch),
                                     ("TAG_NAME", s.tag_name)) if v}
        evidence, provenance = evidence_from_reports(args.evidence, jenkins, service=args.service,
                                                     environment=args.env, context=args.source / svc.context,
                                                     dockerfile=args.source / svc.dockerfile)
    engine = None if args.oci_layout or args.oci_archive else _docker()
    record = run(PushOptions(host, repo, tags, args.oci_archive, args.oci_layout, args.ref, args.mount_from,
                             args.output, engine, dr_repo=None if args.registry else args.repo,
                             environment=args.env, gitops_branch=catalog.gitops_branch, out=sys.stderr,
                             sign_key=key, key_password=args.settings.key_password, evidence=evidence,
                             provenance=provenance)).data
    for ref in record["references"]:
        print(f"pushed {ref}@{record['digest']}")
    if "bytes_uploaded" in record:
        print(f"blobs: {record['blobs_uploaded']} uploaded ({record['bytes_uploaded']} bytes), "
              f"{record['blobs_mounted']} mounted, {record['blobs_skipped']} already there")
    if record.get("attestations"):
        print(f"signed: {', '.join(record['attestations'])} by key {record['signed_by'][:12]} in "
              f"{record['signing_seconds']:.2f}s, pushed as referrers of {record['digest'][:19]}…")
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
    refs = result.data.get("referrers") or 0
    print(f"verify-replication: {repo}@{args.digest}{f' and its {refs} referrer(s)' if refs else ''} is in "
          f"{', '.join(f'{r} ({s:.1f}s)' for r, s in result.data['present'].items())}")
    return 0
