-- 018: who linked a streamer's Twitch account from the dashboard.
-- `streamers.linked_by`: the Discord user who linked it while signed in (NULL: linked through
-- an invite without signing in, or that user was erased; erasing the user clears it). That
-- user, besides the operator, may unlink it. Cleared with the tokens on unlink.
-- `twitch_oauth_states.discord_user_id`: the signed-in Discord user who started this
-- authorization (NULL: started from an invite page).
ALTER TABLE streamers ADD COLUMN linked_by TEXT;
CREATE INDEX idx_streamers_linked_by ON streamers (linked_by) WHERE linked_by IS NOT NULL;
ALTER TABLE twitch_oauth_states ADD COLUMN discord_user_id TEXT;
