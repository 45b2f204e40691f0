-- One row names the node that routes changes, and until when. Routing was leased row by row
-- (`changes.lease_owner`, `lease_until`): every change was updated once before its delete,
-- and each lease scanned the recently leased rows (dead by then) to see whether another node
-- held any, which under a steady send load cost the database milliseconds per lease. The
-- per-row columns stay, unused.
CREATE TABLE router_lease (
    id    INT    PRIMARY KEY CHECK (id = 1),
    owner TEXT   NOT NULL,
    until BIGINT NOT NULL
);
-- A lease live at the upgrade carries over.
INSERT INTO router_lease(id, owner, until)
SELECT 1, COALESCE(l.lease_owner, ''), COALESCE(l.lease_until, 0)
FROM (SELECT 1) one
LEFT JOIN LATERAL (SELECT lease_owner, lease_until FROM changes WHERE lease_owner IS NOT NULL
                   ORDER BY lease_until DESC LIMIT 1) l ON true;
DROP INDEX IF EXISTS changes_leased;
