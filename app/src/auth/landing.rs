//! Where the browser goes once a sign-in step succeeds. The server decides (CSRF-05): the
//! sign-in pages send the `next` they were opened with and follow the answer.

use super::types::{safe_next, CurrentUser, MAX_NEXT_BYTES};
use crate::{url::percent_encode, AppError};

/// Refuses a `next` longer than any page Wukong has, before the throttle, the database,
/// argon2 or the audit log see the request.
pub fn check_next_bounds(next: Option<&str>) -> Result<(), AppError> {
    match next {
        Some(next) if next.len() > MAX_NEXT_BYTES => Err(AppError::too_long(
            "next",
            "The address of the page to return to",
            MAX_NEXT_BYTES,
        )),
        _ => Ok(()),
    }
}

/// Where a fully signed-in user goes: an owed password change or MFA set-up first, else the
/// page they came for.
pub fn after_sign_in(user: &CurrentUser, next: Option<&str>) -> String {
    if user.must_change_password {
        "/account/password".to_owned()
    } else if user.mfa_enrolment_required {
        "/account/mfa".to_owned()
    } else {
        safe_next(next).to_owned()
    }
}

/// The MFA step of sign-in, carrying the page asked for.
pub fn mfa_step(next: Option<&str>) -> String {
    format!("/login/mfa?next={}", percent_encode(safe_next(next)))
}

#[cfg(test)]
mod tests {
    use super::{after_sign_in, check_next_bounds, mfa_step};
    use crate::{auth::types::CurrentUser, AppError};

    fn user(must_change_password: bool, mfa_enrolment_required: bool) -> CurrentUser {
        CurrentUser {
            id: "u1".to_owned(),
            email: "ada@example.test".to_owned(),
            display_name: "Ada".to_owned(),
            is_admin: false,
            must_change_password,
            mfa_enrolment_required,
        }
    }

    /// CSRF-05: what is owed comes before the page asked for, and that page only when local.
    #[test]
    fn owed_steps_come_first_then_the_local_page_asked_for() {
        let next = Some("/vms?name=a%20b");
        assert_eq!(after_sign_in(&user(false, false), next), "/vms?name=a%20b");
        assert_eq!(after_sign_in(&user(true, true), next), "/account/password");
        assert_eq!(after_sign_in(&user(false, true), next), "/account/mfa");
        assert_eq!(
            after_sign_in(&user(false, false), Some("/\t/evil.example/")),
            "/"
        );
        assert_eq!(mfa_step(next), "/login/mfa?next=%2Fvms%3Fname%3Da%2520b");
        assert_eq!(mfa_step(Some("//evil.example")), "/login/mfa?next=%2F");
    }

    /// CSRF-05, VAL-01: 2 KiB and no more.
    #[test]
    fn a_next_longer_than_two_kib_is_refused() {
        assert_eq!(check_next_bounds(None), Ok(()));
        assert_eq!(check_next_bounds(Some(&"/".repeat(2048))), Ok(()));
        assert!(matches!(
            check_next_bounds(Some(&"/".repeat(2049))),
            Err(AppError::TooLong { field, .. }) if field == "next"
        ));
    }
}
