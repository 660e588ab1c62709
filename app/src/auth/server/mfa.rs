//! The second factor: TOTP enrolment, the MFA step of sign-in, backup codes, turning MFA
//! off, and the "MFA required for everyone" setting.
//!
//! Each TOTP time step is accepted once per user and each backup code once: the database
//! records the use with a conditional UPDATE in the transaction that completes the step, so
//! of racing requests with the same code exactly one succeeds.

use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{
        server::{
            account::{invalid, reauthenticate},
            lockout::{self, Counter, Reserved},
            session::{self, Requester, Session, SessionStage, Which, MFA_REQUIRED_SETTING},
            throttle::{Attempt, AttemptKeys},
            totp, Auth,
        },
        types::{BackupCodes, CurrentUser, MfaStatus, TotpEnrolment},
    },
    db::{now_ms, Db},
    AppError,
};
use sqlx::Row as _;

pub const BACKUP_CODE_COUNT: usize = 10;
/// The longest code a user can type: a backup code with its dashes (`XXXX-XXXX-XXXX-XXXX`).
pub const MAX_CODE_CHARS: usize = 19;
/// 80 random bits per backup code, shown as four groups of four base32 characters.
const BACKUP_CODE_BYTES: usize = 10;

/// What a correct code proved, to be consumed in the transaction that acts on it.
enum Proof {
    Totp { step: i64 },
    BackupCode { id: String },
}

impl Proof {
    fn factor(&self) -> &'static str {
        match self {
            Proof::Totp { .. } => "totp",
            Proof::BackupCode { .. } => "backup_code",
        }
    }
}

fn seal_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn unix_secs(now_ms: i64) -> u64 {
    u64::try_from(now_ms / 1_000).unwrap_or_default()
}

/// Refuses a code longer than any code can be, before anything else sees it.
pub fn check_code_bounds(code: &str) -> Result<(), AppError> {
    if code.len() > MAX_CODE_CHARS {
        return Err(AppError::too_long("code", "The code", MAX_CODE_CHARS));
    }
    Ok(())
}

/// Lets a code attempt of `user_id` through the throttle, counted until it succeeds.
fn begin_attempt(auth: &Auth, user_id: &str) -> Result<Attempt, AppError> {
    auth.throttle
        .begin(AttemptKeys::second_factor(user_id))
        .map_err(|retry_after_secs| AppError::TooManyAttempts { retry_after_secs })
}

/// Counts a code attempt toward the account's lock before it is checked.
async fn reserve(
    db: &Db,
    requester: &Requester,
    session: &Session,
    now: i64,
) -> Result<Reserved, AppError> {
    Ok(lockout::reserve(
        db,
        requester,
        &session.user.id,
        &session.user.email,
        Counter::SecondFactor,
        now,
    )
    .await?)
}

pub async fn is_enabled(db: &Db, user_id: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT is_enabled FROM user_mfa_settings WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64, _>("is_enabled")? == 1,
        None => false,
    })
}

pub async fn required_for_everyone(db: &Db) -> Result<bool, sqlx::Error> {
    crate::settings::flag(db, MFA_REQUIRED_SETTING).await
}

pub async fn status(db: &Db, user_id: &str) -> Result<MfaStatus, AppError> {
    let left: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    Ok(MfaStatus {
        enabled: is_enabled(db, user_id).await?,
        backup_codes_left: u32::try_from(left).unwrap_or_default(),
        required_for_everyone: required_for_everyone(db).await?,
    })
}

/// Starts TOTP set-up after the password is given again: a new seed, stored sealed and not
/// yet active. Starting again replaces a seed that was never confirmed.
pub async fn start_enrolment(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    password: String,
) -> Result<TotpEnrolment, AppError> {
    reauthenticate(db, auth, requester, session, password, "password").await?;
    if is_enabled(db, &session.user.id).await? {
        return Err(invalid(
            "password",
            "Two-factor sign-in is already on. Turn it off first to set up a new device.",
        ));
    }
    let secret = totp::new_secret();
    let sealed = auth
        .secrets
        .seal(&secret, &seal_context(&session.user.id))
        .map_err(AppError::internal)?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO user_mfa_settings (user_id, totp_secret_enc, is_enabled, created_at, updated_at) \
         VALUES ($1, $2, 0, $3, $3) \
         ON CONFLICT (user_id) DO UPDATE SET totp_secret_enc = excluded.totp_secret_enc, \
         last_used_step = NULL, updated_at = excluded.updated_at \
         WHERE user_mfa_settings.is_enabled = 0",
    )
    .bind(&session.user.id)
    .bind(sealed)
    .bind(now)
    .execute(db.pool())
    .await?;
    let otpauth_uri = totp::otpauth_uri(&session.user.email, &secret);
    let qr_svg = totp::qr_svg(&otpauth_uri)
        .ok_or_else(|| AppError::internal("the Key URI does not fit in a QR code"))?;
    Ok(TotpEnrolment {
        secret: totp::secret_base32(&secret),
        otpauth_uri,
        qr_svg,
    })
}

/// The stored seed of `user_id`, enabled or still being set up.
async fn load_secret(
    db: &Db,
    auth: &Auth,
    user_id: &str,
    enabled: bool,
) -> Result<Option<Vec<u8>>, AppError> {
    let row = sqlx::query(
        "SELECT totp_secret_enc FROM user_mfa_settings WHERE user_id = $1 AND is_enabled = $2",
    )
    .bind(user_id)
    .bind(i64::from(enabled))
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let sealed: String = row.try_get("totp_secret_enc")?;
    auth.secrets
        .open(&sealed, &seal_context(user_id))
        .map(Some)
        .map_err(AppError::internal)
}

/// Finishes set-up with a code from the app: MFA goes on, ten backup codes are issued, and
/// the user's sessions are replaced by a new one (returned as its token).
pub async fn confirm_enrolment(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    code: &str,
) -> Result<(String, BackupCodes), AppError> {
    check_code_bounds(code)?;
    let user_id = &session.user.id;
    let attempt = begin_attempt(auth, user_id)?;
    let Some(secret) = load_secret(db, auth, user_id, false).await? else {
        return Err(invalid(
            "code",
            "Set-up has not been started or is already finished. Start again.",
        ));
    };
    let now = now_ms();
    let Some(step) = totp::verify(&secret, code, unix_secs(now)) else {
        return Err(invalid(
            "code",
            "That code is not right. Check that your device's clock is correct and try again.",
        ));
    };
    let (codes, hashes) = new_backup_codes(auth).await?;
    let mut tx = db.pool().begin().await?;
    let enabled = sqlx::query(
        "UPDATE user_mfa_settings SET is_enabled = 1, last_used_step = $1, enabled_at = $2, \
         updated_at = $2 WHERE user_id = $3 AND is_enabled = 0",
    )
    .bind(i64::try_from(step).unwrap_or(i64::MAX))
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    if enabled.rows_affected() != 1 {
        return Err(invalid("code", "Two-factor sign-in is already on."));
    }
    store_backup_codes(&mut tx, user_id, &hashes, now).await?;
    // This browser gets a new session; the user's other browsers must sign in again.
    session::replace(&mut tx, &session.id, now).await?;
    session::end_all(&mut tx, user_id, Which::All, "mfa_enrolled", now).await?;
    let token = session::create(
        &mut tx,
        &auth.sessions,
        user_id,
        SessionStage::Active,
        &session.method,
        requester,
        now,
    )
    .await?
    .ok_or(AppError::Unauthorized)?;
    let event = AuditEvent::by(
        &session.user,
        "mfa_enrolled",
        Outcome::Success,
        Severity::Info,
        Some("totp"),
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    attempt.succeeded();
    Ok((token, BackupCodes { codes }))
}

/// The MFA step of sign-in: a TOTP code or a backup code turns the pending session into a
/// full one with a new token (returned).
pub async fn complete_sign_in(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    pending: &Session,
    code: &str,
) -> Result<String, AppError> {
    check_code_bounds(code)?;
    let user = &pending.user;
    let attempt = begin_attempt(auth, &user.id)?;
    let now = now_ms();
    let proof = check_code(db, auth, requester, pending, code, now).await?;
    let mut tx = db.pool().begin().await?;
    let token = if session::end_pending(&mut tx, &pending.id, now).await?
        && consume(&mut tx, &user.id, &proof, now).await?
        && lockout::forgive(&mut tx, &user.id, Counter::SecondFactor, attempt.alone()).await?
    {
        session::create(
            &mut tx,
            &auth.sessions,
            &user.id,
            SessionStage::Active,
            &pending.method,
            requester,
            now,
        )
        .await?
    } else {
        None
    };
    let Some(token) = token else {
        drop(tx);
        return Err(refuse(db, requester, pending, "code_reused_or_locked", now).await?);
    };
    let event = AuditEvent::by(
        user,
        "authn_mfa_success",
        Outcome::Success,
        Severity::Info,
        Some(proof.factor()),
    );
    record(&mut tx, requester, &event, now).await?;
    record_backup_code_use(&mut tx, requester, user, &proof, now).await?;
    tx.commit().await?;
    attempt.succeeded();
    Ok(token)
}

/// Records the use of a backup code (MFA-07: each use is logged), when `proof` is one.
async fn record_backup_code_use(
    tx: &mut sqlx::AnyConnection,
    requester: &Requester,
    user: &CurrentUser,
    proof: &Proof,
    now: i64,
) -> Result<(), sqlx::Error> {
    if let Proof::BackupCode { .. } = proof {
        let event = AuditEvent::by(
            user,
            "mfa_backup_code_used",
            Outcome::Success,
            Severity::Warning,
            None,
        );
        record(tx, requester, &event, now).await?;
    }
    Ok(())
}

/// Records a refused code (already counted toward the lock) and returns the error to
/// answer with.
async fn refuse(
    db: &Db,
    requester: &Requester,
    session: &Session,
    reason: &str,
    now: i64,
) -> Result<AppError, AppError> {
    let event = AuditEvent::by(
        &session.user,
        "authn_mfa_fail",
        Outcome::Failure,
        Severity::Warning,
        Some(reason),
    );
    let mut conn = db.pool().acquire().await?;
    record(&mut conn, requester, &event, now).await?;
    Ok(invalid("code", "That code is not valid."))
}

/// Counts a code attempt of `session`'s user toward the lock, then checks it: what it
/// proved, or (recorded) the refusal to answer with.
async fn check_code(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    code: &str,
    now: i64,
) -> Result<Proof, AppError> {
    let proof = match reserve(db, requester, session, now).await? {
        Reserved::Open => find_proof(db, auth, &session.user.id, code).await?,
        Reserved::Locked => None,
    };
    match proof {
        Some(proof) => Ok(proof),
        None => Err(refuse(db, requester, session, "bad_code", now).await?),
    }
}

/// Checks `code` as a TOTP code (six digits) or else as a backup code, without using it up.
async fn find_proof(
    db: &Db,
    auth: &Auth,
    user_id: &str,
    code: &str,
) -> Result<Option<Proof>, AppError> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == usize::from(totp::DIGITS) && digits.bytes().all(|b| b.is_ascii_digit()) {
        let Some(secret) = load_secret(db, auth, user_id, true).await? else {
            return Ok(None);
        };
        return Ok(totp::verify(&secret, &digits, unix_secs(now_ms()))
            .and_then(|step| i64::try_from(step).ok())
            .map(|step| Proof::Totp { step }));
    }
    let Some(code) = normalize_backup_code(code) else {
        return Ok(None);
    };
    if !is_enabled(db, user_id).await? {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT id, code_hash FROM mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    for row in rows {
        let hash: String = row.try_get("code_hash")?;
        if auth.hasher.verify(code.clone(), Some(hash)).await? {
            return Ok(Some(Proof::BackupCode {
                id: row.try_get("id")?,
            }));
        }
    }
    Ok(None)
}

/// Uses up what `proof` proved; false when a concurrent request got there first.
async fn consume(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    proof: &Proof,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = match proof {
        Proof::Totp { step } => {
            sqlx::query(
                "UPDATE user_mfa_settings SET last_used_step = $1, updated_at = $2 \
                 WHERE user_id = $3 AND is_enabled = 1 \
                 AND (last_used_step IS NULL OR last_used_step < $1)",
            )
            .bind(*step)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
        }
        Proof::BackupCode { id } => {
            sqlx::query(
                "UPDATE mfa_backup_codes SET used_at = $1 WHERE id = $2 AND user_id = $3 \
                 AND used_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
        }
    };
    Ok(done.rows_affected() == 1)
}

/// Upper-case base32 without separators, when `code` has the shape of a backup code.
fn normalize_backup_code(code: &str) -> Option<String> {
    let code: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let shaped = code.len() == BACKUP_CODE_BYTES * 8 / 5
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    shaped.then_some(code)
}

/// Fresh backup codes (for display, grouped) and their argon2id hashes.
async fn new_backup_codes(auth: &Auth) -> Result<(Vec<String>, Vec<String>), AppError> {
    use rand::RngCore as _;
    let mut codes = Vec::with_capacity(BACKUP_CODE_COUNT);
    let mut hashes = Vec::with_capacity(BACKUP_CODE_COUNT);
    for _ in 0..BACKUP_CODE_COUNT {
        let mut bytes = [0u8; BACKUP_CODE_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let code = totp::secret_base32(&bytes);
        hashes.push(auth.hasher.hash(code.clone()).await?);
        let groups: Vec<&str> = [0, 4, 8, 12].iter().map(|at| &code[*at..at + 4]).collect();
        codes.push(groups.join("-"));
    }
    Ok((codes, hashes))
}

/// Replaces the user's backup codes with `hashes`.
async fn store_backup_codes(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO mfa_backup_codes (id, user_id, code_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A new set of backup codes, after the password is given again; the old set stops working.
pub async fn regenerate_backup_codes(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    password: String,
) -> Result<BackupCodes, AppError> {
    reauthenticate(db, auth, requester, session, password, "password").await?;
    if !is_enabled(db, &session.user.id).await? {
        return Err(invalid(
            "password",
            "Turn on two-factor sign-in first; backup codes come with it.",
        ));
    }
    let (codes, hashes) = new_backup_codes(auth).await?;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    store_backup_codes(&mut tx, &session.user.id, &hashes, now).await?;
    let event = AuditEvent::by(
        &session.user,
        "mfa_backup_codes_regenerated",
        Outcome::Success,
        Severity::Info,
        None,
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(BackupCodes { codes })
}

/// Turns MFA off; needs the password and a current code (TOTP or backup). The user's other
/// sessions end.
pub async fn disable(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    password: String,
    code: &str,
) -> Result<(), AppError> {
    check_code_bounds(code)?;
    reauthenticate(db, auth, requester, session, password, "password").await?;
    let attempt = begin_attempt(auth, &session.user.id)?;
    let now = now_ms();
    let proof = check_code(db, auth, requester, session, code, now).await?;
    let mut tx = db.pool().begin().await?;
    if !consume(&mut tx, &session.user.id, &proof, now).await? {
        drop(tx);
        return Err(refuse(db, requester, session, "code_reused", now).await?);
    }
    remove_factor(&mut tx, &session.user.id).await?;
    session::end_all(
        &mut tx,
        &session.user.id,
        Which::AllBut(&session.id),
        "mfa_disabled",
        now,
    )
    .await?;
    let event = AuditEvent::by(
        &session.user,
        "mfa_disabled",
        Outcome::Success,
        Severity::Warning,
        Some(proof.factor()),
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    attempt.succeeded();
    Ok(())
}

/// Asks a signed-in user with MFA for a current code again before a sensitive change (such
/// as linking a sign-in provider), as [`reauthenticate`] asks for the password: throttled,
/// counted toward the lock before it is checked, used up once accepted, audited when
/// refused.
pub async fn reverify_code(
    db: &Db,
    auth: &Auth,
    requester: &Requester,
    session: &Session,
    code: &str,
) -> Result<(), AppError> {
    check_code_bounds(code)?;
    let user = &session.user;
    let attempt = begin_attempt(auth, &user.id)?;
    let now = now_ms();
    let proof = check_code(db, auth, requester, session, code, now).await?;
    let mut tx = db.pool().begin().await?;
    if !(consume(&mut tx, &user.id, &proof, now).await?
        && lockout::forgive(&mut tx, &user.id, Counter::SecondFactor, attempt.alone()).await?)
    {
        drop(tx);
        return Err(refuse(db, requester, session, "code_reused_or_locked", now).await?);
    }
    record_backup_code_use(&mut tx, requester, user, &proof, now).await?;
    tx.commit().await?;
    attempt.succeeded();
    Ok(())
}

/// Deletes the seed and backup codes of `user_id`.
pub async fn remove_factor(tx: &mut sqlx::AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM mfa_backup_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM user_mfa_settings WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE users SET mfa_failed_count = 0 WHERE id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map(|_| ())
}

/// The admin setting "MFA required for everyone".
pub async fn set_required_for_everyone(
    db: &Db,
    requester: &Requester,
    admin: &crate::authz::server::AdminCap,
    required: bool,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    crate::settings::set_flag(&mut tx, MFA_REQUIRED_SETTING, required, now).await?;
    let event = AuditEvent::by(
        admin.user(),
        "mfa_policy_changed",
        Outcome::Success,
        Severity::Warning,
        Some(if required { "required" } else { "optional" }),
    );
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}
