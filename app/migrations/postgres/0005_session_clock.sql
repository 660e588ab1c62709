-- Sessions also end by the clock, with no write: the revocation poller finds those whose
-- absolute or idle time ran out since its last look by range on these columns, instead of
-- reading every session that was never ended.
CREATE INDEX user_sessions_expires_idx ON user_sessions (expires_at);
CREATE INDEX user_sessions_last_seen_idx ON user_sessions (last_seen_at);
