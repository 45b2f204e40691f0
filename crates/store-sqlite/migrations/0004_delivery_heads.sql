-- Heads of lines: a lease looks only at deliveries that can be leased.
--
-- A line is (app_id, dialect, chat_id). In each line exactly the lowest-id 'pending'
-- delivery has head = 1; every other row has head = 0 (retrying, delivered and failed
-- ones never are). The writes keep it so in their transactions: routing (a new delivery
-- is head iff its line has no pending one yet), an attempt's record (a head that leaves
-- 'pending' hands head to the next pending of its line), a redelivery (a never-attempted
-- delivery stays pending and keeps its flag; any other becomes retrying, not head).
ALTER TABLE deliveries ADD COLUMN head INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET head = 1
WHERE id IN (SELECT min(id) FROM deliveries WHERE status = 'pending' GROUP BY app_id, dialect, chat_id);

-- Lease candidates only (each line's head, and retrying deliveries), oldest due first;
-- app_id lets the app filters run on the index alone. It replaces deliveries_due, which
-- held every open delivery.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_ready ON deliveries(mode, next_attempt_at, id, app_id)
    WHERE head = 1 OR status = 'retrying';
-- A line's head: at most one (the store refuses a second), and "is a pending delivery
-- below this retrying one" in one probe.
CREATE UNIQUE INDEX deliveries_head ON deliveries(app_id, dialect, chat_id) WHERE head = 1;
-- Leased deliveries only (a handful): "is another delivery of this line leased" in one
-- probe, whatever the line's backlog.
CREATE INDEX deliveries_leased ON deliveries(app_id, dialect, chat_id, lease_until)
    WHERE lease_owner IS NOT NULL;
