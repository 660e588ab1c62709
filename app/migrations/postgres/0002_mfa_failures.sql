-- Wrong second-factor answers are counted apart from wrong passwords: knowing the password
-- must not reset the count that protects the second factor.
ALTER TABLE users ADD COLUMN mfa_failed_count BIGINT NOT NULL DEFAULT 0 CHECK (mfa_failed_count >= 0);
