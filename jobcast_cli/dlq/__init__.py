"""`jobcast dlq`: make dead letters operable — list them, show one, replay them once.

- `records`: what a dead letter is and how it is shown (pure; redacted, escaped).
- `reading`: reads `*.dlq` topics with a plain consumer (assign + seek, nothing committed).
- `ledger`: the Postgres table (`dlq.replays`) of what was replayed.
- `replaying`: sends dead letters back to their topics, each at most once.
- `commands`: the typer commands.

The pure modules import nothing of the CLI: `jobcast_cli.main` takes the commands from
`commands` itself.
"""
