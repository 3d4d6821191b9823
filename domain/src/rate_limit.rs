//! Rate limits for the API (S8): token buckets, one per caller (user or API key) and one
//! per client address. A bucket holds up to `burst` requests and refills at `per_sec`; a
//! request takes one token or is refused with the seconds until one is back (the answer's
//! `Retry-After`). In memory, per process: with several nodes each limits its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One limit: `per_sec` sustained, `burst` at once. `per_sec == 0.0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    pub const OFF: Rate = Rate {
        per_sec: 0.0,
        burst: 0.0,
    };

    pub fn is_off(&self) -> bool {
        self.per_sec <= 0.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one kind of key (callers, or addresses).
#[derive(Debug)]
pub struct Buckets {
    rate: Rate,
    map: Mutex<HashMap<String, Bucket>>,
}

/// Most buckets kept; beyond it, full (idle) ones are forgotten.
const MAX_BUCKETS: usize = 100_000;

impl Buckets {
    pub fn new(rate: Rate) -> Buckets {
        Buckets {
            rate,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now`: `Ok(())`, or `Err(wait)` until one is back.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.rate.is_off() {
            return Ok(());
        }
        let Rate { per_sec, burst } = self.rate;
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_BUCKETS && !map.contains_key(key) {
            map.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refilled = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec).min(burst);
        b.at = now;
        if refilled >= 1.0 {
            b.tokens = refilled - 1.0;
            Ok(())
        } else {
            b.tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / per_sec))
        }
    }
}

/// The API's limits: per caller and per address.
#[derive(Debug)]
pub struct RateLimiter {
    pub callers: Buckets,
    pub addresses: Buckets,
}

impl RateLimiter {
    pub fn new(caller: Rate, address: Rate) -> RateLimiter {
        RateLimiter {
            callers: Buckets::new(caller),
            addresses: Buckets::new(address),
        }
    }

    /// Takes a token from the caller's bucket (when known) and the address's; the longer
    /// wait when either is empty.
    pub fn check(&self, caller: Option<&str>, address: Option<&str>, now: Instant) -> Result<(), Duration> {
        let by_caller = caller.map_or(Ok(()), |c| self.callers.take(c, now));
        let by_address = address.map_or(Ok(()), |a| self.addresses.take(a, now));
        match (by_caller, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(w), _) | (_, Err(w)) => Err(w),
        }
    }
}

/// The caller bucket of a request made with API key `key`: named by a hash of the whole
/// key, not by its (public) prefix, so that junk sent with someone's prefix cannot empty
/// their bucket. The key is not checked here; a wrong one still pays in its address's.
pub fn key_bucket(key: &str) -> String {
    use sha2::Digest;
    format!("k:{}", hex::encode(&sha2::Sha256::digest(key.as_bytes())[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let b = Buckets::new(Rate {
            per_sec: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.take("a", t0).is_ok());
        }
        let wait = b.take("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Another key has its own bucket.
        assert!(b.take("b", t0).is_ok());
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take("a", t1).is_ok());
        assert!(b.take("a", t1).is_err());
        // Long idle: full again, never more than the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(b.take("a", t2).is_ok());
        }
        assert!(b.take("a", t2).is_err());
    }

    #[test]
    fn a_key_bucket_depends_on_the_whole_key() {
        let a = key_bucket("vk_000000000000_aaaa");
        assert_eq!(a, key_bucket("vk_000000000000_aaaa"));
        assert_ne!(a, key_bucket("vk_000000000000_bbbb"));
        assert!(!a.contains("vk_"));
    }

    #[test]
    fn off_never_refuses_and_the_limiter_takes_the_longer_wait() {
        let off = Buckets::new(Rate::OFF);
        let t = Instant::now();
        for _ in 0..10_000 {
            assert!(off.take("a", t).is_ok());
        }
        let l = RateLimiter::new(
            Rate {
                per_sec: 1.0,
                burst: 1.0,
            },
            Rate {
                per_sec: 0.25,
                burst: 2.0,
            },
        );
        assert!(l.check(Some("u:1"), Some("ip"), t).is_ok());
        // The caller's bucket is empty (1 s); the address's has one left.
        assert_eq!(
            l.check(Some("u:1"), Some("ip"), t).unwrap_err(),
            Duration::from_secs(1)
        );
        // Now the address's bucket is empty too: a new caller waits for it (4 s).
        assert_eq!(
            l.check(Some("u:2"), Some("ip"), t).unwrap_err(),
            Duration::from_secs(4)
        );
    }
}
