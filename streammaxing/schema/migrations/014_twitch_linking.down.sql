DROP INDEX IF EXISTS idx_streamers_linked;
ALTER TABLE streamers
    DROP COLUMN IF EXISTS twitch_linked_at,
    DROP COLUMN IF EXISTS twitch_token_validated_at,
    DROP COLUMN IF EXISTS twitch_token_expires_at;
DROP TABLE IF EXISTS twitch_oauth_states;
DROP TABLE IF EXISTS streamer_invites;
