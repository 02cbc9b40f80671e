"""Promote a freight (:mod:`gitops.freight`) from the source environment to the target: every
condition is checked **inside the write transaction**, right before the commit, on the branch tip
(a queued promotion — one that waited for the host's writer lock, or whose push was rejected and
is re-applied on a new tip — re-checks everything at the moment it writes).

Conditions are a small registry of checks, in order (checkov style: each a named function of the
:class:`PromotionPlan` returning a :class:`CheckOutcome`): the ones of this package —
:func:`not_revoked`, :func:`dev_soak` (Argo CD, :mod:`gitops.argostatus`) — and the ones the
caller adds (signed evidence for the target, Tokyo replication: ``pipeline_lib.stages.promote``,
which may use packages ``gitops`` may not import). Guards run first: functions of the plan
returning refusal lines (holds, freeze windows) — every one named in :data:`GUARDS` plus the
caller's ``guards=``; they never revoke.

Any problem: one line each, exit 1 (CheckFailed), nothing written. A check whose outcome says
``revoke`` (a failed re-verification: evidence that no longer verifies, the app Degraded at the
pin) also revokes the freight (:func:`gitops.freight.revoke`, its own commit). All passed: one
commit pinning every item of the freight in the target (effect-checked like every pin edit,
:mod:`gitops.writeback`), its message ending with the write path's record trailers
(``Gantry-Action: promote``, ``By:``, ``Reason:``) and ``Freight:``, one ``Evidence:`` per verified
bundle and ``Checks:``; in ``pr`` mode pushed to a review branch and proposed by a pull request
whose body lists the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline_lib.core.catalog import Catalog
from pipeline_lib.core.errors import CheckFailed, GantryError

from . import freight as freight_mod
from . import trailers
from .argostatus import ArgoCD, soak
from .freight import Freight
from .hostlock import Writers
from .writeback import PinEdit, batch_message


@dataclass(frozen=True)
class PromotionPlan:
    """What is about to be written: ``freight`` (read from ``checkout``, the branch tip the commit
    will sit on), from ``source`` to ``target``, at ``now`` (UTC)."""

    freight: Freight
    source: str
    target: str
    catalog: Catalog
    checkout: Path
    now: datetime


@dataclass
class CheckOutcome:
    """One check's answer: ``problems`` (one line each; none: passed); ``revoke``: the failure
    is a failed verification of the freight itself; ``evidence``: what was verified (trailers)."""

    name: str
    problems: list[str] = field(default_factory=list)
    revoke: bool = False
    evidence: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


Check = Callable[[PromotionPlan], CheckOutcome]
Guard = Callable[[PromotionPlan], list[str]]

#: Guards every promotion runs first, as ``"module:function"`` (imported when a promotion runs,
#: like :data:`gitops.layout.GENERATORS`): each ``function(plan) -> list[str]`` returns refusal
#: lines (a hold on a service, a freeze window of the target). Callers may add more (``guards=``).
GUARDS: list[str] = ["gitops.holds:promotion_guard"]


def load_guards(names: Sequence[str] | None = None) -> list[Guard]:
    """The functions named in ``names`` (default :data:`GUARDS`); BadInput for a name that does not load."""
    import importlib

    from pipeline_lib.core.errors import BadInput
    out: list[Guard] = []
    for name in GUARDS if names is None else names:
        module, _, func = name.partition(":")
        try:
            out.append(getattr(importlib.import_module(module), func))
        except (ImportError, AttributeError) as exc:
            raise BadInput("gitops promote", f"guard {name!r} does not load: {exc}") from None
    return out


def not_revoked(plan: PromotionPlan) -> CheckOutcome:
    """The freight record on the tip has no revocation."""
    rev = plan.freight.revoked
    problems = [f"not-revoked: freight {plan.freight.id} was revoked by {rev.by} at {rev.at}: {rev.reason}"] if rev else []
    return CheckOutcome("not-revoked", problems)


#: (pin commit, revision, paths) -> accepted: facts about two commits never change (bounded below)
_ACCEPTS: dict[tuple[str, str, tuple[str, ...]], bool] = {}


def still_pins(checkout: Path, pin_commit: str, paths: Sequence[str]) -> Callable[[str], bool]:
    """``accepts(revision)``: ``revision`` is ``pin_commit`` or a descendant of it in which none of
    ``paths`` (the source manifests that pinned the freight) changed. Cached per revision."""
    from .git import git

    def accepts(revision: str) -> bool:
        key = (pin_commit, revision, tuple(paths))
        if revision == pin_commit:
            return True
        if key not in _ACCEPTS:
            anc = git(checkout, "merge-base", "--is-ancestor", pin_commit, revision, check=False).returncode
            if anc not in (0, 1):
                return False      # a revision this checkout does not have (yet): not cached
            same = anc == 0 and git(checkout, "diff", "--quiet", pin_commit, revision, "--", *paths,
                                    check=False).returncode == 0
            if len(_ACCEPTS) > 10_000:
                _ACCEPTS.clear()
            _ACCEPTS[key] = same
        return _ACCEPTS[key]
    return accepts


def dev_soak(argocd: ArgoCD, soak_seconds: float) -> Check:
    """The source environment's Application of each service is Synced and Healthy at the pinning
    commit (or a later one pinning the same digests) and has been for ``soak_seconds``."""
    from .argocd import app_name

    def check(plan: PromotionPlan) -> CheckOutcome:
        out = CheckOutcome("dev-soak")
        accepts = still_pins(plan.checkout, plan.freight.commit, [i.manifest for i in plan.freight.items if i.manifest])
        for item in plan.freight.items:
            app = app_name(plan.catalog.service(item.service), plan.source)
            verdict = soak(argocd.application(app), plan.freight.commit, accepts, soak_seconds, plan.now)
            if not verdict.ok:
                out.problems.append(f"dev-soak: {verdict.problem}")
                out.revoke = out.revoke or verdict.failed
        return out
    check.__name__ = "dev_soak"
    return check


@dataclass
class PromotionResult:
    """``commit``: the promotion commit (None: nothing to change, or ``dry_run``);
    ``checks``: the checks that passed; ``evidence``: what they verified."""

    freight: str
    source: str
    target: str
    commit: str | None
    branch: str
    checks: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    pins: list[dict] = field(default_factory=list)
    pull_request: str | None = None
    attempts: int = 1
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)


def target_image(catalog: Catalog, item: freight_mod.Item, source: str, target: str) -> str:
    """The repository the target pins: the freight's own image when both environments use the
    same ECR repository, else the target's (same digest, replicated there)."""
    from .bump import default_image
    svc = catalog.service(item.service)
    if svc.environment(source).ecr_repository == svc.environment(target).ecr_repository and item.image:
        return item.image
    return default_image(catalog, item.service, target)


def pr_body(result: PromotionResult, freight: Freight) -> str:
    lines = [f"Promotion of freight {freight.id} from {result.source} to {result.target}", "",
             f"Freight: {freight.id} (pinned in {freight.environment} by {freight.commit})", ""]
    lines += [f"- {i.service}: {i.image}@{i.digest}" + (f" (tag {i.tag})" if i.tag else "") for i in freight.items]
    lines += ["", "Evidence:"] + [f"- {e}" for e in result.evidence or ["(none recorded)"]]
    lines += ["", "Checks passed: " + ", ".join(result.checks)]
    return "\n".join(lines) + "\n"


def _local_tip(wd: Path, branch: str) -> str:
    ref = wd / ".git" / "refs" / "heads" / branch
    if ref.is_file():
        return ref.read_text().strip()
    from .git import out
    return out(wd, "rev-parse", "HEAD")


def _peek(wd: Path, branch: str, freight: str) -> Freight | None:
    """The freight record on the remote tip, fetched into the reused checkout ``wd`` (its work
    tree untouched); None when it has none there (the transaction then says so)."""
    from pipeline_lib.core.answer import parse

    from .git import git
    git(wd, "fetch", "-q", "--no-tags", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
    rel = freight_mod.rel_path(freight)
    shown = git(wd, "show", f"origin/{branch}:{rel}", check=False)
    if shown.returncode != 0:
        return None
    return freight_mod.from_json(parse(shown.stdout, rel), rel,
                                 freight_mod.pinning_commit(wd, freight, f"origin/{branch}"))


def _remote_tip(repo_url: str, branch: str) -> str:
    from .git import out
    line = out(None, "ls-remote", repo_url, f"refs/heads/{branch}")
    return line.split()[0] if line else ""


def promote_freight(repo_url: str, *, catalog: Catalog, source: str, target: str, freight: str | None = None,
                    services: Sequence[str] = (), checks: Sequence[Check] = (), guards: Sequence[Guard] = (),
                    clock: Callable[[], datetime] = freight_mod.utc_now, by: str = "gantry",
                    build_url: str | None = None, mode: str | None = None, github_api: str = "https://api.github.com",
                    github_repo: str | None = None, github_token: str | None = None,
                    writers: Writers | None = None, dry_run: bool = False, workdir: Path | None = None,
                    auto_revoke: bool = True, reason: str | None = None,
                    extra_trailers: Callable[[], list[str]] = list) -> PromotionResult:
    """Promote ``freight`` (or the newest freight holding every one of ``services``); see the
    module docstring. ``checks`` run after :func:`not_revoked`, ``guards`` before both.
    ``reason``: the Reason: trailer; ``extra_trailers()``: further ``Key: value`` lines, asked
    once the checks passed (a break-glass guard's marks).
    Raises CheckFailed (exit 1, one problem line per unmet condition, nothing written but a
    revocation), NotFound / BadInput (exit 2) for an unknown freight or service."""
    if source == target:
        raise GantryError("gitops promote", "--from and --to are the same environment")
    if not freight and not services:
        raise GantryError("gitops promote", "name the freight (--freight ID) or its services (--service S)")
    from .effect import apply_each
    from .git import Change, Transaction, transact
    guards = [*load_guards(), *guards]
    for s in services:
        catalog.service(s).environment(target)
    modes = {catalog.service(s).environment(target).deploy for s in services}
    state: dict = {}
    branch = catalog.gitops_branch

    def evaluate(found: Freight, wd: Path, with_guards: bool = True) -> None:
        state["freight"] = found
        if found.environment != source:
            raise GantryError("gitops promote", f"freight {found.id} was pinned in {found.environment}, not {source}")
        plan = PromotionPlan(found, source, target, catalog, wd, clock())
        problems: list[str] = []
        if with_guards:
            for guard in guards:
                problems += guard(plan)
        outcomes = [not_revoked(plan)]
        if outcomes[0].ok:
            outcomes += [check(plan) for check in checks]
        for o in outcomes:
            problems += o.problems
        state["outcomes"] = outcomes
        state["problems"] = problems
        state["revoke"] = [p for o in outcomes if o.revoke for p in o.problems]

    def change(wd: Path):
        state.clear()
        state["tip"] = _local_tip(wd, branch)
        evaluate(freight_mod.read(wd, freight) if freight else freight_mod.latest_for(wd, list(services), source), wd)
        found = state["freight"]
        if state["problems"] or dry_run:
            return None
        outcomes = state["outcomes"]
        records = [f"{trailers.FREIGHT}: {found.id}",
                   *[f"{trailers.EVIDENCE}: {e}" for o in outcomes for e in o.evidence],
                   f"{trailers.CHECKS}: {', '.join(o.name for o in outcomes)}", *extra_trailers()]
        edits = []
        for item in found.items:
            env = catalog.service(item.service).environment(target)
            edits.append(PinEdit(item.service, target, env.ecr_repository, env.manifest, env.manifest_format,
                                 env.values_key, target_image(catalog, item, source, target), item.digest, item.tag,
                                 build_url or found.build_url, "promote", by=by, reason=reason,
                                 trailers=records))
        applied = apply_each(wd, [e.intent(wd) for e in edits])
        for edit, outcome in zip(edits, applied):
            if isinstance(outcome, GantryError):
                raise outcome
            edit.took(outcome)
        state["edits"] = edits
        kept = [e for e, a in zip(edits, applied) if not isinstance(a, GantryError) and a.changed]
        if not kept:
            return None
        # the edits' record trailers (gitops.writeback: Gantry-Action: promote, By, Reason) + records
        return Change([(batch_message(kept), list(dict.fromkeys(e.rel for e in kept)))])

    # the deploy mode of the target: the catalog's for the freight's services (read once the
    # freight is known when only its ID was given: a first, read-only look at the tip)
    if freight and mode is None:
        from .git import checkout as clone
        import shutil
        import tempfile
        tmp = Path(tempfile.mkdtemp(prefix="gantry-promote-"))
        try:
            known = freight_mod.read(clone(repo_url, branch, tmp / "repo"), freight)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        modes = {catalog.service(i.service).environment(target).deploy for i in known.items}
    mode = mode or ("pr" if "pr" in modes else "commit")
    push_branch = client = gh_repo = None
    if mode == "pr" and not dry_run:
        from .github import GitHub, repo_from_url
        gh_repo = github_repo or repo_from_url(repo_url)
        client = GitHub(github_api, github_token)  # a missing token fails before anything is pushed
        push_branch = f"gantry/promote-{freight or '-'.join(services)}-{target}"
    tx = None
    if freight and workdir is not None and (workdir / ".git").is_dir():
        # a reused checkout: look first, without the writer lock (a refusal writes nothing); the
        # same checks run again inside the transaction before anything is written
        found = _peek(workdir, branch, freight)
        if found is not None:
            state.clear()
            evaluate(found, workdir, with_guards=False)
            if state["problems"]:
                tx = Transaction(None, 0)
    if tx is None:
        tx = transact(repo_url, change, branch=branch, push_branch=push_branch, workdir=workdir, writers=writers)
    for _ in range(5):
        # nothing written (already pinned, or refused): the answer must hold for the tip as it is
        # now — another writer (a revocation) may have landed while the checks ran; if so, again
        if tx.commit is not None or state.get("problems") or _remote_tip(repo_url, branch) == state.get("tip"):
            break
        tx = transact(repo_url, change, branch=branch, push_branch=push_branch, workdir=workdir, writers=writers)
    found: Freight = state["freight"]
    outcomes: list[CheckOutcome] = state.get("outcomes", [])
    if state.get("problems"):
        lines = list(state["problems"])
        summary = f"freight {found.id}: {len(lines)} condition(s) not met for {target}: nothing written"
        if auto_revoke and state.get("revoke") and found.revoked is None and not dry_run:
            rev = freight_mod.revoke(repo_url, branch, found.id, by=by,
                                     reason=f"re-verification failed: {state['revoke'][0]}", writers=writers,
                                     workdir=workdir)
            if rev.commit:
                summary += f"; freight revoked ({rev.commit[:12]})"
        raise CheckFailed("gitops promote", summary, problems=[f"gitops promote: {p}" for p in lines])
    edits: list[PinEdit] = state.get("edits", [])
    result = PromotionResult(found.id, source, target, tx.commit, push_branch or branch,
                             [o.name for o in outcomes], [e for o in outcomes for e in o.evidence],
                             [{"service": e.service, "image": e.image, "digest": e.digest, "tag": e.tag,
                               "old_digest": e.old.digest, "manifest": e.rel} for e in edits],
                             attempts=tx.attempts, dry_run=dry_run,
                             warnings=[w for e in edits for w in e.warnings])
    if tx.commit and client is not None and push_branch and gh_repo:
        title = f"promote({', '.join(found.services)}): {source} -> {target} freight {found.id}"
        result.pull_request = client.open_pull_request(gh_repo, push_branch, branch, title, pr_body(result, found))
    return result

