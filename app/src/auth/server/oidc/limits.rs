//! Bounds on starting a flow (VAL-06). Each start fetches the provider's discovery document
//! and stores a pending authorization request, so a client address may start only a few a
//! minute, and pending requests are capped per address and in total. A request expires
//! after ten minutes; expired ones are purged at the next start.

use super::OidcError;
use crate::{
    auth::server::{session::Requester, throttle::client_prefix},
    db::Db,
};
use sqlx::Row as _;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

/// The longest `next` a start accepts; longer ones are refused before any other work.
pub const MAX_NEXT_BYTES: usize = 2048;
const WINDOW_MS: i64 = 60_000;
/// Addresses one window tracks; when it is full, addresses it has not seen wait for the
/// next window (memory stays flat under a flood of addresses).
pub const MAX_ADDRESSES: usize = 10_000;

/// How many flows may start.
#[derive(Clone, Copy, Debug)]
pub struct StartLimits {
    /// Starts a client address (an IPv6 client by its /64) may make per minute.
    pub per_address_per_minute: u32,
    /// Pending authorization requests of one client address.
    pub pending_per_address: i64,
    /// Pending authorization requests of everyone together.
    pub pending_total: i64,
}

impl Default for StartLimits {
    fn default() -> Self {
        StartLimits {
            per_address_per_minute: 10,
            pending_per_address: 20,
            pending_total: 10_000,
        }
    }
}

/// Starts per client address in fixed one-minute windows.
#[derive(Debug, Default)]
pub struct StartLimiter {
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    started_ms: i64,
    /// Starts per client prefix; requests without a known address share one count.
    starts: HashMap<Option<IpAddr>, u32>,
}

impl StartLimiter {
    /// Counts a start from `ip`, or answers how many seconds until it may start again.
    pub fn admit(&self, ip: Option<IpAddr>, per_minute: u32, now_ms: i64) -> Result<(), u64> {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if now_ms - window.started_ms >= WINDOW_MS {
            window.starts.clear();
            window.started_ms = now_ms;
        }
        let retry_after_secs =
            u64::try_from((window.started_ms + WINDOW_MS - now_ms) / 1_000).unwrap_or_default() + 1;
        let key = ip.map(client_prefix);
        if window.starts.len() >= MAX_ADDRESSES && !window.starts.contains_key(&key) {
            return Err(retry_after_secs);
        }
        let starts = window.starts.entry(key).or_default();
        if *starts >= per_minute {
            return Err(retry_after_secs);
        }
        *starts += 1;
        Ok(())
    }

    /// Addresses counted in the current window.
    pub fn tracked(&self) -> usize {
        self.window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .starts
            .len()
    }
}

/// The client address as pending requests are counted by (an IPv6 client by its /64).
pub(super) fn address_text(requester: &Requester) -> Option<String> {
    requester.ip.map(|ip| client_prefix(ip).to_string())
}

/// The answer when the pending requests are at their cap.
pub(super) fn full() -> OidcError {
    OidcError::Busy {
        retry_after_secs: 60,
    }
}

pub(super) async fn purge_expired(db: &Db, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM oidc_login_requests WHERE expires_at < $1")
        .bind(now)
        .execute(db.pool())
        .await
        .map(|_| ())
}

/// A cheap check before the provider is contacted; [`insert_within_caps`] is the one that
/// holds under a race.
pub(super) async fn room_for_one_more(
    db: &Db,
    limits: &StartLimits,
    address: Option<&str>,
) -> Result<bool, sqlx::Error> {
    // Both caps, as in the insert below; an unknown address is capped by the total only.
    let row = sqlx::query(
        "SELECT CASE WHEN (SELECT COUNT(*) FROM oidc_login_requests) < $1 \
         AND (SELECT COUNT(*) FROM oidc_login_requests WHERE ip_address = $2) < $3 \
         THEN 1 ELSE 0 END AS room",
    )
    .bind(limits.pending_total)
    .bind(address)
    .bind(limits.pending_per_address)
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get::<i64, _>("room")? == 1)
}

/// A pending authorization request.
pub(super) struct NewRequest<'a> {
    pub state_hash: String,
    pub provider_id: &'a str,
    pub nonce: &'a str,
    pub sealed_verifier: &'a str,
    pub link_user_id: Option<&'a str>,
    pub return_to: &'a str,
    pub address: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores `request` if both caps still leave room; false when they do not.
pub(super) async fn insert_within_caps(
    db: &Db,
    limits: &StartLimits,
    request: &NewRequest<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO oidc_login_requests (state_hash, provider_id, nonce, pkce_verifier, \
         link_user_id, return_to, ip_address, created_at, expires_at) \
         SELECT $4, $5, $6, $7, $8, $9, $2, $10, $11 \
         WHERE (SELECT COUNT(*) FROM oidc_login_requests) < $1 \
         AND (SELECT COUNT(*) FROM oidc_login_requests WHERE ip_address = $2) < $3",
    )
    .bind(limits.pending_total)
    .bind(request.address)
    .bind(limits.pending_per_address)
    .bind(&request.state_hash)
    .bind(request.provider_id)
    .bind(request.nonce)
    .bind(request.sealed_verifier)
    .bind(request.link_user_id)
    .bind(request.return_to)
    .bind(request.created_at)
    .bind(request.expires_at)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
