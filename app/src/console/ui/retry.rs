//! What a console page does after a connection ends or a ticket is refused: try again
//! after a while, or stay with a status that waits for the user.

use super::status::Status;
use crate::{
    console::types::{
        CLOSE_IN_USE, CLOSE_ROLE_LOST, CLOSE_SESSION_ENDED, CLOSE_SESSION_REPLACED,
        CLOSE_SHUTTING_DOWN, CLOSE_TAKEN_OVER, CLOSE_UPSTREAM_ERROR, CLOSE_VM_NOT_RUNNING,
    },
    AppError,
};

/// The longest wait between attempts, in seconds: the wait doubles from one second.
const MAX_DELAY_SECS: u32 = 15;

/// What follows a connection's end with WebSocket close `code` and `reason`: a status the
/// page stays in, or `None` to connect again after a while (a restarting VM, a network
/// blip, the server restarting, a session renewed under a new id).
pub fn after_close(code: u16, reason: &str) -> Option<Status> {
    let user = || {
        if reason.is_empty() {
            "another user".to_owned()
        } else {
            reason.to_owned()
        }
    };
    match code {
        CLOSE_SESSION_ENDED => Some(Status::SignedOut),
        CLOSE_ROLE_LOST => Some(Status::NotAllowed),
        CLOSE_IN_USE => Some(Status::InUse(user())),
        CLOSE_TAKEN_OVER => Some(Status::TakenOver(user())),
        _ => None,
    }
}

/// Why a connection that ended with `code` is tried again.
pub fn retry_reason(code: u16) -> String {
    match code {
        CLOSE_VM_NOT_RUNNING => "The VM is not running.",
        CLOSE_SESSION_REPLACED => "Your session was renewed.",
        CLOSE_SHUTTING_DOWN => "Wukong is restarting.",
        CLOSE_UPSTREAM_ERROR => "The VM's console did not answer.",
        _ => "The connection was lost.",
    }
    .to_owned()
}

/// What follows a refused ticket, as [`after_close`]; a VM that is not running (yet) is
/// waited for.
pub fn after_refusal(error: &AppError) -> Option<Status> {
    match error {
        AppError::Unauthorized => Some(Status::SignedOut),
        AppError::Forbidden => Some(Status::NotAllowed),
        AppError::NotFound { .. } => Some(Status::Unavailable(
            "This virtual machine is not available: it was deleted, or you are no longer a member of its project.".to_owned(),
        )),
        _ => None,
    }
}

/// Seconds before the next attempt, after `failures` attempts in a row failed.
pub fn retry_delay(failures: u32) -> u32 {
    1u32.checked_shl(failures)
        .unwrap_or(u32::MAX)
        .min(MAX_DELAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::types::CLOSE_TOO_BIG;

    #[test]
    fn ended_sessions_lost_roles_and_other_viewers_stop_the_reconnecting() {
        assert_eq!(after_close(1008, ""), Some(Status::SignedOut));
        assert_eq!(after_close(4403, ""), Some(Status::NotAllowed));
        assert_eq!(
            after_close(4409, "alice"),
            Some(Status::InUse("alice".to_owned()))
        );
        assert_eq!(
            after_close(4410, ""),
            Some(Status::TakenOver("another user".to_owned()))
        );
        assert_eq!(
            Status::InUse("a".to_owned()).take_over_label(),
            Some("Take over")
        );
        assert_eq!(
            Status::TakenOver("a".to_owned()).take_over_label(),
            Some("Take back")
        );
        assert_eq!(Status::Connected.take_over_label(), None);
    }

    #[test]
    fn restarts_blips_and_renewed_sessions_reconnect() {
        for code in [
            CLOSE_VM_NOT_RUNNING,
            CLOSE_SESSION_REPLACED,
            CLOSE_SHUTTING_DOWN,
            CLOSE_TOO_BIG,
            CLOSE_UPSTREAM_ERROR,
            1006,
        ] {
            assert_eq!(after_close(code, "whatever"), None, "{code}");
        }
        assert_eq!(retry_reason(CLOSE_VM_NOT_RUNNING), "The VM is not running.");
        assert_eq!(retry_reason(1006), "The connection was lost.");
        let not_running = AppError::Conflict {
            message: "The VM is not running.".to_owned(),
        };
        assert_eq!(after_refusal(&not_running), None);
        assert_eq!(after_refusal(&AppError::ClusterUnavailable), None);
        assert_eq!(
            after_refusal(&AppError::Unauthorized),
            Some(Status::SignedOut)
        );
        assert_eq!(
            after_refusal(&AppError::Forbidden),
            Some(Status::NotAllowed)
        );
    }

    #[test]
    fn the_wait_doubles_from_one_second_up_to_fifteen() {
        let waits: Vec<u32> = (0..6).map(retry_delay).collect();
        assert_eq!(waits, [1, 2, 4, 8, 15, 15]);
        assert_eq!(retry_delay(40), 15);
    }
}
