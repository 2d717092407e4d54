-- The phone as a cockpit: per-chat chart-alert subscriptions and mutes, alerts delivered per
-- chat (exactly once, muted ones remembered as muted), the alert follower's cursor per stream,
-- equity samples for /pnl and the daily summary, and a wake-up for the bot on every candle
-- the engine commits (the analysis rows of a candle are in the same transaction).

CREATE TABLE chat_watches (
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    venue      TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    tf         TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (channel, chat_id, venue, symbol, tf)
);

CREATE TABLE chat_mutes (
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    event      TEXT NOT NULL,
    until      TIMESTAMPTZ,          -- NULL: until /unmute
    silent     BOOLEAN NOT NULL DEFAULT FALSE,  -- still delivered, without a notification
    created_by TEXT NOT NULL,
    PRIMARY KEY (channel, chat_id, event)
);

-- An alert names its event type; a market alert names its stream and candle (only chats
-- watching that stream get it), other alerts go to every chat of every channel.
ALTER TABLE alerts ADD COLUMN event TEXT;
ALTER TABLE alerts ADD COLUMN venue TEXT;
ALTER TABLE alerts ADD COLUMN symbol TEXT;
ALTER TABLE alerts ADD COLUMN tf TEXT;
ALTER TABLE alerts ADD COLUMN open_time BIGINT;
ALTER TABLE alerts ADD COLUMN image TEXT;
ALTER TABLE alerts ADD COLUMN detail JSONB NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX alerts_market_once ON alerts (venue, symbol, tf, open_time, event)
    WHERE venue IS NOT NULL;
CREATE INDEX alerts_created ON alerts (created_at);

CREATE TABLE alert_chat_deliveries (
    alert_id     BIGINT NOT NULL REFERENCES alerts(id),
    channel      TEXT   NOT NULL,
    chat_id      TEXT   NOT NULL,
    outcome      TEXT   NOT NULL CHECK (outcome IN ('sent', 'muted', 'filtered', 'failed')),
    delivered_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (alert_id, channel, chat_id)
);

CREATE TABLE watch_cursors (
    venue     TEXT   NOT NULL,
    symbol    TEXT   NOT NULL,
    tf        TEXT   NOT NULL,
    open_time BIGINT NOT NULL,
    PRIMARY KEY (venue, symbol, tf)
);

CREATE TABLE equity_samples (
    market TEXT        NOT NULL,
    at     TIMESTAMPTZ NOT NULL,
    equity NUMERIC     NOT NULL,
    PRIMARY KEY (market, at)
);

CREATE FUNCTION notify_candle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gl_candles', NEW.venue || ' ' || NEW.symbol || ' ' || NEW.tf);
    RETURN NULL;
END $$;
CREATE TRIGGER feature_state_notify AFTER INSERT OR UPDATE OF open_time ON feature_state
    FOR EACH ROW EXECUTE FUNCTION notify_candle();
