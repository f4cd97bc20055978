//! What stands in front of the owner's access decision: a per-peer token bucket, and
//! the local log of requests refused without a ledger block.
//!
//! Any peer can send data requests, and most peers hold no grant of this owner. A
//! request from a party without a live grant writes nothing to the ledger (a ledger
//! block is gossiped to every node and kept forever: a stranger must not be able to
//! make a patient write them, nor learn anything from them). Instead the refusal goes
//! to this bounded log, which only the owner sees. The bucket bounds what one peer
//! costs before anything is decoded further, signature-checked or looked up.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::RequestSettings;
use crate::ledger::AccountId;
use crate::store::{Batch, Store, StoreError, cf, prefix};

/// Most peers a [`RateLimiter`] tracks; beyond that the one seen longest ago is dropped.
/// Connections are bounded far below this, so an honest peer is never dropped.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// Characters of a refused request's query kept in the log.
const MAX_LOGGED_QUERY: usize = 200;

/// How often, at most, the request path saves the refusal log. It is the owner's
/// diagnostic record, not an obligation: a crash loses at most this much of it, and
/// nothing owed or paid depends on it (those are ledger blocks).
const SAVE_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

/// A token bucket per peer: `per_peer_burst` requests at once, then
/// `per_peer_per_minute` a minute. Bounded in the peers it tracks.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<AccountId, Bucket>>,
}

impl RateLimiter {
    /// A limiter with the configured burst and rate.
    pub fn new(settings: &RequestSettings) -> Self {
        Self {
            burst: f64::from(settings.per_peer_burst.max(1)),
            per_ms: f64::from(settings.per_peer_per_minute.max(1)) / 60_000.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `peer`'s bucket at `now_ms`; false if it is empty (refuse
    /// the request unread).
    pub fn allow(&self, peer: &AccountId, now_ms: u64) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(peer) && buckets.len() >= MAX_TRACKED_PEERS {
            // A full bucket carries no information: drop those first, then the peer
            // seen longest ago.
            buckets.retain(|_, b| self.refilled(b, now_ms) < self.burst);
            if buckets.len() >= MAX_TRACKED_PEERS
                && let Some(oldest) = buckets
                    .iter()
                    .min_by_key(|(_, b)| b.last_ms)
                    .map(|(k, _)| *k)
            {
                buckets.remove(&oldest);
            }
        }
        let b = buckets.entry(*peer).or_insert(Bucket {
            tokens: self.burst,
            last_ms: now_ms,
        });
        b.tokens = self.refilled(b, now_ms);
        b.last_ms = b.last_ms.max(now_ms);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refilled(&self, b: &Bucket, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(b.last_ms) as f64;
        (b.tokens + elapsed * self.per_ms).min(self.burst)
    }

    /// Peers tracked now (at most [`MAX_TRACKED_PEERS`]).
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One refused request (or a run of identical ones) in the local refusal log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// When the last of them arrived (ms since the Unix epoch).
    pub time_ms: u64,
    /// The requesting account (the connection's, never a request field).
    #[serde(with = "account_hex")]
    pub requester: AccountId,
    /// The staff user the requester named, if any.
    pub staff_user: String,
    /// The purpose asked for.
    pub purpose: String,
    /// The query, cut to 200 characters.
    pub query: String,
    /// Why it was refused, for the owner (the requester was told only that there is
    /// no consent for it, or that it asks too often).
    pub reason: String,
    /// How many such requests in a row (same requester and reason) this entry stands for.
    pub count: u64,
}

/// The bounded local log of refused requests: at most `refusal_log_max` entries, the
/// oldest dropped first; consecutive refusals of one requester for one reason are one
/// entry with a count, so a flood takes one line, not the whole log.
#[derive(Debug)]
pub struct RefusalLog {
    max: usize,
    entries: Mutex<VecDeque<Refusal>>,
    saved: Mutex<Instant>,
    /// Changed since the last save.
    dirty: AtomicBool,
    store: Store,
}

impl RefusalLog {
    /// Loads the log saved in `store` (an unreadable one is dropped with a warning: it
    /// is a diagnostic record, and refusing to start over it would help nobody).
    pub async fn open(store: Store, settings: &RequestSettings) -> Result<Self, StoreError> {
        let max = settings.refusal_log_max.max(1) as usize;
        let mut entries: VecDeque<Refusal> =
            match store.get(cf::META, prefix::REFUSAL_LOG.to_vec()).await? {
                Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    tracing::warn!("the saved refusal log is unreadable ({e}); starting a new one");
                    VecDeque::new()
                }),
                None => VecDeque::new(),
            };
        while entries.len() > max {
            entries.pop_front();
        }
        Ok(Self {
            max,
            entries: Mutex::new(entries),
            saved: Mutex::new(Instant::now()),
            dirty: AtomicBool::new(false),
            store,
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Refusal>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a refusal (merged into the newest entry when it is the same requester and
    /// reason), dropping the oldest entry beyond the bound.
    pub fn record(&self, mut r: Refusal) {
        r.query = r.query.chars().take(MAX_LOGGED_QUERY).collect();
        r.staff_user = r.staff_user.chars().take(64).collect();
        r.purpose = r.purpose.chars().take(32).collect();
        r.count = r.count.max(1);
        {
            let mut entries = self.lock();
            match entries.back_mut() {
                Some(last) if last.requester == r.requester && last.reason == r.reason => {
                    last.count = last.count.saturating_add(r.count);
                    last.time_ms = r.time_ms;
                    last.query = r.query;
                    last.staff_user = r.staff_user;
                    last.purpose = r.purpose;
                }
                _ => {
                    entries.push_back(r);
                    while entries.len() > self.max {
                        entries.pop_front();
                    }
                }
            }
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> Vec<Refusal> {
        self.lock().iter().cloned().collect()
    }

    /// Entries held now (at most the bound).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Saves the log if it changed and the last save is older than ten seconds.
    pub async fn save_if_due(&self) -> Result<(), StoreError> {
        {
            let mut last = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
            if last.elapsed() < SAVE_EVERY {
                return Ok(());
            }
            *last = Instant::now();
        }
        self.save().await
    }

    /// Saves the log now if it changed (a clean stop does).
    pub async fn save(&self) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&*self.lock()).unwrap_or_default();
        let mut b = Batch::new();
        b.put(cf::META, prefix::REFUSAL_LOG.to_vec(), bytes);
        self.store.commit(b).await
    }
}

/// An account as its hex text in the saved log.
mod account_hex {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::ledger::AccountId;

    pub(super) fn serialize<S: Serializer>(a: &AccountId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AccountId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(burst: u32, per_minute: u32, max: u32) -> RequestSettings {
        RequestSettings {
            per_peer_burst: burst,
            per_peer_per_minute: per_minute,
            refusal_log_max: max,
            ..RequestSettings::default()
        }
    }

    fn peer(i: u32) -> AccountId {
        let mut a = [0u8; 32];
        a[..4].copy_from_slice(&i.to_be_bytes());
        AccountId(a)
    }

    #[test]
    fn a_peer_gets_its_burst_then_its_rate_and_others_are_not_affected() {
        let rl = RateLimiter::new(&settings(3, 60, 10));
        let (a, b) = (peer(1), peer(2));
        assert!((0..3).all(|_| rl.allow(&a, 1_000)));
        assert!(!rl.allow(&a, 1_000), "burst spent");
        assert!(rl.allow(&b, 1_000), "another peer has its own bucket");
        assert!(!rl.allow(&a, 1_500), "60/min is one a second");
        assert!(rl.allow(&a, 2_000));
        assert!(!rl.allow(&a, 2_000));
    }

    #[test]
    fn the_limiter_tracks_a_bounded_number_of_peers() {
        let rl = RateLimiter::new(&settings(2, 60, 10));
        for i in 0..(MAX_TRACKED_PEERS as u32 + 500) {
            rl.allow(&peer(i), 1_000);
            rl.allow(&peer(i), 1_000);
        }
        assert!(rl.tracked() <= MAX_TRACKED_PEERS);
    }

    fn refusal(i: u32, reason: &str) -> Refusal {
        Refusal {
            time_ms: u64::from(i),
            requester: peer(i % 7),
            staff_user: "x".repeat(100),
            purpose: "treatment".into(),
            query: "q".repeat(500),
            reason: reason.into(),
            count: 1,
        }
    }

    #[tokio::test]
    async fn the_log_keeps_its_bound_merges_runs_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let s = settings(10, 60, 5);
        let log = RefusalLog::open(store.clone(), &s).await.unwrap();
        for i in 0..1000 {
            log.record(refusal(i, "no grant"));
        }
        assert_eq!(log.len(), 5);
        let newest = log.entries().pop().unwrap();
        assert_eq!(newest.query.chars().count(), MAX_LOGGED_QUERY);
        assert_eq!(newest.staff_user.chars().count(), 64);
        // A flood from one requester is one entry with a count.
        for i in 0..500 {
            let mut r = refusal(i, "rate limited");
            r.requester = peer(99);
            log.record(r);
        }
        let last = log.entries().pop().unwrap();
        assert_eq!((last.requester, last.count), (peer(99), 500));
        assert_eq!(log.len(), 5);
        log.save().await.unwrap();
        drop(log);
        let again = RefusalLog::open(store, &settings(10, 60, 3)).await.unwrap();
        assert_eq!(again.len(), 3, "a smaller bound applies to what was saved");
        assert_eq!(again.entries().pop().unwrap().count, 500);
    }
}
