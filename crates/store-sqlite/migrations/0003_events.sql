-- The event outbox: changes recorded by the writes that cause them, subscriptions,
-- deliveries and their attempts.

-- A change waits here until it is routed into deliveries (then it is deleted).
-- AUTOINCREMENT: a seq is never reused once its change is routed and gone, so a
-- delivery's seq names one change for good.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL,
    chat_id     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    body        BLOB    NOT NULL, -- ChangeBody::encode()
    lease_owner TEXT,
    lease_until INTEGER
);
-- Only leased changes are in it: "does another owner hold a live lease" is a short scan.
CREATE INDEX changes_leased ON changes(lease_until) WHERE lease_owner IS NOT NULL;

CREATE TABLE subscriptions (
    app_id             INTEGER NOT NULL,
    dialect            TEXT    NOT NULL,
    tenant_id          INTEGER NOT NULL,
    mode               TEXT    NOT NULL,
    url                TEXT    NOT NULL,
    encrypt_key        TEXT    NOT NULL,
    verification_token TEXT    NOT NULL,
    event_types        TEXT    NOT NULL, -- JSON array of strings
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (app_id, dialect)
) WITHOUT ROWID;
CREATE INDEX subscriptions_tenant ON subscriptions(tenant_id, app_id, dialect);

-- AUTOINCREMENT: ids increase in routing order and are never reused (pages of the
-- deliveries API and the per-chat order rule compare them).
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    tenant_id       INTEGER NOT NULL,
    app_id          INTEGER NOT NULL,
    dialect         TEXT    NOT NULL,
    mode            TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    chat_id         INTEGER NOT NULL,
    message_id      INTEGER,
    seq             INTEGER NOT NULL,
    body            BLOB    NOT NULL, -- ChangeBody::encode()
    status          TEXT    NOT NULL, -- pending | retrying | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,          -- NULL once delivered or failed
    lease_owner     TEXT,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL
);
-- Due lookups: only open deliveries are in it, oldest due first.
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'retrying');
-- The per-(app, dialect, chat) order check, and dropping a subscription's open
-- deliveries: only open ones (a leased delivery is open), so a chat's delivered history
-- is never scanned.
CREATE INDEX deliveries_order ON deliveries(app_id, dialect, chat_id, id) WHERE status IN ('pending', 'retrying');
-- The deliveries API: an app's deliveries, newest first.
CREATE INDEX deliveries_app ON deliveries(tenant_id, app_id, id);
-- Pruning finished deliveries by age.
CREATE INDEX deliveries_created ON deliveries(created_at);

CREATE TABLE delivery_attempts (
    delivery_id INTEGER NOT NULL,
    n           INTEGER NOT NULL, -- 1-based
    at          INTEGER NOT NULL,
    status      INTEGER,          -- HTTP status or ack code; NULL when nothing came back
    latency_ms  INTEGER NOT NULL,
    error       TEXT,             -- ErrorClass::as_str()
    PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;
