-- 004: one Discord rate-limit budget for every worker process (reference/discord.md §6.6, option B).
-- All times come from clock_timestamp(), so processes on several hosts share one clock. Rows are
-- keyed by a fingerprint of the bot token (never the token itself).

-- GCRA per lane: `tat` is the theoretical arrival time of the lane's next request.
CREATE TABLE discord_rl_lanes (
    token_key TEXT NOT NULL,
    lane TEXT NOT NULL,
    tat TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (token_key, lane)
);

-- Route → bucket hash, learned from X-RateLimit-Bucket (routes sharing a hash share a bucket).
CREATE TABLE discord_rl_routes (
    token_key TEXT NOT NULL,
    route_key TEXT NOT NULL,
    bucket_hash TEXT NOT NULL,
    PRIMARY KEY (token_key, route_key)
);

-- Per-route buckets, keyed `coalesce(bucket_hash, route_key) || ':' || major`. `lim` NULL means
-- unknown: one request at a time, reserved by `in_flight_until` until its response is recorded.
CREATE TABLE discord_rl_buckets (
    token_key TEXT NOT NULL,
    bucket_key TEXT NOT NULL,
    lim INTEGER,
    remaining INTEGER,
    reset_at TIMESTAMPTZ,
    blocked_until TIMESTAMPTZ,
    in_flight_until TIMESTAMPTZ,
    touched_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (token_key, bucket_key)
);
CREATE INDEX idx_discord_rl_buckets_touched ON discord_rl_buckets(touched_at);

-- Invalid requests (401, 403, non-shared 429) per minute, for the ban breaker.
CREATE TABLE discord_rl_invalid (
    token_key TEXT NOT NULL,
    minute TIMESTAMPTZ NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (token_key, minute)
);

-- Sending stopped for a token: until `halted_until`, or until an operator clears it when NULL.
CREATE TABLE discord_rl_halts (
    token_key TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    halted_until TIMESTAMPTZ,
    halted_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- The functions below run with enable_seqscan off. plpgsql caches a generic plan per session;
-- one made while a table was a page or two long is a sequential scan, and it stays in use as
-- the table grows to thousands of buckets (measured: every response recorded read the whole
-- table). Their statements are key lookups, for which an index scan is right at any size.
CREATE FUNCTION discord_rl_bucket_key(p_token TEXT, p_route TEXT, p_major TEXT)
RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT bucket_hash FROM discord_rl_routes WHERE token_key = p_token AND route_key = p_route),
        p_route
    ) || ':' || p_major
$$;

-- Take requests from a lane and their buckets: one result row per request (`ord` = its position
-- in the arrays), each granted (lane slot and bucket both taken) or told how long to wait.
-- The lane uses GCRA without burst: a request's slot is max(tat, now - catch_up), after which
-- tat moves on by one interval; `catch_up` lets a slightly late request keep the pace instead
-- of losing its slot. A request is granted when its bucket is open and its slot is at most
-- `p_horizons[i]` seconds away; `delay_seconds` then says how long the caller must wait before
-- sending. So one call can hand out the next few slots to a crowd of callers. A request whose
-- bucket is closed waits for the bucket ('bucket') and never costs a lane slot; one whose slot
-- is further away waits for the lane ('lane'). An active halt answers every request.
-- Locks: every bucket row of the call in key order (one statement), then the lane row, the
-- same order as discord_rl_record_many, so concurrent calls cannot deadlock.
CREATE FUNCTION discord_rl_acquire_many(
    p_token TEXT,
    p_lane TEXT,
    p_interval DOUBLE PRECISION,
    p_catch_up DOUBLE PRECISION,
    p_routes TEXT[],
    p_majors TEXT[],
    p_horizons DOUBLE PRECISION[],
    p_in_flight_ttl DOUBLE PRECISION,
    p_poll DOUBLE PRECISION
) RETURNS TABLE (
    ord INTEGER,
    granted BOOLEAN,
    delay_seconds DOUBLE PRECISION,
    wait_seconds DOUBLE PRECISION,
    waiting_for TEXT,
    halt_reason TEXT,
    halted_until TIMESTAMPTZ,
    db_now TIMESTAMPTZ
) LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_count INTEGER := coalesce(array_length(p_routes, 1), 0);
    v_keys TEXT[];
    v_halt_reason TEXT;
    v_halted_until TIMESTAMPTZ;
    v_now TIMESTAMPTZ;
    v_tat TIMESTAMPTZ;
    v_start_tat TIMESTAMPTZ;
    b discord_rl_buckets%ROWTYPE;
    v_bucket_wait DOUBLE PRECISION;
    v_lane_wait DOUBLE PRECISION;
BEGIN
    -- Limiter state is soft: losing the last milliseconds of it in a Postgres crash costs at
    -- most a few requests' pacing, so its commits need not wait for the disk (this transaction
    -- only; the session keeps synchronous_commit on).
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT h.reason, h.halted_until INTO v_halt_reason, v_halted_until
    FROM discord_rl_halts h
    WHERE h.token_key = p_token AND (h.halted_until IS NULL OR h.halted_until > clock_timestamp());
    IF FOUND THEN
        v_now := clock_timestamp();
        RETURN QUERY
        SELECT i, false, NULL::DOUBLE PRECISION, NULL::DOUBLE PRECISION, NULL::TEXT,
               v_halt_reason, v_halted_until, v_now
        FROM generate_series(1, v_count) AS i;
        RETURN;
    END IF;

    v_keys := ARRAY(
        SELECT discord_rl_bucket_key(p_token, u.route, u.major)
        FROM unnest(p_routes, p_majors) WITH ORDINALITY AS u(route, major, n)
        ORDER BY u.n
    );
    -- Create the missing rows and lock them all, in key order, in one statement.
    INSERT INTO discord_rl_buckets AS bk (token_key, bucket_key)
    SELECT p_token, k.key FROM (SELECT DISTINCT unnest(v_keys) AS key) AS k ORDER BY k.key
    ON CONFLICT (token_key, bucket_key) DO UPDATE SET touched_at = bk.touched_at;
    SELECT l.tat INTO v_tat FROM discord_rl_lanes l
    WHERE l.token_key = p_token AND l.lane = p_lane FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO discord_rl_lanes (token_key, lane) VALUES (p_token, p_lane)
        ON CONFLICT DO NOTHING;
        SELECT l.tat INTO v_tat FROM discord_rl_lanes l
        WHERE l.token_key = p_token AND l.lane = p_lane FOR UPDATE;
    END IF;
    v_start_tat := v_tat;
    -- Read the clock only once the rows are ours: waiting for a lock must not age `now`.
    v_now := clock_timestamp();

    FOR i IN 1 .. v_count LOOP
        ord := i;
        granted := false;
        delay_seconds := NULL;
        waiting_for := NULL;
        db_now := v_now;
        SELECT * INTO b FROM discord_rl_buckets bk
        WHERE bk.token_key = p_token AND bk.bucket_key = v_keys[i];
        v_bucket_wait := 0;
        IF b.blocked_until > v_now THEN
            v_bucket_wait := extract(epoch FROM b.blocked_until - v_now);
        ELSIF b.lim IS NULL THEN
            IF b.in_flight_until > v_now THEN
                v_bucket_wait := least(extract(epoch FROM b.in_flight_until - v_now), p_poll);
            END IF;
        ELSIF b.reset_at > v_now AND b.remaining <= 0 THEN
            v_bucket_wait := extract(epoch FROM b.reset_at - v_now);
        END IF;
        v_lane_wait := CASE WHEN v_tat > v_now THEN extract(epoch FROM v_tat - v_now) ELSE 0 END;

        IF v_bucket_wait > 0 THEN
            wait_seconds := v_bucket_wait;
            waiting_for := 'bucket';
        ELSIF v_lane_wait > p_horizons[i] THEN
            wait_seconds := v_lane_wait;
            waiting_for := 'lane';
        ELSE
            IF b.lim IS NULL THEN
                UPDATE discord_rl_buckets
                SET in_flight_until = v_now + make_interval(secs => p_in_flight_ttl),
                    touched_at = v_now
                WHERE token_key = p_token AND bucket_key = v_keys[i];
            ELSIF b.reset_at IS NULL OR b.reset_at <= v_now THEN
                -- A new window: until a response says when it resets, assume the in-flight
                -- lifetime.
                UPDATE discord_rl_buckets
                SET remaining = greatest(b.lim - 1, 0),
                    reset_at = v_now + make_interval(secs => p_in_flight_ttl),
                    touched_at = v_now
                WHERE token_key = p_token AND bucket_key = v_keys[i];
            ELSE
                UPDATE discord_rl_buckets
                SET remaining = b.remaining - 1, touched_at = v_now
                WHERE token_key = p_token AND bucket_key = v_keys[i];
            END IF;
            v_tat := greatest(v_tat, v_now - make_interval(secs => p_catch_up))
                + make_interval(secs => p_interval);
            granted := true;
            delay_seconds := v_lane_wait;
            wait_seconds := 0;
        END IF;
        RETURN NEXT;
    END LOOP;
    IF v_tat IS DISTINCT FROM v_start_tat THEN
        UPDATE discord_rl_lanes SET tat = v_tat WHERE token_key = p_token AND lane = p_lane;
    END IF;
END
$$;

-- Learn from one response and apply its consequences; returns the halt reason when this call
-- started (or lengthened) a halt, else NULL. NULL arguments mean "nothing to learn / apply".
-- Lock order as in discord_rl_acquire_many: bucket rows (sorted), then lane rows (sorted).
CREATE FUNCTION discord_rl_record(
    p_token TEXT,
    p_route TEXT,
    p_major TEXT,
    p_bucket_hash TEXT,
    p_limit INTEGER,
    p_remaining INTEGER,
    p_reset_after DOUBLE PRECISION,
    p_bucket_block DOUBLE PRECISION,
    p_global_block DOUBLE PRECISION,
    p_lanes TEXT[],
    p_invalid BOOLEAN,
    p_halt_reason TEXT,
    p_halt_seconds DOUBLE PRECISION,
    p_breaker_threshold INTEGER,
    p_breaker_seconds DOUBLE PRECISION
) RETURNS TEXT LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_old_key TEXT := discord_rl_bucket_key(p_token, p_route, p_major);
    v_key TEXT := v_old_key;
    v_now TIMESTAMPTZ;
    v_minute TIMESTAMPTZ;
    v_invalid_sum BIGINT;
    v_halt_reason TEXT := p_halt_reason;
    v_halt_seconds DOUBLE PRECISION := p_halt_seconds;
    v_rows INTEGER;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);  -- soft state, as in acquire
    IF p_bucket_hash IS NOT NULL THEN
        v_key := p_bucket_hash || ':' || p_major;
        IF v_key <> v_old_key THEN
            INSERT INTO discord_rl_routes (token_key, route_key, bucket_hash)
            VALUES (p_token, p_route, p_bucket_hash)
            ON CONFLICT (token_key, route_key) DO UPDATE SET bucket_hash = EXCLUDED.bucket_hash;
        END IF;
    END IF;
    -- One key per statement: a plan for "both keys in key order" may walk every bucket of
    -- the token to avoid a sort.
    PERFORM 1 FROM discord_rl_buckets
    WHERE token_key = p_token AND bucket_key = least(v_old_key, v_key) FOR UPDATE;
    IF v_key <> v_old_key THEN
        PERFORM 1 FROM discord_rl_buckets
        WHERE token_key = p_token AND bucket_key = greatest(v_old_key, v_key) FOR UPDATE;
    END IF;
    v_now := clock_timestamp();

    -- The response is in: release the reservation acquire took (under the key it used).
    UPDATE discord_rl_buckets SET in_flight_until = NULL
    WHERE token_key = p_token AND bucket_key = v_old_key AND in_flight_until IS NOT NULL;
    IF v_key <> v_old_key THEN
        UPDATE discord_rl_buckets SET in_flight_until = NULL
        WHERE token_key = p_token AND bucket_key = v_key AND in_flight_until IS NOT NULL;
    END IF;

    IF p_limit IS NOT NULL AND p_remaining IS NOT NULL AND p_reset_after IS NOT NULL THEN
        INSERT INTO discord_rl_buckets AS b
            (token_key, bucket_key, lim, remaining, reset_at, touched_at)
        VALUES (p_token, v_key, p_limit, p_remaining,
                v_now + make_interval(secs => p_reset_after), v_now)
        ON CONFLICT (token_key, bucket_key) DO UPDATE SET
            lim = EXCLUDED.lim,
            -- Never above what this bucket still allows: other requests may be in flight.
            remaining = CASE
                WHEN b.lim IS NULL OR b.reset_at IS NULL OR b.reset_at <= v_now
                    THEN EXCLUDED.remaining
                ELSE least(b.remaining, EXCLUDED.remaining)
            END,
            reset_at = EXCLUDED.reset_at,
            touched_at = v_now;
    END IF;

    IF p_bucket_block IS NOT NULL THEN
        INSERT INTO discord_rl_buckets AS b (token_key, bucket_key, blocked_until, touched_at)
        VALUES (p_token, v_key, v_now + make_interval(secs => p_bucket_block), v_now)
        ON CONFLICT (token_key, bucket_key) DO UPDATE SET
            blocked_until = greatest(b.blocked_until, EXCLUDED.blocked_until),
            touched_at = v_now;
    END IF;

    IF p_global_block IS NOT NULL THEN
        -- Every lane of the token (`p_lanes`), also one that has not sent anything yet.
        INSERT INTO discord_rl_lanes AS l (token_key, lane, tat)
        SELECT p_token, lane, v_now + make_interval(secs => p_global_block)
        FROM unnest(p_lanes) AS lane
        ORDER BY lane
        ON CONFLICT (token_key, lane) DO UPDATE SET tat = greatest(l.tat, EXCLUDED.tat);
    END IF;

    IF p_invalid THEN
        v_minute := date_trunc('minute', v_now);
        INSERT INTO discord_rl_invalid AS i (token_key, minute, hits) VALUES (p_token, v_minute, 1)
        ON CONFLICT (token_key, minute) DO UPDATE SET hits = i.hits + 1;
        DELETE FROM discord_rl_invalid
        WHERE token_key = p_token AND minute <= v_minute - interval '10 minutes';
        SELECT sum(hits) INTO v_invalid_sum FROM discord_rl_invalid WHERE token_key = p_token;
        IF v_invalid_sum >= p_breaker_threshold AND v_halt_reason IS NULL THEN
            v_halt_reason := 'invalid_request_breaker';
            v_halt_seconds := p_breaker_seconds;
        END IF;
    END IF;

    IF v_halt_reason IS NULL THEN
        RETURN NULL;
    END IF;
    -- A halt never shortens one in force: an open-ended halt (NULL) outlasts any other.
    INSERT INTO discord_rl_halts AS h (token_key, reason, halted_until, halted_at)
    VALUES (p_token, v_halt_reason,
            v_now + make_interval(secs => v_halt_seconds),  -- NULL seconds: open-ended
            v_now)
    ON CONFLICT (token_key) DO UPDATE SET
        reason = EXCLUDED.reason,
        halted_until = EXCLUDED.halted_until,
        halted_at = EXCLUDED.halted_at
    WHERE h.halted_until IS NOT NULL
        AND (EXCLUDED.halted_until IS NULL OR h.halted_until < EXCLUDED.halted_until);
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    RETURN CASE WHEN v_rows > 0 THEN v_halt_reason END;
END
$$;

-- discord_rl_record for several responses (the arrays hold one entry per response), in one
-- transaction; returns (ord, started_halt) per response. First every bucket row any response
-- may touch is created and locked in key order, as discord_rl_acquire_many does, so concurrent
-- batches cannot deadlock on them. Callers pass the responses sorted by route, so the route
-- rows are taken in order too.
CREATE FUNCTION discord_rl_record_many(
    p_token TEXT,
    p_routes TEXT[],
    p_majors TEXT[],
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
    p_breaker_seconds DOUBLE PRECISION
) RETURNS TABLE (ord INTEGER, started_halt TEXT) LANGUAGE plpgsql SET enable_seqscan = off AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);  -- soft state, as in acquire
    INSERT INTO discord_rl_buckets AS bk (token_key, bucket_key)
    SELECT p_token, k.key
    FROM (
        SELECT discord_rl_bucket_key(p_token, u.route, u.major) AS key
        FROM unnest(p_routes, p_majors) AS u(route, major)
        UNION
        SELECT u.hash || ':' || u.major
        FROM unnest(p_bucket_hashes, p_majors) AS u(hash, major)
        WHERE u.hash IS NOT NULL
    ) AS k
    ORDER BY k.key
    ON CONFLICT (token_key, bucket_key) DO UPDATE SET touched_at = bk.touched_at;
    FOR i IN 1 .. coalesce(array_length(p_routes, 1), 0) LOOP
        ord := i;
        started_halt := discord_rl_record(
            p_token, p_routes[i], p_majors[i], p_bucket_hashes[i], p_limits[i], p_remainings[i],
            p_reset_afters[i], p_bucket_blocks[i], p_global_blocks[i], p_lanes, p_invalids[i],
            p_halt_reasons[i], p_halt_seconds[i], p_breaker_threshold, p_breaker_seconds
        );
        RETURN NEXT;
    END LOOP;
END
$$;
