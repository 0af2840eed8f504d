"""The Graph API (Meta) in one place, shared by every service that calls it.

`client`: `GraphClient`, its errors (`GraphError`, `AmbiguousOutcomeError`) and
`appsecret_proof`. `errors`: what an error code means (`classify_graph_error`).
`pacing`: usage headers, per-account pacing and retry tiers. `credentials`: a
connection's token, decrypted and cached. `login`: Facebook Login's token exchanges,
Pages and debug_token. `metrics`: the Graph call metrics.
"""
