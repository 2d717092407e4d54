-- Core schema: market data, analysis, decisions, approvals, orders, fills, positions,
-- audit log and control flags. Prices and quantities that touch money are NUMERIC.

CREATE TABLE candles (
    venue       TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    tf          TEXT    NOT NULL,
    open_time   BIGINT  NOT NULL,
    close_time  BIGINT  NOT NULL,
    open        NUMERIC NOT NULL,
    high        NUMERIC NOT NULL,
    low         NUMERIC NOT NULL,
    close       NUMERIC NOT NULL,
    volume      NUMERIC NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (venue, symbol, tf, open_time)
);

CREATE TABLE indicators (
    venue     TEXT   NOT NULL,
    symbol    TEXT   NOT NULL,
    tf        TEXT   NOT NULL,
    open_time BIGINT NOT NULL,
    ema20 DOUBLE PRECISION, ema50 DOUBLE PRECISION, ema200 DOUBLE PRECISION,
    rsi14 DOUBLE PRECISION,
    macd DOUBLE PRECISION, macd_signal DOUBLE PRECISION, macd_hist DOUBLE PRECISION,
    atr14 DOUBLE PRECISION,
    extra JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (venue, symbol, tf, open_time)
);

-- Step-function state per stream, so a restarted engine resumes without recomputing.
CREATE TABLE feature_state (
    venue     TEXT   NOT NULL,
    symbol    TEXT   NOT NULL,
    tf        TEXT   NOT NULL,
    open_time BIGINT NOT NULL,
    state     BYTEA  NOT NULL,
    PRIMARY KEY (venue, symbol, tf)
);

CREATE TABLE swings (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, tf TEXT NOT NULL,
    pivot_time BIGINT NOT NULL, known_time BIGINT NOT NULL,
    kind TEXT NOT NULL, label TEXT, price DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (venue, symbol, tf, pivot_time, kind)
);

CREATE TABLE smc_events (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, tf TEXT NOT NULL,
    open_time BIGINT NOT NULL, kind TEXT NOT NULL,
    level DOUBLE PRECISION, ref_swing_time BIGINT,
    PRIMARY KEY (venue, symbol, tf, open_time, kind)
);

CREATE TABLE zones (
    id BIGSERIAL PRIMARY KEY,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, tf TEXT NOT NULL,
    kind TEXT NOT NULL, direction TEXT NOT NULL,
    start_time BIGINT NOT NULL, known_time BIGINT NOT NULL,
    top DOUBLE PRECISION NOT NULL, bottom DOUBLE PRECISION NOT NULL,
    mitigated_time BIGINT,
    UNIQUE (venue, symbol, tf, kind, start_time)
);

CREATE TABLE regimes (
    venue TEXT NOT NULL, symbol TEXT NOT NULL, tf TEXT NOT NULL,
    open_time BIGINT NOT NULL, regime TEXT NOT NULL, detail JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (venue, symbol, tf, open_time)
);

CREATE TABLE guard_state (
    name TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL DEFAULT 'OK',
    detail JSONB NOT NULL DEFAULT '{}',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE news_events (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    source TEXT NOT NULL,
    impact TEXT NOT NULL,
    title TEXT NOT NULL
);

CREATE TABLE signals (
    id        BIGSERIAL PRIMARY KEY,
    agent     TEXT   NOT NULL,
    venue     TEXT   NOT NULL,
    symbol    TEXT   NOT NULL,
    tf        TEXT   NOT NULL,
    open_time BIGINT NOT NULL,
    side      TEXT   NOT NULL,
    score     DOUBLE PRECISION NOT NULL,
    payload   JSONB  NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (agent, venue, symbol, tf, open_time)
);

CREATE TABLE decisions (
    id           BIGSERIAL PRIMARY KEY,
    signal_id    BIGINT REFERENCES signals(id),
    venue        TEXT   NOT NULL,
    market       TEXT   NOT NULL,
    symbol       TEXT   NOT NULL,
    tf           TEXT   NOT NULL,
    open_time    BIGINT NOT NULL,
    side         TEXT   NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('PENDING','APPROVED','ROUTED','OPEN','CLOSED',
                                                 'REJECTED','EXPIRED','FAILED','CANCELLED')),
    bracket      JSONB  NOT NULL,
    signal       JSONB  NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    expires_at   TIMESTAMPTZ NOT NULL,
    candle_received_at   TIMESTAMPTZ,
    confirmation_sent_at TIMESTAMPTZ,
    decided_at   TIMESTAMPTZ,
    decided_by   TEXT,
    decided_via  TEXT,
    routed_at    TIMESTAMPTZ,
    entry_ack_at TIMESTAMPTZ,
    closed_at    TIMESTAMPTZ,
    failure_reason TEXT,
    realized_pnl NUMERIC,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (venue, symbol, tf, open_time)
);
CREATE INDEX decisions_state ON decisions (state);

-- Every tap or typed approval attempt, accepted or not.
CREATE TABLE approvals (
    id          BIGSERIAL PRIMARY KEY,
    decision_id BIGINT NOT NULL REFERENCES decisions(id),
    action      TEXT   NOT NULL CHECK (action IN ('approve','reject')),
    channel     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    accepted    BOOLEAN NOT NULL,
    reason      TEXT,
    automatic   BOOLEAN NOT NULL DEFAULT FALSE,
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Where each confirmation was shown, so every copy can be edited after the decision.
CREATE TABLE chat_messages (
    id          BIGSERIAL PRIMARY KEY,
    decision_id BIGINT NOT NULL REFERENCES decisions(id),
    channel     TEXT   NOT NULL,
    chat_id     TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    finalized   BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (channel, chat_id, message_id)
);

CREATE TABLE orders (
    id               BIGSERIAL PRIMARY KEY,
    decision_id      BIGINT NOT NULL REFERENCES decisions(id),
    client_order_id  TEXT   NOT NULL UNIQUE,
    list_client_id   TEXT,
    venue            TEXT   NOT NULL,
    market           TEXT   NOT NULL,
    symbol           TEXT   NOT NULL,
    leg              TEXT   NOT NULL,
    side             TEXT   NOT NULL,
    order_type       TEXT   NOT NULL,
    quantity         NUMERIC NOT NULL,
    price            NUMERIC,
    stop_price       NUMERIC,
    status           TEXT   NOT NULL,
    venue_order_id   TEXT,
    filled_quantity  NUMERIC NOT NULL DEFAULT 0,
    cum_quote        NUMERIC NOT NULL DEFAULT 0,
    reject_reason    TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    acked_at         TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_decision ON orders (decision_id);

CREATE TABLE fills (
    id              BIGSERIAL PRIMARY KEY,
    venue           TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    client_order_id TEXT    NOT NULL REFERENCES orders(client_order_id),
    decision_id     BIGINT  NOT NULL REFERENCES decisions(id),
    side            TEXT    NOT NULL,
    price           NUMERIC NOT NULL,
    quantity        NUMERIC NOT NULL,
    commission      NUMERIC NOT NULL DEFAULT 0,
    commission_asset TEXT,
    trade_time      BIGINT  NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (venue, symbol, trade_id)
);

CREATE TABLE positions (
    decision_id   BIGINT PRIMARY KEY REFERENCES decisions(id),
    venue         TEXT    NOT NULL,
    market        TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    side          TEXT    NOT NULL,
    quantity      NUMERIC NOT NULL DEFAULT 0,
    open_quantity NUMERIC NOT NULL DEFAULT 0,
    entry_price   NUMERIC,
    exit_quantity NUMERIC NOT NULL DEFAULT 0,
    exit_quote    NUMERIC NOT NULL DEFAULT 0,
    realized_pnl  NUMERIC NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'OPEN' CHECK (state IN ('OPEN','CLOSED')),
    opened_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    closed_at     TIMESTAMPTZ
);

CREATE TABLE alerts (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    decision_id BIGINT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Which channel has delivered which alert, so a restarted bot neither loses nor repeats one.
CREATE TABLE alert_deliveries (
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    channel  TEXT   NOT NULL,
    delivered_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (alert_id, channel)
);

CREATE TABLE control (
    key        TEXT PRIMARY KEY,
    value      JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    updated_by TEXT NOT NULL DEFAULT 'system'
);
INSERT INTO control (key, value) VALUES ('trading_enabled', 'true');

-- Append-only, hash-chained audit log. Each row's hash covers the previous row's hash, so
-- changing or deleting a row breaks the chain (see greenlight.core.audit.verify_chain).
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    decision_id BIGINT,
    detail      JSONB NOT NULL DEFAULT '{}',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

CREATE FUNCTION audit_append(p_actor TEXT, p_action TEXT, p_decision BIGINT, p_detail JSONB)
RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    v_prev TEXT;
    v_at   TIMESTAMPTZ := clock_timestamp();
    v_id   BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7341001);
    SELECT hash INTO v_prev FROM audit_log ORDER BY id DESC LIMIT 1;
    v_prev := coalesce(v_prev, 'genesis');
    INSERT INTO audit_log (at, actor, action, decision_id, detail, prev_hash, hash)
    VALUES (v_at, p_actor, p_action, p_decision, p_detail, v_prev,
            encode(sha256(convert_to(
                v_prev || '|' || p_actor || '|' || p_action || '|' ||
                coalesce(p_decision::text, '') || '|' || p_detail::text || '|' ||
                to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), 'UTF8')), 'hex'))
    RETURNING id INTO v_id;
    RETURN v_id;
END $$;

CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
