-- The audit trail you can verify (greenlight.core.audit.verify_chain, `greenlight audit verify`):
--  * TRUNCATE on audit_log is refused (row triggers never see it);
--  * the processes connect as greenlight_app, a login that owns nothing and is not a
--    superuser: it reads and writes the operational tables, reads audit_log, appends to it
--    only through audit_append(), and can neither UPDATE, DELETE nor TRUNCATE audit rows nor
--    disable the triggers that forbid it (ALTER TABLE needs ownership).
-- Roles belong to the whole server, so the role is created only when missing; this runs as
-- the schema owner (the embedded server's superuser, or whoever runs `greenlight db migrate`),
-- who needs CREATEROLE.

CREATE OR REPLACE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'greenlight_app') THEN
        CREATE ROLE greenlight_app LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- created meanwhile by a migration of another database on the same server
END $$;
ALTER ROLE greenlight_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

GRANT USAGE ON SCHEMA public TO greenlight_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO greenlight_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO greenlight_app;
-- Tables and sequences that later migrations create get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO greenlight_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO greenlight_app;

-- The audit log: read, and append through the function only.
REVOKE ALL ON audit_log FROM PUBLIC, greenlight_app;
GRANT SELECT ON audit_log TO greenlight_app;
REVOKE ALL ON SEQUENCE audit_log_id_seq FROM PUBLIC, greenlight_app;
REVOKE ALL ON schema_migrations FROM PUBLIC, greenlight_app;
GRANT SELECT ON schema_migrations TO greenlight_app;

ALTER FUNCTION audit_append(TEXT, TEXT, BIGINT, JSONB)
    SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp;
REVOKE ALL ON FUNCTION audit_append(TEXT, TEXT, BIGINT, JSONB) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_append(TEXT, TEXT, BIGINT, JSONB) TO greenlight_app;
