"""The verdict of a registry switch: every image usable in the target, or which are not (exit 1).

A digest missing in the target registry is "the check said no" (exit 1): the switch is refused
before anything is written. A registry that cannot be asked is exit 2 (raised by the check).
On failback the images pushed while failed over exist only in the replica (ECR replicates one
way, primary -> replicas), so the message gives the copy command that re-pushes each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline_lib.core.errors import EXIT_CHECK_FAILED, GantryError
from pipeline_lib.core.reference import strip_reference

from .presence import Presence


@dataclass(frozen=True)
class Unusable:
    """A service whose image the target registry cannot serve, and where it runs from now."""

    service: str
    current: str  # the reference it runs (host/repo[:tag]@digest)
    tag: str | None
    presence: Presence


def repush_command(item: Unusable) -> str:
    """``skopeo copy`` of the exact digest from where it runs now to the target registry.

    ``--all`` copies every platform of an index; ``--preserve-digests`` refuses any conversion
    that would change the digest (skopeo-copy(1)). The tag is the pinned one, or ``dr-<12 hex>``.
    """
    p = item.presence
    tag = item.tag or f"dr-{p.digest.removeprefix('sha256:')[:12]}"
    return (f"skopeo copy --all --preserve-digests docker://{strip_reference(item.current)}@{p.digest} "
            f"docker://{p.host}/{p.repository}:{tag}")


def unusable_error(action: str, environment: str, region: str, host: str, items: list[Unusable],
                   total: int, repush: bool) -> GantryError:
    """One-line error (exit 1) naming each service and what is missing; nothing was written."""
    parts = []
    for item in items:
        missing = item.presence.missing
        detail = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        text = f"{item.service} ({item.presence.repository}@{item.presence.digest}: {detail} missing)"
        if repush:
            text += f"; re-push it: {repush_command(item)}"
        parts.append(text)
    return GantryError(f"dr {action}", f"{environment}: {len(items)} of {total} service(s) not usable in {region} "
                                       f"({host}): {'; '.join(parts)}; nothing written",
                       exit_code=EXIT_CHECK_FAILED)
