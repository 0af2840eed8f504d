"""Engagement: the collector that reads insights at each posted post's checkpoints, and comments
counted from Meta's webhooks."""
