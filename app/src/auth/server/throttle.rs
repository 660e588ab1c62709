//! Slowing down password guessing, per client address and per account, before any argon2
//! work is spent on an attempt.
//!
//! Five failures are free; after that each further attempt must wait twice as long as the
//! one before (1 s, 2 s, 4 s … capped at 15 min). Quiet for 15 minutes, a key starts over.
//! Counters live in memory: each replica throttles on its own, and the permanent lock after
//! 100 failures (in the database) bounds what several replicas together allow.

use std::{collections::HashMap, sync::Mutex};

const FREE_FAILURES: u32 = 5;
const BASE_DELAY_MS: i64 = 1_000;
const MAX_DELAY_MS: i64 = 15 * 60 * 1_000;
const FORGET_AFTER_MS: i64 = 15 * 60 * 1_000;
/// Above this many keys, stale ones are dropped so a flood of addresses cannot grow memory.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last_ms: i64,
}

impl Failures {
    /// When the next attempt may be made.
    fn next_allowed_ms(self) -> i64 {
        if self.count < FREE_FAILURES {
            return self.last_ms;
        }
        let doublings = (self.count - FREE_FAILURES).min(20);
        self.last_ms + (BASE_DELAY_MS << doublings).min(MAX_DELAY_MS)
    }
}

/// The throttle keys of one attempt.
pub fn attempt_keys(ip: Option<&str>, email: &str) -> Vec<String> {
    let mut keys = vec![format!("account:{}", super::users::normalize_email(email))];
    if let Some(ip) = ip {
        keys.push(format!("ip:{ip}"));
    }
    keys
}

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// `Err(seconds)` to wait when any of `keys` is still held back at `now_ms`.
    pub fn check(&self, keys: &[String], now_ms: i64) -> Result<(), u64> {
        let Ok(failures) = self.failures.lock() else {
            return Ok(());
        };
        let wait_ms = keys
            .iter()
            .filter_map(|key| failures.get(key))
            .filter(|entry| now_ms - entry.last_ms < FORGET_AFTER_MS)
            .map(|entry| entry.next_allowed_ms() - now_ms)
            .max()
            .unwrap_or(0);
        if wait_ms > 0 {
            Err(u64::try_from((wait_ms + 999) / 1_000).unwrap_or(1))
        } else {
            Ok(())
        }
    }

    pub fn record_failure(&self, keys: &[String], now_ms: i64) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, entry| now_ms - entry.last_ms < FORGET_AFTER_MS);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert(Failures {
                count: 0,
                last_ms: now_ms,
            });
            if now_ms - entry.last_ms >= FORGET_AFTER_MS {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last_ms = now_ms;
        }
    }

    /// A successful sign-in clears its account's counter (not its address's).
    pub fn clear(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}
