-- Switchboard schema, version 3: heads of lines, so that a lease looks only at deliveries
-- that can be leased.
--
-- A line is (app_id, dialect, chat_id). In each line exactly the lowest-id 'pending'
-- delivery has head = true; every other row has head = false (retrying, delivered and
-- failed ones never are). The writes keep it so in their transactions: routing (a new
-- delivery is head iff its line has no pending one yet), an attempt's record (a head that
-- leaves 'pending' hands head to the next pending of its line), a redelivery (a
-- never-attempted delivery stays pending and keeps its flag; any other becomes retrying,
-- not head), dropping a subscription (its lines lose every open delivery).
ALTER TABLE deliveries ADD COLUMN head BOOLEAN NOT NULL DEFAULT false;
UPDATE deliveries SET head = true
WHERE id IN (SELECT min(id) FROM deliveries WHERE status = 'pending' GROUP BY app_id, dialect, chat_id);

-- Lease candidates only (each line's head, and retrying deliveries), oldest due first. It
-- replaces deliveries_due, which held every open delivery.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_ready ON deliveries(mode, next_attempt_at, id)
    WHERE head OR status = 'retrying';
-- A line's head: at most one (the database refuses a second), and "is a pending delivery
-- below this retrying one" in one probe.
CREATE UNIQUE INDEX deliveries_head ON deliveries(app_id, dialect, chat_id) WHERE head;
-- Leased deliveries only (a handful): "is another delivery of this line leased" in one
-- probe, whatever the line's backlog.
CREATE INDEX deliveries_leased ON deliveries(app_id, dialect, chat_id, lease_until)
    WHERE lease_owner IS NOT NULL;
