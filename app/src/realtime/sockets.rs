//! Limits of the live-update sockets: how many one user may hold, how big a message may be,
//! how long a send may wait, how often the session is checked again; and what the sockets
//! of one user share: the projects they may see, read once for all of them.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
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
            // Each check pings the browser: often enough for proxies that close a WebSocket
            // idle for 60 s. A whole number of check steps, so sockets keep sharing wake-ups.
            check_every: Duration::from_secs(45),
        }
    }
}

/// The namespaces whose VMs' events a user's sockets pass on, each with the id of the
/// project it belongs to, as read at `read_at`. A reading that finds nothing changed keeps
/// the same `by_namespace`, so sockets see it is unchanged without comparing it.
#[derive(Debug)]
pub struct VisibleNamespaces {
    pub read_at: Instant,
    pub by_namespace: Arc<HashMap<String, String>>,
}

/// What the open sockets of one user share. The lock is held while the projects are read,
/// so that of many sockets wanting them at once one reads and the rest wait for it.
#[derive(Default)]
struct UserSockets {
    open: u32,
    visible: Arc<tokio::sync::Mutex<Option<Arc<VisibleNamespaces>>>>,
}

/// Socket checks fall on whole steps of this length from a common start. A server woken for
/// one check then finds every socket due in that step ready at once, instead of waking for
/// each at its own millisecond: at 10,000 sockets the wake-ups, not the pings, were most of
/// the idle CPU.
const CHECK_STEP: Duration = Duration::from_secs(1);

/// Open sockets, counted per user. Cheap to clone.
#[derive(Clone)]
pub struct SocketSlots {
    pub policy: SocketPolicy,
    users: Arc<Mutex<HashMap<String, UserSockets>>>,
    /// Where the steps of the socket checks count from.
    steps_from: Instant,
}

impl SocketSlots {
    pub fn new(policy: SocketPolicy) -> Self {
        SocketSlots {
            policy,
            users: Arc::default(),
            steps_from: Instant::now(),
        }
    }

    /// When a socket opened at `opened` first checks its session: in a random step of the
    /// first period, so that sockets opened together do not all check together, and on a
    /// step boundary (see [`CHECK_STEP`]; a shorter period is its own step).
    pub fn first_check(&self, opened: Instant) -> Instant {
        let step = CHECK_STEP.min(self.policy.check_every).as_nanos().max(1);
        let steps_per_period = (self.policy.check_every.as_nanos() / step).max(1);
        let since = opened.saturating_duration_since(self.steps_from).as_nanos();
        let steps = since.div_ceil(step) + rand::random_range(0..steps_per_period);
        let offset = u64::try_from(steps * step).unwrap_or(u64::MAX);
        self.steps_from + Duration::from_nanos(offset)
    }

    /// A slot for one more socket of `user_id`, or `None` when they hold the most allowed.
    /// The slot frees itself when dropped.
    pub fn take(&self, user_id: &str) -> Option<SocketSlot> {
        let mut users = self.users.lock().ok()?;
        let user = users.entry(user_id.to_owned()).or_default();
        if user.open >= self.policy.max_per_user {
            return None;
        }
        user.open += 1;
        Some(SocketSlot {
            users: Arc::clone(&self.users),
            visible: Arc::clone(&user.visible),
            user_id: user_id.to_owned(),
        })
    }

    /// Sockets `user_id` holds open right now.
    pub fn held_by(&self, user_id: &str) -> u32 {
        self.users
            .lock()
            .map(|users| users.get(user_id).map(|user| user.open).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// One open socket's place in the count, and its way to what the user's sockets share.
pub struct SocketSlot {
    users: Arc<Mutex<HashMap<String, UserSockets>>>,
    visible: Arc<tokio::sync::Mutex<Option<Arc<VisibleNamespaces>>>>,
    user_id: String,
}

impl SocketSlot {
    /// The namespaces the user may see, as read at `fresh_since` or later: the copy another
    /// socket of the user read, or one `read` now.
    pub async fn visible<E>(
        &self,
        fresh_since: Instant,
        read: impl Future<Output = Result<HashMap<String, String>, E>>,
    ) -> Result<Arc<VisibleNamespaces>, E> {
        let mut shared = self.visible.lock().await;
        if let Some(known) = shared.as_ref().filter(|known| known.read_at >= fresh_since) {
            return Ok(Arc::clone(known));
        }
        let read_at = Instant::now();
        let found = read.await?;
        let by_namespace = match shared.as_ref() {
            Some(known) if *known.by_namespace == found => Arc::clone(&known.by_namespace),
            _ => Arc::new(found),
        };
        let fresh = Arc::new(VisibleNamespaces {
            read_at,
            by_namespace,
        });
        *shared = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Ok(mut users) = self.users.lock() {
            if let Some(user) = users.get_mut(&self.user_id) {
                user.open = user.open.saturating_sub(1);
                if user.open == 0 {
                    users.remove(&self.user_id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_fall_on_shared_steps_within_the_first_period() {
        let slots = SocketSlots::new(SocketPolicy::new(5));
        let every = slots.policy.check_every;
        let firsts: Vec<Instant> = (0..200)
            .map(|socket| {
                let opened = slots.steps_from + Duration::from_micros(socket * 7_919);
                let first = slots.first_check(opened);
                assert!(first >= opened && first < opened + every + CHECK_STEP);
                first
            })
            .collect();
        for first in &firsts {
            let offset = first.duration_since(slots.steps_from);
            assert_eq!(offset.as_nanos() % CHECK_STEP.as_nanos(), 0, "{offset:?}");
        }
        let distinct: std::collections::HashSet<_> = firsts.iter().collect();
        assert!(
            distinct.len() > 10 && distinct.len() <= 46,
            "{} distinct first checks",
            distinct.len()
        );

        let mut fast = SocketPolicy::new(5);
        fast.check_every = Duration::from_millis(100);
        let slots = SocketSlots::new(fast);
        let opened = slots.steps_from + Duration::from_millis(1_234);
        assert_eq!(
            slots.first_check(opened),
            slots.steps_from + Duration::from_millis(1_300),
            "a period shorter than a step checks on its own boundaries"
        );
    }

    #[tokio::test]
    async fn a_users_sockets_read_their_projects_once_per_freshness() {
        let slots = SocketSlots::new(SocketPolicy::new(5));
        let (first, second) = (slots.take("u").unwrap(), slots.take("u").unwrap());
        let other = slots.take("v").unwrap();
        let reads = std::sync::atomic::AtomicU32::new(0);
        let read = || async {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ()>(HashMap::from([("ns".to_owned(), "p".to_owned())]))
        };
        let start = Instant::now();
        let a = first.visible(start, read()).await.unwrap();
        let b = second.visible(start, read()).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        other.visible(start, read()).await.unwrap();
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        let later = Instant::now();
        let c = second.visible(later, read()).await.unwrap();
        assert!(c.read_at >= later);
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert!(
            Arc::ptr_eq(&a.by_namespace, &c.by_namespace),
            "an unchanged reading is shared"
        );
        drop((first, second));
        assert_eq!(slots.held_by("u"), 0);
        assert_eq!(slots.held_by("v"), 1);
    }
}
