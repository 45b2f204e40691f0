-- What each delivery attempt sent and got back (the request's URL, headers and body, the
-- plaintext before encryption, the receiver's answer), as the deliverer recorded it: a JSON
-- text the domain keeps without reading. NULL for attempts made before this migration.
-- Same numbering as the PostgreSQL store's 0007_attempt_wire.sql.
ALTER TABLE delivery_attempts ADD COLUMN wire TEXT;
