-- 019: a go-live waits only for earlier go-lives that share a guild with it. The ingest records
-- each accepted stream.online's broadcaster with its number; a later go-live's fan-out compares
-- the guilds tracking its streamer with those tracking the streamers of the earlier go-lives
-- still claiming (`schema.golive_order`). Rows accepted before this migration have no
-- broadcaster and hold every later go-live back, as before.
ALTER TABLE golive_acceptances ADD COLUMN broadcaster_id TEXT;
