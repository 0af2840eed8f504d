"""What both publisher services share: the Graph API client, error classification,
post claims (exactly-once bookkeeping) and the publish worker. Each publisher adds
only its platform's calls (`poster.py`) and its wiring."""
