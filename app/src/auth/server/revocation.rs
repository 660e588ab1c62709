//! Telling open sockets that their session ended.
//!
//! Sessions end in many places (sign-out, the device list, a password or MFA change, an
//! admin disabling an account, a lock, the `wukong user` commands, another replica), all
//! through a write to `user_sessions`, and by the clock (idle too long, too old), with no
//! write at all. Rather than trusting each of them to also notify, or each socket to ask
//! about its own session, one task per process polls the table for sessions ended since its
//! last look, either way, and broadcasts their ids; it runs only while some socket listens.

use super::session::{self, EndedSession, SessionPolicy};
use crate::db::{now_ms, Db};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::broadcast;

/// How often the table is polled while sockets listen.
pub const POLL_EVERY: Duration = Duration::from_millis(250);

/// How far back each poll looks again: a transaction that ended a session commits a little
/// after the time it wrote, and replicas' clocks differ.
const OVERLAP_MS: i64 = 5_000;

/// Sessions that just ended.
pub type Ended = Arc<[EndedSession]>;

/// Cheap to clone; one poller per process at most.
#[derive(Clone)]
pub struct Revocations {
    sender: broadcast::Sender<Ended>,
    polling: Arc<Mutex<bool>>,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations {
            sender: broadcast::channel(64).0,
            polling: Arc::default(),
        }
    }
}

impl Revocations {
    /// Ended sessions from now on; starts the poller on `db` if it is not running.
    pub fn subscribe(&self, db: &Db, policy: &SessionPolicy) -> broadcast::Receiver<Ended> {
        let receiver = self.sender.subscribe();
        if let Ok(mut polling) = self.polling.lock() {
            if !*polling {
                *polling = true;
                tokio::spawn(self.clone().poll(db.clone(), policy.clone()));
            }
        }
        receiver
    }

    async fn poll(self, db: Db, policy: SessionPolicy) {
        let mut cursor = now_ms();
        let mut sent: HashMap<String, i64> = HashMap::new();
        let mut tick = tokio::time::interval(POLL_EVERY);
        loop {
            tick.tick().await;
            if self.stop_when_unheard() {
                return;
            }
            let ended = match session::ended_since(&db, &policy, cursor - OVERLAP_MS, now_ms())
                .await
            {
                Ok(ended) => ended,
                Err(error) => {
                    tracing::warn!(%error, "cannot read ended sessions; sockets fail closed at their next check");
                    continue;
                }
            };
            let fresh: Vec<EndedSession> = ended
                .into_iter()
                .filter(|ended| {
                    cursor = cursor.max(ended.ended_at);
                    sent.insert(ended.id.clone(), ended.ended_at).is_none()
                })
                .collect();
            sent.retain(|_, ended_at| *ended_at >= cursor - OVERLAP_MS);
            if !fresh.is_empty() {
                drop(self.sender.send(fresh.into()));
            }
        }
    }

    /// Stops the poller once no socket listens; the next subscriber starts it again.
    fn stop_when_unheard(&self) -> bool {
        let Ok(mut polling) = self.polling.lock() else {
            return true;
        };
        if self.sender.receiver_count() == 0 {
            *polling = false;
            return true;
        }
        false
    }
}
