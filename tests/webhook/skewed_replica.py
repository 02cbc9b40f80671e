"""A webhook replica whose machine clock is wrong, for the clock-skew tests (issue 20 #12).

``time.time`` is shifted by ``--skew`` seconds *before* gantry is imported — what a mis-set
clock does to every Python-level reading in that process (defaults such as ``clock=time.time``
included) — then a :class:`~pipeline_lib.webhook.triggers.Dispatcher` fires due triggers from the
shared store for ``--seconds`` and prints one JSON line per outcome after a ``ready`` line.

    python -m tests.webhook.skewed_replica --store URL --jenkins URL --skew 600 --seconds 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--jenkins", required=True)
    ap.add_argument("--skew", type=float, required=True, help="seconds this replica's clock is off")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--lease", type=float, default=30.0)
    ap.add_argument("--horizon", type=float, default=3600.0)
    args = ap.parse_args()

    real = time.time
    time.time = lambda: real() + args.skew  # this replica's clock from now on

    from pipeline_lib.jenkins.client import JenkinsClient, JenkinsSettings
    from pipeline_lib.webhook.backends import open_store
    from pipeline_lib.webhook.retry import RetryPolicy
    from pipeline_lib.webhook.triggers import Dispatcher

    store = open_store(args.store)
    client = JenkinsClient(JenkinsSettings(args.jenkins, "hook", "hook-token", timeout=5), retries=0)
    outcomes: list = []
    dispatcher = Dispatcher(store, client, RetryPolicy(backoff=0.05, max_backoff=0.2, horizon=args.horizon,
                                                       lease=args.lease), workers=2, on_outcome=outcomes.append)
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    print(json.dumps({"ready": True, "clock": time.time(), "real": real()}), flush=True)
    time.sleep(args.seconds)
    dispatcher.stop.set()
    dispatcher.wake.set()
    thread.join(30)
    store.close()
    for outcome in outcomes:
        print(json.dumps(dataclasses.asdict(outcome)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
