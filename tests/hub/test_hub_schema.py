"""The hub database's migrations on both databases: they make exactly the tables the code
declares, and a database the hub made before it had migrations is taken over with its rows."""

from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from oncofed.hub import schema
from oncofed.hub.store import HubStore, engine_for, nodes


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


def test_a_database_made_before_the_migrations_is_stamped_and_keeps_its_rows(hub_db):
    engine = engine_for(hub_db)
    for m in schema.METADATA:  # as the hub made it then
        m.create_all(engine)
    with engine.begin() as c:
        c.execute(nodes.insert().values(id="a", name="A", country="DE", transport="relay", public_key="k",
                                        timeout_s=30, added_at=datetime.now(timezone.utc)))
    engine.dispose()
    store = HubStore(hub_db)
    try:
        assert [n.id for n in store.nodes()] == ["a"]
        with store.engine.connect() as c:
            assert MigrationContext.configure(c).get_current_revision() is not None
            assert "alembic_version" in inspect(c).get_table_names()
        assert differences(store.engine) == []
    finally:
        store.dispose()
