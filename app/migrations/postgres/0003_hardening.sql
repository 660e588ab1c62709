-- How each session was signed in, so that a fresh sign-in through an identity provider can
-- stand in for the password of an account that has none (only through a provider linked to
-- that account).
ALTER TABLE user_sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password' CHECK (auth_method IN ('password', 'oidc'));
ALTER TABLE user_sessions ADD COLUMN auth_provider_id TEXT;
-- Open sockets learn of ended sessions by polling for the recently ended ones.
CREATE INDEX user_sessions_ended_idx ON user_sessions (ended_at);

-- Who may sign up through a provider. Providers added from now on start closed; those that
-- existed before keep letting new users in, as they did.
ALTER TABLE oidc_providers ADD COLUMN allow_new_users BIGINT NOT NULL DEFAULT 0 CHECK (allow_new_users IN (0, 1));
UPDATE oidc_providers SET allow_new_users = 1;
ALTER TABLE oidc_providers ADD COLUMN allowed_email_domains TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_providers ADD COLUMN required_claim TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_providers ADD COLUMN required_claim_value TEXT NOT NULL DEFAULT '';

-- Pending authorization requests are capped per client address.
ALTER TABLE oidc_login_requests ADD COLUMN ip_address TEXT;
CREATE INDEX oidc_login_requests_ip_idx ON oidc_login_requests (ip_address);
