-- A chat's description (Feishu's `description`, Yunxin's `intro`), and the index that lists
-- the chats a user or an app is a member of (`list_member_chats`) without a scan.
ALTER TABLE chats ADD COLUMN description TEXT NOT NULL DEFAULT '';
CREATE INDEX chat_members_member ON chat_members(member_kind, member_id, chat_id);
