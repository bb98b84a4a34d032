"""A deployment's revisions, read from its ReplicaSets, and when each became the current one.

A revision's ReplicaSet is made when the revision rolls out, so its `creationTimestamp` says
when. A rollback (`kubectl rollout undo`, Fireline's `rollback`) makes no ReplicaSet: the
deployment controller gives the old template's ReplicaSet the next revision number and keeps
the numbers it had in `deployment.kubernetes.io/revision-history`. That ReplicaSet may be days
old, so its creation must never be read as the rollback's time: "rev 4 rolled out 5d ago",
said a minute after rolling back, moves the errors-since-rollout rule and the logs' split to a
rollout that never happened then. What the cluster keeps about the rollback instead, and why
these were chosen, is in docs/decisions/diagnosis.md ("When a revision rolled out").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.actions.kubernetes import parse_time, short_duration
from bot.gateways.kubernetes import Obj

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"


@dataclass(frozen=True)
class Revision:
    number: int
    images: str
    change_cause: str
    rolled_out_at: datetime | None
    """When this revision became the deployment's current one (`became_current`); None when
    the cluster no longer says (an earlier revision that a rollback had made current)."""
    replicas: int
    earlier: tuple[int, ...] = ()
    """The numbers this revision's ReplicaSet had before rollbacks made it current again."""


def revisions(
    deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj] = ()
) -> list[Revision]:
    """The deployment's revisions (its ReplicaSets, by owner UID), newest first. `pods`, the
    deployment's pods when they were read, date a rollback more closely (`became_current`)."""
    uid = deployment["metadata"].get("uid")
    mine = []
    for rs in replicasets:
        owners = rs["metadata"].get("ownerReferences") or []
        if uid and owners and not any(o.get("uid") == uid for o in owners):
            continue
        mine.append(rs)
    newest = max(mine, key=_number, default=None)
    read = list(pods)
    out = []
    for rs in mine:
        notes = rs["metadata"].get("annotations") or {}
        containers = rs.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        earlier = str(notes.get(REVISION_HISTORY) or "").split(",")
        out.append(
            Revision(
                number=_number(rs),
                images=", ".join(str(c.get("image")) for c in containers),
                change_cause=str(notes.get("kubernetes.io/change-cause") or "-"),
                rolled_out_at=became_current(rs, deployment, mine, read, current=rs is newest),
                replicas=int((rs.get("status") or {}).get("replicas") or 0),
                earlier=tuple(int(n) for n in earlier if n.strip().isdigit()),
            )
        )
    return sorted(out, key=lambda r: -r.number)


def became_current(
    rs: Obj, deployment: Obj, replicasets: list[Obj], pods: list[Obj], *, current: bool
) -> datetime | None:
    """When `rs`'s revision became current.

    A ReplicaSet made for its revision (no `revision-history`): its creation. One a rollback
    made current again: for the current revision, the earliest of what the cluster wrote
    after the rollback began — the deployment's Progressing condition when it names this
    ReplicaSet (updated as that rollout progressed and when it finished) and the creation of
    this ReplicaSet's pods — counting only times later than every other ReplicaSet's creation,
    since an older one belongs to its earlier life. For an earlier revision a rollback had made
    current, the cluster keeps no such time: None.
    """
    meta = rs["metadata"]
    created = parse_time(meta.get("creationTimestamp"))
    if not (meta.get("annotations") or {}).get(REVISION_HISTORY):
        return created
    if not current:
        return None
    others = [parse_time(o["metadata"].get("creationTimestamp")) for o in replicasets]
    after = max((t for t in others if t is not None), default=created)
    times = [_progressing_at(deployment, meta.get("name"))]
    times += [
        parse_time(p["metadata"].get("creationTimestamp"))
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(o.get("uid") == meta.get("uid") for o in p["metadata"].get("ownerReferences") or [])
    ]
    return min((t for t in times if t is not None and (after is None or t >= after)), default=None)


def _progressing_at(deployment: Obj, replicaset: str | None) -> datetime | None:
    """The Progressing condition's `lastUpdateTime`, when its message names `replicaset`
    (`ReplicaSet "checkout-7d9c…" is progressing.` / `… has successfully progressed.`)."""
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Progressing" and f'"{replicaset}"' in str(
            condition.get("message") or ""
        ):
            return parse_time(condition.get("lastUpdateTime"))
    return None


def _number(rs: Obj) -> int:
    notes = rs["metadata"].get("annotations") or {}
    try:
        return int(notes.get(REVISION) or 0)
    except ValueError:
        return 0


def suspect(revs: list[Revision], started: datetime | None) -> Revision | None:
    """The revision rolled out closest before the incident started."""
    if started is None:
        return None
    before = [r for r in revs if r.rolled_out_at and r.rolled_out_at <= started]
    return max(before, key=lambda r: r.rolled_out_at or started, default=None)


def suspect_line(rev: Revision, started: datetime) -> str:
    assert rev.rolled_out_at is not None
    gap = short_duration((started - rev.rolled_out_at).total_seconds())
    return f"rev {rev.number} rolled out {gap} before the incident"


def revision_label(rev: Revision) -> str:
    """`4`, or `4 (was 2)` when a rollback made revision 2's ReplicaSet current again."""
    if not rev.earlier:
        return str(rev.number)
    return f"{rev.number} (was {', '.join(str(n) for n in rev.earlier)})"


def rolled_out_ago(rev: Revision, now: datetime) -> str:
    """`2m ago`, or `?` when the cluster no longer says (an earlier rollback's revision)."""
    if rev.rolled_out_at is None:
        return "?"
    return short_duration((now - rev.rolled_out_at).total_seconds()) + " ago"
