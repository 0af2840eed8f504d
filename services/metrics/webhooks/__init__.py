"""Outbound webhooks: a tenant's endpoint, the outbox written with each change, the dispatcher."""
