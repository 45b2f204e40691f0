-- Stored files and images (`files.rs`): the metadata row, and the bytes beside it in
-- chunks of at most 1 MiB, each written by a short job of its own so that a large upload
-- never holds the single writer for long. The row is written last, in the job after the
-- final chunk: a file without its row is invisible, and its chunks are swept at the next
-- open.
CREATE TABLE files (
    key TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    purpose TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    uploader_kind TEXT NOT NULL,
    uploader_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    chunks INTEGER NOT NULL
);
CREATE INDEX files_tenant ON files(tenant_id, created_at);
CREATE TABLE file_chunks (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (key, seq)
);
