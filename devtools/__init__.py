"""Development tools, not product: the Graph API sandbox (a test double), the local
Kafka/Postgres supervisor (devstack) and the `make up` stack built on them.

Neither the wheel (pyproject's package list) nor the image (Dockerfile) includes this package;
it runs from a checkout. The `jobcast` CLI offers `stack` only where it can import it.
"""
