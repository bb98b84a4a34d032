"""Fireline's one settings object.

Built once at start-up (`load_settings()`), passed down explicitly. No other module reads
`os.environ`: a setting that is not here does not exist. Every field is documented, because
`.env.example` and the configuration reference in the README are kept equal to these fields
by a test.

Values are typed where they are read: durations are `timedelta` (`15m` in the environment,
parsed once by `bot.durations`), per-severity values are dicts keyed by `Severity`, so nothing
downstream parses a setting again. This module imports no feature: it sits with the shared
types, below everything that reads it (`.importlinter`).

An empty value means "unset", wherever it comes from (the environment, `.env`, a keyword):
`.env.example` lists every setting, most of them empty, and `FIRELINE_POLICY_FILE=` must mean
"the built-in policy", never `Path("")`, which is `.`. One rule does it for every field
(`Settings._empty_is_unset`): an empty or blank value is dropped before validation, so the
field takes its default, and a required one is reported as not set.

Never log a `Settings` object's secrets: tokens are `SecretStr`, so `repr()` and logs show
`**********`.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.durations import durations_by_severity, parse_by_severity, parse_duration
from bot.errors import ConfigurationError
from bot.incident import Severity

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


def packaged_dir(*parts: str) -> Path:
    """A directory shipped inside the `bot` package, found as an installed package's data is
    (`importlib.resources`), so it is there whatever the working directory or install method.
    Fireline is never installed zipped; if it were, this would say so instead of failing later."""
    found = resources.files("bot").joinpath(*parts)
    if not isinstance(found, Path):  # pragma: no cover - only a zipped install gets here
        raise ConfigurationError(
            f"bot/{'/'.join(parts)} is inside a zip archive; install Fireline unpacked "
            "(pip install) or set FIRELINE_PLAYBOOKS_DIR"
        )
    return found


DEFAULT_PLAYBOOKS_DIR = packaged_dir("playbooks", "shipped")
"""The repository's `playbooks/`, shipped inside the package as `bot/playbooks/shipped`
(a link in the source tree, real files in the wheel: docs/decisions/packaging.md)."""
DEFAULT_ACK_DEADLINES = "P0=0,P1=15m,P2=1h,P3=1d"
DEFAULT_ESCALATE_AFTER = "5m"
DEFAULT_UPDATE_REMINDERS = "P0=15m,P1=30m,P2=1h,P3=off"
DEFAULT_ALERT_RETENTION = "30d"
DEFAULT_AUDIT_RETENTION = "90d"
LOG_FORMATS = ("text", "json")

_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")


def user_groups_by_severity(text: str) -> dict[Severity, str]:
    """`P0=S0123ABCD,…` → Slack user-group IDs by severity (an @handle is refused)."""
    groups = parse_by_severity(text, what="on-call groups")
    for severity, group in groups.items():
        if not _GROUP.match(group):
            raise ValueError(
                f"{severity.value}={group}: give the user group's ID (S0123ABCD), not its "
                "@handle (Slack: the group's profile → ⋯ → Copy group ID)"
            )
    return groups


def _from_text(parse: Callable[[str], object]) -> BeforeValidator:
    """Parse a setting given as text (environment, `.env`); typed values pass as they are."""
    return BeforeValidator(lambda value: parse(value) if isinstance(value, str) else value)


Port = Annotated[int, Field(ge=0, le=65535)]
Duration = Annotated[timedelta, _from_text(parse_duration)]
DurationsBySeverity = Annotated[
    dict[Severity, timedelta | None],
    NoDecode,  # text such as P0=15m, not JSON
    _from_text(lambda text: durations_by_severity(text, what="values")),
]


def sentinel_addresses(text: str) -> tuple[tuple[str, int], ...]:
    """`host:port,host:port` → the Sentinels' addresses; a bad entry is named."""
    found = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"has {entry!r}, which is not host:port (give host:port,host:port, "
                "e.g. 10.0.0.5:26379,10.0.0.6:26379)"
            )
        found.append((host, int(port)))
    return tuple(found)


RedisSentinels = Annotated[tuple[tuple[str, int], ...], NoDecode, _from_text(sentinel_addresses)]
UserGroupsBySeverity = Annotated[dict[Severity, str], NoDecode, _from_text(user_groups_by_severity)]


class StorageSettings(BaseSettings):
    """Where Fireline keeps its state: all that commands reading Redis alone need
    (`fireline report`), so they run without Slack tokens. `Settings` is these and the rest."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        """The one rule for empty values: `NAME=` (or blanks) is as if NAME were not there."""
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}

    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    """Redis server URL (`redis://host:6379/0`). Unset: embedded Redis under the data dir."""

    redis_prefix: str = Field(default="fireline:", alias="FIRELINE_REDIS_PREFIX")
    """Prefix of every Redis key, so two deployments (or test runs) can share one server."""

    data_dir: Path = Field(default=Path("./data"), alias="FIRELINE_DATA_DIR")
    """Directory for the embedded Redis (append-only file) and other local state."""

    redis_sentinels: RedisSentinels = Field(default=(), alias="FIRELINE_REDIS_SENTINELS")
    """Redis Sentinels (`host:port,host:port`). Set: Redis is the master they name (high
    availability, docs/decisions/ha.md), and REDIS_URL must be unset."""

    redis_sentinel_master: str = Field(default="mymaster", alias="FIRELINE_REDIS_SENTINEL_MASTER")
    """Name the Sentinels know the master by (`sentinel monitor <name> …`)."""

    redis_password: SecretStr | None = Field(default=None, alias="FIRELINE_REDIS_PASSWORD")
    """Password of the Redis server(s) (`requirepass`), with REDIS_URL or Sentinel alike."""

    redis_password_file: Path | None = Field(default=None, alias="FIRELINE_REDIS_PASSWORD_FILE")
    """File holding that password (a mounted Kubernetes Secret), instead of the variable."""

    redis_sentinel_password: SecretStr | None = Field(
        default=None, alias="FIRELINE_REDIS_SENTINEL_PASSWORD"
    )
    """Password of the Sentinels themselves (`requirepass` in sentinel.conf). Unset: none."""

    redis_replica_acks: int | None = Field(
        default=None, ge=0, le=5, alias="FIRELINE_REDIS_REPLICA_ACKS"
    )
    """Replicas that must hold a write before a person is told it is done (`WAIT`). Unset:
    1 with Sentinels, 0 otherwise. 0: answer as soon as the master has it."""

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _one_redis(self) -> StorageSettings:
        if self.redis_sentinels and self.redis_url:
            raise ValueError(
                "FIRELINE_REDIS_SENTINELS and REDIS_URL are both set; keep one (Sentinel "
                "names the master itself)"
            )
        if self.redis_password is not None and self.redis_password_file is not None:
            raise ValueError(
                "FIRELINE_REDIS_PASSWORD and FIRELINE_REDIS_PASSWORD_FILE are both set; keep one"
            )
        if self.redis_password_file is not None and not self.redis_password_file.is_file():
            raise ValueError(
                f"FIRELINE_REDIS_PASSWORD_FILE names {self.redis_password_file}, which is not "
                "a readable file"
            )
        return self

    def redis_secret(self) -> str | None:
        """The Redis password, from the variable or the file (read when connecting, so a
        rotated Secret is picked up at the next start)."""
        if self.redis_password is not None:
            return self.redis_password.get_secret_value()
        if self.redis_password_file is not None:
            secret = read_secret(file=self.redis_password_file)
            return secret.get_secret_value() if secret is not None else None
        return None

    @property
    def replica_acks(self) -> int:
        if self.redis_replica_acks is not None:
            return self.redis_replica_acks
        return 1 if self.redis_sentinels else 0

    @field_validator("redis_prefix")
    @classmethod
    def _redis_prefix_shape(cls, value: str) -> str:
        if not value or len(value) > 64 or any(c.isspace() or c in "*?[]" for c in value):
            raise ValueError("must be 1-64 characters without spaces or * ? [ ]")
        return value


class Settings(StorageSettings):
    """Everything Fireline reads from its environment (or a `.env` file)."""

    model_config = SettingsConfigDict(extra="forbid")

    slack_bot_token: SecretStr = Field(alias="SLACK_BOT_TOKEN")
    """Bot token (`xoxb-…`) from the app's OAuth & Permissions page."""

    slack_signing_secret: SecretStr = Field(alias="SLACK_SIGNING_SECRET")
    """Signing secret from the app's Basic Information page; verifies Slack's requests."""

    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    """App-level token (`xapp-…`, scope `connections:write`). Set: Socket Mode. Unset: HTTP."""

    slack_api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(DEFAULT_SLACK_API_URL), alias="SLACK_API_URL"
    )
    """Base URL of the Slack Web API (tests, proxies, Slack GovSlack point it elsewhere)."""

    http_host: str = Field(default="0.0.0.0", alias="FIRELINE_HTTP_HOST")
    """Address the bot's HTTP server listens on (events, health, readiness)."""

    http_port: Port = Field(default=3000, alias="FIRELINE_HTTP_PORT")
    """Port of the bot's HTTP server."""

    broadcast_channel: str | None = Field(default=None, alias="FIRELINE_BROADCAST_CHANNEL")
    """Channel ID (`C…`) where declarations and status updates are announced. Unset: none."""

    channel_prefix: str = Field(default="inc", alias="FIRELINE_CHANNEL_PREFIX")
    """Prefix of incident channel names: `<prefix>-<yyyymmdd>-<slug>`."""

    alerts_channel: str | None = Field(default=None, alias="FIRELINE_ALERTS_CHANNEL")
    """Channel ID (`C…`) for Alertmanager alerts that no route sends elsewhere."""

    webhook_token: SecretStr | None = Field(default=None, alias="FIRELINE_WEBHOOK_TOKEN")
    """Bearer token Alertmanager must send to `/webhooks/alertmanager` (unset: all refused)."""

    instance_name: str = Field(default_factory=socket.gethostname, alias="FIRELINE_INSTANCE")
    """This replica's stable name (default: the host name); names its share of the alert inbox."""

    alert_storm_threshold: int = Field(default=20, ge=2, alias="FIRELINE_ALERT_STORM_THRESHOLD")
    """Slack writes waiting in a channel at which new alert groups go to a storm digest first."""

    slack_rate_scale: float = Field(default=1.0, gt=0, alias="FIRELINE_SLACK_RATE_SCALE")
    """Multiplies the Slack rate limits Fireline keeps to (1 = Slack's published limits)."""

    checklists_file: Path | None = Field(default=None, alias="FIRELINE_CHECKLISTS_FILE")
    """YAML file of quick-response checklists (format: bot/checklists/data/checklists.yaml).
    Unset: that one."""

    ack_deadlines: DurationsBySeverity = Field(
        default=DEFAULT_ACK_DEADLINES, alias="FIRELINE_ACK_DEADLINES", validate_default=True
    )
    """Time to acknowledge by severity (`P0=0,P1=15m,…`, `off`); then a reminder in its channel."""

    ack_escalate_after: Duration = Field(
        default=DEFAULT_ESCALATE_AFTER, alias="FIRELINE_ACK_ESCALATE_AFTER", validate_default=True
    )
    """Time after that reminder before the on-call group is paged and the broadcast told."""

    declare_acknowledges: bool = Field(default=True, alias="FIRELINE_DECLARE_ACKNOWLEDGES")
    """Declaring counts as acknowledging when the policy lets the declarer acknowledge, so no
    reminder asks them to; `false`: someone must still acknowledge (a second pair of eyes)."""

    update_reminders: DurationsBySeverity = Field(
        default=DEFAULT_UPDATE_REMINDERS, alias="FIRELINE_UPDATE_REMINDERS", validate_default=True
    )
    """Remind to post `/incident update` after this long without one, by severity, or `off`."""

    oncall_groups: UserGroupsBySeverity = Field(
        default="", alias="FIRELINE_ONCALL_GROUPS", validate_default=True
    )
    """Slack user-group IDs paged on escalation, by severity (`P0=S0123ABCD,P1=S0123ABCD`)."""

    log_level: str = Field(default="INFO", alias="FIRELINE_LOG_LEVEL")
    """Python logging level: DEBUG, INFO, WARNING or ERROR."""

    log_format: str = Field(default="text", alias="FIRELINE_LOG_FORMAT")
    """`text` (one readable line per record) or `json` (one JSON object per line)."""

    alert_retention: Duration = Field(
        default=DEFAULT_ALERT_RETENTION, alias="FIRELINE_ALERT_RETENTION", validate_default=True
    )
    """How long a resolved alert group (its record, what its thread showed, its outbox
    bookkeeping) is kept after its last change, and a storm's digest after the storm."""

    audit_retention: Duration = Field(
        default=DEFAULT_AUDIT_RETENTION, alias="FIRELINE_AUDIT_RETENTION", validate_default=True
    )
    """How far back the audit stream in Redis reaches (every record is also logged, forever)."""

    policy_file: Path | None = Field(default=None, alias="FIRELINE_POLICY_FILE")
    """YAML policy: roles, clusters, namespaces, queries, targets. Unset: the built-in default."""

    action_timeout_s: float = Field(default=20.0, gt=0, le=300, alias="FIRELINE_ACTION_TIMEOUT_S")
    """Longest a diagnostic may run; what is unfinished by then is reported as failed."""

    shutdown_grace_s: float = Field(default=15.0, ge=0, le=120, alias="FIRELINE_SHUTDOWN_GRACE_S")
    """On SIGTERM/SIGINT, how long work already acknowledged may run on before it is cut
    short; keep it below Kubernetes' `terminationGracePeriodSeconds` (deploy/kubernetes)."""

    repair_interval_s: float = Field(
        default=30.0, gt=0, le=3600, alias="FIRELINE_REPAIR_INTERVAL_S"
    )
    """How often unfinished Slack work (an incident's channel, card, announcement) is retried."""

    playbooks_dir: Path = Field(default=DEFAULT_PLAYBOOKS_DIR, alias="FIRELINE_PLAYBOOKS_DIR")
    """Directory of playbook YAML files, validated at start-up. Unset: the shipped ones."""

    alertmanager_url: AnyHttpUrl | None = Field(default=None, alias="FIRELINE_ALERTMANAGER_URL")
    """Alertmanager's base URL, for the Silence 1 h button (API v2). Unset: no silences."""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("webhook_token")
    @classmethod
    def _webhook_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (it guards the alert webhook)")
        return value

    @field_validator("instance_name")
    @classmethod
    def _instance_default(cls, value: str) -> str:
        return value.strip() or socket.gethostname()

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("broadcast_channel", "alerts_channel")
    @classmethod
    def _channel_id_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if value[:1] not in {"C", "G"} or not value.isalnum() or value.upper() != value:
            raise ValueError("must be a channel ID such as C0123456789, not a #name")
        return value

    @field_validator("channel_prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if (
            not value
            or len(value) > 20
            or not all(c.islower() or c.isdigit() or c == "-" for c in value)
        ):
            raise ValueError("must be 1-20 characters of a-z, 0-9 and -")
        return value

    @field_validator("policy_file")
    @classmethod
    def _policy_exists(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not value.is_file():
            raise ValueError(f"names {value}, which is not a readable file")
        return value

    @field_validator("log_level")
    @classmethod
    def _level_shape(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("log_format")
    @classmethod
    def _format_shape(cls, value: str) -> str:
        fmt = value.strip().lower()
        if fmt not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)} (not {value!r})")
        return fmt

    @field_validator("alert_retention", "audit_retention")
    @classmethod
    def _retention_floor(cls, value: timedelta) -> timedelta:
        if value < timedelta(hours=1):
            raise ValueError("must be at least 1h (write e.g. 30d)")
        return value

    @model_validator(mode="after")
    def _api_url_trailing_slash(self) -> Settings:
        url = str(self.slack_api_url)
        if not url.endswith("/"):
            self.slack_api_url = AnyHttpUrl(url + "/")
        return self

    def secret_values(self) -> list[str]:
        """Every secret's value, for the log filter to redact wherever one appears."""
        secrets = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.webhook_token,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        sentinel = self.redis_sentinel_password
        more = [self.redis_secret(), sentinel.get_secret_value() if sentinel else None]
        return [*values, *(value for value in more if value)]

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def slack_api_base(self) -> str:
        return str(self.slack_api_url)


def read_secret(*, env: str | None = None, file: Path | None = None) -> SecretStr | None:
    """A secret the policy points at (a DSN): from an environment variable or a file.

    The policy names where a secret lives, never the secret; this is the one place that reads
    the environment, so it lives in the settings module.
    """
    if env is not None:
        value = os.environ.get(env)
        return SecretStr(value) if value else None
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return SecretStr(value) if value else None
    return None


class _SlackCredentials(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str = Field(default="", alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str = Field(default="", alias="SLACK_SIGNING_SECRET")


def slack_credentials_missing() -> bool:
    """Neither Slack credential is set (environment or `.env`): `fireline serve` then starts
    the local sandbox instead of failing. One set and not the other is a mistake to report."""
    found = _SlackCredentials()
    return not found.slack_bot_token.strip() and not found.slack_signing_secret.strip()


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning pydantic's errors into one readable ConfigurationError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def load_storage_settings() -> StorageSettings:
    """Only where the state is (for commands that read Redis alone); other settings, set or
    not, are neither needed nor checked."""
    try:
        return StorageSettings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad setting, named by its environment variable, never echoing a secret."""
    names = {field.alias or name: name for name, field in Settings.model_fields.items()}
    lines = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else "settings"
        var = (
            loc
            if loc in names
            else next((alias for alias, field in names.items() if field == loc), loc.upper())
        )
        if not err["loc"]:  # a rule across settings names them itself
            lines.append(err["msg"].removeprefix("Value error, "))
        elif err["type"] == "missing":
            lines.append(f"{var} is not set")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{var} is not a Fireline setting (check its spelling in .env)")
        else:
            lines.append(f"{var} {err['msg'].removeprefix('Value error, ')}")
    return "Fireline cannot start: " + "; ".join(lines) + ". See .env.example for every setting."
