"""``gantry trivy-db mirror|push``: Trivy's vulnerability DB for air-gapped agents."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .options import add_dry_run, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trivy-db", help="mirror Trivy's vulnerability DB between OCI registries",
                       description="Trivy's vulnerability DB (and Java DB) as OCI artifacts: copy them to a "
                                   "registry the build agents can reach (ghcr.io → ECR), then scan with "
                                   "--db-repository (the policy's vulnerability_db.repository).")
    tsub = p.add_subparsers(dest="trivydb_command", metavar="ACTION", required=True)

    m = tsub.add_parser("mirror", help="copy the DB artifact by digest (idempotent; prints the DB's UpdatedAt)",
                        description="Copy the Trivy DB artifact from --from to --to by digest: blobs already "
                                    "present are skipped, the destination tag moves to the source digest. "
                                    "Exit 0 when copied or already present, 2 on a bad reference or a registry error.")
    m.add_argument("--from", dest="source", required=True, metavar="REF",
                   help="source, e.g. ghcr.io/aquasecurity/trivy-db:2 (tag defaults to 2)")
    m.add_argument("--to", dest="dest", required=True, metavar="REF",
                   help="destination, e.g. 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/trivy-db:2")
    m.add_argument("--java-db", action="store_true",
                   help="also mirror the Java DB (…/trivy-java-db:1 beside each trivy-db repository)")
    m.add_argument("--java-db-from", metavar="REF", help="Java DB source (implies --java-db)")
    m.add_argument("--java-db-to", metavar="REF", help="Java DB destination (implies --java-db)")
    add_dry_run(m, help="write nothing; say what would be copied")
    add_format(m)
    m.set_defaults(func=_mirror)

    push = tsub.add_parser("push", help="package a DB directory (trivy.db + metadata.json) and push it",
                           description="Package DIR's trivy.db (trivy-java.db with --java) and metadata.json "
                                       "as Trivy's OCI artifact and push it to REF; the tag moves to it.")
    push.add_argument("--db-dir", type=Path, required=True, metavar="DIR")
    push.add_argument("--to", dest="dest", required=True, metavar="REF")
    push.add_argument("--java", action="store_true", help="DIR holds the Java DB (trivy-java.db)")
    add_format(push)
    push.set_defaults(func=_push)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _progress(kind: str):
    start = time.monotonic()

    def report(digest: str, done: int, total: int) -> None:
        pct = 100 * done // total if total else 100
        rate = done / max(time.monotonic() - start, 1e-3)
        print(f"gantry trivy-db: {kind} {digest[:19]}: {_mib(done)} / {_mib(total)} ({pct}%, {_mib(int(rate))}/s)",
              file=sys.stderr, flush=True)
    return report


def _describe(r) -> str:
    meta = r.metadata
    when = ""
    if meta is not None:
        hours = meta.age().total_seconds() / 3600
        when = f"; UpdatedAt {meta.to_json()['UpdatedAt']} ({hours:.1f} h ago)"
    if r.already_present:
        what = "already present, 0 bytes copied"
    elif r.dry_run:
        what = f"would copy {r.blobs_missing} blob(s), {r.bytes_missing} bytes"
    else:
        s = r.stats
        what = (f"copied: {s.blobs_uploaded} blob(s) uploaded ({s.bytes_uploaded} bytes), "
                f"{s.blobs_mounted} mounted, {s.blobs_skipped} already there")
    return f"{r.kind} {r.source} -> {r.destination} {r.digest}: {what}{when}"


def _mirror(args: argparse.Namespace) -> int:
    from pipeline_lib.image.registry import registry_for
    from pipeline_lib.image.trivydb import DB, JAVA_DB, java_db_ref, mirror, parse_ref

    jobs = [(DB, parse_ref(args.source, DB, "--from"), parse_ref(args.dest, DB, "--to"))]
    if args.java_db or args.java_db_from or args.java_db_to:
        jsrc = parse_ref(args.java_db_from, JAVA_DB, "--java-db-from") if args.java_db_from else java_db_ref(jobs[0][1])
        jdst = parse_ref(args.java_db_to, JAVA_DB, "--java-db-to") if args.java_db_to else java_db_ref(jobs[0][2])
        jobs.append((JAVA_DB, jsrc, jdst))
    results = []
    for kind, src, dst in jobs:
        if args.format == "text":
            print(f"gantry trivy-db: {kind.name}: {src} -> {dst}{' (dry run)' if args.dry_run else ''} …",
                  file=sys.stderr, flush=True)
        result = mirror(registry_for(src.host), src, registry_for(dst.host), dst, kind=kind,
                        dry_run=args.dry_run, progress=_progress(kind.name) if args.format == "text" else None)
        results.append(result)
        if args.format == "text":
            print(_describe(result), flush=True)
    if args.format == "json":
        print(json.dumps({"results": [r.to_json() for r in results]}, indent=2))
    return 0


def _push(args: argparse.Namespace) -> int:
    from pipeline_lib.image.registry import registry_for
    from pipeline_lib.image.trivydb import DB, JAVA_DB, parse_ref, push_db

    kind = JAVA_DB if args.java else DB
    if not args.db_dir.is_dir():
        raise GantryError(str(args.db_dir), "not a directory")
    ref = parse_ref(args.dest, kind, "--to")
    digest, meta = push_db(registry_for(ref.host), ref, args.db_dir, kind)
    if args.format == "json":
        print(json.dumps({"reference": str(ref), "digest": digest, "metadata": meta.to_json()}, indent=2))
    else:
        print(f"{kind.name} {ref} {digest}: UpdatedAt {meta.to_json()['UpdatedAt']}")
    return 0
