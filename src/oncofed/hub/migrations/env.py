"""Alembic's environment for the hub database: run by ``hub.schema.upgrade`` on the
connection it passes, which already holds the lock that makes hub workers take turns."""

from alembic import context

from oncofed.hub.schema import METADATA

context.configure(connection=context.config.attributes["connection"], target_metadata=METADATA,
                  render_as_batch=True)  # SQLite alters a table by copying it
with context.begin_transaction():
    context.run_migrations()
