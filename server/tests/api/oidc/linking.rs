//! Linking identity providers to an account, and unlinking them.

use super::{cookie_set, location, Federation, Person, CLOSED, OPEN};
use crate::{
    mfa::enrolled,
    support::{body_text, cookie_pair, create_user, form, set_cookie, EMAIL, ORIGIN, PASSWORD},
};
use axum::http::StatusCode;

fn password(password: &str) -> String {
    format!("password={}", form(password))
}

/// The `field` an `Invalid` answer names.
async fn refused_field(response: axum::response::Response) -> String {
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value =
        serde_json::from_str(&body_text(response).await).expect("error JSON");
    body["Invalid"]["field"]
        .as_str()
        .expect("an Invalid error")
        .to_owned()
}

/// SES-11, OIDC-09, CSRF-01, CSRF-02, LOG-01: linking is a POST from Wukong's own pages that
/// needs the password again; a wrong one is refused and audited, and starts nothing. The
/// old `GET …/link` route, which linked on a plain GET, is gone.
#[tokio::test]
async fn linking_is_a_post_that_needs_the_password() {
    let wukong = Federation::new(OPEN).await;
    let ada = cookie_pair(&set_cookie(
        &wukong.client.login(EMAIL, PASSWORD, None).await,
    ));
    let pending = "SELECT COUNT(*) FROM oidc_login_requests";

    let get = wukong
        .get(
            &format!("/auth/oidc/{}/link", wukong.provider_id),
            &[&ada],
            None,
        )
        .await;
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let body = format!("provider_id={}&{}", wukong.provider_id, password(PASSWORD));
    let cross_site = wukong
        .client
        .post(
            "auth/oidc/link",
            &body,
            Some("http://evil.test"),
            Some(&ada),
        )
        .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let wrong = wukong
        .start_link(&ada, &wukong.provider_id, &password("not my password"))
        .await;
    assert_eq!(cookie_set(&wrong, "wukong_oidc_state"), None);
    assert_eq!(refused_field(wrong).await, "password");
    assert_eq!(
        wukong.client.audit_reasons("authn_reauth_fail").await,
        vec![r#"{"reason":"bad_password"}"#]
    );
    assert_eq!(wukong.count(pending).await, 0, "nothing started");
    assert_eq!(wukong.sign_in_methods(&ada).await.identities.len(), 0);

    let work = Person::new("ada-at-corp", "ada@corp.test");
    let linked = wukong
        .link(&ada, &wukong.provider_id, &password(PASSWORD), &work)
        .await;
    assert_eq!(location(&linked), "/account?linked=1");
    let methods = wukong.sign_in_methods(&ada).await;
    assert!(methods.has_password);
    assert_eq!(methods.identities.len(), 1);
    assert_eq!(
        methods.identities[0].email.as_deref(),
        Some("ada@corp.test")
    );
    assert_eq!(wukong.client.audit_reasons("oidc_linked").await.len(), 1);

    // The provider now signs Ada in, into her own account.
    let session = wukong.session_of(&work).await;
    let response = wukong
        .client
        .post("auth/me", "", Some(ORIGIN), Some(&session))
        .await;
    assert!(body_text(response).await.contains(EMAIL));
}

/// AUTH-11, SES-11, MFA-03, MFA-09: with MFA on, linking also needs a current code, which it
/// uses up; a session still owing its second factor cannot link at all.
#[tokio::test]
async fn linking_with_mfa_on_needs_a_code_too() {
    let enrolled = enrolled().await;
    let session = enrolled.cookie.clone();
    let backup_code = enrolled.backup_codes[0].clone();
    let wukong = Federation::around(enrolled.client, CLOSED).await;
    let provider = wukong.provider_id.clone();

    let no_code = wukong
        .start_link(&session, &provider, &password(PASSWORD))
        .await;
    assert_eq!(refused_field(no_code).await, "code");
    let with = |code: &str| format!("{}&code={}", password(PASSWORD), form(code));
    let wrong = wukong
        .start_link(&session, &provider, &with("ZZZZ-ZZZZ-ZZZZ-ZZZZ"))
        .await;
    assert_eq!(refused_field(wrong).await, "code");
    assert_eq!(
        wukong.client.audit_reasons("authn_mfa_fail").await,
        vec![r#"{"reason":"bad_code"}"#]
    );
    let right = wukong
        .start_link(&session, &provider, &with(&backup_code))
        .await;
    assert_eq!(right.status(), StatusCode::OK);
    assert!(cookie_set(&right, "wukong_oidc_state").is_some());
    let again = wukong
        .start_link(&session, &provider, &with(&backup_code))
        .await;
    assert_eq!(
        refused_field(again).await,
        "code",
        "a backup code works once"
    );

    let pending = cookie_pair(&set_cookie(
        &wukong.client.login(EMAIL, PASSWORD, None).await,
    ));
    let half_signed_in = wukong
        .start_link(&pending, &provider, &with(&enrolled.backup_codes[1]))
        .await;
    assert_eq!(half_signed_in.status(), StatusCode::UNAUTHORIZED);
}

/// OIDC-03, OIDC-09, LOG-01: the callback of a link completes only in a browser signed in
/// as the user who started it; another user's session (or none) gets nothing linked, the
/// code is never redeemed, and the refusal is audited.
#[tokio::test]
async fn a_link_completes_only_in_the_browser_of_the_user_who_started_it() {
    let wukong = Federation::new(OPEN).await;
    let ada = cookie_pair(&set_cookie(
        &wukong.client.login(EMAIL, PASSWORD, None).await,
    ));
    create_user(
        &wukong.client.test.db,
        &wukong.client.auth,
        "bob@example.test",
        PASSWORD,
    )
    .await;
    let bob = cookie_pair(&set_cookie(
        &wukong
            .client
            .login("bob@example.test", PASSWORD, None)
            .await,
    ));
    let mallory = Person::new("mallory", "mallory@corp.test");

    for (session, page, reason) in [
        (Some(bob.as_str()), "/account", "other_user_session"),
        (None, "/login", "no_session"),
    ] {
        let started = wukong
            .start_link(&ada, &wukong.provider_id, &password(PASSWORD))
            .await;
        let state = cookie_set(&started, "wukong_oidc_state").expect("state cookie");
        let url: String = serde_json::from_str(&body_text(started).await).expect("URL");
        let back = wukong.come_back(&url, &mallory, &state, session).await;
        assert_eq!(location(&back), format!("{page}?error=oidc_link_session"));
        assert!(wukong
            .client
            .audit_reasons("oidc_link_refused")
            .await
            .contains(&format!(r#"{{"reason":"{reason}"}}"#)));
    }
    assert_eq!(
        wukong.idp.redeemed(),
        0,
        "refused before the code is redeemed"
    );
    assert_eq!(
        wukong
            .count("SELECT COUNT(*) FROM user_oidc_identities")
            .await,
        0
    );
}

/// Makes every session of the account `email` older than a fresh sign-in.
async fn age_sessions(wukong: &Federation, email: &str) {
    sqlx::query(
        "UPDATE user_sessions SET created_at = created_at - 11 * 60000 \
         WHERE user_id = (SELECT id FROM users WHERE email = $1)",
    )
    .bind(email)
    .execute(wukong.client.test.db.pool())
    .await
    .expect("age sessions");
}

/// SES-11, OIDC-09, AUTH-05: an account made through a provider has no password; a sign-in
/// through its provider less than 10 minutes old stands in for one, to link another
/// provider or to set a first password. A staler session can do neither.
#[tokio::test]
async fn a_passwordless_account_links_and_sets_a_password_only_after_a_fresh_sign_in() {
    let wukong = Federation::new(OPEN).await;
    let other = wukong.add_provider("Other", CLOSED).await;
    let carol = Person::new("carol", "carol@corp.test");
    let fresh = wukong.session_of(&carol).await;
    assert!(!wukong.sign_in_methods(&fresh).await.has_password);

    let linked = wukong
        .link(
            &fresh,
            &other,
            "",
            &Person::new("carol-2", "carol@other.test"),
        )
        .await;
    assert_eq!(location(&linked), "/account?linked=1");
    assert_eq!(wukong.sign_in_methods(&fresh).await.identities.len(), 2);

    age_sessions(&wukong, "carol@corp.test").await;
    let third = wukong.add_provider("Third", CLOSED).await;
    let stale_link = wukong.start_link(&fresh, &third, "").await;
    assert_eq!(refused_field(stale_link).await, "password");
    let new_password = "a long new password for carol";
    let set_password = format!(
        "current_password=&new_password={0}&confirm_password={0}",
        form(new_password)
    );
    let stale = wukong
        .client
        .post("auth/password", &set_password, Some(ORIGIN), Some(&fresh))
        .await;
    assert_eq!(refused_field(stale).await, "current_password");
    assert!(!wukong.sign_in_methods(&fresh).await.has_password);

    let again = wukong.session_of(&carol).await;
    let page =
        crate::support::body_text(wukong.client.get("/account/password", &again).await).await;
    assert!(
        page.contains("id=\"first-password\"") && !page.contains("id=\"current-password\""),
        "the page asks an account without a password for none"
    );
    let done = wukong
        .client
        .post("auth/password", &set_password, Some(ORIGIN), Some(&again))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(wukong.sign_in_methods(&again).await.has_password);
    let login = wukong
        .client
        .login("carol@corp.test", new_password, None)
        .await;
    assert_eq!(login.status(), StatusCode::OK);
}

/// SES-11, LOG-01: unlinking needs the same re-authentication as linking, never removes the
/// last way to sign in, and is audited.
#[tokio::test]
async fn unlinking_needs_reauthentication_and_never_removes_the_last_way_in() {
    let wukong = Federation::new(OPEN).await;
    let other = wukong.add_provider("Other", CLOSED).await;
    let dana = wukong
        .session_of(&Person::new("dana", "dana@corp.test"))
        .await;
    let unlink = |session: String, identity: String, reauth: String| {
        let wukong = &wukong;
        async move {
            let body = format!("identity_id={identity}&{reauth}");
            wukong
                .client
                .post("auth/oidc/unlink", &body, Some(ORIGIN), Some(&session))
                .await
        }
    };

    let only = wukong.sign_in_methods(&dana).await.identities[0].id.clone();
    let last = unlink(dana.clone(), only.clone(), String::new()).await;
    assert_eq!(refused_field(last).await, "identity");
    wukong
        .link(&dana, &other, "", &Person::new("dana-2", "dana@other.test"))
        .await;
    let done = unlink(dana.clone(), only.clone(), String::new()).await;
    assert_eq!(done.status(), StatusCode::OK);
    let left = wukong.sign_in_methods(&dana).await.identities;
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id, only);
    let last = unlink(dana.clone(), left[0].id.clone(), String::new()).await;
    assert_eq!(refused_field(last).await, "identity");
    assert_eq!(wukong.sign_in_methods(&dana).await.identities.len(), 1);

    // An account with a password may unlink its only provider, with the password.
    let ada = cookie_pair(&set_cookie(
        &wukong.client.login(EMAIL, PASSWORD, None).await,
    ));
    wukong
        .link(
            &ada,
            &other,
            &password(PASSWORD),
            &Person::new("ada", "ada@other.test"),
        )
        .await;
    let identity = wukong.sign_in_methods(&ada).await.identities[0].id.clone();
    let wrong = unlink(ada.clone(), identity.clone(), password("wrong password")).await;
    assert_eq!(refused_field(wrong).await, "password");
    let not_hers = unlink(ada.clone(), left[0].id.clone(), password(PASSWORD)).await;
    assert_eq!(not_hers.status(), StatusCode::NOT_FOUND);
    let done = unlink(ada.clone(), identity, password(PASSWORD)).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(wukong.sign_in_methods(&ada).await.identities.is_empty());
    assert_eq!(wukong.client.audit_reasons("oidc_unlinked").await.len(), 2);
}
