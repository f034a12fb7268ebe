-- A subscription's filter gains "confirmed" (notify/subscriptions.py): the alerts that
-- repeat a key's signal at a newer close, which a key outside its bands raises every
-- close (two thirds of a live market's alerts, and of its deliveries). New subscriptions
-- leave them out unless asked; the ones made before keep receiving them, as they did.
UPDATE subscriptions SET filter = filter || '{"confirmed": true}'::jsonb
WHERE NOT filter ? 'confirmed';
