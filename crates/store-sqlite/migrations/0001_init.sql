-- Switchboard schema, version 1. Same numbering as the PostgreSQL store's migrations.

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    user_id     TEXT    NOT NULL,
    account_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, user_id),
    UNIQUE (tenant_id, account_id)
);

CREATE TABLE apps (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
    app_id           TEXT    NOT NULL UNIQUE,
    app_secret       TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    bot_enabled      INTEGER NOT NULL,
    signing_required INTEGER NOT NULL,
    scopes           TEXT    NOT NULL, -- JSON array of strings
    created_at       INTEGER NOT NULL
);
CREATE INDEX apps_tenant ON apps(tenant_id, id);

-- AUTOINCREMENT: chat ids are never reused, because message ids embed them.
CREATE TABLE chats (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    kind            TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    owner_kind      TEXT    NOT NULL,
    owner_id        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    dissolved_at    INTEGER,
    last_position   INTEGER NOT NULL DEFAULT 0,
    last_child      INTEGER NOT NULL DEFAULT 0,
    last_created_at INTEGER NOT NULL DEFAULT 0,
    p2p_key         TEXT UNIQUE -- "tenant:kind:id|kind:id", sorted; NULL for groups
);
CREATE INDEX chats_tenant ON chats(tenant_id, id);

CREATE TABLE chat_members (
    chat_id     INTEGER NOT NULL REFERENCES chats(id),
    member_kind TEXT    NOT NULL,
    member_id   INTEGER NOT NULL,
    role        TEXT    NOT NULL,
    joined_at   INTEGER NOT NULL,
    PRIMARY KEY (chat_id, member_kind, member_id)
) WITHOUT ROWID;

-- id = chat << 32 | position (or | 1 << 31 | child seq): the rowid itself orders a chat's
-- timeline, so get-by-id and list-by-position are rowid lookups and range scans.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    upper_id    INTEGER,
    doc         TEXT    NOT NULL -- the whole message as JSON
);
CREATE INDEX messages_time ON messages(chat_id, created_at);
CREATE INDEX messages_upper ON messages(upper_id) WHERE upper_id IS NOT NULL;

CREATE TABLE idempotency (
    sender_kind   TEXT    NOT NULL,
    sender_id     INTEGER NOT NULL,
    client_msg_id TEXT    NOT NULL,
    message_id    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (sender_kind, sender_id, client_msg_id)
) WITHOUT ROWID;
