-- The last finished scan (the API's summary and its ETag) as one index probe.
CREATE INDEX scans_finished ON scans (finished_at DESC) WHERE status = 'finished';
