"""Alembic environment: one version branch per module (``<module>_0001`` …), upgraded with ``heads``."""

from __future__ import annotations

from alembic import context

from smartprovince.core.db import Base, make_engine
from smartprovince.registry import import_all_models

import_all_models()
config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")


def run_migrations_online() -> None:
    if not url:
        raise RuntimeError("no database URL: call smartprovince.core.migrate.upgrade(url)")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
