ALTER TABLE streamers DROP COLUMN IF EXISTS eventsub_left_out_at;
