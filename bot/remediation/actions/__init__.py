"""The remediation actions, one small class per module: `restart`, `scale`, `rollback`,
`delete_pod`, on the base in `base` (and `deployment` for those that change a deployment).

A remediation class is the single source of everything about it: its name and usage, its help
(the docstring), its `Params` (what commands, buttons and playbooks fill in), its `Intent` (what
a plan applies), the button text a playbook offers it with, and its sentences. The policy checks
its `remediation.actions` names, and playbooks their `remediations:` parameters, against the
remediations the app was built with (`Deps.remediations`, by default `default_remediations()`).
Nothing registers itself by being imported.
"""

from __future__ import annotations

from bot.remediation.actions.base import AnyRemediation


def default_remediations() -> tuple[AnyRemediation, ...]:
    """The remediation actions the app is built with unless told otherwise, explicitly."""
    from bot.remediation.actions.delete_pod import DeletePod
    from bot.remediation.actions.restart import Restart
    from bot.remediation.actions.rollback import Rollback
    from bot.remediation.actions.scale import Scale

    return (Restart(), Scale(), Rollback(), DeletePod())
