"""Delivery: digests, alerts, and the outbox that sends them by email and Apprise."""
