"""The read model (schema `metrics`): materialising results and snapshots, the read API and
its live stream."""
