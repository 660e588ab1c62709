//! Admin settings: on/off flags in the `app_settings` table, off until set.

use crate::db::Db;

/// Whether the flag `key` is on.
pub async fn flag(db: &Db, key: &str) -> Result<bool, sqlx::Error> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM app_settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(value.as_deref() == Some("true"))
}

/// Sets the flag `key`, inside the caller's transaction (which also audits the change).
pub async fn set_flag(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    on: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app_settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(if on { "true" } else { "false" })
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}
