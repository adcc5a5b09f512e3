"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 13:41:03.269725
"""
from alembic import op
import sqlalchemy as sa
import pipeline.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _teams_lead_fk() -> list:
    # teams and users refer to each other: SQLite takes the forward reference inline,
    # other databases get the constraint once users exists.
    if not _sqlite():
        return []
    return [sa.ForeignKeyConstraint(['lead_id'], ['users.id'], name=op.f('fk_teams_lead_id_users'),
                                    ondelete='SET NULL')]


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=True),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sent_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['sent_at', 'next_attempt_at'], unique=False)

    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    *_teams_lead_fk(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teams_lead_id'), ['lead_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("role IN ('manager', 'team_lead', 'supervisor', 'admin')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_users_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_team_id'), ['team_id'], unique=False)
    if not _sqlite():
        op.create_foreign_key(op.f('fk_teams_lead_id_users'), 'teams', 'users', ['lead_id'], ['id'],
                              ondelete='SET NULL')

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=True),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('detail', pipeline.db.JSONData(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_log_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index('ix_audit_log_actor_at', ['actor_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('prospects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workflow_key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('stage_entered_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('clock_started_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('due_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('warn_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('paused_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('clock_no', sa.Integer(), nullable=False),
    sa.Column('warned_clock_no', sa.Integer(), nullable=False),
    sa.Column('lost_reason', sa.Text(), nullable=True),
    sa.Column('id_number', sa.String(length=40), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('assets', sa.Double(), nullable=True),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(status = 'lost') = (lost_reason IS NOT NULL AND lost_reason <> '')", name=op.f('ck_prospects_lost_has_reason')),
    sa.CheckConstraint("(status = 'paused') = (paused_at IS NOT NULL)", name=op.f('ck_prospects_paused_since')),
    sa.CheckConstraint("status IN ('active', 'paused', 'won', 'lost')", name=op.f('ck_prospects_status')),
    sa.CheckConstraint("tier IN ('diamond', 'black_gold', 'platinum', 'gold')", name=op.f('ck_prospects_tier')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_prospects_owner_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_prospects_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prospects'))
    )
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prospects_name'), ['name'], unique=False)
        batch_op.create_index('ix_prospects_owner_board', ['owner_id', 'status', 'stage'], unique=False)
        batch_op.create_index('ix_prospects_status_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_prospects_status_warn', ['status', 'warn_at'], unique=False)
        batch_op.create_index('ix_prospects_team_board', ['team_id', 'status', 'stage'], unique=False)

    op.create_table('weekly_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_weekly_logs_author_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_weekly_logs_team_id_teams'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_weekly_logs')),
    sa.UniqueConstraint('team_id', 'week_start', name='uq_weekly_logs_team_week')
    )
    op.create_table('cadence_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('assignee_kind', sa.String(length=20), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('clock_no', sa.Integer(), nullable=False),
    sa.Column('due_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('done_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.Column('reminded_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['users.id'], name=op.f('fk_cadence_tasks_assignee_id_users')),
    sa.ForeignKeyConstraint(['done_by_id'], ['users.id'], name=op.f('fk_cadence_tasks_done_by_id_users')),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_cadence_tasks_prospect_id_prospects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cadence_tasks')),
    sa.UniqueConstraint('prospect_id', 'key', 'clock_no', name='uq_cadence_tasks_step')
    )
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_cadence_tasks_assignee', ['assignee_id', 'done_at'], unique=False)
        batch_op.create_index('ix_cadence_tasks_open_due', ['done_at', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_cadence_tasks_prospect_id'), ['prospect_id'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('call', 'sms', 'visit', 'meeting', 'wechat', 'email')", name=op.f('ck_contacts_kind')),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_contacts_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_contacts_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_prospect_at', ['prospect_id', 'at'], unique=False)
        batch_op.create_index('ix_contacts_user_at', ['user_id', 'at'], unique=False)

    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('clock_no', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('due_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('opened_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('raised_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('extend_days', sa.Integer(), nullable=True),
    sa.Column('new_owner_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'resolved') = (decision IS NOT NULL)", name=op.f('ck_escalations_resolved_has_decision')),
    sa.CheckConstraint("decision IS NULL OR decision IN ('continue', 'reassign', 'abandon')", name=op.f('ck_escalations_decision')),
    sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f('ck_escalations_status')),
    sa.CheckConstraint('level IN (1, 2)', name=op.f('ck_escalations_level')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_escalations_decided_by_id_users')),
    sa.ForeignKeyConstraint(['new_owner_id'], ['users.id'], name=op.f('fk_escalations_new_owner_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_escalations_owner_id_users')),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_escalations_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_escalations_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_escalations_dedupe_key'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index('ix_escalations_open_level_opened', ['status', 'level', 'opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_prospect_id'), ['prospect_id'], unique=False)
        batch_op.create_index('ix_escalations_queue', ['status', 'team_id', 'level'], unique=False)
        batch_op.create_index('uq_escalations_open_visit', ['prospect_id', 'clock_no'], unique=True, sqlite_where=sa.text("status = 'open' AND kind <> 'contact_overdue'"), postgresql_where=sa.text("status = 'open' AND kind <> 'contact_overdue'"))

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('prospect_id', sa.Integer(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=160), nullable=True),
    sa.Column('created_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', pipeline.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_notifications_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notifications_dedupe_key'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_prospect_id'), ['prospect_id'], unique=False)
        batch_op.create_index('ix_notifications_user_read', ['user_id', 'read_at'], unique=False)

    op.create_table('stage_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('from_stage', sa.String(length=64), nullable=True),
    sa.Column('to_stage', sa.String(length=64), nullable=False),
    sa.Column('from_status', sa.String(length=10), nullable=True),
    sa.Column('to_status', sa.String(length=10), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('data', pipeline.db.JSONData(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_stage_events_actor_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_stage_events_owner_id_users')),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_stage_events_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_stage_events_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_events')),
    sa.UniqueConstraint('prospect_id', 'seq', name='uq_stage_events_prospect_seq')
    )
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.create_index('ix_stage_events_at', ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stage_events_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stage_events_team_id'), ['team_id'], unique=False)
        batch_op.create_index('ix_stage_events_to_stage_at', ['to_stage', 'at'], unique=False)

    op.create_table('stage_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('record_key', sa.String(length=64), nullable=False),
    sa.Column('data', pipeline.db.JSONData(), nullable=False),
    sa.Column('completeness', sa.Double(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('updated_at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_stage_records_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_stage_records_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_records')),
    sa.UniqueConstraint('prospect_id', 'record_key', name='uq_stage_records_prospect_key')
    )
    op.create_table('handovers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prospect_id', sa.Integer(), nullable=False),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('to_user_id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', pipeline.db.UTCDateTime(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_handovers_actor_id_users')),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_handovers_escalation_id_escalations')),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_handovers_from_user_id_users')),
    sa.ForeignKeyConstraint(['prospect_id'], ['prospects.id'], name=op.f('fk_handovers_prospect_id_prospects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_handovers_to_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handovers'))
    )
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handovers_prospect_id'), ['prospect_id'], unique=False)



def downgrade() -> None:
    if not _sqlite():
        op.drop_constraint(op.f('fk_teams_lead_id_users'), 'teams', type_='foreignkey')
    with op.batch_alter_table('handovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handovers_prospect_id'))

    op.drop_table('handovers')
    op.drop_table('stage_records')
    with op.batch_alter_table('stage_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_events_to_stage_at')
        batch_op.drop_index(batch_op.f('ix_stage_events_team_id'))
        batch_op.drop_index(batch_op.f('ix_stage_events_owner_id'))
        batch_op.drop_index('ix_stage_events_at')

    op.drop_table('stage_events')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_read')
        batch_op.drop_index(batch_op.f('ix_notifications_prospect_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('uq_escalations_open_visit', sqlite_where=sa.text("status = 'open' AND kind <> 'contact_overdue'"), postgresql_where=sa.text("status = 'open' AND kind <> 'contact_overdue'"))
        batch_op.drop_index('ix_escalations_queue')
        batch_op.drop_index(batch_op.f('ix_escalations_prospect_id'))
        batch_op.drop_index('ix_escalations_open_level_opened')

    op.drop_table('escalations')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_user_at')
        batch_op.drop_index('ix_contacts_prospect_at')

    op.drop_table('contacts')
    with op.batch_alter_table('cadence_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cadence_tasks_prospect_id'))
        batch_op.drop_index('ix_cadence_tasks_open_due')
        batch_op.drop_index('ix_cadence_tasks_assignee')

    op.drop_table('cadence_tasks')
    op.drop_table('weekly_logs')
    with op.batch_alter_table('prospects', schema=None) as batch_op:
        batch_op.drop_index('ix_prospects_team_board')
        batch_op.drop_index('ix_prospects_status_warn')
        batch_op.drop_index('ix_prospects_status_due')
        batch_op.drop_index('ix_prospects_owner_board')
        batch_op.drop_index(batch_op.f('ix_prospects_name'))

    op.drop_table('prospects')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index('ix_audit_log_actor_at')
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_team_id'))

    op.drop_table('users')
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teams_lead_id'))

    op.drop_table('teams')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
