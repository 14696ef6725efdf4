"""incidents and seizures, their attachments and timeline; joint operations; risk information notices

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:27:12.338002
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql
import concord.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attachments',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('stored_at', concord.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_attachments'))
    )
    op.create_table('incidents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner_agency', sa.String(length=16), nullable=False),
    sa.Column('reported_by', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('occurred_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('location', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('found', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('declarations', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('containers', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('conveyance', sa.String(length=200), nullable=True),
    sa.Column('parties', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('indicators', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('review', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('hs_chapters', sa.String(length=400), nullable=False),
    sa.Column('origins', sa.String(length=800), nullable=False),
    sa.Column('office_of_entry', sa.String(length=8), nullable=False),
    sa.Column('reported_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', concord.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_agency'], ['agencies.code'], name=op.f('fk_incidents_owner_agency_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('ix_incidents_owner', ['owner_agency', 'reported_at'], unique=False)

    op.create_table('risk_notices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('issuer_agency', sa.String(length=16), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('indicators', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('recommended_action', sa.String(length=24), nullable=False),
    sa.Column('valid_from', concord.db.UTCDateTime(), nullable=False),
    sa.Column('valid_until', concord.db.UTCDateTime(), nullable=False),
    sa.Column('feedback_due_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=True),
    sa.Column('issued_at', concord.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['issuer_agency'], ['agencies.code'], name=op.f('fk_risk_notices_issuer_agency_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_notices'))
    )
    with op.batch_alter_table('risk_notices', schema=None) as batch_op:
        batch_op.create_index('ix_risk_notices_issuer', ['issuer_agency', 'issued_at'], unique=False)

    op.create_table('incident_attachments',
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('added_by', sa.String(length=64), nullable=False),
    sa.Column('added_at', concord.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_attachments_incident_id_incidents')),
    sa.ForeignKeyConstraint(['sha256'], ['attachments.sha256'], name=op.f('fk_incident_attachments_sha256_attachments')),
    sa.PrimaryKeyConstraint('incident_id', 'sha256', name=op.f('pk_incident_attachments'))
    )
    op.create_table('incident_entries',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_entries_incident_id_incidents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_entries'))
    )
    with op.batch_alter_table('incident_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_entries_incident_id'), ['incident_id'], unique=False)

    op.create_table('notice_deliveries',
    sa.Column('notice_id', sa.String(length=32), nullable=False),
    sa.Column('agency', sa.String(length=16), nullable=False),
    sa.Column('agreement', sa.String(length=60), nullable=False),
    sa.Column('delivered_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('action_taken', sa.String(length=24), nullable=True),
    sa.Column('result', sa.String(length=12), nullable=True),
    sa.Column('feedback_note', sa.Text(), nullable=True),
    sa.Column('feedback_by', sa.String(length=64), nullable=True),
    sa.Column('feedback_at', concord.db.UTCDateTime(), nullable=True),
    sa.Column('overdue_raised', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['notice_id'], ['risk_notices.id'], name=op.f('fk_notice_deliveries_notice_id_risk_notices')),
    sa.PrimaryKeyConstraint('notice_id', 'agency', name=op.f('pk_notice_deliveries'))
    )
    with op.batch_alter_table('notice_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_notice_deliveries_agency', ['agency', 'notice_id'], unique=False)

    op.create_table('operations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lead_agency', sa.String(length=16), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=True),
    sa.Column('starts_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('ends_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('template', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', concord.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_operations_incident_id_incidents')),
    sa.ForeignKeyConstraint(['lead_agency'], ['agencies.code'], name=op.f('fk_operations_lead_agency_agencies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operations'))
    )
    op.create_table('operation_members',
    sa.Column('operation_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('agency', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('added_at', concord.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['operation_id'], ['operations.id'], name=op.f('fk_operation_members_operation_id_operations')),
    sa.PrimaryKeyConstraint('operation_id', 'user_id', name=op.f('pk_operation_members'))
    )
    with op.batch_alter_table('operation_members', schema=None) as batch_op:
        batch_op.create_index('ix_operation_members_agency', ['agency', 'operation_id'], unique=False)

    op.create_table('operation_messages',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('operation_id', sa.String(length=32), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=False),
    sa.Column('agency', sa.String(length=16), nullable=False),
    sa.Column('at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['operation_id'], ['operations.id'], name=op.f('fk_operation_messages_operation_id_operations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operation_messages'))
    )
    with op.batch_alter_table('operation_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_operation_messages_operation_id'), ['operation_id'], unique=False)

    op.create_table('operation_tasks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('operation_id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('owner_agency', sa.String(length=16), nullable=False),
    sa.Column('due_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('escalation', sa.Integer(), nullable=False),
    sa.Column('escalated_at', concord.db.UTCDateTime(), nullable=True),
    sa.Column('report', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', concord.db.UTCDateTime(), nullable=False),
    sa.Column('done_at', concord.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['operation_id'], ['operations.id'], name=op.f('fk_operation_tasks_operation_id_operations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operation_tasks'))
    )
    with op.batch_alter_table('operation_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_operation_tasks_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_operation_tasks_operation_id'), ['operation_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('operation_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operation_tasks_operation_id'))
        batch_op.drop_index('ix_operation_tasks_due')

    op.drop_table('operation_tasks')
    with op.batch_alter_table('operation_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_operation_messages_operation_id'))

    op.drop_table('operation_messages')
    with op.batch_alter_table('operation_members', schema=None) as batch_op:
        batch_op.drop_index('ix_operation_members_agency')

    op.drop_table('operation_members')
    op.drop_table('operations')
    with op.batch_alter_table('notice_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_deliveries_agency')

    op.drop_table('notice_deliveries')
    with op.batch_alter_table('incident_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_entries_incident_id'))

    op.drop_table('incident_entries')
    op.drop_table('incident_attachments')
    with op.batch_alter_table('risk_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_notices_issuer')

    op.drop_table('risk_notices')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_owner')

    op.drop_table('incidents')
    op.drop_table('attachments')
