//! The node's access guard behind one handle: the model, the clock it judges requests
//! by, and when its learned state was last saved.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::guard::{Clock, Guard, GuardDecision, RequestContext};
use crate::store::{Batch, Store, StoreError, cf, prefix};

/// How often, at most, the request path saves the guard's state, so a crash loses at
/// most this much of what it learned (a clean stop saves it too). A snapshot is a few
/// hundred KB, too much to write on every request.
const GUARD_SAVE_EVERY: Duration = Duration::from_secs(60);

/// The access guard of a running node, learning from this node's own request history.
/// Each lock is held only for one call, never across an await.
#[derive(Debug)]
pub struct GuardHandle {
    guard: Mutex<Guard>,
    /// Where the guard takes the time of a request from: the system clock, or a
    /// manual clock set by tests and replays.
    clock: Mutex<Clock>,
    /// When the guard's state was last saved.
    saved: Mutex<Instant>,
    store: Store,
}

impl GuardHandle {
    /// Wraps a guard restored from (or saved to) `store`, on the system clock.
    pub(super) fn new(guard: Guard, store: Store) -> Self {
        Self {
            guard: Mutex::new(guard),
            clock: Mutex::new(Clock::System),
            saved: Mutex::new(Instant::now()),
            store,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Scores a request (feature update + model).
    pub fn assess(&self, ctx: &RequestContext) -> GuardDecision {
        self.lock().assess(ctx)
    }

    /// Tells the guard about a request refused before it was asked (no grant, unpaid
    /// accesses), so it counts in the requester's behaviour.
    pub fn refused(&self, ctx: &RequestContext) {
        self.lock().record_refused(ctx);
    }

    /// The time at which the guard judges a request arriving now.
    pub fn now(&self) -> u64 {
        self.clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .now_ms()
    }

    /// Replaces the guard's clock, e.g. with [`Clock::manual`] so a test decides what
    /// time of day its requests arrive at and how far apart.
    pub fn set_clock(&self, clock: Clock) {
        *self.clock.lock().unwrap_or_else(PoisonError::into_inner) = clock;
    }

    /// Tells the guard how a request it scored was answered.
    pub fn outcome(&self, ctx: &RequestContext, records: usize, denied: bool) {
        self.lock().record_outcome(ctx, records, denied);
    }

    /// The guard's learned state as bytes (what [`GuardHandle::save`] stores).
    pub fn snapshot(&self) -> Vec<u8> {
        self.lock().snapshot()
    }

    /// Saves what the guard learned, so a restart keeps it.
    pub async fn save(&self) -> Result<(), StoreError> {
        let bytes = self.snapshot();
        let mut b = Batch::new();
        b.put(cf::GUARD, prefix::GUARD_STATE.to_vec(), bytes);
        self.store.commit(b).await
    }

    /// Saves the guard's state if the last save is older than a minute.
    pub async fn save_if_due(&self) -> Result<(), StoreError> {
        {
            let mut last = self.saved.lock().unwrap_or_else(PoisonError::into_inner);
            if last.elapsed() < GUARD_SAVE_EVERY {
                return Ok(());
            }
            // Claimed before saving, so concurrent requests do not all save at once.
            *last = Instant::now();
        }
        self.save().await
    }
}
