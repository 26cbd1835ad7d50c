-- 014: streamers link their Twitch account.
-- `streamer_invites`: a guild manager's invite link (one guild, an expiry, a use limit; revoking
-- it keeps the row for the manager's list). `created_by` is the Discord user who made it (NULL:
-- the operator, or a user since erased); it has no foreign key, like `guilds.owner_id`, and
-- erasing the user clears it.
-- `twitch_oauth_states`: one row per started Twitch authorization, bound to the browser's
-- cookie; the callback deletes it before exchanging the code (single use), and rows older than
-- ten minutes are refused and swept.
-- `streamers.twitch_token_expires_at` / `twitch_token_validated_at` / `twitch_linked_at`: when
-- the stored (encrypted) access token expires, when it was last validated at Twitch, and when the
-- streamer linked. All three are NULL while the streamer is not linked.

CREATE TABLE streamer_invites (
    token TEXT PRIMARY KEY,
    guild_id TEXT NOT NULL REFERENCES guilds(guild_id) ON DELETE CASCADE,
    created_by TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    max_uses INTEGER NOT NULL CHECK (max_uses > 0),
    uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at TIMESTAMPTZ,
    CHECK (expires_at > created_at)
);
CREATE INDEX idx_streamer_invites_guild ON streamer_invites (guild_id, created_at DESC);

CREATE TABLE twitch_oauth_states (
    state TEXT PRIMARY KEY,
    browser TEXT NOT NULL,
    invite_token TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_twitch_oauth_states_created ON twitch_oauth_states (created_at);

ALTER TABLE streamers
    ADD COLUMN twitch_token_expires_at TIMESTAMPTZ,
    ADD COLUMN twitch_token_validated_at TIMESTAMPTZ,
    ADD COLUMN twitch_linked_at TIMESTAMPTZ;
CREATE INDEX idx_streamers_linked ON streamers (twitch_token_expires_at)
    WHERE twitch_access_token IS NOT NULL;
