"""Telling people: the in-app inbox and e-mail written through the outbox."""
