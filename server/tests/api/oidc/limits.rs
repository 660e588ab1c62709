//! Bounds on starting sign-ins through a provider.

use super::{location, Federation, OPEN};
use crate::support::body_text;
use app::{
    auth::server::oidc::limits::{StartLimits, MAX_ADDRESSES},
    db::now_ms,
};
use axum::http::StatusCode;
use std::net::IpAddr;

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("address"))
}

fn went_to_provider(wukong: &Federation, response: &axum::response::Response) -> bool {
    response.status() == StatusCode::SEE_OTHER
        && location(response).starts_with(&format!("{}/authorize?", wukong.idp.issuer))
}

const BUSY: &str = "/login?error=oidc_busy";

/// VAL-06: an address may start ten sign-ins a minute (an IPv6 client counts by its /64);
/// beyond that the browser is sent to the login page with a clear message, and other
/// addresses are not affected. The limiter's memory is bounded under a flood of addresses.
#[tokio::test]
async fn starting_is_rate_limited_per_address() {
    let wukong = Federation::new(OPEN).await;
    let provider = &wukong.provider_id;
    for n in 0..10 {
        let peer = if n % 2 == 0 {
            "2001:db8::1"
        } else {
            "2001:db8::2"
        };
        let started = wukong.start_from(provider, ip(peer)).await;
        assert!(went_to_provider(&wukong, &started), "start {n}");
    }
    let busy = wukong.start_from(provider, ip("2001:db8::3")).await;
    assert_eq!(busy.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&busy), BUSY);
    let elsewhere = wukong.start_from(provider, ip("2001:db8:1::1")).await;
    assert!(went_to_provider(&wukong, &elsewhere));
    assert_eq!(
        wukong
            .count("SELECT COUNT(*) FROM oidc_login_requests")
            .await,
        11
    );

    let limiter = &wukong.client.auth.oidc.starts;
    let now = now_ms();
    for n in 0..(MAX_ADDRESSES as u32 + 500) {
        let _ = limiter.admit(Some(IpAddr::from(n.to_be_bytes())), 10, now);
    }
    assert_eq!(limiter.tracked(), MAX_ADDRESSES);
}

/// VAL-06: pending authorization requests are capped per address and in total; expired
/// ones are purged at the next start and no longer count.
#[tokio::test]
async fn pending_requests_are_capped_per_address_and_in_total_and_expire() {
    let mut wukong = Federation::new(OPEN).await;
    wukong.client.auth.oidc.limits = StartLimits {
        per_address_per_minute: 100,
        pending_per_address: 3,
        pending_total: 5,
    };
    let provider = wukong.provider_id.clone();
    let from = |peer: &'static str| {
        let wukong = &wukong;
        let provider = provider.clone();
        async move { wukong.start_from(&provider, ip(peer)).await }
    };
    for _ in 0..3 {
        assert!(went_to_provider(&wukong, &from("192.0.2.1").await));
    }
    assert_eq!(location(&from("192.0.2.1").await), BUSY, "per address");
    for _ in 0..2 {
        assert!(went_to_provider(&wukong, &from("192.0.2.2").await));
    }
    assert_eq!(location(&from("192.0.2.3").await), BUSY, "in total");
    let pending = "SELECT COUNT(*) FROM oidc_login_requests";
    assert_eq!(wukong.count(pending).await, 5);

    sqlx::query("UPDATE oidc_login_requests SET expires_at = $1")
        .bind(now_ms() - 1)
        .execute(wukong.client.test.db.pool())
        .await
        .expect("expire");
    assert!(went_to_provider(&wukong, &from("192.0.2.3").await));
    assert_eq!(wukong.count(pending).await, 1, "expired requests purged");
}

/// VAL-01, CSRF-05: a `next` longer than 2 KiB is refused with a clear 400 before anything
/// else: no provider lookup, no pending request, no count against the address.
#[tokio::test]
async fn a_next_longer_than_2_kib_is_refused_before_any_work() {
    let wukong = Federation::new(OPEN).await;
    let next = format!("%2F{}", "a".repeat(3 * 1024));
    let response = wukong
        .get(
            &format!("/auth/oidc/{}/start?next={next}", wukong.provider_id),
            &[],
            ip("192.0.2.9"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body_text(response).await,
        "The return address is too long: at most 2048 characters."
    );
    assert_eq!(
        wukong
            .count("SELECT COUNT(*) FROM oidc_login_requests")
            .await,
        0
    );
    assert_eq!(wukong.client.auth.oidc.starts.tracked(), 0);
}
