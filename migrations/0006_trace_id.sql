-- One trace id per decision, derived from the candle it was made on, so that every process
-- computes the same id (greenlight.core.trace.trace_id_for is the Python twin of gl_trace_id).
CREATE FUNCTION gl_trace_id(p_venue TEXT, p_symbol TEXT, p_tf TEXT, p_open_time BIGINT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT substr(md5(p_venue || ':' || p_symbol || ':' || p_tf || ':' || p_open_time::text), 1, 16)
$$;

ALTER TABLE decisions ADD COLUMN trace_id TEXT;
UPDATE decisions SET trace_id = gl_trace_id(venue, symbol, tf, open_time);

CREATE FUNCTION decisions_trace_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.trace_id := coalesce(NEW.trace_id, gl_trace_id(NEW.venue, NEW.symbol, NEW.tf, NEW.open_time));
    RETURN NEW;
END $$;

CREATE TRIGGER decisions_trace_id BEFORE INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_trace_id();
CREATE INDEX decisions_trace ON decisions (trace_id);
