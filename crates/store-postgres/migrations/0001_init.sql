-- Switchboard schema, version 1. Same numbering and shape as the SQLite store's
-- migrations; every id and every time is a BIGINT (times are Unix milliseconds).
--
-- Written so that a Citus-style deployment can distribute `chats`, `chat_members` and
-- `messages` by chat id (colocated): every statement on those tables names the chat.

CREATE TABLE tenants (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
    user_id     TEXT   NOT NULL,
    account_id  TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    -- The constraint names are how the store tells which name was taken.
    CONSTRAINT users_user_id_key UNIQUE (tenant_id, user_id),
    CONSTRAINT users_account_id_key UNIQUE (tenant_id, account_id)
);

CREATE TABLE apps (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        BIGINT  NOT NULL REFERENCES tenants(id),
    app_id           TEXT    NOT NULL,
    app_secret       TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    bot_enabled      BOOLEAN NOT NULL,
    signing_required BOOLEAN NOT NULL,
    scopes           JSON    NOT NULL, -- JSON array of strings
    created_at       BIGINT  NOT NULL,
    CONSTRAINT apps_app_id_key UNIQUE (app_id)
);
CREATE INDEX apps_tenant ON apps(tenant_id, id);

-- Chat ids come from a sequence, which never hands a value out twice (not even after a
-- rollback), because message ids embed them. MAXVALUE is MAX_CHAT_ID: past it nextval
-- fails instead of producing an id a message id cannot carry.
CREATE SEQUENCE chat_ids AS BIGINT MINVALUE 1 MAXVALUE 2147483647 NO CYCLE;

CREATE TABLE chats (
    id              BIGINT PRIMARY KEY DEFAULT nextval('chat_ids')
                    CHECK (id BETWEEN 1 AND 2147483647),
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id),
    kind            TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    owner_kind      TEXT   NOT NULL,
    owner_id        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    dissolved_at    BIGINT,
    -- Timeline counters. Appends take the row lock by updating them, which serialises the
    -- writers of one chat across every process sharing the database.
    last_position   BIGINT NOT NULL DEFAULT 0,
    last_child      BIGINT NOT NULL DEFAULT 0,
    last_created_at BIGINT NOT NULL DEFAULT 0,
    p2p_key         TEXT, -- "tenant:kind:id|kind:id", sorted; NULL for groups
    CONSTRAINT chats_p2p_key UNIQUE (p2p_key)
);
ALTER SEQUENCE chat_ids OWNED BY chats.id;
CREATE INDEX chats_tenant ON chats(tenant_id, id);

CREATE TABLE chat_members (
    chat_id     BIGINT NOT NULL REFERENCES chats(id),
    member_kind TEXT   NOT NULL,
    member_id   BIGINT NOT NULL,
    role        TEXT   NOT NULL,
    joined_at   BIGINT NOT NULL,
    PRIMARY KEY (chat_id, member_kind, member_id)
);

-- id = chat << 32 | position (or | 1 << 31 | child seq). The chat leads the primary key so
-- a get-by-id routes to one shard, and (chat_id, id) order is the timeline order.
-- `doc` is JSON rather than JSONB: it keeps the text exactly as written, including
-- escapes JSONB refuses (\u0000).
CREATE TABLE messages (
    chat_id     BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    upper_id    BIGINT,
    doc         JSON   NOT NULL, -- the whole message
    PRIMARY KEY (chat_id, id)
);
CREATE INDEX messages_time ON messages(chat_id, created_at);
CREATE INDEX messages_upper ON messages(chat_id, upper_id) WHERE upper_id IS NOT NULL;

CREATE TABLE idempotency (
    sender_kind   TEXT   NOT NULL,
    sender_id     BIGINT NOT NULL,
    client_msg_id TEXT   NOT NULL,
    message_id    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (sender_kind, sender_id, client_msg_id)
);

-- Replay protection, shared by every node. Expired rows are dead weight only: a lookup
-- treats them as absent, and the store deletes them opportunistically.
CREATE TABLE nonces (
    scope       TEXT   NOT NULL,
    nonce       TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, nonce)
);
CREATE INDEX nonces_expiry ON nonces(expires_at);
