"""The hub's tables as the hub made them with ``create_all`` before it had migrations (nodes,
relay queue, runs, users; access requests; identities and roles; the harvested catalogue).

Revision 0001, the first.
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nodes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('transport', sa.String(length=10), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('public_key', sa.String(length=100), nullable=False),
    sa.Column('timeout_s', sa.Integer(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('relay_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('envelope', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('relay_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relay_requests_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relay_requests_status'), ['status'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('requester', sa.String(length=64), nullable=False),
    sa.Column('analysis', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('per_node', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_requester'), ['requester'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_status'), ['status'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('access_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('requester', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_requests_requester'), ['requester'], unique=False)

    op.create_table('access_items',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('dataset_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('permit', sa.String(length=64), nullable=True),
    sa.Column('permit_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('visa', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['access_requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('permit')
    )
    with op.batch_alter_table('access_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_items_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_items_state'), ['state'], unique=False)

    op.create_table('access_events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.String(length=36), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('from_state', sa.String(length=12), nullable=True),
    sa.Column('to_state', sa.String(length=12), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['access_items.id'], ),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('access_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_events_item_id'), ['item_id'], unique=False)

    op.create_table('external_identities',
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('issuer', 'subject')
    )
    with op.batch_alter_table('external_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_external_identities_user_id'), ['user_id'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=140), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'role', 'scope')
    )
    op.create_table('catalogue_datasets',
    sa.Column('id', sa.String(length=140), nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('catalogue_datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalogue_datasets_node_id'), ['node_id'], unique=False)

    op.create_table('catalogue_nodes',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('harvested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stale_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('base', sa.String(length=500), nullable=True),
    sa.Column('catalogue', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('node_id')
    )


def downgrade() -> None:
    op.drop_table('catalogue_nodes')
    with op.batch_alter_table('catalogue_datasets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalogue_datasets_node_id'))

    op.drop_table('catalogue_datasets')
    op.drop_table('user_roles')
    with op.batch_alter_table('external_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_identities_user_id'))

    op.drop_table('external_identities')
    with op.batch_alter_table('access_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_events_item_id'))

    op.drop_table('access_events')
    with op.batch_alter_table('access_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_items_state'))
        batch_op.drop_index(batch_op.f('ix_access_items_request_id'))

    op.drop_table('access_items')
    with op.batch_alter_table('access_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_requests_requester'))

    op.drop_table('access_requests')
    op.drop_table('users')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_status'))
        batch_op.drop_index(batch_op.f('ix_runs_requester'))

    op.drop_table('runs')
    with op.batch_alter_table('relay_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relay_requests_status'))
        batch_op.drop_index(batch_op.f('ix_relay_requests_node_id'))

    op.drop_table('relay_requests')
    op.drop_table('nodes')
