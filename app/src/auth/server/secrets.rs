//! Encryption at rest for secrets Wukong must read back (TOTP seeds, OIDC client secrets):
//! AES-256-GCM with a key that lives outside the database, so a copy of the database alone
//! reveals none of them.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Key, Nonce,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use rand::RngCore as _;

/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// Prefix of stored values, so a future key or cipher change can tell old values apart.
const FORMAT: &str = "v1:";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the key must be {KEY_LEN} bytes, base64-encoded")]
    BadKey,
    #[error("a stored secret cannot be decrypted (wrong key or damaged value)")]
    Undecryptable,
}

/// Seals and opens secrets. Each value is bound to a context (such as the row it belongs
/// to), so a sealed value copied to another row does not open there.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8]) -> Result<Self, SecretError> {
        let key: [u8; KEY_LEN] = key.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(SecretBox {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
        })
    }

    /// A key from its base64 text (the key file or the environment variable).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let key = STANDARD
            .decode(text.trim())
            .map_err(|_| SecretError::BadKey)?;
        Self::new(&key)
    }

    /// A new random key, base64-encoded.
    pub fn generate_key() -> String {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable)?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(format!("{FORMAT}{}", STANDARD.encode(stored)))
    }

    pub fn open(&self, stored: &str, context: &str) -> Result<Vec<u8>, SecretError> {
        let bytes = stored
            .strip_prefix(FORMAT)
            .and_then(|encoded| STANDARD.decode(encoded).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or(SecretError::Undecryptable)?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Undecryptable)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable)
    }
}
