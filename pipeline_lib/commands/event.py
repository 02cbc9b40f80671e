"""``gantry event``: schedule the event stack, run its lifecycle step, estimate its cost, deploy a fix,
run the load gate, go/no-go before the sale, sweep what a destroy left, the cost ledger."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from datetime import datetime, timedelta
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, NoRegionError

from pipeline_lib.core.catalog import MAX_LOAD_SECONDS, load_catalog
from pipeline_lib.core.fileio import check_dir_creatable, ensure_dir
from pipeline_lib.core.errors import EXIT_CHECK_FAILED, EXIT_OK, GantryError
from pipeline_lib.core.settingsmodel import FromSetting
from ..event.cost import HOURS_PER_MONTH, estimate, render
from ..event.lifecycle import STEPS, Handler, LifecycleConfig
from ..event.schedule import DEFAULT_DESTROY_DELAY, delete_schedules, ensure_schedules, parse_window
from ..event.ledger import DEFAULT_LEDGER
from .options import add_catalog, add_dry_run, add_env, add_format, add_registry_for

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh])$")


MAX_DURATION = timedelta(days=30)   # no event flag means more than a month; 999999h is a typo


def _duration(args: argparse.Namespace, flag: str, raw: str) -> timedelta:
    """``raw`` (``90s``, ``30m``, ``2h``) as a timedelta of at most :data:`MAX_DURATION`;
    GantryError ``event <action>: <flag>`` otherwise."""
    where = f"event {args.event_command}: {flag}"
    m = _DURATION.match(raw.strip())
    if not m:
        raise GantryError(where, f"{raw!r} is not a duration such as 90s, 30m or 2h")
    value = timedelta(seconds=float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)])
    if value > MAX_DURATION:
        raise GantryError(where, f"{raw!r} is longer than {MAX_DURATION.days} days")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("event", help="event environment: schedule, lifecycle, cost, deploy, load gate, readiness, sweep")
    esub = parser.add_subparsers(dest="event_command", metavar="ACTION", parser_class=type(parser))
    parser.set_defaults(func=lambda a: parser.print_help() or 2)

    sch = esub.add_parser("schedule", help="create/update (or --delete) the event's create/destroy schedules")
    sch.add_argument("--name", required=True, help="event name (lower-case, digits, '-')")
    sch.add_argument("--start", help="event start, ISO date-time local to --tz")
    sch.add_argument("--end", help="event end, ISO date-time local to --tz")
    sch.add_argument("--tz", default="Asia/Seoul", help="time zone of --start/--end and of the schedules")
    sch.add_argument("--destroy-delay", default="1h", help="destroy this long after --end (default 1h)")
    sch.add_argument("--group", default="event-events", help="Scheduler schedule group (infra: event-runner)")
    sch.add_argument("--project", default="event-runner", help="CodeBuild runner project")
    sch.add_argument("--role-arn", help="role the Scheduler assumes (default: role/event-scheduler in the account)")
    sch.add_argument("--region", default=None, help="AWS region (default: the catalog's event region)")
    add_catalog(sch)
    sch.add_argument("--delete", action="store_true", help="delete the event's schedules instead")
    sch.set_defaults(func=_schedule)

    lc = esub.add_parser("lifecycle", help="run one lifecycle step (what the runner executes)")
    lc.add_argument("--name", required=True)
    lc.add_argument("--step", required=True, choices=STEPS)
    lc.add_argument("--event-end", required=True, help="event end (ISO date-time with offset)")
    lc.add_argument("--region", default=FromSetting("aws_region", "ap-northeast-2"), help="default: %(default)s")
    lc.add_argument("--db-instance", default="event")
    lc.add_argument("--final-sync-task", default="event-final-sync")
    lc.add_argument("--slack-secret", default=FromSetting("slack_webhook_secret_id"), help="default: %(default)s")
    lc.add_argument("--sns-topic-arn", default=None)
    lc.add_argument("--event-root", type=Path, default=Path("infra/envs/event"))
    lc.add_argument("--terraform", default=FromSetting("terraform"),
                    help="terraform command (split like a shell; default: %(default)s)")
    lc.add_argument("--gitops-repo", default=None,
                    help="create: write the event images' digests pinned in this GitOps repo to "
                         "images.auto.tfvars.json before apply")
    add_catalog(lc)
    lc.add_argument("--window", default="2h", help="retry window (default 2h)")
    lc.add_argument("--retry-interval", default="60s")
    lc.add_argument("--sync-wait", default="30m", help="wait per attempt for the DMS final sync")
    lc.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER,
                    help="cost ledger: create opens the event's entry, destroy closes it (default: %(default)s)")
    lc.add_argument("--no-sweep", action="store_true",
                    help="destroy: do not check for resources the destroy left behind")
    lc.set_defaults(func=_lifecycle)

    cost = esub.add_parser("cost", help="event stack cost for its lifetime vs always on; --history: the ledger",
                           description="With --start/--end: the estimate. With --history: every event's "
                                       "recorded hours and cost from the ledger the lifecycle appends.")
    cost.add_argument("--name", default="event")
    cost.add_argument("--start")
    cost.add_argument("--end")
    cost.add_argument("--history", action="store_true", help="show the cost ledger instead of an estimate")
    cost.add_argument("--ledger", type=Path, default=DEFAULT_LEDGER, help="cost ledger (default: %(default)s)")
    add_format(cost)
    cost.add_argument("--tz", default="Asia/Seoul")
    cost.add_argument("--destroy-delay", default="1h")
    cost.add_argument("--period-hours", type=float, default=HOURS_PER_MONTH,
                      help=f"always-on comparison period (default {HOURS_PER_MONTH:g} h, a month)")
    add_catalog(cost)
    cost.set_defaults(func=_cost)

    dep = esub.add_parser("deploy", help="roll an ECS service of the event stack to the digest the GitOps "
                                         "repo pins (new task definition revision, circuit breaker on)",
                          description="Exit 0: rolled out (or already at the pinned digest); 1: the rollout "
                                      "failed or timed out; 2: bad input or AWS error.")
    dep.add_argument("--service", required=True, help="catalog service (also the ECS service and container name)")
    add_env(dep, default="event", help="an ecs-fargate environment of the catalog")
    dep.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    dep.add_argument("--cluster", help="ECS cluster (default: the environment's name, as infra/envs/event)")
    dep.add_argument("--container", help="container to update (default: the service name)")
    dep.add_argument("--region", help="AWS region (default: the environment's aws_region)")
    add_catalog(dep)
    add_dry_run(dep, help="say what would change; register and update nothing")
    dep.add_argument("--no-wait", action="store_true", help="return after UpdateService")
    dep.add_argument("--timeout", default="15m", help="wait this long for the rollout (default 15m)")
    dep.add_argument("--interval", default="10s", help="poll interval while waiting (default 10s)")
    add_format(dep)
    dep.set_defaults(func=_deploy, stage="deploy")

    lt = esub.add_parser("loadtest", help="the load gate: Locust against the event stack with the catalog's "
                                          "event.load profile, judged against its thresholds",
                         description="Runs Locust headless (the catalog's event.load: users, spawn rate, "
                                     "duration, request mix) against --target and judges p95/p99 latency, "
                                     "error rate and throughput. Writes Locust's CSV and HTML reports and "
                                     "loadtest.json into --out. Exit 0: every threshold met; 1: a threshold "
                                     "missed (each named); 2: cannot run (target unreachable, Locust missing "
                                     "or crashed, no request made).")
    add_env(lt, default="event", help="the environment under test (recorded in the verdict)")
    lt.add_argument("--target", help="base URL of the stack (default: the catalog's event.load.target)")
    lt.add_argument("--out", type=Path, default=Path("reports/loadtest"),
                    help="report directory (default: %(default)s)")
    lt.add_argument("--users", type=int, help="override event.load.users")
    lt.add_argument("--duration", help="override event.load.duration (e.g. 90s, 5m)")
    lt.add_argument("--progress-interval", default="5s", help="progress line every … on stderr (default 5s)")
    add_catalog(lt)
    add_dry_run(lt, help="print the plan (target, profile, thresholds); run nothing")
    add_format(lt)
    lt.set_defaults(func=_loadtest)
    _register_readiness(esub)
    _register_sweep(esub)


def _register_readiness(esub: argparse._SubParsersAction) -> None:
    rd = esub.add_parser("readiness", help="go/no-go before the sale: stack, digests, evidence, Tokyo copy, DMS, "
                                           "alert routing, load gate",
                         description="Exit 0: go; 1: no-go (each failed check on one line); 2: cannot evaluate. "
                                     "Writes readiness.md and readiness.json to --out and posts to Slack when "
                                     "SLACK_WEBHOOK_URL is set.")
    add_env(rd, default="event", help="an ecs-fargate environment of the catalog")
    add_catalog(rd)
    rd.add_argument("--repo", help="GitOps repository URL (default: the catalog's gitops_repo)")
    rd.add_argument("--cluster", help="ECS cluster (default: the environment's name)")
    rd.add_argument("--region", help="AWS region (default: the environment's aws_region)")
    rd.add_argument("--final-sync-task", default="event-final-sync", help="DMS task id (default: %(default)s)")
    rd.add_argument("--tf-state", type=Path, help="read this Terraform state file instead of running "
                                                   "'terraform output -json' in --event-root")
    rd.add_argument("--event-root", type=Path, default=Path("infra/envs/event"))
    rd.add_argument("--terraform", default=FromSetting("terraform"), help="terraform command (default: %(default)s)")
    am = rd.add_mutually_exclusive_group()
    am.add_argument("--alertmanager-config", type=Path, help="Alertmanager configuration file to test routes in")
    am.add_argument("--alertmanager-url", help="a running Alertmanager whose configuration amtool tests")
    rd.add_argument("--alert-label", action="append", default=None, metavar="NAME=VALUE",
                    help="labels of the tested alert (repeatable; default: the event lifecycle alert's)")
    rd.add_argument("--alert-receiver", action="append", default=None, metavar="NAME",
                    help="receiver(s) the alert must reach, in order (default: slack-oncall)")
    rd.add_argument("--loadtest", type=Path, default=Path("reports/loadtest/loadtest.json"),
                    help="the load gate's verdict (default: %(default)s)")
    rd.add_argument("--loadtest-max-age", default="6h", help="the load gate must have passed within this (default 6h)")
    add_registry_for(rd)
    rd.add_argument("--out", type=Path, default=Path("reports/readiness"), help="report directory (default: %(default)s)")
    rd.add_argument("--no-slack", action="store_true", help="do not post to Slack")
    add_format(rd)
    rd.set_defaults(func=_readiness)


def _register_sweep(esub: argparse._SubParsersAction) -> None:
    sw = esub.add_parser("sweep", help="find (and delete) what the event stack's destroy left behind, priced",
                         description="Exit 0: nothing left (final snapshots are kept on purpose); 1: leftovers "
                                     "remain (--dry-run: any found); 2: AWS error.")
    add_env(sw, default="event", help="the stack's Environment tag")
    add_catalog(sw)
    sw.add_argument("--region", help="AWS region (default: the environment's aws_region)")
    sw.add_argument("--db-instance", default="event", help="the stack's DB (its final snapshots are kept)")
    add_dry_run(sw, help="list what is left, delete nothing")
    add_format(sw)
    sw.set_defaults(func=_sweep)


def _session(region: str) -> boto3.session.Session:
    try:
        return boto3.session.Session(region_name=region)
    except (BotoCoreError, NoRegionError) as exc:
        raise GantryError("event: aws", str(exc)) from None


def _schedule(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    if "event" not in catalog.environments:
        raise GantryError(str(args.catalog), "defines no event environment")
    region = args.region or catalog.environments["event"].aws_region
    session = _session(region)
    scheduler = session.client("scheduler")
    if args.delete:
        results = delete_schedules(scheduler, args.name, args.group)
    else:
        if not args.start or not args.end:
            raise GantryError("event schedule", "--start and --end are required (or --delete)")
        window = parse_window(args.name, args.start, args.end, args.tz,
                              _duration(args, "--destroy-delay", args.destroy_delay), where="event schedule")
        now = datetime.now(window.start.tzinfo)
        if window.destroy_at <= now:
            raise GantryError("event schedule: --end", f"the event is over (destroy time {window.destroy_at.isoformat()} "
                              "has passed); nothing to schedule")
        if window.create_at <= now:
            print(f"note: create time {window.create_at.isoformat()} has passed; run "
                  f"'gantry event lifecycle --name {window.name} --step create' now", file=sys.stderr)
        role = args.role_arn or f"arn:aws:iam::{catalog.aws_account_id}:role/event-scheduler"
        results = ensure_schedules(scheduler, session.client("codebuild"), window, args.group, args.project, role)
        print(f"event {window.name}: create at {window.create_at.isoformat()}, destroy at "
              f"{window.destroy_at.isoformat()} ({window.lifetime_hours:g} h)")
    for name, action in results:
        print(f"{name}: {action}")
    return EXIT_OK


def _lifecycle(args: argparse.Namespace) -> int:
    try:
        end = datetime.fromisoformat(args.event_end)
    except ValueError:
        raise GantryError("event lifecycle: --event-end", f"{args.event_end!r} is not an ISO date-time") from None
    if end.tzinfo is None:
        raise GantryError("event lifecycle: --event-end", "needs a UTC offset (e.g. 2027-03-01T22:00:00+09:00)")
    cmd = tuple(shlex.split(args.terraform))
    if not cmd:
        raise GantryError("event lifecycle: --terraform", "is empty")
    cfg = LifecycleConfig(
        event_name=args.name, event_end=end, region=args.region, db_instance_id=args.db_instance,
        final_sync_task_id=args.final_sync_task, slack_secret_id=args.slack_secret,
        sns_topic_arn=args.sns_topic_arn, event_root=args.event_root, terraform_cmd=cmd,
        window_seconds=_duration(args, "--window", args.window).total_seconds(),
        retry_interval=_duration(args, "--retry-interval", args.retry_interval).total_seconds(),
        sync_wait_seconds=_duration(args, "--sync-wait", args.sync_wait).total_seconds(),
        gitops_repo=args.gitops_repo, catalog_path=args.catalog, sweep=not args.no_sweep, ledger_path=args.ledger)
    outcome = Handler(cfg, _session(args.region)).run(args.step)
    print(f"event {args.name}: {args.step} done after {outcome.attempts} attempt(s)")
    return EXIT_OK


def _cost(args: argparse.Namespace) -> int:
    if args.history:
        from ..event.ledger import read_ledger, render_history
        events = read_ledger(args.ledger)
        print(json.dumps({"ledger": str(args.ledger), "events": events}, indent=2) if args.format == "json"
              else render_history(events))
        return EXIT_OK
    if not args.start or not args.end:
        raise GantryError("event cost", "--start and --end are required (or --history)")
    window = parse_window(args.name, args.start, args.end, args.tz, _duration(args, "--destroy-delay", args.destroy_delay),
                          where="event cost")
    if args.period_hours < window.lifetime_hours:
        raise GantryError("event cost: --period-hours", f"{args.period_hours:g} h is shorter than the stack's "
                          f"lifetime ({window.lifetime_hours:g} h)")
    est = estimate(load_catalog(args.catalog), window, args.period_hours)
    if args.format == "json":
        print(json.dumps({"event": window.name, "hours": est.lifetime_hours, "hourly_usd": est.hourly,
                          "event_usd": est.event_cost, "always_on_usd": est.always_on_cost, "saving": est.saving},
                         indent=2))
    else:
        print(render(est, window))
    return EXIT_OK


def _deploy(args: argparse.Namespace) -> int:
    from ..stages.deploy import DeployOptions, run
    result = run(DeployOptions(
        load_catalog(args.catalog), args.service, args.env, lambda region: _session(region).client("ecs"),
        repo_url=args.repo, cluster=args.cluster, container=args.container, region=args.region,
        dry_run=args.dry_run, wait=not args.no_wait,
        timeout=_duration(args, "--timeout", args.timeout).total_seconds(),
        interval=_duration(args, "--interval", args.interval).total_seconds()))
    if result.value is None:  # not an ECS environment
        raise GantryError("event deploy: --env", f"{result.detail}; not ECS Fargate (use gantry gitops bump)")
    if args.format == "json":
        print(json.dumps(result.data, indent=2))
    else:
        print(f"event deploy {args.service} ({result.value.cluster}): {result.detail}")
    return EXIT_OK


def _loadtest(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..event.loadtest import VERDICT_NAME, Plan, run_loadtest
    catalog = load_catalog(args.catalog)
    profile = catalog.event_load
    if profile is None:
        raise GantryError(str(args.catalog), "event.load: not configured (the load gate's profile and thresholds)")
    if args.env not in catalog.environments:
        raise GantryError("event loadtest: --env", f"{args.env!r} is not an environment of {args.catalog}")
    if args.target is not None and not args.target.strip():
        raise GantryError("event loadtest: --target", "is empty (an unset variable?): give the stack's URL "
                          "or leave --target out to use the catalog's event.load.target")
    target = args.target or profile.target
    if not target:
        raise GantryError("event loadtest: --target", "required (the catalog's event.load has no target)")
    if not re.match(r"^https?://[^\s/?#@]+(?:[/?#]\S*)?$", target):
        raise GantryError("event loadtest: --target", "not an http(s) URL without credentials "
                          "(the URL goes into reports and logs)")
    if args.users is not None:
        if not 1 <= args.users <= 100_000:
            raise GantryError("event loadtest: --users", f"must be from 1 to 100000, got {args.users}")
        profile = replace(profile, users=args.users)
    if args.duration is not None:
        seconds = _duration(args, "--duration", args.duration).total_seconds()
        if seconds < 1:
            raise GantryError("event loadtest: --duration", f"{args.duration!r} is shorter than 1s")
        if seconds > MAX_LOAD_SECONDS:
            raise GantryError("event loadtest: --duration", f"{args.duration!r} is longer than 24h")
        profile = replace(profile, duration_s=seconds)
    interval = _duration(args, "--progress-interval", args.progress_interval).total_seconds()
    if interval < 0.5:
        raise GantryError("event loadtest: --progress-interval", f"{args.progress_interval!r} is shorter than 0.5s")
    plan = Plan(target.rstrip("/"), args.env, profile, args.out)
    if args.dry_run:
        check_dir_creatable(args.out, "event loadtest: --out")
        if args.format == "json":
            print(json.dumps(plan.to_json(), indent=2))
        else:
            t = profile.thresholds
            mix = ", ".join(f"{s.name} {s.method} {s.path} x{s.weight}" for s in profile.mix)
            print(f"event loadtest (dry run): {profile.users} users (+{profile.spawn_rate:g}/s) for "
                  f"{profile.duration_s:g}s against {plan.target}, think time {profile.wait_ms[0]}-"
                  f"{profile.wait_ms[1]} ms\n  mix: {mix}\n  thresholds: p95 <= {t.p95_ms:g} ms, "
                  f"p99 <= {t.p99_ms:g} ms, errors <= {t.error_rate_pct:g} %, throughput >= {t.min_rps:g} req/s"
                  f"\n  reports: {plan.out}")
        return EXIT_OK
    try:
        verdict = run_loadtest(plan, progress=lambda line: print(line, file=sys.stderr, flush=True),
                               progress_interval=interval)
    except GantryError:
        if args.format == "json":   # the failed verdict run_loadtest wrote, with its error
            _print_written_verdict(plan.out / VERDICT_NAME)
        raise
    if args.format == "json":
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        for check in verdict.checks:
            print(f"{'ok  ' if check.passed else 'MISS'} {check.describe()}")
        print(f"event loadtest {plan.target}: {'passed' if verdict.passed else 'FAILED'} "
              f"({verdict.requests} requests, {verdict.failures} failures; {plan.out / 'loadtest.json'})")
    for check in verdict.missed:
        print(f"gantry: event loadtest: threshold missed: {check.describe()}", file=sys.stderr)
    return EXIT_OK if verdict.passed else EXIT_CHECK_FAILED


def _print_written_verdict(path: Path) -> None:
    """Print the verdict JSON at ``path`` if it is there (a run that could not be judged)."""
    try:
        print(path.read_text(encoding="utf-8"), end="")
    except OSError:
        pass


def _ecs_environment(catalog, env: str, where: str):
    environment = catalog.environments.get(env)
    if environment is None:
        raise GantryError(f"{where}: --env", f"no environment {env!r} in the catalog")
    return environment


def _readiness(args: argparse.Namespace) -> int:
    from ..event.readiness import ALERT_LABELS, ALERT_RECEIVERS, Inputs, evaluate
    from ..image.registry import registry_for
    from pipeline_lib.core.fileio import write_atomic
    catalog = load_catalog(args.catalog)
    env = _ecs_environment(catalog, args.env, "event readiness")
    region = args.region or env.aws_region
    session = _session(region)
    overrides = dict(args.registry_for)
    cmd = tuple(shlex.split(args.terraform))
    if not cmd:
        raise GantryError("event readiness: --terraform", "is empty")
    for label in args.alert_label or []:
        if "=" not in label:
            raise GantryError("event readiness: --alert-label", f"{label!r} is not NAME=VALUE")
    inputs = Inputs(
        catalog=catalog, environment=args.env, aws=lambda name: session.client(name, region_name=region),
        registry=registry_for, host_for=lambda r: overrides.get(r) or catalog.ecr_host(r),
        gitops_repo=args.repo or catalog.gitops_repo, cluster=args.cluster or args.env,
        final_sync_task_id=args.final_sync_task, tf_state=args.tf_state, event_root=args.event_root,
        terraform_cmd=cmd, alertmanager_config=args.alertmanager_config, alertmanager_url=args.alertmanager_url,
        alert_labels=tuple(args.alert_label or ALERT_LABELS), alert_receivers=tuple(args.alert_receiver or ALERT_RECEIVERS),
        loadtest=args.loadtest, loadtest_max_age=_duration(args, "--loadtest-max-age", args.loadtest_max_age))
    report = evaluate(inputs, progress=lambda line: print(line, file=sys.stderr, flush=True))
    ensure_dir(args.out, "event readiness: --out")
    write_atomic(args.out / "readiness.json", json.dumps(report.to_json(), indent=2) + "\n")
    write_atomic(args.out / "readiness.md", report.markdown())
    webhook = getattr(getattr(args, "settings", None), "slack_webhook_url", None)
    if webhook and not args.no_slack:
        from ..notify.slack import post_slack
        try:
            post_slack(webhook, report.slack())
        except GantryError as exc:
            print(f"gantry: warning: {exc}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        for r in report.results:
            print(f"{r.status.upper():<5} {r.name}: {r.detail}")
        print(f"event readiness {args.env}: {report.verdict.upper()} (report: {args.out}/readiness.md)")
    for r in report.failed():
        print(f"gantry: event readiness: {report.verdict}: {r.name}: {r.detail}", file=sys.stderr)
    return report.exit_code


def _sweep(args: argparse.Namespace) -> int:
    from ..event.sweep import Sweeper, monthly_total, remaining, render
    from botocore.exceptions import BotoCoreError, ClientError
    catalog = load_catalog(args.catalog)
    env = _ecs_environment(catalog, args.env, "event sweep")
    region = args.region or env.aws_region
    session = _session(region)
    clients: dict = {}

    def aws(name: str):
        if name not in clients:
            clients[name] = session.client(name, region_name=region)
        return clients[name]
    sweeper = Sweeper(aws, catalog, args.env, args.db_instance)
    try:
        items = sweeper.find()
        if not args.dry_run:
            items = sweeper.delete(items)
    except (ClientError, BotoCoreError) as exc:
        raise GantryError("event sweep", str(exc)) from None
    left = remaining(items)
    if args.format == "json":
        print(json.dumps({"environment": args.env, "dry_run": args.dry_run, "remaining": len(left),
                          "monthly_usd": round(monthly_total(items), 4),
                          "resources": [i.to_json() for i in items]}, indent=2))
    else:
        print(render(items))
    return 1 if left else EXIT_OK
