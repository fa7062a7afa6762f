"""FastAPI dependencies shared by every module's routes: the DB session, settings, the actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from smartprovince.core.db import Database
from smartprovince.settings import Settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def db_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    Opening the session does no I/O (the connection is taken at the first statement), so it happens
    on the event loop; only the end — commit or rollback, which talk to the database — goes to the
    thread pool, and not even that when the route never used the session. A synchronous generator
    would cost two trips to the thread pool on every request.
    """
    db: Database = request.app.state.db
    # GET/HEAD requests are reads: on SQLite they run without the write lock (see Database.session).
    unit = db.session(write=request.method not in ("GET", "HEAD", "OPTIONS"))
    session = unit.__enter__()
    try:
        yield session
    except BaseException as exc:
        await _end(session, unit.__exit__, type(exc), exc, exc.__traceback__)  # rolls back, then we re-raise
        raise
    await _end(session, unit.__exit__, None, None, None)


async def _end(session: Session, end: Callable[..., Any], *args: Any) -> None:
    if session.get_transaction() is None:  # never used: nothing to commit or roll back, no I/O
        end(*args)
    else:
        await run_in_threadpool(end, *args)


DbSession = Annotated[Session, Depends(db_session, scope="function")]  # commit before the response is sent
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
