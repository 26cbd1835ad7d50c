-- Reverts 006.
DROP INDEX IF EXISTS idx_eventsub_subscriptions_streamer;
ALTER TABLE eventsub_subscriptions
    DROP COLUMN IF EXISTS callback,
    DROP COLUMN IF EXISTS version,
    DROP COLUMN IF EXISTS type;
