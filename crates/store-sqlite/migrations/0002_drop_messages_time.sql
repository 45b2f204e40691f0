-- A chat's timestamps never decrease along its positions (every append takes
-- MAX(last_created_at, now)), so a time range is a position range, found by binary search
-- over primary-key reads. The (chat_id, created_at) index cost a B-tree insert and a WAL
-- page on every message written.
DROP INDEX IF EXISTS messages_time;
