//! Password hashing (argon2id) and the rules for new passwords.

use crate::AppError;
use argon2::{
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString},
    Algorithm, Argon2, Params, Version,
};
use rand::RngCore as _;
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};
use tokio::sync::Semaphore;

/// Bounds of a new password, in characters (NIST SP 800-63B: length, no composition rules).
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// argon2id with the OWASP baseline: 19 MiB, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// Hashes and verifies passwords on the blocking pool, at most `concurrency` at a time, so
/// a burst of logins cannot starve request handling or memory (19 MiB per hash).
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Verified against when the email is unknown, so both cases cost the same time.
    dummy_hash: Arc<str>,
    verifications: Arc<AtomicU64>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Result<Self, argon2::password_hash::Error> {
        let dummy_hash = hash_now(&random_token_text())?;
        Ok(PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
            verifications: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password`.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        self.run(move || hash_now(&password))
            .await?
            .map_err(AppError::internal)
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) a dummy hash is
    /// verified instead and the answer is `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || {
                PasswordHash::new(&hash).map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
            })
            .await?
            .map_err(AppError::internal)?;
        Ok(known && matches)
    }

    /// How many verifications ran since start: lets tests prove a refusal came before any
    /// argon2 work.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(AppError::internal)
    }
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn random_token_text() -> String {
    super::session::new_token().0
}

/// Checks a password a user chose. Errors name the `password` field.
pub fn check_new_password(password: &str, email: &str) -> Result<(), AppError> {
    let invalid = |message: &str| AppError::Invalid {
        field: "password".to_owned(),
        message: message.to_owned(),
    };
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(invalid(&format!(
            "Use at least {MIN_PASSWORD_CHARS} characters."
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(invalid(&format!(
            "Use at most {MAX_PASSWORD_CHARS} characters."
        )));
    }
    let lowered = password.to_lowercase();
    if lowered == email.to_lowercase() || is_common(&lowered) {
        return Err(invalid(
            "This password is too common or too easy to guess. Choose another.",
        ));
    }
    Ok(())
}

fn is_common(lowered: &str) -> bool {
    COMMON_PASSWORDS.lines().any(|common| common == lowered)
}
