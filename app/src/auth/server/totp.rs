//! Time-based one-time passwords (RFC 6238): SHA-1, 6 digits, 30-second steps, one step of
//! clock drift either way. Replay protection (each step once per user) is the caller's job,
//! done in the database.

use totp_rs::{Builder, Secret};

/// The name authenticator apps show next to the account.
pub const ISSUER: &str = "Wukong";
pub const DIGITS: u8 = 6;
pub const STEP_SECS: u64 = 30;
/// 160-bit seeds, the length RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;

/// A fresh random seed.
pub fn new_secret() -> Vec<u8> {
    use rand::RngCore as _;
    let mut secret = vec![0u8; SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The seed as authenticator apps take it: base32 without padding.
pub fn secret_base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

fn generator(secret: &[u8], digits: u8) -> totp_rs::Totp {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_digits(digits)
        .with_step_duration(STEP_SECS)
        .with_skew(1)
        .build_noncompliant()
}

/// The time step `code` belongs to, if it is valid at `unix_secs` (the server's clock) give
/// or take one step. Spaces are ignored; anything but `digits` ASCII digits is refused.
pub fn verify_digits(secret: &[u8], code: &str, unix_secs: u64, digits: u8) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    generator(secret, digits).check(&code, unix_secs)
}

/// [`verify_digits`] with Wukong's six digits.
pub fn verify(secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    verify_digits(secret, code, unix_secs, DIGITS)
}

/// The code at `unix_secs` for a base32 seed, for tests and tools that play the
/// authenticator app.
pub fn code_at(secret_base32: &str, unix_secs: u64) -> Option<String> {
    let secret = Secret::try_from_base32(secret_base32).ok()?;
    Some(
        generator(secret.as_bytes(), DIGITS)
            .generate(unix_secs)
            .to_string(),
    )
}

/// The Key URI authenticator apps read from the QR code.
pub fn otpauth_uri(account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        crate::url::percent_encode(account),
        secret_base32(secret),
    )
}

/// `text` as a QR code in SVG, one path of dark modules inside a four-module quiet zone.
pub fn qr_svg(text: &str) -> Option<String> {
    use qrcodegen::{QrCode, QrCodeEcc};
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let border = 4;
    let size = code.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let side = size + 2 * border;
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         width=\"200\" height=\"200\" role=\"img\" aria-label=\"QR code for your authenticator app\" \
         shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}
