//! Limits of the live-update sockets: how many one user may hold, how big a message may be,
//! how long a send may wait, how often the session is checked again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// The limits every `/ws/events` socket lives by.
#[derive(Clone, Debug)]
pub struct SocketPolicy {
    /// Sockets one user may hold open at once.
    pub max_per_user: u32,
    /// The largest message a browser may send (the page sends none of its own); a larger
    /// one closes the socket with 1009.
    pub max_incoming_bytes: usize,
    /// A send that cannot complete in this time (the client stopped reading) ends the socket.
    pub send_timeout: Duration,
    /// How often an open socket checks its session (and pings the browser).
    pub check_every: Duration,
}

impl SocketPolicy {
    pub fn new(max_per_user: u32) -> Self {
        SocketPolicy {
            max_per_user,
            max_incoming_bytes: 4 * 1024,
            send_timeout: Duration::from_secs(10),
            check_every: Duration::from_secs(15),
        }
    }
}

/// Open sockets, counted per user. Cheap to clone.
#[derive(Clone)]
pub struct SocketSlots {
    pub policy: SocketPolicy,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl SocketSlots {
    pub fn new(policy: SocketPolicy) -> Self {
        SocketSlots {
            policy,
            open: Arc::default(),
        }
    }

    /// A slot for one more socket of `user_id`, or `None` when they hold the most allowed.
    /// The slot frees itself when dropped.
    pub fn take(&self, user_id: &str) -> Option<SocketSlot> {
        let mut open = self.open.lock().ok()?;
        let count = open.entry(user_id.to_owned()).or_default();
        if *count >= self.policy.max_per_user {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            open: Arc::clone(&self.open),
            user_id: user_id.to_owned(),
        })
    }

    /// Sockets `user_id` holds open right now.
    pub fn held_by(&self, user_id: &str) -> u32 {
        self.open
            .lock()
            .map(|open| open.get(user_id).copied().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// One open socket's place in the count.
pub struct SocketSlot {
    open: Arc<Mutex<HashMap<String, u32>>>,
    user_id: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(count) = open.get_mut(&self.user_id) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&self.user_id);
                }
            }
        }
    }
}
