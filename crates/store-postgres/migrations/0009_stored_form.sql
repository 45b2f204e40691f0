-- Message documents become bytes: the stored form (`switchboard_core::store::form`), a
-- version byte and a protobuf record, which reads without parsing JSON. Documents written
-- before stay JSON text, as its UTF-8 bytes (first byte `{`), and read as they did; each
-- takes the new form when it is next rewritten, or through `switchboard upgrade-documents`.
ALTER TABLE messages ALTER COLUMN doc TYPE BYTEA USING convert_to(doc::text, 'UTF8');
