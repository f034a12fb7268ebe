-- Every worker with a database says how its parts are (a consumer loop backing off, a
-- circuit open, a task restarting) in worker_status, which /readyz reads: the notifier
-- too, which until now could not touch the table.
GRANT SELECT, INSERT, UPDATE, DELETE ON worker_status TO autonama_notifiers;
