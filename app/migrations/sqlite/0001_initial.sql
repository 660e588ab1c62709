-- Wukong data model, SQLite flavour. Keep in step with ../postgres/0001_initial.sql:
-- same tables, columns, keys and checks; only the type names differ.
-- Ids are UUID strings, timestamps are unix milliseconds, flags are integers 0/1
-- (sqlx's Any driver cannot read SQLite BOOLEAN columns, and 0/1 means the same on both).

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    password_hash TEXT,
    global_role TEXT NOT NULL DEFAULT 'user' CHECK (global_role IN ('admin', 'user')),
    must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    is_disabled INTEGER NOT NULL DEFAULT 0 CHECK (is_disabled IN (0, 1)),
    failed_login_count INTEGER NOT NULL DEFAULT 0 CHECK (failed_login_count >= 0),
    locked_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    namespace TEXT NOT NULL,
    is_personal INTEGER NOT NULL DEFAULT 0 CHECK (is_personal IN (0, 1)),
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX projects_slug_key ON projects (slug);
CREATE UNIQUE INDEX projects_namespace_key ON projects (namespace);

CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_idx ON project_members (user_id);

CREATE TABLE quota_templates (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    vcpus INTEGER NOT NULL CHECK (vcpus >= 0),
    memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),
    disk_gib INTEGER NOT NULL CHECK (disk_gib >= 0),
    vm_count INTEGER NOT NULL CHECK (vm_count >= 0),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX quota_templates_name_key ON quota_templates (name);

CREATE TABLE resource_quotas (
    project_id TEXT PRIMARY KEY NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    template_id TEXT REFERENCES quota_templates (id) ON DELETE SET NULL,
    vcpus INTEGER NOT NULL CHECK (vcpus >= 0),
    memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),
    disk_gib INTEGER NOT NULL CHECK (disk_gib >= 0),
    vm_count INTEGER NOT NULL CHECK (vm_count >= 0),
    updated_at INTEGER NOT NULL
);

-- Usage is what the project holds; the checks make an overcommitting update fail
-- instead of silently going negative when a release races a reconcile.
CREATE TABLE resource_usage (
    project_id TEXT PRIMARY KEY NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    vcpus INTEGER NOT NULL DEFAULT 0 CHECK (vcpus >= 0),
    memory_mib INTEGER NOT NULL DEFAULT 0 CHECK (memory_mib >= 0),
    disk_gib INTEGER NOT NULL DEFAULT 0 CHECK (disk_gib >= 0),
    vm_count INTEGER NOT NULL DEFAULT 0 CHECK (vm_count >= 0),
    reconciled_at INTEGER,
    updated_at INTEGER NOT NULL
);

-- One row per VM whose resources are counted in resource_usage, so a failed create or a
-- delete releases exactly what was reserved.
CREATE TABLE vm_reservations (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    vm_name TEXT NOT NULL,
    vcpus INTEGER NOT NULL CHECK (vcpus >= 0),
    memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),
    disk_gib INTEGER NOT NULL CHECK (disk_gib >= 0),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, vm_name)
);

-- The cookie carries a random token; only its SHA-256 is stored, so a database leak
-- does not hand out live sessions.
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('mfa_pending', 'active')),
    ip_address TEXT,
    user_agent TEXT,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT
);
CREATE UNIQUE INDEX user_sessions_token_hash_key ON user_sessions (token_hash);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

CREATE TABLE user_mfa_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    totp_secret_enc TEXT NOT NULL,
    is_enabled INTEGER NOT NULL DEFAULT 0 CHECK (is_enabled IN (0, 1)),
    last_used_step INTEGER,
    enabled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE mfa_backup_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX mfa_backup_codes_user_idx ON mfa_backup_codes (user_id);

CREATE TABLE oidc_providers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    issuer_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret_enc TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT 'openid email profile',
    is_enabled INTEGER NOT NULL DEFAULT 1 CHECK (is_enabled IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX oidc_providers_name_key ON oidc_providers (name);

-- An external identity is (issuer, subject), never an email address.
CREATE TABLE user_oidc_identities (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT REFERENCES oidc_providers (id) ON DELETE SET NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    created_at INTEGER NOT NULL,
    last_login_at INTEGER
);
CREATE UNIQUE INDEX user_oidc_identities_issuer_subject_key ON user_oidc_identities (issuer, subject);
CREATE INDEX user_oidc_identities_user_idx ON user_oidc_identities (user_id);

-- Authorization requests in flight (state, nonce, PKCE verifier), consumed by the callback.
CREATE TABLE oidc_login_requests (
    state_hash TEXT PRIMARY KEY NOT NULL,
    provider_id TEXT NOT NULL REFERENCES oidc_providers (id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    link_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    return_to TEXT NOT NULL DEFAULT '/',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Single-use, short-lived tickets that authorize one console WebSocket.
CREATE TABLE console_tickets (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    vm_name TEXT NOT NULL,
    console_kind TEXT NOT NULL CHECK (console_kind IN ('vnc', 'serial')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE app_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The audit log has no foreign keys on purpose: records must outlive the users, projects
-- and sessions they mention. Triggers make it append-only for the application.
CREATE TABLE audit_logs (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at INTEGER NOT NULL,
    actor_user_id TEXT,
    actor_email TEXT,
    ip_address TEXT,
    user_agent TEXT,
    event_type TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    project_id TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    severity TEXT NOT NULL CHECK (severity IN ('info', 'notice', 'warning', 'critical')),
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_logs_occurred_idx ON audit_logs (occurred_at);
CREATE INDEX audit_logs_project_idx ON audit_logs (project_id, occurred_at);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_user_id, occurred_at);

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only');
END;

CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only');
END;
