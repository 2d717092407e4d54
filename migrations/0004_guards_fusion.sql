-- Guards the decision stage consults (news, funding, volatility), their chat toggles, the
-- news events admins add from chat, funding windows recorded as events, the guard line of
-- each decision, and the persisted state of the decision agents (plugins).

-- guard_state (unused until now) becomes the verdict of each guard per stream at its last
-- live candle, written by the engine, read by /guards and /status. `reason` changes only
-- when the cause does (readers alert on changes); what moves candle by candle is in `note`.
-- `enabled` is false while an admin's bypass is in force; `status` mirrors `state` for
-- readers of the earlier (name, enabled, status) shape.
DROP TABLE guard_state;
CREATE TABLE guard_state (
    name       TEXT   NOT NULL CHECK (name IN ('news', 'funding', 'vol')),
    venue      TEXT   NOT NULL,
    symbol     TEXT   NOT NULL,
    state      TEXT   NOT NULL,          -- SAFE / BLOCK / N/A (vol: OK / CHOP / SHOCK / UNKNOWN)
    blocking   BOOLEAN NOT NULL,
    reason     TEXT   NOT NULL DEFAULT '',
    note       TEXT   NOT NULL DEFAULT '',
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    status     TEXT   GENERATED ALWAYS AS (state) STORED,
    until_ms   BIGINT,                   -- venue time the verdict holds until (NULL: open-ended)
    at_ms      BIGINT NOT NULL,          -- venue time of the candle that produced it
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (name, venue, symbol)
);

-- An admin's bypass of a guard: off until bypass_until (bounded), on when NULL or past.
CREATE TABLE guard_toggles (
    name         TEXT PRIMARY KEY CHECK (name IN ('news', 'funding', 'vol')),
    bypass_until TIMESTAMPTZ,
    changed_by   TEXT NOT NULL DEFAULT 'system',
    changed_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO guard_toggles (name) VALUES ('news'), ('funding'), ('vol');

-- news_events: events added from chat (/news add); `at` is the start, `impact` the severity.
ALTER TABLE news_events ADD COLUMN end_at TIMESTAMPTZ;
ALTER TABLE news_events ADD COLUMN scope TEXT NOT NULL DEFAULT 'ALL';
ALTER TABLE news_events ADD COLUMN created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp();
UPDATE news_events SET end_at = at WHERE end_at IS NULL;
ALTER TABLE news_events ALTER COLUMN end_at SET NOT NULL;
ALTER TABLE news_events ADD CONSTRAINT news_events_impact
    CHECK (impact IN ('HIGH', 'MED', 'LOW')) NOT VALID;

-- Windows a guard blocked for, recorded once each (funding: one per funding time).
CREATE TABLE guard_events (
    id       BIGSERIAL PRIMARY KEY,
    guard    TEXT   NOT NULL,
    venue    TEXT   NOT NULL,
    symbol   TEXT   NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms   BIGINT NOT NULL,
    detail   JSONB  NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (guard, venue, symbol, start_ms)
);

-- The guard verdicts at the decision candle, shown on the confirmation.
ALTER TABLE decisions ADD COLUMN guards JSONB;

-- The decision agents' per-stream state (plugins), saved with the feature state.
ALTER TABLE feature_state ADD COLUMN agent_state BYTEA;
