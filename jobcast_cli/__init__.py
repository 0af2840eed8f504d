"""The `jobcast` operator command: tenants, connections, and the local stack."""
