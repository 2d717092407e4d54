-- Live analysis stages (SMC, retest, regime): their step-function state is persisted next to
-- the feature state; zones record when they expired; decisions carry the stream's regime at
-- the decision candle so every chat shows it.
ALTER TABLE feature_state ADD COLUMN analysis_state BYTEA;
ALTER TABLE zones ADD COLUMN expired_time BIGINT;
ALTER TABLE decisions ADD COLUMN regime TEXT;
CREATE INDEX zones_stream_known ON zones (venue, symbol, tf, known_time);
-- The analysis state (~19 kB of float arrays, rewritten every candle) compresses poorly:
-- store it out of line without compression to keep the per-candle write cheap.
ALTER TABLE feature_state ALTER COLUMN analysis_state SET STORAGE EXTERNAL;
