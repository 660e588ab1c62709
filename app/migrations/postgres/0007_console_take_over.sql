-- A console ticket may close another user's console of the same VM (an explicit take-over).
ALTER TABLE console_tickets ADD COLUMN take_over BIGINT NOT NULL DEFAULT 0 CHECK (take_over IN (0, 1));
-- Tickets are purged by expiry on every issue, and end with their user's account.
CREATE INDEX console_tickets_expires_idx ON console_tickets (expires_at);
CREATE INDEX console_tickets_user_idx ON console_tickets (user_id);
