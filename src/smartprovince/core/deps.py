"""FastAPI dependencies shared by every module's routes: the DB session, settings, the actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from smartprovince.core.db import Database
from smartprovince.settings import Settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def db_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    db: Database = request.app.state.db
    # GET/HEAD requests are reads: on SQLite they run without the write lock (see Database.session).
    with db.session(write=request.method not in ("GET", "HEAD", "OPTIONS")) as session:
        yield session


DbSession = Annotated[Session, Depends(db_session, scope="function")]  # commit before the response is sent
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
