-- Switchboard schema, version 2: the event outbox. Changes are written by the writes that
-- cause them, in their transactions; the router swaps each for its deliveries; deliverers
-- lease deliveries and log their attempts. Times are Unix milliseconds of the callers'
-- clock (never the database's), as everywhere else.

-- The outbox. `seq` is taken while the write holds its chat's row lock, so within one chat
-- it follows the order of the writes. `body` is `ChangeBody` as JSON bytes (BYTEA rather
-- than JSONB, which refuses the \u0000 escape a message document may hold).
CREATE TABLE changes (
    seq         BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL,
    chat_id     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    body        BYTEA  NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
);
-- Whether another router holds a live lease: only leased rows are indexed.
CREATE INDEX changes_leased ON changes(lease_until) WHERE lease_owner IS NOT NULL;

CREATE TABLE subscriptions (
    app_id             BIGINT NOT NULL,
    dialect            TEXT   NOT NULL,
    tenant_id          BIGINT NOT NULL,
    mode               TEXT   NOT NULL, -- webhook | long_connection
    url                TEXT   NOT NULL,
    encrypt_key        TEXT   NOT NULL,
    verification_token TEXT   NOT NULL,
    event_types        TEXT[] NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    PRIMARY KEY (app_id, dialect)
);
CREATE INDEX subscriptions_tenant ON subscriptions(tenant_id, app_id, dialect);

-- `id` increases in routing order, which is change order within a chat.
CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_id        TEXT   NOT NULL,
    tenant_id       BIGINT NOT NULL,
    app_id          BIGINT NOT NULL,
    dialect         TEXT   NOT NULL,
    mode            TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    chat_id         BIGINT NOT NULL,
    message_id      BIGINT,
    seq             BIGINT NOT NULL,
    body            BYTEA  NOT NULL,
    status          TEXT   NOT NULL, -- pending | retrying | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    CONSTRAINT deliveries_event_id_key UNIQUE (event_id)
);
-- Due lookups: open deliveries only, oldest due first.
CREATE INDEX deliveries_due ON deliveries(mode, next_attempt_at, id)
    WHERE status IN ('pending', 'retrying');
-- Order checks within (app, dialect, chat), and a subscription's open deliveries.
CREATE INDEX deliveries_order ON deliveries(app_id, dialect, chat_id, id)
    WHERE status IN ('pending', 'retrying');
-- An app's log, newest first.
CREATE INDEX deliveries_list ON deliveries(tenant_id, app_id, id DESC);
-- Pruning finished deliveries by age.
CREATE INDEX deliveries_finished ON deliveries(created_at)
    WHERE status IN ('delivered', 'failed');

CREATE TABLE delivery_attempts (
    delivery   BIGINT  NOT NULL,
    n          INTEGER NOT NULL, -- 1-based
    at         BIGINT  NOT NULL,
    status     INTEGER,
    latency_ms BIGINT  NOT NULL,
    error      TEXT,
    PRIMARY KEY (delivery, n)
);
