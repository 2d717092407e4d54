-- A stream's analysis state (SMC, retest, regime: ~19 kB) is saved as a base and the patch
-- from it to the state after the stream's last candle (engine/state_patch.py): a candle
-- rewrites the patch (hundreds of bytes) and the base only when the patch has grown past the
-- stream's limit.
ALTER TABLE feature_state ADD COLUMN analysis_patch BYTEA;
ALTER TABLE feature_state ALTER COLUMN analysis_patch SET STORAGE EXTERNAL;
-- Rows up to ~4 kB (the small states and a patch) stay in the table; only the base goes to
-- TOAST, and an update that keeps the base keeps its TOAST value as it is.
ALTER TABLE feature_state SET (toast_tuple_target = 4080);
