"""Messages to customers: SMS templates, the SMS outbox and its gateways, replies, the
first-contact cadence's sends and the team lead's call (seed 004)."""
