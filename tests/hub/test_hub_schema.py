"""The hub database's migrations on both databases: they make exactly the tables the code
declares, and a database the hub made before it had migrations is taken over with its rows."""

from datetime import datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from oncofed.hub import schema
from oncofed.hub.store import HubStore, engine_for


def differences(engine) -> list:
    with engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c), schema.METADATA)


def test_the_migrations_make_exactly_the_declared_tables(hub_db):
    store = HubStore(hub_db)
    try:
        assert differences(store.engine) == []
        head = ScriptDirectory.from_config(schema.config()).get_current_head()
        with store.engine.connect() as c:
            assert MigrationContext.configure(c).get_current_revision() == head
    finally:
        store.dispose()


def as_first_made(engine, *, stamped: bool) -> None:
    """The tables as the hub made them at revision 0001 (with ``create_all``, before it had
    migrations, when not ``stamped``), holding one node."""
    with engine.connect() as c:
        command.upgrade(schema.config(c), schema.FIRST)
        if not stamped:
            c.execute(text("DROP TABLE alembic_version"))
        c.execute(text("INSERT INTO nodes (id, name, country, transport, public_key, timeout_s, added_at) "
                       "VALUES ('a', 'A', 'DE', 'relay', 'k', 30, :t)"), {"t": datetime.now(timezone.utc)})
        c.commit()


@pytest.mark.parametrize("stamped", [False, True], ids=["before the migrations", "at revision 0001"])
def test_an_older_database_is_brought_up_to_date_and_keeps_its_rows(hub_db, stamped):
    engine = engine_for(hub_db)
    as_first_made(engine, stamped=stamped)
    engine.dispose()
    store = HubStore(hub_db)
    try:
        assert [(n.id, n.audit_seq) for n in store.nodes()] == [("a", None)]
        with store.engine.connect() as c:
            assert MigrationContext.configure(c).get_current_revision() is not None
            assert "alembic_version" in inspect(c).get_table_names()
        assert differences(store.engine) == []
    finally:
        store.dispose()
