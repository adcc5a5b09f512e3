"""Import every model so the metadata is complete (Alembic, tests)."""
from pipeline.aftersale.models import Campaign, CustomerEvent  # noqa: F401
from pipeline.auth.models import ApiToken, AuditEntry, Team, User  # noqa: F401
from pipeline.complaints.models import CauseAction, Complaint  # noqa: F401
from pipeline.customers.models import BookCustomer  # noqa: F401
from pipeline.db import Base  # noqa: F401
from pipeline.escalations.models import Escalation, Handover  # noqa: F401
from pipeline.messages.models import SmsMessage, SmsReply, SmsSender, SmsTemplate  # noqa: F401
from pipeline.notifications.models import Notification, OutboxMessage  # noqa: F401
from pipeline.prospects.models import (  # noqa: F401
    CadenceTask,
    Contact,
    Prospect,
    StageEvent,
    StageRecord,
    StageVisit,
)
from pipeline.reports.models import WeeklyLog  # noqa: F401
