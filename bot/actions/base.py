"""What every action is: a `Params` model, a guard, `execute` and `render`.

An action is one small class. Its docstring is the help users read; its `Params` model (a
docstring per field) is what `/incident <action> …` and playbooks fill in; `scopes()` is the
guard — it says, before anything is touched, what the action will reach, so the policy can
allow or deny it; `execute()` gathers findings through the gateways in the `Context`; `render()`
turns them into a `Result`. Actions are listed explicitly in a tuple handed to `create_app`:
nothing registers itself.
"""

from __future__ import annotations

import difflib
import re
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from bot import messages as shared
from bot.actions import messages
from bot.actions.output import Result
from bot.clock import Clock
from bot.errors import NotFound, UsageError
from bot.gateways.health import HealthChecker
from bot.gateways.kubernetes import KubeGateway
from bot.gateways.postgres import DatabaseGateway
from bot.gateways.prometheus import PrometheusGateway
from bot.policy.authorizer import Scope
from bot.policy.models import Policy


class Params(BaseModel):
    """Base of every action's parameters. `positional` and `flags` map command words to fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    positional: ClassVar[tuple[str, ...]] = ()
    flags: ClassVar[dict[str, str]] = {}


# --- Kubernetes names, checked before any API call --------------------------------------------
# A name goes into an API path, and a namespace into a policy pattern too (`orion-*` matched
# `orion-x/../../api`): every name a person, a button or an alert label supplies must have the
# shape Kubernetes itself requires (RFC 1123, as `kubectl` checks), or nothing is called.

_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_SELECTOR = re.compile(r"[A-Za-z0-9._/\-=!,() ]{1,1024}")


def is_dns_label(value: str) -> bool:
    """A namespace or container name: one RFC 1123 label, at most 63 characters."""
    return len(value) <= 63 and _LABEL.fullmatch(value) is not None


def is_dns_subdomain(value: str) -> bool:
    """The name of a deployment, pod, service…: RFC 1123 labels joined by dots, at most 253."""
    return len(value) <= 253 and all(_LABEL.fullmatch(part) for part in value.split("."))


def _namespace(value: str) -> str:
    if not is_dns_label(value):
        if is_dns_label(value.lower()):
            raise ValueError(messages.lowercase_name(value.lower()))
        raise ValueError(messages.not_a_namespace())
    return value


def _object_name(value: str) -> str:
    if not is_dns_subdomain(value):
        if is_dns_subdomain(value.lower()):
            raise ValueError(messages.lowercase_name(value.lower()))
        raise ValueError(messages.not_an_object_name())
    return value


def _container_name(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(messages.not_a_container_name())
    return value


def _name_or_selector(value: str) -> str:
    # A selector goes into the query string (the API server parses it); a name into the path.
    looks_like_selector = "=" in value or " in " in value or "," in value
    if not (is_dns_subdomain(value) or (looks_like_selector and _SELECTOR.fullmatch(value))):
        if not looks_like_selector and is_dns_subdomain(value.lower()):
            raise ValueError(messages.lowercase_name(value.lower()))
        raise ValueError(messages.not_a_name_or_selector())
    return value


Namespace = Annotated[str, AfterValidator(_namespace)]
ObjectName = Annotated[str, AfterValidator(_object_name)]
"""A deployment, pod, service, HPA… name (a DNS subdomain)."""
ContainerName = Annotated[str, AfterValidator(_container_name)]
NameOrSelector = Annotated[str, AfterValidator(_name_or_selector)]
"""A deployment or pod name, or a label selector."""

KUBE_FLAGS = {"-n": "namespace", "--namespace": "namespace", "--cluster": "cluster"}


class KubeParams(Params):
    """Parameters every Kubernetes action shares: where to look."""

    flags: ClassVar[dict[str, str]] = KUBE_FLAGS

    namespace: Namespace | None = None
    """Namespace; the cluster's default namespace when left out."""

    cluster: str | None = None
    """A cluster named in the policy; the default cluster when left out."""


P = TypeVar("P", bound=Params)
F = TypeVar("F")


@dataclass
class Context:
    """What an action may use while it runs: gateways reachable only through the policy."""

    user: str
    policy: Policy
    clock: Clock
    kube: Callable[[str], KubeGateway]
    prometheus: PrometheusGateway | None
    health: HealthChecker
    databases: DatabaseGateway
    incident_started: datetime | None = None
    permitted: frozenset[str] = frozenset()
    """Actions the person's roles allow (composite actions leave out the others)."""
    reaches: Callable[[Scope], bool] = lambda _scope: False
    """Whether the person's roles reach a health target, database or named query (composite
    actions leave out the others)."""
    part_timeout_s: float = 15.0
    """How long one part of a composite action may take before it is reported as failed."""


class TypedAction(Generic[P]):
    """What every action typed in Slack shares: a name, a usage line, `Params`, parsing, help.

    Diagnostics (`Action`) and remediations (`bot.actions.remediations`) both build on it."""

    name: ClassVar[str]
    usage: ClassVar[str]
    Params: type[P]

    @classmethod
    def help(cls) -> str:
        """The docstring's first paragraph as one line (its wrapping and indentation gone)."""
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())

    def parse(self, text: str) -> P:
        """`text` after the action's name → its Params, or a `UsageError` saying what to type."""
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise UsageError(shared.bad_quoting(str(exc), self.usage)) from None
        return self.build(parse_words(self.Params, words, self.usage), typed=True)

    def build(self, values: dict[str, Any], typed: bool = False) -> P:
        """Params from a mapping (commands and playbooks), errors told as what to type; a
        `typed` command's fields named as typed (`--to-revision`), a playbook's as written."""
        try:
            return self.Params.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = str(err["loc"][0]) if err["loc"] else "arguments"
            if typed and err["loc"]:
                where = _as_typed(self.Params, where)
            if err["type"] == "missing":
                raise UsageError(messages.missing_argument(where, self.usage)) from None
            given = err.get("input")
            problem = messages.invalid_value(
                err["type"],
                err.get("ctx") or {},
                given if isinstance(given, str) else str(given),
                err["msg"].removeprefix("Value error, "),
            )
            raise UsageError(messages.bad_argument(where, problem, self.usage)) from None


class Action(TypedAction[P], ABC, Generic[P, F]):
    """Base of every diagnostic. Subclasses set `name`, `usage`, `Params`; the docstring is help."""

    @abstractmethod
    def scopes(self, params: P, ctx: Context) -> list[Scope]:
        """What the action will touch; raises `UsageError`/`NotFound` for unknown targets."""

    @abstractmethod
    async def execute(self, params: P, ctx: Context, scopes: list[Scope]) -> F:
        """Gather the findings."""

    @abstractmethod
    def render(self, params: P, findings: F, ctx: Context) -> Result:
        """Turn the findings into what people read."""


def parse_words(model: type[Params], words: list[str], usage: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    positional = list(model.positional)
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-") and len(word) > 1:
            field_name = model.flags.get(word)
            if field_name is None:
                raise UsageError(shared.unknown_flag(word, usage))
            if _is_bool(model, field_name):
                values[field_name] = True
            else:
                if i + 1 >= len(words):
                    raise UsageError(shared.flag_needs_value(word, usage))
                values[field_name] = words[i + 1]
                i += 1
        elif positional:
            values[positional.pop(0)] = word
        else:
            raise UsageError(shared.unexpected_arguments(usage, word))
        i += 1
    return values


def _as_typed(model: type[Params], field_name: str) -> str:
    """A field as the person typed it: its longest flag (`--to-revision`, not `to_revision`),
    or its name for a positional argument (as the usage line writes it, `<replicas>`)."""
    flags = [flag for flag, name in model.flags.items() if name == field_name]
    return max(flags, key=len) if flags else field_name


def _is_bool(model: type[Params], field_name: str) -> bool:
    annotation = model.model_fields[field_name].annotation
    return annotation is bool or bool in get_args(annotation)


def kube_cluster(ctx: Context, params: KubeParams) -> str:
    """The policy cluster an action reaches: the one named, else the default."""
    if params.cluster is None:
        if ctx.policy.cluster_name is None:
            raise NotFound(messages.no_cluster_configured())
        return ctx.policy.cluster_name
    if params.cluster not in ctx.policy.clusters:
        names = sorted(ctx.policy.clusters)
        close = close_matches(params.cluster, names)
        raise NotFound(shared.no_such_named("cluster", params.cluster, names, close))
    return params.cluster


def kube_scope(
    ctx: Context, params: KubeParams, target: str, namespace: str | None = None
) -> Scope:
    """Where a Kubernetes action reaches (the policy's defaults for what is left out)."""
    cluster = kube_cluster(ctx, params)
    spec = ctx.policy.clusters[cluster]
    namespace = namespace or params.namespace or spec.default_namespace
    return Scope("kubernetes", target, cluster=cluster, namespace=namespace)


def close_matches(word: str, candidates: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.5)
