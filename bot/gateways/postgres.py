"""The PostgreSQL gateway: a short read-only session that reads `pg_stat_activity` (psycopg 3).

Each inspection opens one connection (connect timeout), makes the session read-only and sets a
statement timeout before running anything, and closes it: a diagnostic must never hold a
connection on a database that is already short of them. Errors become Fireline's
(`Unavailable` for connection trouble and timeouts, `Forbidden` for refused credentials).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import errors as pg_errors

from bot.errors import Forbidden, Unavailable
from bot.gateways.retry import with_retries


@dataclass(frozen=True)
class Session:
    pid: int
    user: str
    state: str
    seconds: float
    query: str


@dataclass(frozen=True)
class DatabaseFindings:
    max_connections: int
    by_state: dict[str, int]
    long_running: list[Session]
    idle_in_transaction: list[Session]

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


_BY_STATE = """
SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC
"""
_LONG = """
SELECT pid, coalesce(usename, ''), state, extract(epoch FROM now() - query_start)::float8,
       left(query, 300)
FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND now() - query_start > make_interval(secs => %s)
ORDER BY 4 DESC LIMIT 20
"""
_IDLE_TX = """
SELECT pid, coalesce(usename, ''), state, extract(epoch FROM now() - xact_start)::float8,
       left(query, 300)
FROM pg_stat_activity
WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')
ORDER BY 4 DESC LIMIT 20
"""


class DatabaseGateway:
    def __init__(self, connect_timeout_s: float = 2.0, attempts: int = 2) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.attempts = attempts

    async def inspect(
        self, dsn: str, *, statement_timeout_ms: int, long_query_s: float
    ) -> DatabaseFindings:
        conn = await self._connect(dsn)
        try:
            async with conn:
                await conn.execute("SET default_transaction_read_only = on")
                await conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
                max_conn = await _one(conn, "SHOW max_connections")
                by_state = {
                    str(s): int(str(n)) for s, n in await (await conn.execute(_BY_STATE)).fetchall()
                }
                long_rows = await (await conn.execute(_LONG, (long_query_s,))).fetchall()
                idle_rows = await (await conn.execute(_IDLE_TX)).fetchall()
        except pg_errors.QueryCanceled as exc:
            raise Unavailable("the database did not answer within the statement timeout") from exc
        except pg_errors.InsufficientPrivilege as exc:
            raise Forbidden("the database refused to show its sessions") from exc
        except psycopg.Error as exc:
            raise Unavailable(f"the database failed: {type(exc).__name__}") from exc
        return DatabaseFindings(
            max_connections=int(max_conn),
            by_state=by_state,
            long_running=[_session(r) for r in long_rows],
            idle_in_transaction=[_session(r) for r in idle_rows],
        )

    async def _connect(self, dsn: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
        return await with_retries(lambda: self._connect_once(dsn), attempts=self.attempts)

    async def _connect_once(self, dsn: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
        try:
            return await psycopg.AsyncConnection.connect(
                dsn,
                connect_timeout=max(2, int(self.connect_timeout_s)),
                autocommit=True,  # libpq: >= 2
            )
        except pg_errors.InsufficientPrivilege as exc:
            raise Forbidden("the database refused Fireline's credentials") from exc
        except psycopg.OperationalError as exc:
            raise Unavailable("the database could not be reached") from exc


async def _one(conn: psycopg.AsyncConnection[tuple[object, ...]], sql: str) -> str:
    row = await (await conn.execute(sql)).fetchone()
    return str(row[0]) if row else "0"


def _session(row: tuple[object, ...]) -> Session:
    pid, user, state, seconds, query = row
    return Session(int(str(pid)), str(user), str(state), float(str(seconds or 0)), str(query or ""))
