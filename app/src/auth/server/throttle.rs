//! Slowing down password and code guessing, per client address and per account, before any
//! argon2 work is spent on an attempt.
//!
//! Five failures are free; after that each further attempt must wait twice as long as the
//! one before (1 s, 2 s, 4 s … capped at 15 min). Quiet for 15 minutes, a key starts over.
//!
//! An attempt is counted as a failure the moment it is let through ([`LoginThrottle::begin`])
//! and forgiven only when it succeeds, so a burst of parallel guesses meets the delay after
//! the fifth, not after the first ones finish. Attempts still being checked are capped per
//! key as well.
//!
//! Keys are fixed-size hashes of the normalised email and of the client address (an IPv6
//! client by its /64, which one subscriber usually holds whole). Accounts and addresses are
//! kept apart, each in a map of bounded size that forgets its least recently failed key
//! first, so a flood of addresses cannot push an account's count out, and memory stays flat
//! whatever arrives. Counters live in memory: each replica throttles on its own; the lock
//! after 100 failures, in the database, bounds what all of them together allow.

use sha2::{Digest as _, Sha256};
use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::{Arc, Mutex},
};

const FREE_FAILURES: u32 = 5;
const BASE_DELAY_MS: i64 = 1_000;
const MAX_DELAY_MS: i64 = 15 * 60 * 1_000;
const FORGET_AFTER_MS: i64 = 15 * 60 * 1_000;
/// Keys each map holds at most, by default (about 100 bytes each).
pub const DEFAULT_CAPACITY: usize = 50_000;
/// Attempts of one account being checked at the same time: as many as are free, so that a
/// burst reaches exactly what the delays would let through one by one.
pub const MAX_IN_FLIGHT_PER_ACCOUNT: u32 = FREE_FAILURES;
/// Attempts from one address being checked at the same time.
pub const MAX_IN_FLIGHT_PER_ADDRESS: u32 = 8;

/// A throttle key: the first 128 bits of a SHA-256.
pub type Key = [u8; 16];

fn key(parts: &[&[u8]]) -> Key {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The part of an address that identifies a client: IPv4 whole, IPv6 by its /64 (an
/// IPv4-mapped IPv6 address as the IPv4 address it carries).
pub fn client_prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// The keys one attempt is counted under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttemptKeys {
    pub account: Option<Key>,
    pub address: Option<Key>,
}

impl AttemptKeys {
    /// A password attempt on the account `email` from `ip`.
    pub fn password(ip: Option<IpAddr>, email: &str) -> Self {
        let email = super::users::normalize_email(email);
        AttemptKeys {
            account: Some(key(&[b"account:", email.as_bytes()])),
            address: ip.map(address_key),
        }
    }

    /// A second-factor attempt of the user `user_id` (counted apart from passwords, so a
    /// correct password cannot reset what protects the code).
    pub fn second_factor(user_id: &str) -> Self {
        AttemptKeys {
            account: Some(key(&[b"mfa:", user_id.as_bytes()])),
            address: None,
        }
    }

    /// Requests from `ip` alone, for other costly endpoints.
    pub fn address(ip: Option<IpAddr>) -> Self {
        AttemptKeys {
            account: None,
            address: ip.map(address_key),
        }
    }
}

fn address_key(ip: IpAddr) -> Key {
    key(&[b"address:", client_prefix(ip).to_string().as_bytes()])
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_ms: i64,
    in_flight: u32,
    /// Position in the eviction queue; the queue's older positions for this key are stale.
    seq: u64,
}

impl Entry {
    /// How long from `now_ms` until another attempt may start.
    fn wait_ms(&self, now_ms: i64) -> i64 {
        if self.failures < FREE_FAILURES || now_ms - self.last_ms >= FORGET_AFTER_MS {
            return 0;
        }
        let doublings = (self.failures - FREE_FAILURES).min(20);
        self.last_ms + (BASE_DELAY_MS << doublings).min(MAX_DELAY_MS) - now_ms
    }
}

/// Counters of one kind of key, at most `capacity` of them; the least recently failed goes
/// first when a new one needs room.
struct Counters {
    entries: HashMap<Key, Entry>,
    /// (key, seq) in the order keys last changed; stale pairs are skipped and compacted.
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
    capacity: usize,
    max_in_flight: u32,
}

impl Counters {
    fn new(capacity: usize, max_in_flight: u32) -> Self {
        Counters {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            max_in_flight,
        }
    }

    /// Milliseconds to wait before `key` may try again, 0 when it may now.
    fn wait_ms(&self, key: &Key, now_ms: i64) -> i64 {
        match self.entries.get(key) {
            Some(entry) if entry.in_flight >= self.max_in_flight => BASE_DELAY_MS,
            Some(entry) => entry.wait_ms(now_ms),
            None => 0,
        }
    }

    /// Counts an attempt as a failure until it is forgiven, and as in flight.
    fn reserve(&mut self, key: Key, now_ms: i64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last_ms: now_ms,
            in_flight: 0,
            seq,
        });
        if now_ms - entry.last_ms >= FORGET_AFTER_MS {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last_ms = now_ms;
        entry.in_flight += 1;
        entry.seq = seq;
        self.order.push_back((key, seq));
        self.evict();
    }

    fn evict(&mut self) {
        while self.entries.len() > self.capacity {
            let Some((key, seq)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&key).is_some_and(|entry| entry.seq == seq) {
                self.entries.remove(&key);
            }
        }
        if self.order.len() > 2 * self.capacity + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(key, seq)| entries.get(key).is_some_and(|entry| entry.seq == *seq));
        }
    }

    fn settle(&mut self, key: &Key, forgive: Forgive, now_ms: i64) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        match forgive {
            // The next delay runs from when this failure was known, not from its start.
            Forgive::Nothing => entry.last_ms = entry.last_ms.max(now_ms),
            Forgive::This => entry.failures = entry.failures.saturating_sub(1),
            Forgive::All if entry.in_flight == 0 => {
                self.entries.remove(key);
            }
            Forgive::All => entry.failures = 0,
        }
    }

    fn clear(&mut self, key: &Key) {
        self.entries.remove(key);
    }
}

#[derive(Clone, Copy)]
enum Forgive {
    Nothing,
    This,
    All,
}

struct Maps {
    accounts: Counters,
    addresses: Counters,
}

/// Where the throttle reads the time (unix milliseconds).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The sign-in throttle of one process.
pub struct LoginThrottle {
    maps: Mutex<Maps>,
    clock: Clock,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::with_capacity(DEFAULT_CAPACITY)
    }
}

impl LoginThrottle {
    /// A throttle that holds at most `capacity` account keys and as many address keys.
    pub fn with_capacity(capacity: usize) -> Self {
        LoginThrottle::with_clock(capacity, Arc::new(crate::db::now_ms))
    }

    pub fn with_clock(capacity: usize, clock: Clock) -> Self {
        LoginThrottle {
            maps: Mutex::new(Maps {
                accounts: Counters::new(capacity, MAX_IN_FLIGHT_PER_ACCOUNT),
                addresses: Counters::new(capacity, MAX_IN_FLIGHT_PER_ADDRESS),
            }),
            clock,
        }
    }

    /// Lets an attempt start, counting it as a failure until it is settled; `Err(seconds)`
    /// to wait when any of its keys is held back or has too many attempts in flight.
    pub fn begin(self: &Arc<Self>, keys: AttemptKeys) -> Result<Attempt, u64> {
        let now_ms = (self.clock)();
        let Ok(mut maps) = self.maps.lock() else {
            return Err(1);
        };
        let wait_ms = keys
            .account
            .map_or(0, |key| maps.accounts.wait_ms(&key, now_ms))
            .max(
                keys.address
                    .map_or(0, |key| maps.addresses.wait_ms(&key, now_ms)),
            );
        if wait_ms > 0 {
            return Err(u64::try_from((wait_ms + 999) / 1_000).unwrap_or(1).max(1));
        }
        if let Some(key) = keys.account {
            maps.accounts.reserve(key, now_ms);
        }
        if let Some(key) = keys.address {
            maps.addresses.reserve(key, now_ms);
        }
        Ok(Attempt {
            throttle: Arc::clone(self),
            keys,
            settled: false,
        })
    }

    /// Forgets the account key of `keys` (a success elsewhere, e.g. an admin unlock).
    pub fn clear(&self, keys: AttemptKeys) {
        if let (Ok(mut maps), Some(key)) = (self.maps.lock(), keys.account) {
            maps.accounts.clear(&key);
        }
    }

    /// Keys held right now (accounts, addresses): what the throttle costs in memory.
    pub fn held(&self) -> (usize, usize) {
        self.maps
            .lock()
            .map(|maps| (maps.accounts.entries.len(), maps.addresses.entries.len()))
            .unwrap_or_default()
    }

    fn settle(&self, keys: AttemptKeys, succeeded: bool) {
        let now_ms = (self.clock)();
        let Ok(mut maps) = self.maps.lock() else {
            return;
        };
        let (account, address) = if succeeded {
            (Forgive::All, Forgive::This)
        } else {
            (Forgive::Nothing, Forgive::Nothing)
        };
        if let Some(key) = keys.account {
            maps.accounts.settle(&key, account, now_ms);
        }
        if let Some(key) = keys.address {
            maps.addresses.settle(&key, address, now_ms);
        }
    }
}

/// An attempt let through by the throttle. It stays counted as a failure unless
/// [`Attempt::succeeded`] is called; dropping it unsettled (an error, a cancelled request)
/// keeps it counted.
#[must_use]
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    keys: AttemptKeys,
    settled: bool,
}

impl Attempt {
    /// Whether no other attempt on the same account is in flight in this process.
    pub fn alone(&self) -> bool {
        let Some(key) = self.keys.account else {
            return true;
        };
        self.throttle.maps.lock().is_ok_and(|maps| {
            maps.accounts
                .entries
                .get(&key)
                .is_none_or(|entry| entry.in_flight <= 1)
        })
    }

    /// The attempt succeeded: the account starts over, the address is forgiven this one.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.throttle.settle(self.keys, true);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.settle(self.keys, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicI64, Ordering};

    /// A throttle whose clock the test sets.
    fn throttle(capacity: usize) -> (Arc<LoginThrottle>, Arc<AtomicI64>) {
        let now = Arc::new(AtomicI64::new(0));
        let clock = Arc::clone(&now);
        let throttle =
            LoginThrottle::with_clock(capacity, Arc::new(move || clock.load(Ordering::Relaxed)));
        (Arc::new(throttle), now)
    }

    #[test]
    fn parallel_attempts_meet_the_delay_after_the_fifth_not_after_they_finish() {
        let (throttle, now) = throttle(100);
        let keys = AttemptKeys::password(None, "ada@example.test");
        let running: Vec<_> = (0..FREE_FAILURES)
            .map(|_| throttle.begin(keys).expect("free attempt"))
            .collect();
        assert!(throttle.begin(keys).is_err(), "sixth while five run");
        drop(running);
        assert_eq!(throttle.begin(keys).err(), Some(1));
        now.store(1_000, Ordering::Relaxed);
        assert!(throttle.begin(keys).is_ok(), "after the delay");
    }

    #[test]
    fn the_delay_runs_from_when_the_last_failure_was_known() {
        let (throttle, now) = throttle(100);
        let keys = AttemptKeys::password(None, "slow@x.test");
        let running: Vec<_> = (0..FREE_FAILURES)
            .map(|_| throttle.begin(keys).expect("free attempt"))
            .collect();
        now.store(500, Ordering::Relaxed);
        drop(running);
        now.store(1_200, Ordering::Relaxed);
        assert!(
            throttle.begin(keys).is_err(),
            "a second after the start, not the end"
        );
        now.store(1_500, Ordering::Relaxed);
        assert!(throttle.begin(keys).is_ok());
    }

    #[test]
    fn a_success_forgives_the_account_and_only_its_own_attempt_of_the_address() {
        let (throttle, _) = throttle(100);
        let ip = Some("192.0.2.1".parse().expect("ip"));
        for n in 0..3 {
            drop(throttle.begin(AttemptKeys::password(ip, &format!("u{n}@x.test"))));
        }
        let mine = AttemptKeys::password(ip, "me@x.test");
        throttle.begin(mine).expect("fourth").succeeded();
        drop(throttle.begin(AttemptKeys::password(ip, "u4@x.test")));
        drop(throttle.begin(AttemptKeys::password(ip, "u5@x.test")));
        assert!(
            throttle
                .begin(AttemptKeys::password(ip, "u6@x.test"))
                .is_err(),
            "five failures from the address, the success not among them"
        );
        assert!(
            throttle
                .begin(AttemptKeys::password(None, "me@x.test"))
                .is_ok(),
            "the account starts over"
        );
    }

    #[test]
    fn attempts_in_flight_are_capped_per_account() {
        let (throttle, _) = throttle(100);
        let keys = AttemptKeys::second_factor("user-1");
        let mut running = Vec::new();
        for _ in 0..MAX_IN_FLIGHT_PER_ACCOUNT {
            let attempt = throttle.begin(keys).expect("under the cap");
            running.push(attempt);
        }
        assert!(throttle.begin(keys).is_err());
        for attempt in running {
            attempt.succeeded();
        }
        assert!(throttle.begin(keys).is_ok());
    }

    #[test]
    fn a_flood_of_distinct_keys_keeps_the_maps_bounded_and_the_oldest_goes_first() {
        let (throttle, now) = throttle(1_000);
        let victim = AttemptKeys::password(None, "victim@x.test");
        for _ in 0..FREE_FAILURES {
            drop(throttle.begin(victim));
        }
        now.store(1, Ordering::Relaxed);
        for n in 0..20_000u32 {
            let ip = IpAddr::from(n.to_be_bytes());
            drop(throttle.begin(AttemptKeys::address(Some(ip))));
        }
        assert_eq!(
            throttle.held(),
            (1, 1_000),
            "addresses cannot evict accounts"
        );
        assert!(
            throttle.begin(victim).is_err(),
            "the account is still held back"
        );
        now.store(3, Ordering::Relaxed);
        for n in 0..20_000u32 {
            drop(throttle.begin(AttemptKeys::password(None, &format!("{n}@x.test"))));
        }
        assert_eq!(throttle.held(), (1_000, 1_000));
        assert!(
            throttle.begin(victim).is_ok(),
            "the least recently failed key was forgotten first"
        );
        let maps = throttle.maps.lock().expect("lock");
        assert!(maps.accounts.order.len() <= 2 * 1_000 + 16);
        assert!(maps.addresses.order.len() <= 2 * 1_000 + 16);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let parse = |text: &str| text.parse::<IpAddr>().expect("ip");
        assert_eq!(
            client_prefix(parse("2001:db8:1:2:aaaa::1")),
            parse("2001:db8:1:2::")
        );
        assert_eq!(client_prefix(parse("::ffff:192.0.2.9")), parse("192.0.2.9"));
        let (throttle, _) = throttle(100);
        for host in 1..=FREE_FAILURES {
            let ip = parse(&format!("2001:db8:1:2::{host}"));
            drop(throttle.begin(AttemptKeys::address(Some(ip))));
        }
        let neighbour = AttemptKeys::address(Some(parse("2001:db8:1:2:ffff::9")));
        assert!(throttle.begin(neighbour).is_err(), "same /64");
        let other = AttemptKeys::address(Some(parse("2001:db8:1:3::1")));
        assert!(throttle.begin(other).is_ok(), "another /64");
    }
}
