-- titan-push.lua: the push_notification driver that makes Dovecot 2.4 emit its
-- push_notification_finished event for every mail transaction (MessageNew,
-- MessageAppend, expunges, flag changes, mailbox create/delete/rename). The event is
-- what 30-titan-replication.conf exports to titan-replicator; this script itself sends
-- nothing and keeps no state. (The event needs a driver that wants these events; the
-- built-in `dlog` driver would do too, but it writes a debug line for each one.)
-- Installed by the snippet as /etc/dovecot/titan-push.lua; needs only dovecot-core.

function dovecot_lua_notify_begin_txn(user)
  return {}
end

local function changed(ctx, event)
end

dovecot_lua_notify_event_message_new = changed
dovecot_lua_notify_event_message_append = changed
dovecot_lua_notify_event_message_expunge = changed
dovecot_lua_notify_event_flags_set = changed
dovecot_lua_notify_event_flags_clear = changed
dovecot_lua_notify_event_mailbox_create = changed
dovecot_lua_notify_event_mailbox_delete = changed
dovecot_lua_notify_event_mailbox_rename = changed

function dovecot_lua_notify_end_txn(ctx, success)
end
