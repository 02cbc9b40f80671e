"""``gantry webhook serve``: the GitHub webhook receiver that starts Jenkins builds."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from pipeline_lib.core.errors import GantryError
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
    serve = sub.add_parser("serve", help="serve POST /github-webhook/, /healthz and /metrics",
                           description="Secret from GITHUB_WEBHOOK_SECRET; Jenkins from JENKINS_URL, "
                                       "JENKINS_USER and JENKINS_API_TOKEN (or --conf, a JJB ini file).")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8090)
    add_catalog(serve)
    serve.add_argument("--conf", default=None, help="JJB ini file with a [jenkins] section")
    serve.add_argument("--db", type=Path, default=Path(".gantry/webhook-deliveries.sqlite3"),
                       help="SQLite file of seen deliveries and pending triggers")
    serve.add_argument("--workers", type=int, default=4, help="parallel Jenkins triggers (default 4)")
    serve.set_defaults(func=cmd_serve)


def build_receiver(catalog_path: Path, db: Path, conf: str | None, workers: int = 4):
    from pipeline_lib.core.catalog import load_catalog
    from ..jenkins import JenkinsClient, load_settings
    from ..webhook.app import Receiver, WebhookConfig
    from ..webhook.store import DeliveryStore

    secret = os.environ.get("GITHUB_WEBHOOK_SECRET", "")
    if not secret:
        raise GantryError("GITHUB_WEBHOOK_SECRET", "not set: the receiver refuses to run without a secret")
    if not 1 <= workers <= 64:
        raise GantryError("--workers", f"must be from 1 to 64, got {workers}")
    catalog = load_catalog(catalog_path)
    # Retries happen in the receiver's queue (non-blocking backoff), not inside one call.
    client = JenkinsClient(load_settings(conf), retries=0)
    store = DeliveryStore(db)
    return Receiver(WebhookConfig(secret.encode("utf-8"), catalog, workers=workers, trigger_process=True),
                    client, store)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..webhook.app import create_app

    receiver = build_receiver(args.catalog, args.db, args.conf, args.workers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(create_app(receiver), host=args.host, port=args.port, log_level="info",
                            access_log=False, server_header=False, timeout_graceful_shutdown=5)
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
