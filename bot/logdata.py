"""Log messages that are data: a record logged as one JSON object (the audit trail).

It sits with the shared types, below everything, so the store can log its audit records and
`bot.runtime.log` can format (and redact) them without either importing the other. It must
never import anything of Fireline, nor do I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

AUDIT_LOGGER = "fireline.audit"
"""The logger every audit record is written to (`bot.store.audit`), one JSON object each,
at INFO whatever `FIRELINE_LOG_LEVEL` says (`bot.runtime.log.configure`)."""


class Structured(dict[str, Any]):
    """A log message that is a record. As text (`str()`, the text log format) it is its fields
    as one JSON object; the JSON log format nests the fields under `key` and says `title` as the
    line's `message`. The logging filter redacts every field before either is written."""

    def __init__(self, key: str, title: str, fields: Mapping[str, Any]) -> None:
        super().__init__(fields)
        self.key = key
        self.title = title

    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False, default=str)
