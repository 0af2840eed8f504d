"""LinkedIn's REST API: the client (aiohttp), its errors and their classification, settings.

Shared like `jobcast.graph`: the LinkedIn publisher posts with it, the distributor
connects organizations and verifies connections with it.
"""
