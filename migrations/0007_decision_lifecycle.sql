-- The decision lifecycle table of greenlight/core/lifecycle.py, mirrored in the database: any
-- change of decisions.state that is not in the table is refused, whoever writes it.
CREATE FUNCTION decision_transition_allowed(p_from TEXT, p_to TEXT) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_from, p_to) IN (
        ('PENDING', 'APPROVED'), ('PENDING', 'REJECTED'), ('PENDING', 'EXPIRED'),
        ('PENDING', 'CANCELLED'),
        ('APPROVED', 'ROUTED'), ('APPROVED', 'EXPIRED'), ('APPROVED', 'FAILED'),
        ('APPROVED', 'CANCELLED'),
        ('ROUTED', 'OPEN'), ('ROUTED', 'FAILED'), ('ROUTED', 'CANCELLED'),
        ('OPEN', 'CLOSED')
    )
$$;

CREATE FUNCTION decision_state_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT decision_transition_allowed(OLD.state, NEW.state) THEN
        RAISE EXCEPTION 'decision % cannot go from % to % (greenlight/core/lifecycle.py)',
            OLD.id, OLD.state, NEW.state USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER decisions_state_guard BEFORE UPDATE OF state ON decisions
    FOR EACH ROW EXECUTE FUNCTION decision_state_guard();
