"""The diagnostic actions, each one small class.

`default_actions()` is the list the app is built with; `create_app` receives it explicitly
(through `Deps`), so a test or a deployment can run with any other tuple. Nothing registers
itself by being imported.
"""

from __future__ import annotations

from typing import Any

from bot.actions.base import Action


def default_actions() -> tuple[Action[Any, Any], ...]:
    from bot.diagnostics.actions.diagnose import Diagnose
    from bot.diagnostics.actions.logs import Logs
    from bot.diagnostics.actions.observability import Db, Health, Query
    from bot.diagnostics.actions.pods import Describe, Events, Pods
    from bot.diagnostics.actions.workloads import Endpoints, Hpa, RolloutHistory, Top

    return (
        Pods(), Describe(), Logs(), Events(), Top(), RolloutHistory(), Hpa(), Endpoints(),
        Health(), Query(), Db(), Diagnose(),
    )  # fmt: skip
