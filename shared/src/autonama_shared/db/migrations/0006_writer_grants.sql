-- The writers' group (autonama_writers, whose LOGIN member the ingestor and the
-- fetcher use; deploy/postgres/roles.sql) reads and writes rows of this schema,
-- and nothing more: no CREATE, DROP, ALTER or TRUNCATE. Tables and sequences
-- that later migrations create get the same grants.
DO $$
BEGIN
    BEGIN
        CREATE ROLE autonama_writers NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN
        NULL;  -- created by deploy/postgres/roles.sql, another schema, or concurrently
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO autonama_writers', current_schema());
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO autonama_writers',
        current_schema());
    EXECUTE format(
        'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO autonama_writers',
        current_schema());
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO autonama_writers',
        current_schema());
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
        'GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO autonama_writers',
        current_schema());
END
$$;
