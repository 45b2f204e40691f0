-- Reactions, pins and read marks (docs/reactions.md). Same numbering as the PostgreSQL
-- store's 0006_reactions.sql.

-- AUTOINCREMENT: reaction ids are handed to clients and never reused.
CREATE TABLE reactions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER NOT NULL,
    emoji       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    -- One reaction of each type per actor and message.
    UNIQUE (message_id, actor_kind, actor_id, emoji)
);
-- A message's reactions in id order (the page order), filtered by type or not.
CREATE INDEX reactions_message ON reactions(message_id, id);

-- One pin per message.
CREATE TABLE pins (
    message_id  INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    tenant_id   INTEGER NOT NULL,
    by_kind     TEXT    NOT NULL,
    by_id       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
-- A chat's pins newest first (the page order).
CREATE INDEX pins_chat ON pins(chat_id, created_at, message_id);

-- How far each member of a chat has read (a mark only moves forward).
CREATE TABLE read_marks (
    chat_id     INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor_id    INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    read_at     INTEGER NOT NULL,
    PRIMARY KEY (chat_id, actor_kind, actor_id)
) WITHOUT ROWID;
