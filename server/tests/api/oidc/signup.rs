//! Who may sign up through a provider.

use super::{cookie_set, location, Federation, Person, CLOSED, OPEN};
use crate::support::{body_text, cookie_pair, set_cookie, EMAIL, ORIGIN, PASSWORD};
use app::auth::types::{oidc_error_message, OidcProviders};
use axum::http::StatusCode;
use serde_json::json;

async fn has_account(wukong: &Federation, email: &str) -> bool {
    sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(wukong.client.test.db.pool())
        .await
        .expect("query")
        .is_some()
}

/// A first sign-in that got an account: sent to the new personal project, signed in.
fn signed_up(response: &axum::response::Response) -> bool {
    location(response).starts_with("/projects/") && cookie_set(response, "wukong_session").is_some()
}

/// OIDC-09, LOG-01: a provider added without "new users allowed" (the default) refuses to
/// create accounts, with a clear message and an audit record, yet identities already
/// linked to an account keep signing in through it.
#[tokio::test]
async fn a_provider_closed_to_new_users_refuses_first_sign_ins_but_not_linked_users() {
    let wukong = Federation::new(CLOSED).await;
    let listed = wukong
        .client
        .post("admin/oidc", "", Some(ORIGIN), Some(&wukong.admin))
        .await;
    let listed: OidcProviders = serde_json::from_str(&body_text(listed).await).expect("list");
    assert!(!listed.providers[0].allow_new_users, "closed by default");

    let refused = wukong.sign_in(&Person::new("erin", "erin@corp.test")).await;
    assert_eq!(location(&refused), "/login?error=oidc_signup_closed");
    assert_eq!(cookie_set(&refused, "wukong_session"), None);
    assert!(!has_account(&wukong, "erin@corp.test").await);
    assert_eq!(
        wukong.client.audit_reasons("oidc_signup_refused").await,
        vec![r#"{"reason":"new_users_not_allowed"}"#]
    );
    assert!(oidc_error_message("oidc_signup_closed").contains("does not create new"));

    let ada = cookie_pair(&set_cookie(
        &wukong.client.login(EMAIL, PASSWORD, None).await,
    ));
    let work = Person::new("ada-at-corp", "ada@corp.test");
    let linked = wukong
        .link(
            &ada,
            &wukong.provider_id,
            "password=correct+horse+battery",
            &work,
        )
        .await;
    assert_eq!(location(&linked), "/account?linked=1");
    let back = wukong.sign_in(&work).await;
    assert!(
        cookie_set(&back, "wukong_session").is_some(),
        "{}",
        location(&back)
    );

    wukong.set_sign_up(OPEN).await;
    assert!(signed_up(
        &wukong.sign_in(&Person::new("erin", "erin@corp.test")).await
    ));
    wukong.set_sign_up(CLOSED).await;
    let erin_again = wukong.sign_in(&Person::new("erin", "erin@corp.test")).await;
    assert!(cookie_set(&erin_again, "wukong_session").is_some());
}

/// LOG-01: an allowed-domain list admits only emails in those domains (exactly, not their
/// subdomains); the admin form refuses what is not a domain.
#[tokio::test]
async fn an_allowed_domain_list_limits_who_signs_up() {
    let wukong = Federation::new(OPEN).await;
    let bad = wukong
        .save_provider(
            "Corp",
            &format!(
                "id={}&{OPEN}&allowed_email_domains=corp.test%2C+evil.test%2Fx",
                wukong.provider_id
            ),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body_text(bad).await.contains("allowed_email_domains"));
    wukong
        .set_sign_up("allow_new_users=on&allowed_email_domains=Corp.test%2C+%40example.org")
        .await;

    for email in [
        "frank@other.test",
        "frank@sub.corp.test",
        "frank@corp.test.evil",
    ] {
        let refused = wukong.sign_in(&Person::new(email, email)).await;
        assert_eq!(
            location(&refused),
            "/login?error=oidc_signup_domain",
            "{email}"
        );
        assert!(!has_account(&wukong, email).await);
    }
    assert_eq!(
        wukong.client.audit_reasons("oidc_signup_refused").await,
        vec![r#"{"reason":"email_domain_not_allowed"}"#; 3]
    );
    for email in ["gina@corp.test", "hal@example.org"] {
        assert!(
            signed_up(&wukong.sign_in(&Person::new(email, email)).await),
            "{email}"
        );
    }
}

/// OIDC-10, LOG-01: a required claim admits identities whose claim is the value, or a list
/// holding it, read from the ID token or else from userinfo (whose `sub` must match).
#[tokio::test]
async fn a_required_claim_admits_a_string_or_a_list_holding_the_value() {
    let wukong = Federation::new(OPEN).await;
    let half = wukong
        .save_provider(
            "Corp",
            &format!("id={}&{OPEN}&required_claim=groups", wukong.provider_id),
        )
        .await;
    assert_eq!(half.status(), StatusCode::UNPROCESSABLE_ENTITY);
    wukong
        .set_sign_up("allow_new_users=on&required_claim=groups&required_claim_value=wukong")
        .await;

    let refused = [
        Person::new("ivy", "ivy@corp.test"),
        Person::new("jo", "jo@corp.test").with_id_token_claim("groups", json!(["wukong-admins"])),
        Person::new("kai", "kai@corp.test").with_id_token_claim("groups", json!("wukongs")),
        Person::new("lee", "lee@corp.test").with_userinfo_claim("groups", json!({"wukong": 1})),
    ];
    for person in &refused {
        let response = wukong.sign_in(person).await;
        assert_eq!(
            location(&response),
            "/login?error=oidc_signup_claim",
            "{}",
            person.subject
        );
        assert!(!has_account(&wukong, &person.email).await);
    }
    assert_eq!(
        wukong.client.audit_reasons("oidc_signup_refused").await,
        vec![r#"{"reason":"required_claim_missing"}"#; 4]
    );

    let mut impostor =
        Person::new("max", "max@corp.test").with_userinfo_claim("groups", json!("wukong"));
    impostor.userinfo_subject = Some("someone-else".to_owned());
    let response = wukong.sign_in(&impostor).await;
    assert_eq!(location(&response), "/login?error=oidc_failed");
    assert!(!has_account(&wukong, "max@corp.test").await);

    let admitted = [
        Person::new("nia", "nia@corp.test").with_id_token_claim("groups", json!("wukong")),
        Person::new("oz", "oz@corp.test").with_id_token_claim("groups", json!(["ops", "wukong"])),
        Person::new("pia", "pia@corp.test").with_userinfo_claim("groups", json!(["wukong"])),
    ];
    for person in &admitted {
        assert!(
            signed_up(&wukong.sign_in(person).await),
            "{}",
            person.subject
        );
    }
}

/// OIDC-09, LOG-01: an email is one account across providers. A first sign-in through a
/// second provider with an email an account already has is refused with the hint to link
/// it from that account, which is the only way in.
#[tokio::test]
async fn a_second_provider_with_the_same_email_is_refused_with_the_link_hint() {
    let wukong = Federation::new(OPEN).await;
    let other = wukong.add_provider("Other", OPEN).await;
    let first = wukong
        .sign_in(&Person::new("quinn", "quinn@corp.test"))
        .await;
    assert!(signed_up(&first));

    let second = wukong
        .sign_in_through(&other, &Person::new("quinn-elsewhere", "quinn@corp.test"))
        .await;
    assert_eq!(location(&second), "/login?error=oidc_email_taken");
    assert_eq!(cookie_set(&second, "wukong_session"), None);
    assert!(
        oidc_error_message("oidc_email_taken").contains("link the provider on your account page")
    );
    let local = wukong
        .sign_in_through(&other, &Person::new("ada-elsewhere", EMAIL))
        .await;
    assert_eq!(location(&local), "/login?error=oidc_email_taken");
    assert_eq!(
        wukong.client.audit_reasons("oidc_signup_refused").await,
        vec![r#"{"reason":"email_taken"}"#; 2]
    );
    assert_eq!(
        wukong
            .count("SELECT COUNT(*) FROM user_oidc_identities")
            .await,
        1
    );
}
