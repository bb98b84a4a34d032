"""What the follow-up jobs read before they act, read for every job started in the same turn
of the loop at once.

1,000 incidents declared in the same minute have their 5-minute checklists due in the same
second. The scheduler claims them in batches and starts each batch's jobs together; each job
re-reads its incident (it may have been resolved or acknowledged since it was scheduled) and
the checklists already posted for it. Read one job at a time, that is 3-4 round trips each;
here the jobs' reads are gathered (`bot.store.batching`) into one pipeline of `GET`s and
`SMEMBERS`, and one more for the posted checklists' records when there are any. Each job still
reads its records when it starts, not when it was claimed: nothing it acts on is older than
it would have been.
"""

from __future__ import annotations

from typing import Any

from bot.checklists.models import ChecklistBook, PostedChecklist
from bot.incident import Incident
from bot.store.batching import Batched
from bot.store.store import Store

Read = tuple[Incident | None, list[PostedChecklist]]


class JobReads:
    def __init__(self, store: Store, book: ChecklistBook) -> None:
        self.store = store
        self.book = book
        self._batched: Batched[tuple[str, bool], Read] = Batched(self._many)

    async def incident(self, incident_id: str) -> Incident | None:
        """The incident if it is still open (None: resolved, or gone)."""
        incident, _ = await self._batched((incident_id, False))
        return incident

    async def with_checklists(self, incident_id: str) -> Read:
        """The incident if still open, and the checklists posted for it (mark order)."""
        return await self._batched((incident_id, True))

    async def _many(self, asks: list[tuple[str, bool]]) -> list[Read | BaseException]:
        records = await self.book.incidents_and_marks(asks)
        incidents: list[Incident | BaseException | None] = []
        marks: dict[str, Any] = {}
        for (incident_id, checklists), (doc, found) in zip(asks, records, strict=True):
            try:
                incident = Incident.model_validate_json(doc) if doc else None
            except ValueError as exc:  # one bad record fails its own job only
                incidents.append(exc)
                continue
            incidents.append(incident if incident is not None and incident.is_open else None)
            if checklists and incident is not None and found:
                marks[incident_id] = found
        posted = await self.book.marked(marks)
        return [
            i if isinstance(i, BaseException) else (i, posted.get(incident_id, []) if c else [])
            for i, (incident_id, c) in zip(incidents, asks, strict=True)
        ]
