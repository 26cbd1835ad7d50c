-- 013: streamers left out of the EventSub cost budget (reconcile could not subscribe them; the
-- catch-up poll announces them). NULL: subscribed normally. Set and cleared by reconcile.
ALTER TABLE streamers ADD COLUMN eventsub_left_out_at TIMESTAMPTZ;
