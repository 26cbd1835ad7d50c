DROP INDEX IF EXISTS idx_guilds_last_activity;
ALTER TABLE guilds DROP COLUMN IF EXISTS last_delivery_at;
