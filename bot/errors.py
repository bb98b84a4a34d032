"""Fireline's errors, named by what the caller should do next.

Gateways (Slack, Redis, later Kubernetes and Prometheus) catch their client library's
exceptions and raise one of these `from` the original, so a library can change without
touching the domain or the handlers. Handlers turn `UserError`s into an ephemeral message that
says what to type instead; everything else is logged and reported as "did not happen".

    FirelineError
    ├── ConfigurationError        fix the configuration and restart
    ├── UserError                 tell the user what to type instead; nothing changed
    │   ├── UsageError            the command did not parse
    │   ├── IncidentNotFound      no incident with that ID / not an incident channel
    │   ├── InvalidTransition     the incident's state does not allow that now
    │   ├── Denied                the policy does not allow this person that (names what is missing)
    │   ├── NotFound              no such target (deployment, pod, query…); close matches offered
    │   ├── Outdated              a button offered it for a target that has changed since
    │   └── RateLimited           this person ran too many actions; wait `retry_after` seconds
    ├── TemporaryError            try again later (retried with backoff where that is safe)
    │   ├── Throttled             the remote asked us to slow down (`retry_after` seconds)
    │   ├── Unavailable           the remote could not be reached or answered 5xx
    │   └── Unconfirmed           a write may have happened: say so, and how to find out
    └── PermanentError            retrying will not help; record it and tell a human
        ├── SlackRejected         Slack answered ok=false with `code`
        ├── ConcurrentModification the record kept changing under us; give up, nothing applied
        ├── Forbidden             Fireline's own credentials lack a permission: fix its RBAC/grants
        └── Conflict              the remote object changed or exists already: re-read, decide again

Messages in these errors are shown to users: they never contain a token or secret.
"""

from __future__ import annotations


class FirelineError(Exception):
    """Base of every error Fireline raises on purpose."""


class ConfigurationError(FirelineError):
    """A setting or data file is missing or invalid; the process should not start."""


class UserError(FirelineError):
    """Something the user typed or clicked cannot be done. `str(err)` is shown to them."""


class UsageError(UserError):
    """The command did not parse; the message says what to type instead."""


class IncidentNotFound(UserError):
    """No incident matches what the user gave (ID, or the channel they typed in)."""


class InvalidTransition(UserError):
    """The incident's state does not allow the requested change (e.g. resolving twice)."""


class TemporaryError(FirelineError):
    """A dependency failed in a way that may pass; safe operations retry these."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(TemporaryError):
    """The remote rate-limited us; wait `retry_after` seconds."""


class Unavailable(TemporaryError):
    """The remote could not be reached, timed out, or answered with a server error. `sent`: the
    request had reached it and its answer was lost (a read timed out, the connection dropped
    mid-answer), so a write may have happened; False when it never got there."""

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class Unconfirmed(TemporaryError):
    """A write was sent and its answer lost, and whether it happened could not be found out in
    time. `str(err)` is shown to the person: that it could not be confirmed, and what to check
    (never "did not happen": it may have)."""


class PermanentError(FirelineError):
    """Retrying will not help: record it and tell a human."""


class SlackRejected(PermanentError):
    """Slack answered `ok: false`; `code` is Slack's error code (`channel_not_found`, …)."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"Slack refused {method}: {code}")
        self.method = method
        self.code = code


class ConcurrentModification(PermanentError):
    """An optimistic update lost the race too many times; nothing was applied."""


class Denied(UserError):
    """The policy does not allow this person this action or target; says what is missing."""


class NotFound(UserError):
    """The named target does not exist; the text offers close matches where there are any."""


class Outdated(UserError):
    """A button offered a change for the target as it was then, and the target has changed
    since (a rollback already done, replicas already scaled): nothing is requested, and the text
    says what is true now and what to run for a fresh view."""


class RateLimited(UserError):
    """This person ran too many actions in the window; try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(PermanentError):
    """A remote refused Fireline's own credentials (HTTP 403): its grants need fixing."""


class Conflict(PermanentError):
    """The remote object changed under us or already exists (HTTP 409)."""
