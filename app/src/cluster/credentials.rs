//! Failures to obtain Wukong's own credentials for the cluster, before a request is sent: an
//! OIDC ID token of the kubeconfig that expired and could not be renewed, a credential plugin
//! that failed. They are no fault of the cluster, and saying "unreachable" would send an
//! administrator looking in the wrong place.

use kube::client::{oidc_errors, AuthError};

/// Why Wukong has no credentials, when that is what `error` is. kube-rs hands them on as a
/// service error whose source is its `AuthError` (kube-client 5, client/mod.rs `send`: the
/// auth layer's error is neither a `kube::Error` nor a hyper one).
pub fn credentials_failure(error: &kube::Error) -> Option<&'static str> {
    let cause = match error {
        kube::Error::Auth(cause) => cause,
        kube::Error::Service(inner) => inner.downcast_ref::<AuthError>()?,
        _ => return None,
    };
    Some(match cause {
        AuthError::Oidc(oidc_errors::Error::Refresh(_)) => {
            "the OIDC ID token of its kubeconfig has expired and the issuer did not renew it"
        }
        AuthError::Oidc(oidc_errors::Error::RefreshInit(_)) => {
            "the OIDC ID token of its kubeconfig has expired and cannot be renewed with what \
             the kubeconfig holds (refresh-token, client-id, client-secret, idp-issuer-url)"
        }
        AuthError::Oidc(_) => "the OIDC ID token of its kubeconfig is missing or not a JWT",
        AuthError::ReadTokenFile(..) => "its token file cannot be read",
        AuthError::AuthExec(_)
        | AuthError::AuthExecStart(_)
        | AuthError::AuthExecRun { .. }
        | AuthError::AuthExecParse(_)
        | AuthError::ExecPluginFailed => "the credential plugin (exec) of its kubeconfig failed",
        _ => "its credentials cannot be obtained",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_to_renew_an_oidc_token_is_named_wherever_kube_rs_puts_it() {
        let refused = || {
            AuthError::Oidc(oidc_errors::Error::Refresh(
                oidc_errors::RefreshError::AuthorizationFailure,
            ))
        };
        let expected =
            Some("the OIDC ID token of its kubeconfig has expired and the issuer did not renew it");
        assert_eq!(
            credentials_failure(&kube::Error::Service(Box::new(refused()))),
            expected
        );
        assert_eq!(credentials_failure(&kube::Error::Auth(refused())), expected);
        let unreachable = kube::Error::Service(Box::new(std::io::Error::other("refused")));
        assert_eq!(credentials_failure(&unreachable), None);
    }
}
