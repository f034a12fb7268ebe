-- Autonama's login roles, least privilege (psql, idempotent; run by the cluster's
-- owner: deploy/local/postgres.sh, docker-compose's init script, the tests):
--
--   the owner (the cluster user that creates the database)  runs the migrations
--   autonama_writer  LOGIN, in autonama_writers: reads and writes rows (ingestor,
--                    the fetcher's schedule claims); cannot create or drop anything
--   autonama_api     LOGIN, in autonama_reader: SELECT only; and in
--                    autonama_subscriptions, which writes the subscriptions and
--                    queues test deliveries, nothing else; no membership that would
--                    let it SET ROLE to a writer or the owner
--
-- The migrations grant the two groups their privileges on each schema.
-- Variables: writer_password, api_password (empty: no password, for trust auth).
\set ON_ERROR_STOP on
SELECT 'CREATE ROLE autonama_reader NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_reader') \gexec
SELECT 'CREATE ROLE autonama_writers NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_writers') \gexec
SELECT 'CREATE ROLE autonama_writer LOGIN NOINHERIT'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_writer') \gexec
SELECT 'CREATE ROLE autonama_api LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_api') \gexec
SELECT 'CREATE ROLE autonama_subscriptions NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_subscriptions') \gexec
ALTER ROLE autonama_writer INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER ROLE autonama_api INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
GRANT autonama_writers TO autonama_writer;
GRANT autonama_reader TO autonama_api;
GRANT autonama_subscriptions TO autonama_api;
SELECT format('ALTER ROLE autonama_writer PASSWORD %L', nullif(:'writer_password', '')) \gexec
SELECT format('ALTER ROLE autonama_api PASSWORD %L', nullif(:'api_password', '')) \gexec
