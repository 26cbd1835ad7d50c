-- 020: one round trip that records a process's last responses and takes its next lane slots.
-- A paced worker process used to send one statement to record responses and another to take
-- slots; riding the responses along with the slot round trip saves the first.
-- Result rows: `kind` 'record' (one per response, `ord` its position, `started_halt` as
-- discord_rl_record_many returns it), then `kind` 'acquire' (one per request, the columns of
-- discord_rl_acquire_many). The responses are applied first, so a reservation they release or
-- a halt they start is seen by the requests of the same call.
-- Locks: every bucket row of the call (the responses' keys, the hash keys they name and the
-- requests' keys) in key order, in one statement, before either part runs; then the lane rows.
-- The only key not locked up front is the one a request's route maps to once a response of the
-- same call teaches the route its first bucket hash (once per route and token).
CREATE FUNCTION discord_rl_record_and_acquire(
    p_token TEXT,
    p_rec_routes TEXT[],
    p_rec_majors TEXT[],
    p_bucket_hashes TEXT[],
    p_limits INTEGER[],
    p_remainings INTEGER[],
    p_reset_afters DOUBLE PRECISION[],
    p_bucket_blocks DOUBLE PRECISION[],
    p_global_blocks DOUBLE PRECISION[],
    p_lanes TEXT[],
    p_invalids BOOLEAN[],
    p_halt_reasons TEXT[],
    p_halt_seconds DOUBLE PRECISION[],
    p_breaker_threshold INTEGER,
    p_breaker_seconds DOUBLE PRECISION,
    p_lane TEXT,
    p_interval DOUBLE PRECISION,
    p_catch_up DOUBLE PRECISION,
    p_routes TEXT[],
    p_majors TEXT[],
    p_horizons DOUBLE PRECISION[],
    p_in_flight_ttl DOUBLE PRECISION,
    p_poll DOUBLE PRECISION
) RETURNS TABLE (
    kind TEXT,
    ord INTEGER,
    started_halt TEXT,
    granted BOOLEAN,
    delay_seconds DOUBLE PRECISION,
    wait_seconds DOUBLE PRECISION,
    waiting_for TEXT,
    halt_reason TEXT,
    halted_until TIMESTAMPTZ,
    db_now TIMESTAMPTZ
) LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);  -- soft state, as in acquire
    INSERT INTO discord_rl_buckets AS bk (token_key, bucket_key)
    SELECT p_token, k.key
    FROM (
        SELECT discord_rl_bucket_key(p_token, u.route, u.major) AS key
        FROM unnest(p_rec_routes, p_rec_majors) AS u(route, major)
        UNION
        SELECT u.hash || ':' || u.major
        FROM unnest(p_bucket_hashes, p_rec_majors) AS u(hash, major)
        WHERE u.hash IS NOT NULL
        UNION
        SELECT discord_rl_bucket_key(p_token, u.route, u.major)
        FROM unnest(p_routes, p_majors) AS u(route, major)
    ) AS k
    ORDER BY k.key
    ON CONFLICT (token_key, bucket_key) DO UPDATE SET touched_at = bk.touched_at;

    RETURN QUERY
    SELECT 'record'::TEXT, r.ord, r.started_halt, NULL::BOOLEAN, NULL::DOUBLE PRECISION,
           NULL::DOUBLE PRECISION, NULL::TEXT, NULL::TEXT, NULL::TIMESTAMPTZ, NULL::TIMESTAMPTZ
    FROM discord_rl_record_many(
        p_token, p_rec_routes, p_rec_majors, p_bucket_hashes, p_limits, p_remainings,
        p_reset_afters, p_bucket_blocks, p_global_blocks, p_lanes, p_invalids, p_halt_reasons,
        p_halt_seconds, p_breaker_threshold, p_breaker_seconds
    ) AS r;

    RETURN QUERY
    SELECT 'acquire'::TEXT, a.ord, NULL::TEXT, a.granted, a.delay_seconds, a.wait_seconds,
           a.waiting_for, a.halt_reason, a.halted_until, a.db_now
    FROM discord_rl_acquire_many(
        p_token, p_lane, p_interval, p_catch_up, p_routes, p_majors, p_horizons,
        p_in_flight_ttl, p_poll
    ) AS a;
END
$$;
