-- Migrations apply to the schema first in the search path: the default one, or the paper
-- venue's own (venue.paper.db_schema; greenlight.core.db.with_schema), so paper records never mix
-- with the others. 0003 gave the least-privilege role its rights on schema `public` by
-- name and pinned audit_append() there; this gives them on the schema being migrated and
-- pins audit_append() to it (for `public`, a repetition that changes nothing).
DO $$
DECLARE
    s TEXT := current_schema();
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO greenlight_app', s);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO greenlight_app', s);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO greenlight_app', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I'
        ' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO greenlight_app', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I'
        ' GRANT USAGE, SELECT ON SEQUENCES TO greenlight_app', s);
    EXECUTE format('ALTER FUNCTION audit_append(TEXT, TEXT, BIGINT, JSONB)'
        ' SET search_path = pg_catalog, %I, pg_temp', s);
END $$;

-- The audit log stays append-only through audit_append() (as 0003 set it up).
REVOKE ALL ON audit_log FROM PUBLIC, greenlight_app;
GRANT SELECT ON audit_log TO greenlight_app;
REVOKE ALL ON SEQUENCE audit_log_id_seq FROM PUBLIC, greenlight_app;
REVOKE ALL ON schema_migrations FROM PUBLIC, greenlight_app;
GRANT SELECT ON schema_migrations TO greenlight_app;
