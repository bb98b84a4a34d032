"""What every remediation is, and the records its steps pass along (`Plan`, `Change`, `Progress`).

A remediation is a `TypedAction` (Params, usage, parsing, help) with the steps the approval
flow in `bot.remediation` drives:

- `preview()` reads the target and sends the write with `dryRun=All`: the API server validates
  it and answers the would-be object, and the changes shown are read from that answer (replicas
  3 → 6, the image a rollback goes back to, the pod to delete). The `Plan` it returns holds the
  target's resourceVersion and exactly what to apply: the remediation's own `Intent`.
- `apply()` sends the same write for real, with the preview's resourceVersion as a precondition:
  a target changed since the preview is a 409 `Conflict`, never a blind overwrite.
- `applied()` says, from the target as it is now, whether the change is in place (used after a
  restart or a timed-out write: reconcile, never run again).
- `check()` is one look at the rollout (`kubectl rollout status` rules) or at the replacement
  pod; the runner calls it until done or its deadline passes.

A plan is stored in Redis with the request (`bot.remediation.store`) and applied later, perhaps
by another replica, so it holds only data: the intent is kept as the JSON of the remediation's
`Intent` model and read back, typed, through `Remediation.intent(plan)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bot.actions.base import KubeParams, TypedAction
from bot.gateways.kubernetes import KubeGateway, Obj
from bot.policy.remediation import RemediationRule

Kind = Literal["deployment", "pod"]


class Change(BaseModel):
    """One line of "what changes": the field, its value now, its value after."""

    what: str
    before: str
    after: str


class Plan(BaseModel):
    """A previewed change: what it touches, what it changes, and what exactly to apply."""

    action: str
    kind: Kind
    name: str
    cluster: str
    namespace: str
    resource_version: str
    uid: str
    changes: list[Change]
    state: str
    """The target's current state, one line (shown on the card)."""
    intent: dict[str, Any] = Field(default_factory=dict)
    """The remediation's `Intent`, as JSON (read it with `Remediation.intent(plan)`)."""

    @property
    def target(self) -> str:
        return f"{self.kind} {self.name} in {self.cluster}/{self.namespace}"


class Progress(BaseModel):
    """One look at the result: `done`, still `progressing`, or `failed`, and what was seen."""

    status: Literal["done", "progressing", "failed"]
    text: str


class Intent(BaseModel):
    """Base of what a plan says to apply; each remediation types its own."""

    model_config = ConfigDict(frozen=True)


P = TypeVar("P", bound=KubeParams)
IntentT = TypeVar("IntentT", bound=Intent)


@dataclass(frozen=True)
class Preview(Generic[P]):
    """What `preview()` is given: the parameters, where they resolved to, the policy's bounds for
    the action, and the time."""

    params: P
    kube: KubeGateway
    cluster: str
    namespace: str
    rule: RemediationRule
    now: datetime


class Remediation(TypedAction[P], ABC, Generic[P, IntentT]):
    """Base of the remediation actions (see the module docstring for the steps).

    A subclass sets `name`, `usage`, `verb`, `kind`, `Params` and `Intent`; its docstring is the
    help users read."""

    verb: ClassVar[str]
    """How a button offering it starts, e.g. "Roll back"."""
    kind: ClassVar[Kind]
    """What it changes."""
    Intent: type[IntentT]

    @abstractmethod
    def target(self, params: P) -> str:
        """The name of the object it changes (a deployment or a pod)."""

    @abstractmethod
    async def preview(self, request: Preview[P]) -> Plan:
        """Read the target, dry-run the write, and say what would change."""

    @abstractmethod
    async def apply(self, kube: KubeGateway, plan: Plan) -> Obj:
        """Apply the plan, only if the target still has the preview's resourceVersion."""

    @abstractmethod
    async def applied(self, kube: KubeGateway, plan: Plan) -> bool:
        """Whether the target, as it is now, carries the change."""

    @abstractmethod
    async def check(self, kube: KubeGateway, plan: Plan) -> Progress:
        """One look at how the change is settling."""

    def plan(
        self,
        request: Preview[P],
        target: Obj,
        *,
        changes: list[Change],
        state: str,
        intent: IntentT,
    ) -> Plan:
        """The plan for `target` as read (its resourceVersion is the precondition to apply)."""
        resource_version, uid = meta(target)
        return Plan(
            action=self.name,
            kind=self.kind,
            name=self.target(request.params),
            cluster=request.cluster,
            namespace=request.namespace,
            resource_version=resource_version,
            uid=uid,
            changes=changes,
            state=state,
            intent=intent.model_dump(),
        )

    def intent(self, plan: Plan) -> IntentT:
        """What the plan says to apply, typed."""
        return self.Intent.model_validate(plan.intent)

    def button(self, values: Mapping[str, Any]) -> str:
        """A button's text offering it with these (filled, unchecked) parameters."""
        target = values.get(self.Params.positional[0]) if self.Params.positional else None
        return f"{self.verb} {target or ''}".strip()


def meta(obj: Obj) -> tuple[str, str]:
    """An object's resourceVersion and uid."""
    return str(obj["metadata"]["resourceVersion"]), str(obj["metadata"].get("uid", ""))


AnyRemediation = Remediation[Any, Any]
"""A remediation of any parameters and intent (the app holds several side by side)."""
