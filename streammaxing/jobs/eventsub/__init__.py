"""Keeping Twitch's EventSub subscriptions in line with what guilds track.

`plan` decides (pure), `apply` carries a plan out against Helix, `converge` does both and writes
down what Twitch has; `reconcile` (every streamer, periodic), `subscribe` (one streamer, when a
guild starts tracking it) and `revocation` (Twitch revoked one) are the jobs built on them. Each
reports the same `SubscriptionCounts`.
"""
