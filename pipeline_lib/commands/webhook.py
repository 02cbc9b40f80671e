"""``gantry webhook serve``: the GitHub webhook receiver that starts Jenkins builds."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pipeline_lib.core.errors import GantryError
from pipeline_lib.core.settings import variable
from pipeline_lib.core.settingsmodel import Settings
from ..webhook.retry import DEFAULT_HORIZON, DEFAULT_LEASE
from .options import add_catalog


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, got {port}")
    return port


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("webhook", help="GitHub webhook receiver that starts Jenkins builds")
    sub = p.add_subparsers(dest="webhook_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    serve = sub.add_parser("serve", help="serve POST /github-webhook/, /healthz, /readyz and /metrics",
                           description="Secret from GITHUB_WEBHOOK_SECRET; Jenkins from JENKINS_URL, "
                                       "JENKINS_USER and JENKINS_API_TOKEN (or --conf, a JJB ini file). "
                                       "Run two replicas behind a load balancer with one PostgreSQL --store.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8090)
    add_catalog(serve)
    serve.add_argument("--conf", default=None, help="JJB ini file with a [jenkins] section")
    serve.add_argument("--store", "--db", dest="store", default=".gantry/webhook-deliveries.sqlite3",
                       metavar="URL",
                       help="where triggers live: a SQLite file (default %(default)s; one node) or "
                            "postgresql://user@host:5432/db (replicas; password from PGPASSWORD or ~/.pgpass)")
    serve.add_argument("--workers", type=int, default=4, help="parallel Jenkins triggers (default 4)")
    serve.add_argument("--retry-horizon", type=_seconds, default=DEFAULT_HORIZON, metavar="SECONDS",
                       help="keep retrying a trigger Jenkins refuses with 5xx / cannot be reached this long "
                            "after the delivery, then record it as failed (default %(default)g)")
    serve.add_argument("--retry-backoff", type=_seconds, default=1.0, metavar="SECONDS",
                       help="first retry delay, doubled each time, plus jitter (default %(default)g)")
    serve.add_argument("--retry-max-backoff", type=_seconds, default=60.0, metavar="SECONDS",
                       help="cap of the retry delay (default %(default)g)")
    serve.add_argument("--lease", type=_seconds, default=DEFAULT_LEASE, metavar="SECONDS",
                       help="how long a replica owns a trigger it fires before another may take it over; "
                            "must exceed twice the Jenkins timeout (default %(default)g)")
    serve.add_argument("--request-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                       help="close a connection whose request (headers and body) has not arrived this long "
                            "after it opened or began: idle and slow clients hold nothing (default %(default)g)")
    serve.add_argument("--keep-alive-timeout", type=_seconds, default=5.0, metavar="SECONDS",
                       help="close a keep-alive connection idle this long after a response (default %(default)g)")
    serve.add_argument("--slack-url-env", default="SLACK_WEBHOOK_URL", metavar="NAME",
                       help="environment variable with the Slack webhook URL for triggers given up "
                            "(default %(default)s; unset: log only)")
    serve.set_defaults(func=cmd_serve)


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds < 10 * 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and less than 10 days, got {value}")
    return seconds


def build_receiver(catalog_path: Path, store_url: str | Path, conf: str | None, workers: int = 4,
                   policy=None, slack_env: str | None = "SLACK_WEBHOOK_URL", settings: Settings | None = None):
    """The receiver of ``gantry webhook serve``; ``settings``: the environment the CLI read (the
    webhook secret, Jenkins, the Slack URL when ``slack_env`` is ``SLACK_WEBHOOK_URL``)."""
    from pipeline_lib.core.catalog import load_catalog
    from ..jenkins.client import JenkinsClient, load_settings
    from ..webhook.app import Receiver, WebhookConfig
    from ..webhook.backends import open_store
    from ..webhook.retry import RetryPolicy

    settings = settings or Settings()
    secret = settings.github_webhook_secret or ""
    if not secret:
        raise GantryError("GITHUB_WEBHOOK_SECRET", "not set: the receiver refuses to run without a secret")
    if not 1 <= workers <= 64:
        raise GantryError("--workers", f"must be from 1 to 64, got {workers}")
    policy = policy or RetryPolicy()
    catalog = load_catalog(catalog_path)
    jenkins = load_settings(conf, settings=settings)
    policy.check_lease(jenkins.timeout)
    # Retries are scheduled in the store (capped backoff with jitter), not inside one call.
    client = JenkinsClient(jenkins, retries=0)
    store = open_store(store_url)
    slack_url = (settings.slack_webhook_url if slack_env == "SLACK_WEBHOOK_URL"
                 else variable(slack_env) if slack_env else None)
    if not slack_url:
        logging.getLogger("gantry.webhook").warning(
            "webhook: %s is not set: triggers given up are reported in this log only", slack_env)
    return Receiver(WebhookConfig(secret.encode("utf-8"), catalog, workers=workers, policy=policy,
                                  trigger_process=True, slack_env=slack_env, slack_url=slack_url), client, store)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..webhook.app import create_app
    from ..webhook.retry import RetryPolicy
    from ..webhook.serving import http_protocol

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    policy = RetryPolicy(backoff=args.retry_backoff, max_backoff=args.retry_max_backoff,
                         horizon=args.retry_horizon, lease=args.lease)
    receiver = build_receiver(args.catalog, args.store, args.conf, args.workers, policy, args.slack_url_env,
                              args.settings)
    config = uvicorn.Config(create_app(receiver), host=args.host, port=args.port, log_level="info",
                            access_log=False, server_header=False, timeout_graceful_shutdown=5,
                            http=http_protocol(args.request_timeout), timeout_keep_alive=args.keep_alive_timeout)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind
        pass
    finally:
        receiver.store.close()
    if not server.started:
        raise GantryError(f"webhook {args.host}:{args.port}", "could not start (address in use or not allowed?)")
    return 0
