"""The Graph API (Meta) in one place, shared by every service that calls it.

`client`: `GraphClient`, its errors (`GraphError`, `AmbiguousOutcomeError`) and
`appsecret_proof`. `errors`: what an error code means (`classify_graph_error`).
`pacing`: usage headers, per-account pacing and retry tiers. `credentials`: a
connection's token and login kind, decrypted and cached. `hosts`: which host a
connection's calls go to (graph.facebook.com or graph.instagram.com). `login`: Facebook
Login's token exchanges, Pages and debug_token. `user_login`: Instagram Login's and
Threads' code exchange, long-lived token, refresh and `/me`. `settings`: the Graph
settings every caller shares (one API version). `metrics`: the Graph call metrics.
"""
