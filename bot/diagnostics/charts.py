"""PNG line charts of Prometheus ranges (matplotlib, Agg backend, in a worker thread).

Rendered server-side to a PNG uploaded into the thread: Slack shows images inline everywhere
(desktop, mobile, notifications), needs no external image service, and nothing leaves Fireline.
matplotlib is blocking and not thread-safe through pyplot, so only the object API is used.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from bot.gateways.prometheus import Series

MAX_LINES = 8


def _render(title: str, series: list[Series], unit: str) -> bytes:
    figure = Figure(figsize=(8, 3.2), dpi=100)
    axes = figure.add_subplot()
    for s in series[:MAX_LINES]:
        xs = [datetime.fromtimestamp(t, UTC) for t, _ in s.points]
        ys = [v for _, v in s.points]
        label = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "__name__")
        axes.plot(xs, ys, label=label[:60] or "value", linewidth=1.4)  # type: ignore[arg-type]
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(unit or "value")
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    axes.grid(alpha=0.3)
    if series:
        axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def line_chart(title: str, series: list[Series], unit: str = "") -> bytes:
    return await asyncio.to_thread(_render, title, series, unit)
