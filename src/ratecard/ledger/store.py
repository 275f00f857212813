"""Opening a ledger: its URL, the engine, the schema check, and the issuing lock.

    sqlite:///path/ledger.db  (or a plain path)   the embedded default
    postgresql://user@host/db                     the production store (psycopg 3)

Every problem opening a ledger is a `LedgerError` carrying one diagnostic: a
URL that is not a ledger, a server that cannot be reached, a file that
cannot be created, a schema written by a newer ratecard. No traceback.

Writes take one lock for the whole transaction, so two runs on one ledger
take turns and the second sees everything the first committed:
PostgreSQL locks the `ledger` row (`SELECT ... FOR UPDATE`), SQLite starts
the transaction with `BEGIN IMMEDIATE` (the database's write lock). The
unique keys on document numbers, series positions and slots are the
backstop. Migrations run under a lock too (an advisory lock on PostgreSQL,
before the `ledger` row exists).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..diagnostics import Diagnostic, error, first_line

MIGRATIONS = "ratecard.ledger:migrations"
_ADVISORY_KEY = 0x7261746563617264  # "ratecard": the lock taken while migrating a PostgreSQL ledger


class LedgerError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class Target:
    url: str  # as SQLAlchemy takes it
    shown: str  # as the user wrote it, without a password
    backend: str  # sqlite | postgresql
    path: Path | None = None  # SQLite's file


def parse_url(text: str) -> Target:
    """What `--ledger` names; LedgerError (E960) when it cannot be a ledger."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in text:
        path = Path(text).expanduser().absolute()
        # built, not pasted into a URL: a `?` or `#` in the file's name stays in the name
        return Target(URL.create("sqlite", database=str(path)).render_as_string(False), text, "sqlite", path)
    try:
        url = make_url(text)
    except ArgumentError:
        raise LedgerError(_unreachable(text, "not a database URL")) from None
    shown = url.render_as_string(hide_password=True)
    driver = url.drivername
    if driver in ("sqlite", "sqlite+pysqlite"):
        if url.query:
            # `?mode=ro&uri=true` makes SQLite open another file than the one ratecard checked
            # (`ledger.db?mode=ro`, created on the spot): refused, never a ledger written elsewhere
            raise LedgerError(error("E960", f"cannot use ledger {shown}: a SQLite ledger URL takes no "
                                            "query parameters",
                                    hints=["name the file alone: --ledger sqlite:///ledger.db (or just "
                                           "ledger.db)"]))
        if not url.database or url.database == ":memory:":
            raise LedgerError(error("E960", f"cannot use ledger {shown}: an in-memory SQLite database is "
                                            "gone when the command ends",
                                    hints=["name a file: --ledger sqlite:///ledger.db (or just ledger.db)"]))
        path = Path(url.database).expanduser().absolute()
        return Target(url.set(drivername="sqlite", database=str(path)).render_as_string(False), shown,
                      "sqlite", path)
    if driver in ("postgresql", "postgres", "postgresql+psycopg"):
        return Target(url.set(drivername="postgresql+psycopg").render_as_string(False), shown, "postgresql")
    raise LedgerError(error("E960", f"cannot use ledger {shown}: `{url.get_backend_name()}` is not a ledger "
                                    "database", hints=["use sqlite:///FILE or postgresql://USER@HOST/DB"]))


def _unreachable(shown: str, why: str) -> Diagnostic:
    return error("E960", f"cannot open ledger {shown}: {why}")


class Ledger:
    """An opened ledger: an engine whose schema is current."""

    def __init__(self, target: Target, engine):
        self.target = target
        self.engine = engine

    @property
    def backend(self) -> str:
        return self.target.backend

    @contextlib.contextmanager
    def reading(self) -> Iterator:
        """A transaction that only reads (one consistent view on PostgreSQL's
        REPEATABLE READ; SQLite's deferred transaction)."""
        with self._connect() as conn:
            if self.backend == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def writing(self) -> Iterator:
        """The one transaction of an issue or a void, holding the ledger's lock:
        committed when the block ends, rolled back on any exception (Ctrl-C too)."""
        from sqlalchemy import select

        from .schema import ledger_row

        with self._connect(write=True) as conn:
            with conn.begin():
                if self.backend == "postgresql":
                    conn.execute(select(ledger_row.c.generation).where(ledger_row.c.id == 1).with_for_update())
                yield conn

    @contextlib.contextmanager
    def _connect(self, write: bool = False):
        from sqlalchemy.exc import DBAPIError, OperationalError

        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise LedgerError(_unreachable(self.target.shown, driver_message(exc))) from None
        try:
            if write and self.backend == "sqlite":
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            yield conn
        finally:
            conn.close()

    def dispose(self) -> None:
        self.engine.dispose()


def driver_message(exc: BaseException) -> str:
    """The driver's own words, first line only (psycopg's may run over several)."""
    return first_line(getattr(exc, "orig", None) or exc)


def open_ledger(text: str, *, create: bool) -> Ledger:
    """Open (and with `create`, create) the ledger `text` names, its schema brought to
    this ratecard's. A ledger whose schema is newer than this ratecard knows is refused."""
    target = parse_url(text)
    if target.backend == "sqlite":
        assert target.path is not None
        if not target.path.exists():
            if not create:
                raise LedgerError(error("E960", f"no ledger at {target.shown}",
                                        hints=["`ratecard issue ... --ledger` creates it"]))
            if not target.path.parent.is_dir():
                raise LedgerError(_unreachable(target.shown, f"no such directory: {target.path.parent}"))
    engine = _engine(target)
    ledger = Ledger(target, engine)
    try:
        migrate(ledger, create=create)
    except BaseException:
        engine.dispose()
        raise
    return ledger


def _engine(target: Target):
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if target.backend == "sqlite":
        engine = create_engine(target.url, poolclass=NullPool, connect_args={"timeout": 300})

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection, _record):
            # pysqlite's own BEGIN would come too late (at the first write): ratecard begins itself
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(target.url, poolclass=NullPool, connect_args={"connect_timeout": 10})


def _script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config, ScriptDirectory.from_config(config)


def migrate(ledger: Ledger, *, create: bool) -> None:
    """Bring the schema to this ratecard's head, under a lock; refuse a newer one (E961)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util.exc import CommandError
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    config, script = _script()
    heads = set(script.get_heads())
    try:
        with ledger.reading() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
            others = _other_tables(ledger, conn) if not current else []
        if set(current) == heads:
            return
        _check_known(ledger, script, current)
        if others:
            raise LedgerError(error("E960", f"{ledger.target.shown} is not a ratecard ledger (it holds other "
                                            f"tables: {', '.join(others)}); nothing was changed",
                                    hints=["name a new file for the ledger, or the ledger itself"]))
        if not current and not create:
            raise LedgerError(error("E960", f"{ledger.target.shown} is not a ratecard ledger (it has no "
                                            "ledger schema)"))
        with ledger._connect(write=True) as conn:
            with conn.begin():
                if ledger.backend == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
                current = MigrationContext.configure(conn).get_current_heads()  # another run may have done it
                _check_known(ledger, script, current)
                if set(current) != heads:
                    config.attributes["connection"] = conn
                    command.upgrade(config, "heads")
    except (DBAPIError, CommandError) as exc:
        raise LedgerError(_unreachable(ledger.target.shown, driver_message(exc))) from None


def _other_tables(ledger: Ledger, conn) -> list[str]:
    """The tables of a SQLite file that has no ledger schema. A SQLite ledger is a file of
    its own, so one holding anything is another program's database: `issue` must not add
    the ledger's tables to it. (A PostgreSQL ledger may share a database; not checked.)"""
    from sqlalchemy import inspect

    if ledger.backend != "sqlite":
        return []
    return sorted(inspect(conn).get_table_names())


def _check_known(ledger: Ledger, script, current) -> None:
    from alembic.util.exc import CommandError

    for rev in current:
        try:
            known = script.get_revision(rev)
        except CommandError:
            known = None
        if known is None:
            heads = ", ".join(sorted(script.get_heads()))
            raise LedgerError(error(
                "E961", f"ledger {ledger.target.shown} was written by a newer ratecard (schema `{rev}`; "
                        f"this ratecard knows up to `{heads}`)",
                hints=["upgrade ratecard to use this ledger; nothing was changed"]))


def schema_heads() -> list[str]:
    return sorted(_script()[1].get_heads())
