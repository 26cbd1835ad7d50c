"""Jobs: self-healing EventSub subscriptions and the periodic housekeeping.

`tasks.py` registers them on the procrastinate app. Periodic: `reconcile_subscriptions`,
`catch_up_live`, `cleanup_orphans`, `prune`, `retry_stalled_jobs` (also `run-job NAME`).
Deferred by name: `subscribe_streamer` (a guild tracks a streamer) and `subscription_revoked`
(the ingest received a revocation).
"""
