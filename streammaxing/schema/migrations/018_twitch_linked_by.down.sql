ALTER TABLE twitch_oauth_states DROP COLUMN IF EXISTS discord_user_id;
DROP INDEX IF EXISTS idx_streamers_linked_by;
ALTER TABLE streamers DROP COLUMN IF EXISTS linked_by;
