"""Quick-response checklists: what a team asks itself at 5, 15 and 60 minutes into an incident.

The questions are data (`bot/checklists/data/checklists.yaml`, or the file that
`FIRELINE_CHECKLISTS_FILE` names), validated when Fireline starts so a typo stops the start
with the file, the field and what was expected — never a surprise at minute 15 of an outage.

`ChecklistBook` keeps what happened to each posted checklist in Redis: which message shows it,
and the first answer to each item. An answer is recorded with HSETNX together with its
timeline entry in one Lua call, so a double click or a click on a stale copy of the message
counts once. This module never talks to Slack.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from redis.exceptions import RedisError

from bot.errors import ConfigurationError
from bot.incident import Severity, TimelineEntry
from bot.store.batching import Batched
from bot.store.calls import WITNESS_TTL_MS, witness
from bot.store.store import Store, redis_unavailable, replicated

MAX_ITEM = 150
AnswerKind = Literal["done", "n/a"]

# Records the first answer to an item and its timeline entry. KEYS: answers, timeline.
# ARGV: item, answer JSON, entry JSON. Returns the answer now recorded and 1 if it is this one.
_ANSWER = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return {redis.call('HGET', KEYS[1], ARGV[1]), 0}
end
redis.call('RPUSH', KEYS[2], ARGV[3])
return {ARGV[2], 1}
"""


class ChecklistSpec(BaseModel):
    """One checklist as configured: posted `minutes` after the declaration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes: int = Field(gt=0, le=7 * 24 * 60, strict=True)
    title: str = Field(min_length=1, max_length=100)
    items: list[str] = Field(min_length=1, max_length=20)

    @field_validator("items")
    @classmethod
    def _items_are_lines(cls, items: list[str]) -> list[str]:
        for text in items:
            if not isinstance(text, str) or not text.strip():
                raise ValueError("each item must be a non-empty line of text")
            if len(text) > MAX_ITEM or "\n" in text:
                raise ValueError(f"each item must be one line of at most {MAX_ITEM} characters")
        return [t.strip() for t in items]


def _increasing(specs: list[ChecklistSpec]) -> list[ChecklistSpec]:
    marks = [s.minutes for s in specs]
    if marks != sorted(set(marks)):
        raise ValueError(f"marks must be unique and in increasing order (got minutes {marks})")
    return specs


class ChecklistConfig(BaseModel):
    """The whole file: `default` checklists, and optional replacements by severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: list[ChecklistSpec] = Field(min_length=1)
    by_severity: dict[Severity, list[ChecklistSpec]] = Field(default_factory=dict)

    @field_validator("default")
    @classmethod
    def _default_marks(cls, specs: list[ChecklistSpec]) -> list[ChecklistSpec]:
        return _increasing(specs)

    @field_validator("by_severity")
    @classmethod
    def _severity_marks(
        cls, by: dict[Severity, list[ChecklistSpec]]
    ) -> dict[Severity, list[ChecklistSpec]]:
        for specs in by.values():
            _increasing(specs)
        return by

    def for_severity(self, severity: Severity) -> list[ChecklistSpec]:
        return self.by_severity.get(severity, self.default)

    def spec(self, severity: Severity, minutes: int) -> ChecklistSpec | None:
        return next((s for s in self.for_severity(severity) if s.minutes == minutes), None)


DEFAULT_FILE = "checklists.yaml"


def load_checklists(path: Path | None = None) -> ChecklistConfig:
    """Read and validate the checklists file (the packaged default when `path` is None)."""
    if path is None:
        where = f"bot/checklists/data/{DEFAULT_FILE}"
        text = resources.files("bot.checklists").joinpath("data", DEFAULT_FILE).read_text("utf-8")
    else:
        where = str(path)
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"Checklists file {where} cannot be read ({exc.strerror}). "
                "Fix FIRELINE_CHECKLISTS_FILE, or unset it to use the built-in checklists."
            ) from None
    return parse_checklists(text, where)


def parse_checklists(text: str, where: str) -> ChecklistConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it does not parse"
        raise ConfigurationError(
            f"Checklists file {where} is not valid YAML{line}: {problem}."
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"Checklists file {where} must be a mapping with a `default:` list of checklists."
        )
    try:
        return ChecklistConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(describe(exc, where)) from None


def describe(exc: ValidationError, where: str) -> str:
    """One line per problem: the field's path as written in the file, and what is expected."""
    lines = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if p != "[key]"]
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc)
        field = field.replace(".[", "[") or "(top level)"
        got = err.get("input")
        if err["type"] == "missing":
            lines.append(f"{field} is missing")
        elif err["type"] == "extra_forbidden":
            lines.append(
                f"{field} is not a known field (expected minutes, title, items; "
                "or default, by_severity at the top)"
            )
        elif field.endswith("minutes"):
            lines.append(f"{field} must be a whole number of minutes from 1 to 10080 (got {got!r})")
        elif "by_severity" in field and err["type"] == "enum":
            lines.append(f"{field} is not a severity (expected P0, P1, P2 or P3)")
        else:
            lines.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
    return f"Checklists file {where} is invalid: " + "; ".join(lines) + "."


# --- what happened to posted checklists ------------------------------------------------------


class Answer(BaseModel):
    item: int
    """1-based position of the item in its checklist."""
    kind: AnswerKind
    user: str
    at: datetime


class PostedChecklist(BaseModel):
    """A checklist as posted: the spec it showed (a later severity change does not alter it)."""

    incident_id: str
    spec: ChecklistSpec
    channel: str
    ts: str
    posted_at: datetime
    late_by: float = 0.0
    answers: dict[int, Answer] = Field(default_factory=dict)

    def open_items(self) -> list[tuple[int, str]]:
        return [(n, t) for n, t in enumerate(self.spec.items, 1) if n not in self.answers]


class ChecklistBook:
    """Redis records of posted checklists and their answers (key names in `bot.store.Keys`)."""

    def __init__(self, store: Store) -> None:
        self.redis = store.redis
        self.keys = store.keys
        self._answer = self.redis.register_script(_ANSWER)
        self._recording: Batched[PostedChecklist, Any] = Batched(self._record_many)

    async def record_posted(self, posted: PostedChecklist) -> bool:
        """Remember the posted message; False if another run had already recorded one.
        Records made in the same turn of the loop share one round trip."""
        return bool(await self._recording(posted))

    async def _record_many(self, posted: list[PostedChecklist]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for each in posted:
            key = self.keys.checklist(each.incident_id, each.spec.minutes)
            pipe.hsetnx(key, "doc", each.model_dump_json(exclude={"answers"}))
            pipe.sadd(self.keys.checklist_marks(each.incident_id), each.spec.minutes)
        try:
            answers = await pipe.execute()
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return list(answers[::2])

    async def get(self, incident_id: str, minutes: int) -> PostedChecklist | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(self.keys.checklist(incident_id, minutes), "doc")
        pipe.hgetall(self.keys.checklist_answers(incident_id, minutes))
        try:
            doc, raw = await pipe.execute()
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return _posted(doc, raw)

    async def all(self, incident_id: str) -> list[PostedChecklist]:
        """Every checklist posted for the incident, in mark order, with their answers."""
        try:
            marks = await self.redis.smembers(self.keys.checklist_marks(incident_id))
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return (await self.marked({incident_id: marks}))[incident_id]

    async def incidents_and_marks(self, asks: list[tuple[str, bool]]) -> list[tuple[Any, Any]]:
        """For each (incident ID, with marks?): the incident's record as stored and, if asked,
        the marks whose checklists were posted for it; for many incidents, one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for incident_id, with_marks in asks:
            pipe.get(self.keys.incident(incident_id))
            if with_marks:
                pipe.smembers(self.keys.checklist_marks(incident_id))
        try:
            answers = iter(await pipe.execute())
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        return [(next(answers), next(answers) if with_marks else set()) for _, with_marks in asks]

    async def marked(self, marks: dict[str, Any]) -> dict[str, list[PostedChecklist]]:
        """The checklists posted at the given marks (incident → its `checklist_marks`), in mark
        order with their answers: for many incidents, one round trip."""
        wanted = [(i, m) for i, ms in marks.items() for m in sorted(int(m) for m in ms)]
        found: dict[str, list[PostedChecklist]] = {i: [] for i in marks}
        if not wanted:
            return found
        pipe = self.redis.pipeline(transaction=False)
        for incident_id, minutes in wanted:
            pipe.hget(self.keys.checklist(incident_id, minutes), "doc")
            pipe.hgetall(self.keys.checklist_answers(incident_id, minutes))
        try:
            raw = await pipe.execute()
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        for n, (incident_id, _) in enumerate(wanted):
            if (posted := _posted(raw[2 * n], raw[2 * n + 1])) is not None:
                found[incident_id].append(posted)
        return found

    async def answer(
        self, incident_id: str, minutes: int, answer: Answer, entry: TimelineEntry
    ) -> tuple[Answer, bool]:
        """Record `answer` unless the item was answered before; returns the recorded one."""
        proof = witness(self.redis)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                await self._answer(
                    keys=[
                        self.keys.checklist_answers(incident_id, minutes),
                        self.keys.timeline(incident_id),
                    ],
                    args=[answer.item, answer.model_dump_json(), entry.model_dump_json()],
                    client=pipe,
                )
                if proof is not None:  # the tick is shown once a replica has it
                    pipe.set(proof[0], proof[1], px=WITNESS_TTL_MS)
                raw: Any = (await pipe.execute())[0]
        except RedisError as exc:
            raise redis_unavailable(exc) from exc
        await replicated(self.redis, proof)
        return Answer.model_validate(json.loads(raw[0])), bool(int(raw[1]))


def _posted(doc: Any, answers: dict[Any, Any]) -> PostedChecklist | None:
    if doc is None:
        return None
    posted = PostedChecklist.model_validate_json(doc)
    found = {int(k): Answer.model_validate_json(v) for k, v in answers.items()}
    return posted.model_copy(update={"answers": found})
