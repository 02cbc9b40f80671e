"""``gantry feeds mirror|pull``: the exploit feeds (CISA KEV, FIRST EPSS) for the gate and watch.

``mirror`` copies a feed (its upstream URL, or a file) into an OCI registry after validating it;
``pull`` fetches the feeds a policy names (``feeds.kev``/``feeds.epss`` of an environment, or one
``--from REF``) into a cache directory that ``gantry gate --feeds DIR`` reads, and checks the age
of the feeds the policy's rules use. Exit codes: 0 done; 2 bad input, registry or HTTP error, a
feed that does not parse, or (pull) a used feed missing from the policy or older than its
``feeds.max_age``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from pipeline_lib.core.errors import GantryError

from .options import add_dry_run, add_env, add_format


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feeds", help="mirror the KEV/EPSS exploit feeds to an OCI registry and pull "
                                     "them into a local cache",
                       description="CISA's Known Exploited Vulnerabilities catalog and FIRST's EPSS scores as OCI "
                                   "artifacts: mirror them into the registry the agents reach, pull them into the "
                                   "cache gantry gate --feeds reads (the policy's kev/epss rules).")
    fsub = p.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)

    m = fsub.add_parser("mirror", help="validate a feed and push it as an OCI artifact (the tag moves)",
                        description="Download the feed (default: its upstream URL) or read --from-file, validate "
                                    "it (KEV: CISA's schema; EPSS: FIRST's CSV layout) and push it to --to.")
    m.add_argument("--feed", required=True, choices=("kev", "epss"))
    src = m.add_mutually_exclusive_group()
    src.add_argument("--from-url", metavar="URL", help="download from URL (default: the feed's upstream URL)")
    src.add_argument("--from-file", type=Path, metavar="FILE", help="read the feed from FILE")
    m.add_argument("--to", dest="dest", required=True, metavar="REF",
                   help="destination, e.g. 123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/gantry-feeds/kev:latest")
    add_dry_run(m, help="validate and say what would be pushed; write nothing")
    add_format(m)
    m.set_defaults(func=_mirror)

    pull = fsub.add_parser("pull", help="fetch the feeds a policy names into a cache directory (age checked)",
                           description="Fetch the feeds into --cache: every feed the policy's feeds section names for "
                                       "--env (or one --feed --from REF). The feeds the env's rules use must be there "
                                       "and younger than feeds.max_age (exit 2 otherwise).")
    pull.add_argument("--cache", type=Path, required=True, metavar="DIR", help="the cache gantry gate --feeds reads")
    pull.add_argument("--policy", type=Path, help="policy YAML (default: the packaged policy)")
    add_env(pull)
    pull.add_argument("--feed", choices=("kev", "epss"), help="pull only this feed (with --from)")
    pull.add_argument("--from", dest="source", metavar="REF", help="pull --feed from REF instead of the policy's reference")
    add_format(pull)
    pull.set_defaults(func=_pull)


#: a mirrored feed older than this gets a warning (upstream KEV and EPSS are daily)
STALE_WARNING = dt.timedelta(days=7)


def _say(args: argparse.Namespace, text: str) -> None:
    if args.format == "text":
        print(f"gantry feeds: {text}", file=sys.stderr, flush=True)


def _mirror(args: argparse.Namespace) -> int:
    from pipeline_lib.image.feedmirror import UPSTREAM, check_url, download, parse_ref, push_feed
    from pipeline_lib.image.registry import registry_for

    ref = parse_ref(args.dest, "--to")
    if args.from_file is not None:
        try:
            raw, source = args.from_file.read_bytes(), str(args.from_file)
        except OSError as exc:
            raise GantryError(str(args.from_file), f"cannot read: {exc.strerror or exc}") from None
    else:
        source = check_url(args.from_url or UPSTREAM[args.feed])
        _say(args, f"{args.feed}: downloading {source} …")
        raw = download(source, progress=lambda n: None)
    result = push_feed(registry_for(ref.host), ref, args.feed, raw, source=source, dry_run=args.dry_run)
    age = dt.datetime.now(dt.timezone.utc) - result.date
    if age > STALE_WARNING:   # the gate refuses it wherever the policy's feeds.max_age is shorter
        print(f"gantry feeds: warning: {args.feed} is dated {result.to_json()['date']} ({age.days} days old); "
              f"environments whose policy sets feeds.max_age below that will refuse it", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        what = ("already present" if result.already_present else
                "would push" if result.dry_run else "pushed")
        print(f"{result.name} {result.reference} {result.digest}: {what} ({result.size} bytes, "
              f"dated {result.to_json()['date']}{'; registry not contacted' if result.dry_run else ''})")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from pipeline_lib.core.fileio import ensure_dir
    from pipeline_lib.image.feedmirror import check_name, parse_ref, pull_feed
    from pipeline_lib.image.registry import registry_for
    from scanners.feeds import check_age, load_feeds
    from scanners.policy import load_policy, load_policy_feeds

    policy = load_policy(args.policy)
    policy.check_environment(args.env)
    if (args.feed is None) != (args.source is None):
        raise GantryError("--from", "give --feed and --from together (or neither: the policy's references)")
    if args.source:
        jobs = [(check_name(args.feed), args.source)]
    else:
        settings = policy.feed_settings_for(args.env)
        used = policy.feeds_used(args.env)
        jobs = [(name, settings.reference(name)) for name in ("kev", "epss") if settings.reference(name)]
        unnamed = sorted(used - {name for name, _ in jobs})
        if unnamed:
            raise GantryError(f"feed {unnamed[0]}", f"the {args.env} policy uses it but its feeds section names "
                                                    f"no repository to pull it from (feeds.{unnamed[0]})")
        if not jobs:
            print("gantry feeds: the policy names no feeds for this environment: nothing to pull", file=sys.stderr)
    ensure_dir(args.cache, "--cache")
    checked = {args.feed} if args.source else policy.feeds_used(args.env)
    max_age, now = policy.feed_settings_for(args.env).max_age, dt.datetime.now(dt.timezone.utc)

    def fresh(name: str, date: dt.datetime) -> None:   # a stale used feed is refused before it is cached
        status = check_age(name, date, max_age, args.env, now)
        if name in checked and not status.ok:
            raise GantryError(f"feed {name}", status.message.removeprefix(f"feed {name}: ") + "; nothing cached")

    results = []
    for name, reference in jobs:
        ref = parse_ref(reference, f"feeds.{name}")
        _say(args, f"{name}: pulling {ref} …")
        results.append(pull_feed(registry_for(ref.host), ref, name, args.cache, accept=fresh))
    if args.source:   # one feed: its age against the environment's limit
        _, statuses = load_feeds(args.cache, {args.feed}, policy.feed_settings_for(args.env), args.env)
    else:             # the feeds the environment's rules use: present and fresh (fail closed)
        _, statuses = load_policy_feeds(policy, args.env, args.cache)
    if args.format == "json":
        print(json.dumps({"pulled": [r.to_json() for r in results],
                          "checked": [{"feed": s.name, "ok": s.ok, "message": s.message} for s in statuses]}, indent=2))
    else:
        for r in results:
            print(f"{r.name} {r.reference} {r.digest}: {r.size} bytes, dated {r.to_json()['date']} -> {r.path}")
        for s in statuses:
            print(s.message)
    return 0
