-- Stored files and images (`files.rs`): one row holds the metadata and the bytes, so every
-- node serves every file, and a file is written (row and bytes) in one statement.
CREATE TABLE files (
    key            TEXT   PRIMARY KEY,
    tenant_id      BIGINT NOT NULL REFERENCES tenants(id),
    kind           TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    mime           TEXT   NOT NULL,
    purpose        TEXT   NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT   NOT NULL,
    uploader_kind  TEXT   NOT NULL,
    uploader_id    BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    data           BYTEA  NOT NULL
);
CREATE INDEX files_tenant ON files(tenant_id, created_at);
-- Images and office files are compressed already: store the bytes out of line without
-- trying to compress them again.
ALTER TABLE files ALTER COLUMN data SET STORAGE EXTERNAL;
