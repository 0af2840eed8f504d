"""What both publisher services share: post claims (exactly-once bookkeeping), the
publish worker, posting and app wiring. The Graph API client is `jobcast.graph`. Each
publisher adds only its platform's calls (`poster.py`) and its wiring."""
