"""The one retry policy for pending triggers: capped exponential backoff with jitter, a horizon.

A trigger whose Jenkins call failed for a transient reason (connection refused, timeout, 5xx:
a controller restarting answers 503 for minutes) stays *pending* in the store with a due time
``backoff * 2**(attempt-1) + U(0, backoff)`` seconds ahead, capped at ``max_backoff``
(tenacity's ``wait_exponential + wait_random``); any replica picks it up when it is due. Once
``horizon`` seconds have passed since the delivery was accepted, it is recorded as failed.

``lease`` is how long a replica owns a trigger it is firing: if that replica dies, another one
takes the trigger over when the lease ends (and first asks Jenkins whether the build was
already queued). It must be longer than the longest Jenkins call (two timeouts: a refused crumb
is fetched again once).
"""

from __future__ import annotations

from dataclasses import dataclass

import tenacity

from pipeline_lib.core.errors import GantryError

DEFAULT_HORIZON = 3600.0  # seconds: a Jenkins restart or upgrade takes minutes
DEFAULT_LEASE = 90.0


@dataclass(frozen=True)
class RetryPolicy:
    """Seconds throughout. ``delay(n)`` is the wait after the n-th failed attempt (n >= 1)."""

    backoff: float = 1.0
    max_backoff: float = 60.0
    horizon: float = DEFAULT_HORIZON
    lease: float = DEFAULT_LEASE

    def __post_init__(self) -> None:
        if not 0 < self.backoff <= self.max_backoff:
            raise GantryError("retry policy", f"need 0 < backoff <= max backoff, got {self.backoff}, {self.max_backoff}")
        if self.horizon <= 0:
            raise GantryError("--retry-horizon", f"must be positive, got {self.horizon}")
        if self.lease <= 0:
            raise GantryError("--lease", f"must be positive, got {self.lease}")

    def delay(self, attempt: int) -> float:
        wait = (tenacity.wait_exponential(multiplier=self.backoff, max=self.max_backoff)
                + tenacity.wait_random(0, self.backoff))
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = max(1, attempt)
        return min(self.max_backoff, float(wait(state)))

    def expired(self, accepted_at: float, now: float) -> bool:
        return now - accepted_at >= self.horizon

    def check_lease(self, jenkins_timeout: float) -> None:
        """Raise unless one lease outlasts the longest Jenkins call (a crumb refresh makes two)."""
        if self.lease <= 2 * jenkins_timeout:
            raise GantryError("--lease", f"{self.lease:g}s must exceed twice the Jenkins timeout "
                                         f"({jenkins_timeout:g}s): a replica could take over a call still under way")
