-- Autonama's login roles, least privilege (psql, idempotent; run by the cluster's
-- owner: deploy/local/postgres.sh, docker-compose's init script, the tests):
--
--   the owner (the cluster user that creates the database)  runs the migrations
--   autonama_writer  LOGIN, in autonama_writers: reads and writes the market's rows
--                    (ingestor, fetcher); no tokens, subscriptions or deliveries;
--                    cannot create or drop anything
--   autonama_notifier LOGIN, in autonama_notifiers: the only one that reads the
--                    subscriptions' secrets and targets; moves deliveries on
--   autonama_api     LOGIN, in autonama_reader: SELECT only; and in
--                    autonama_subscriptions, which writes the subscriptions and
--                    queues test deliveries, nothing else; no membership that would
--                    let it SET ROLE to a writer or the owner
--
-- The migrations grant the two groups their privileges on each schema.
-- Variables: writer_password, api_password, notifier_password (empty: no password, which
-- no login can then use: the local cluster and docker-compose authenticate with
-- scram-sha-256).
\set ON_ERROR_STOP on
-- One run at a time (held until this session ends): two at once fail on the same roles
-- ("tuple concurrently updated", or a role created twice), as the tests' parallel runs did.
SELECT pg_advisory_lock(hashtext('autonama.roles')) \gset
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
SELECT 'CREATE ROLE autonama_notifiers NOLOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_notifiers') \gexec
SELECT 'CREATE ROLE autonama_notifier LOGIN NOINHERIT'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'autonama_notifier') \gexec
ALTER ROLE autonama_writer INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER ROLE autonama_api INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
ALTER ROLE autonama_notifier INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
GRANT autonama_notifiers TO autonama_notifier;
GRANT autonama_writers TO autonama_writer;
GRANT autonama_reader TO autonama_api;
GRANT autonama_subscriptions TO autonama_api;
SELECT format('ALTER ROLE autonama_writer PASSWORD %L', nullif(:'writer_password', '')) \gexec
SELECT format('ALTER ROLE autonama_api PASSWORD %L', nullif(:'api_password', '')) \gexec
SELECT format('ALTER ROLE autonama_notifier PASSWORD %L', nullif(:'notifier_password', ''))
\gexec
