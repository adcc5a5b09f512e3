"""The peer's tables, mirroring the product's ``users``, ``prospects``, ``stage_events`` and
``stage_records`` (the columns the board and ``advance`` use, the same indexes)."""
from django.db import models


class Manager(models.Model):
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=200)
    role = models.CharField(max_length=20)
    team_id = models.IntegerField(null=True)

    class Meta:
        app_label = "peer"
        db_table = "peer_users"


class Prospect(models.Model):
    workflow_key = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    tier = models.CharField(max_length=20)
    owner = models.ForeignKey(Manager, on_delete=models.PROTECT, related_name="+",
                              db_index=False)  # led by the board index below
    team_id = models.IntegerField(null=True)
    phone = models.CharField(max_length=40, null=True)
    stage = models.CharField(max_length=64)
    status = models.CharField(max_length=10)
    stage_entered_at = models.DateTimeField()
    clock_started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True)
    warn_at = models.DateTimeField(null=True)
    paused_at = models.DateTimeField(null=True)
    paused_seconds = models.IntegerField(default=0)
    clock_no = models.IntegerField(default=1)
    lost_reason = models.TextField(null=True)
    sms_opt_out = models.BooleanField(default=False)
    updated_at = models.DateTimeField()
    version = models.IntegerField(default=1)

    class Meta:
        app_label = "peer"
        db_table = "peer_prospects"
        indexes = [models.Index(fields=["owner", "status", "stage"],
                                name="peer_prospects_owner_board")]


class StageEvent(models.Model):
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="events",
                                 db_index=False)  # led by the unique (prospect, seq)
    seq = models.IntegerField()
    event = models.CharField(max_length=32)
    from_stage = models.CharField(max_length=64, null=True)
    to_stage = models.CharField(max_length=64)
    from_status = models.CharField(max_length=10, null=True)
    to_status = models.CharField(max_length=10)
    actor = models.ForeignKey(Manager, on_delete=models.PROTECT, null=True, related_name="+",
                              db_index=False)
    owner_id = models.IntegerField(null=True)
    team_id = models.IntegerField(null=True)
    at = models.DateTimeField()
    reason = models.TextField(null=True)
    data = models.JSONField(null=True)

    class Meta:
        app_label = "peer"
        db_table = "peer_stage_events"
        constraints = [models.UniqueConstraint(fields=["prospect", "seq"],
                                               name="peer_stage_events_prospect_seq")]


class StageRecord(models.Model):
    prospect = models.ForeignKey(Prospect, on_delete=models.CASCADE, related_name="records",
                                 db_index=False)  # led by the unique (prospect, key)
    record_key = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    completeness = models.FloatField(default=0.0)
    complete = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "peer"
        db_table = "peer_stage_records"
        constraints = [models.UniqueConstraint(fields=["prospect", "record_key"],
                                               name="peer_stage_records_prospect_key")]
