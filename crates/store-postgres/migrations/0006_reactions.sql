-- Reactions, pins and read marks (docs/reactions.md). Same numbering as the SQLite store's
-- 0007_reactions.sql. Every table carries its chat (a message's chat is `message_id >> 32`),
-- so that a deployment distributing tables by chat can place them beside their messages.

CREATE TABLE reactions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL,
    chat_id     BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    actor_kind  TEXT   NOT NULL,
    actor_id    BIGINT NOT NULL,
    emoji       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    -- One reaction of each type per actor and message.
    UNIQUE (message_id, actor_kind, actor_id, emoji)
);
-- A message's reactions in id order (the page order), filtered by type or not.
CREATE INDEX reactions_message ON reactions(message_id, id);

-- One pin per message.
CREATE TABLE pins (
    message_id  BIGINT PRIMARY KEY,
    chat_id     BIGINT NOT NULL,
    tenant_id   BIGINT NOT NULL,
    by_kind     TEXT   NOT NULL,
    by_id       BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
-- A chat's pins newest first (the page order).
CREATE INDEX pins_chat ON pins(chat_id, created_at DESC, message_id DESC);

-- How far each member of a chat has read (a mark only moves forward).
CREATE TABLE read_marks (
    chat_id     BIGINT NOT NULL,
    actor_kind  TEXT   NOT NULL,
    actor_id    BIGINT NOT NULL,
    position    BIGINT NOT NULL,
    read_at     BIGINT NOT NULL,
    PRIMARY KEY (chat_id, actor_kind, actor_id)
);
