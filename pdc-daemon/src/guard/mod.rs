//! Access guard ("AI security"): scores every data request a patient's node
//! receives and decides allow, flag or deny, with the reasons in words.
//!
//! # Layout
//! - `features`: per-requester and per-staff-user sliding windows and learned
//!   habits, turned into one feature vector per request.
//! - `model`: isolation forest + per-feature tail statistics, learned online
//!   from accepted requests on top of a prior of normal clinical behaviour.
//!
//! How well it detects attacks is measured by [`crate::guard_eval`], which sits above
//! the access flow because it replays traces through it.
//!
//! The guard has no I/O: the node persists [`Guard::snapshot`] bytes and hands
//! them back to [`Guard::restore`] on start.
//!
//! # Flow
//! [`Guard::assess`] is called when a request arrives (it updates the windows and
//! scores); [`Guard::record_outcome`] after the owner answered. Only requests the
//! guard allowed *and* the owner answered are learned from, so an attacker's
//! flagged traffic never becomes "normal".

mod features;
mod model;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub(crate) use self::features::fnv;
use self::features::{Event, Features, N, Party, Profile, hour_of};
use self::model::{Model, ModelState};

/// Version of the snapshot format written by [`Guard::snapshot`].
const SNAPSHOT_VERSION: u32 = 1;

/// Most requesters or staff users tracked at once; the least recently seen is
/// forgotten first, so hostile key churn cannot grow memory without bound.
const MAX_PARTIES: usize = 10_000;

/// Assessed requests waiting for their outcome; older ones are simply not learned.
const MAX_PENDING: usize = 256;

/// Node-wide exceedance (in units of the node's own 99th-percentile spread)
/// from which a breadth or volume feature stays suspicious whatever the
/// party's own habits.
const FAR_BEYOND_NODE: f64 = 4.0;

/// The same for how fast a party asks (rates, pace, distinct queries), lower
/// because speed is what a scraper cannot hide and what a party's own bursty
/// habits (an emergency department's surge) would otherwise excuse.
const FAR_BEYOND_NODE_BURSTY: f64 = 1.0;

/// Most reasons a decision gives.
const MAX_REASONS: usize = 3;

/// Where the guard takes the time of a request from. The guard itself never
/// reads a clock: every [`RequestContext`] carries its time, and the owner's
/// decision path fills it from the node's `Clock`. A running node uses the
/// system clock; tests and replays use a manual one, so time-of-day and pace
/// features do not depend on when the test happens to run.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Milliseconds since the Unix epoch from the system clock.
    #[default]
    System,
    /// A time the owner of the handle sets and advances.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock showing `start_ms`.
    pub fn manual(start_ms: u64) -> Self {
        Self::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Self::System => crate::time::now_ms(),
            Self::Manual(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Sets a manual clock to `ms`; the system clock cannot be set and ignores it.
    pub fn set(&self, ms: u64) {
        if let Self::Manual(t) = self {
            t.store(ms, Ordering::Relaxed);
        }
    }

    /// Moves a manual clock forward by `ms`; the system clock ignores it.
    pub fn advance(&self, ms: u64) {
        if let Self::Manual(t) = self {
            t.fetch_add(ms, Ordering::Relaxed);
        }
    }
}

/// Guard settings (the `[guard]` section of the node config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuardConfig {
    /// Hard limit: most requests one requester may make per minute; beyond it
    /// requests are denied whatever the model says.
    pub max_requests_per_minute: u32,
    /// Hard limit: most requests one requester may make per hour.
    pub max_requests_per_hour: u32,
    /// Short window for the request-rate feature, in seconds.
    pub short_window_secs: u64,
    /// Window for the requester-rate and distinct-query features, in seconds.
    pub window_secs: u64,
    /// Long window for the distinct-disease-category feature, in seconds.
    pub long_window_secs: u64,
    /// Anomaly score (0..1) from which a request is answered but flagged.
    pub flag_threshold: f64,
    /// Anomaly score from which a request is denied; above 1 the score never denies
    /// (only flags), and the hard limits still do.
    pub deny_threshold: f64,
    /// Whether a deny also asks the node to revoke the requester's grant.
    pub revoke_on_deny: bool,
    /// Accepted requests remembered to learn from (the model's history).
    pub history_size: usize,
    /// Trees in the isolation forest.
    pub trees: usize,
    /// Requests sampled per tree.
    pub sample_size: usize,
    /// Accepted requests a requester or staff user needs before its own habits
    /// (hours, categories, purpose, and its usual rate, pace, breadth and
    /// novelty with their spread) are trusted over its hospital's or the node's.
    pub maturity: u32,
    /// Seed of the forest's random splits, fixed so decisions are reproducible.
    pub seed: u64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_requests_per_minute: 30,
            max_requests_per_hour: 600,
            short_window_secs: 60,
            window_secs: 600,
            long_window_secs: 3600,
            flag_threshold: 0.7,
            deny_threshold: 0.85,
            revoke_on_deny: false,
            history_size: 2048,
            trees: 100,
            sample_size: 256,
            maturity: 30,
            seed: 0x9d_a7a9_0a2d,
        }
    }
}

impl GuardConfig {
    fn validate(&self) -> Result<(), GuardError> {
        let bad = |why: &str| Err(GuardError::InvalidConfig(why.to_owned()));
        // A deny threshold above 1 is allowed on purpose: scores never reach it, so the
        // guard only flags and the hard limits alone deny (documented in config.rs).
        if !(0.0 < self.flag_threshold
            && self.flag_threshold <= 1.0
            && self.flag_threshold <= self.deny_threshold)
        {
            return bad(
                "need 0 < flag_threshold <= 1 and flag_threshold <= deny_threshold \
                 (a deny_threshold above 1 turns score-based denials off)",
            );
        }
        if self.short_window_secs == 0 || self.window_secs == 0 || self.long_window_secs == 0 {
            return bad("windows must be at least 1 second");
        }
        if self.trees == 0 || self.sample_size < 2 || self.history_size == 0 {
            return bad("need trees >= 1, sample_size >= 2, history_size >= 1");
        }
        Ok(())
    }
}

/// Errors from building or restoring a [`Guard`].
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A config value is out of range.
    #[error("invalid guard config: {0}; fix the [guard] section of the node config")]
    InvalidConfig(String),
    /// The snapshot bytes could not be decoded.
    #[error(
        "guard snapshot is corrupt ({0}); delete the stored guard state to start from defaults"
    )]
    Corrupt(#[from] serde_json::Error),
    /// The snapshot was written by an incompatible version.
    #[error(
        "guard snapshot version {found} is not supported (expected {SNAPSHOT_VERSION}); delete it to start from defaults"
    )]
    UnsupportedVersion {
        /// Version found in the snapshot.
        found: u32,
    },
}

/// One incoming data request, as the guard sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Authenticated peer or key id of the requesting hospital.
    pub requester: String,
    /// Staff member of the requester who made the request, if the hospital named one.
    pub staff_user: Option<String>,
    /// Query text as received.
    pub query: String,
    /// ICD-10 block or chapter the search assigned to the query, if any.
    pub disease_category: Option<String>,
    /// Stated purpose of the request.
    pub purpose: String,
    /// Arrival time in milliseconds since the Unix epoch (hour of day is taken in UTC).
    pub now_ms: u64,
}

/// What the guard decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Answer normally.
    Allow,
    /// Answer, but record the access as flagged.
    Flag,
    /// Refuse the request.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Flag => "flag",
            Self::Deny => "deny",
        })
    }
}

/// The guard's decision on one request, with its explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardDecision {
    /// Allow, flag or deny.
    pub verdict: Verdict,
    /// Anomaly score in 0..1 (about 0.5 is ordinary; see the config thresholds).
    pub score: f64,
    /// Top contributing reasons in words, most important first; empty when allowed
    /// without anything notable.
    pub reasons: Vec<String>,
    /// Whether the node should also revoke the requester's grant
    /// (a deny with `revoke_on_deny` set).
    pub revoke: bool,
}

impl GuardDecision {
    /// One line for the audit log and the `Access` block, e.g.
    /// `deny score=0.91 revoke: 25 requests in the last minute; ...`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} score={:.2}", self.verdict, self.score);
        if self.revoke {
            s.push_str(" revoke");
        }
        if !self.reasons.is_empty() {
            s.push_str(": ");
            s.push_str(&self.reasons.join("; "));
        }
        s
    }
}

/// An assessed request awaiting its outcome, so the features it was judged on
/// can be learned once the owner has answered it.
#[derive(Debug, Clone)]
struct Pending {
    requester: String,
    staff: Option<String>,
    t: u64,
    q: u64,
    verdict: Verdict,
    features: Features,
}

/// The access guard of one node. Cheap to clone (for what-if evaluation).
#[derive(Debug, Clone)]
pub struct Guard {
    config: GuardConfig,
    requesters: HashMap<String, Party>,
    /// Keyed by [`staff_key`].
    staff: HashMap<String, Party>,
    /// Habits of all accepted traffic: the reference for brand-new requesters.
    node: Profile,
    model: Model,
    pending: VecDeque<Pending>,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    requesters: &'a HashMap<String, Party>,
    staff: &'a HashMap<String, Party>,
    node: &'a Profile,
    model: &'a ModelState,
}

/// The bytes' layout; `version` was checked on its own first.
#[derive(Deserialize)]
struct Snapshot {
    requesters: HashMap<String, Party>,
    staff: HashMap<String, Party>,
    node: Profile,
    model: ModelState,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// A request's parties while it is being judged: the requester and, if the
/// request named one, the staff user with its key.
struct Observed {
    req: Party,
    staff: Option<(String, Party)>,
}

fn staff_key(requester: &str, staff: &str) -> String {
    // U+001F (unit separator) cannot appear in a peer id, so keys never collide.
    format!("{requester}\u{1f}{staff}")
}

impl Guard {
    /// A guard for a brand-new node: no history, judging from the built-in prior
    /// of normal clinical behaviour until it has learned the node's own.
    pub fn new(config: GuardConfig) -> Result<Self, GuardError> {
        config.validate()?;
        Ok(Self::build(
            config,
            HashMap::new(),
            HashMap::new(),
            Profile::default(),
            ModelState::default(),
        ))
    }

    fn build(
        config: GuardConfig,
        requesters: HashMap<String, Party>,
        staff: HashMap<String, Party>,
        node: Profile,
        state: ModelState,
    ) -> Self {
        let model = Model::new(
            state,
            config.trees,
            config.history_size,
            config.sample_size,
            config.seed,
        );
        Self {
            config,
            requesters,
            staff,
            node,
            model,
            pending: VecDeque::new(),
        }
    }

    /// The config in force.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Everything the guard has learned, as bytes to store (e.g. in RocksDB).
    pub fn snapshot(&self) -> Vec<u8> {
        let snap = SnapshotRef {
            version: SNAPSHOT_VERSION,
            requesters: &self.requesters,
            staff: &self.staff,
            node: &self.node,
            model: &self.model.state,
        };
        // Serialising plain maps, vectors and finite numbers cannot fail; an
        // empty snapshot would only make the node start from defaults.
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// Rebuilds a guard from [`Guard::snapshot`] bytes, with `config` (which may
    /// differ from the one in force when the snapshot was taken).
    pub fn restore(bytes: &[u8], config: GuardConfig) -> Result<Self, GuardError> {
        config.validate()?;
        let VersionOnly { version } = serde_json::from_slice(bytes)?;
        if version != SNAPSHOT_VERSION {
            return Err(GuardError::UnsupportedVersion { found: version });
        }
        let s: Snapshot = serde_json::from_slice(bytes)?;
        Ok(Self::build(config, s.requesters, s.staff, s.node, s.model))
    }

    /// Logs `ctx` in the recent history of its requester and, if named, its
    /// staff user, judging novelty against each party's reference before the
    /// request joins its log. The parties come back out of their maps (so the
    /// caller can work on both at once) and must be returned with [`Guard::put_back`].
    fn observe(&mut self, ctx: &RequestContext, outcome: Option<(u32, bool)>) -> Observed {
        let now = ctx.now_ms;
        let q = fnv(&ctx.query);
        let c = ctx.disease_category.as_deref().map(fnv);
        let p = fnv(&ctx.purpose);
        let maturity = self.config.maturity;
        let keep_ms = self
            .config
            .long_window_secs
            .max(self.config.window_secs)
            .max(3600)
            .saturating_mul(1000);
        let skey = ctx
            .staff_user
            .as_deref()
            .map(|s| staff_key(&ctx.requester, s));

        evict_if_full(&mut self.requesters, &ctx.requester);
        if let Some(k) = &skey {
            evict_if_full(&mut self.staff, k);
        }
        let mut req = self.requesters.remove(&ctx.requester).unwrap_or_default();
        let mut staff = skey
            .as_ref()
            .map(|k| self.staff.remove(k).unwrap_or_default());

        let unfamiliar = |r: Option<&Profile>| {
            c.is_some_and(|c| r.is_some_and(|r| !r.categories.contains_key(&c)))
        };
        let event = |(own, up): (Option<&Profile>, Option<&Profile>)| Event {
            t: now,
            q,
            c,
            p,
            novel: unfamiliar(own),
            rare: unfamiliar(up),
            outcome,
        };
        let ev = event(features::references(
            &req.profile,
            None,
            &self.node,
            maturity,
        ));
        req.push(ev, keep_ms);
        if let Some(st) = staff.as_mut() {
            let ev = event(features::references(
                &st.profile,
                Some(&req.profile),
                &self.node,
                maturity,
            ));
            st.push(ev, keep_ms);
        }
        Observed {
            req,
            staff: skey.zip(staff),
        }
    }

    /// Returns the parties [`Guard::observe`] took out.
    fn put_back(&mut self, requester: &str, o: Observed) {
        self.requesters.insert(requester.to_owned(), o.req);
        if let Some((k, st)) = o.staff {
            self.staff.insert(k, st);
        }
    }

    /// Logs a request the owner refused before asking the guard (no live grant,
    /// wrong purpose, unpaid accesses), so it counts towards the requester's rate,
    /// its hard limits and its share of denied requests. Nothing is scored or
    /// learned from it.
    pub fn record_refused(&mut self, ctx: &RequestContext) {
        let o = self.observe(ctx, Some((0, true)));
        self.put_back(&ctx.requester, o);
    }

    /// Updates the requester's behaviour features with this request and scores it.
    pub fn assess(&mut self, ctx: &RequestContext) -> GuardDecision {
        let now = ctx.now_ms;
        let hour = hour_of(now);
        let q = fnv(&ctx.query);
        let p = fnv(&ctx.purpose);
        let Observed { req, mut staff } = self.observe(ctx, None);
        let cfg = &self.config;
        let maturity = cfg.maturity;
        let requester_rate = req.count_since(now, cfg.window_secs.saturating_mul(1000));
        let per_minute = req.count_since(now, 60_000);
        let per_hour = req.count_since(now, 3_600_000);

        let x = if let Some((_, st)) = staff.as_mut() {
            let (r, _) =
                features::references(&st.profile, Some(&req.profile), &self.node, maturity);
            let cx = features::Context {
                now,
                hour,
                purpose: p,
                reference: r,
                requester_learned: req.profile.learned,
                staff_learned: Some(st.profile.learned),
                requester_rate,
            };
            features::compute(st, &cx, cfg)
        } else {
            let cx = features::Context {
                now,
                hour,
                purpose: p,
                reference: features::references(&req.profile, None, &self.node, maturity).0,
                requester_learned: req.profile.learned,
                staff_learned: None,
                requester_rate,
            };
            features::compute(&req, &cx, cfg)
        };

        let forest = self.model.forest_score(&x);
        // The party's own habits: a staff user's once it has enough of them,
        // else its hospital's, else none (a newcomer on both levels).
        let habits = match staff.as_ref() {
            Some((_, st)) if st.profile.has_habits(maturity) => Some(&st.profile),
            _ => Some(&req.profile).filter(|p| p.has_habits(maturity)),
        };
        let e = self.judge(&x, habits);
        let combined = e.iter().map(|v| v * v).sum::<f64>().sqrt();
        // Map the tail distance onto the forest's 0..1 scale: 1.0 (one feature at
        // its usual 99th percentile) scores 0.5, like an ordinary request.
        let tail = combined / (1.0 + combined);
        let mut score = forest.max(tail);

        let mut reasons = Vec::new();
        let over_minute = per_minute > cfg.max_requests_per_minute as usize;
        let over_hour = per_hour > cfg.max_requests_per_hour as usize;
        if over_minute {
            reasons.push(format!(
                "{per_minute} requests in the last minute; the limit is {}",
                cfg.max_requests_per_minute
            ));
        } else if over_hour {
            reasons.push(format!(
                "{per_hour} requests in the last hour; the limit is {}",
                cfg.max_requests_per_hour
            ));
        }
        let verdict = if over_minute || over_hour {
            score = score.max(1.0);
            Verdict::Deny
        } else if score >= cfg.deny_threshold {
            Verdict::Deny
        } else if score >= cfg.flag_threshold {
            Verdict::Flag
        } else {
            Verdict::Allow
        };

        if verdict != Verdict::Allow {
            let mut order: Vec<usize> = (0..N).filter(|&j| e[j] > 0.0).collect();
            order.sort_by(|&a, &b| e[b].total_cmp(&e[a]));
            let strong = order.iter().filter(|&&j| e[j] >= 1.0).count();
            if strong == 0 && reasons.is_empty() {
                reasons.push("unusual combination of otherwise ordinary behaviour".to_owned());
            }
            for &j in order.iter().take(MAX_REASONS.max(1)) {
                if reasons.len() >= MAX_REASONS || (strong > 0 && e[j] < 1.0) {
                    break;
                }
                let usual = habits.map_or_else(|| self.model.median(j), |p| p.usual[j]);
                let learned = match j {
                    features::NEW_STAFF => staff.as_ref().map_or(0, |(_, s)| s.profile.learned),
                    _ => req.profile.learned,
                };
                reasons.push(features::describe(j, x[j], usual, cfg, hour, learned));
            }
        }

        self.put_back(&ctx.requester, Observed { req, staff });
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(Pending {
            requester: ctx.requester.clone(),
            staff: ctx.staff_user.clone(),
            t: now,
            q,
            verdict,
            features: x,
        });

        GuardDecision {
            verdict,
            score,
            reasons,
            revoke: verdict == Verdict::Deny && self.config.revoke_on_deny,
        }
    }

    /// Per-feature exceedances of `x` (see [`Model::exceedance`]), each party
    /// judged against its own habits as well as the node's.
    ///
    /// With habits (`habits` is the staff user's or its hospital's mature
    /// profile), how fast, how much and how broadly it asks is measured against
    /// its own usual values and spread: a research reviewer's breadth is
    /// ordinary for it, an emergency clinician's is not, however broad the node's
    /// traffic as a whole. Only what is far beyond anything the node sees stays
    /// suspicious whatever the party's habits, so no party can make a scrape
    /// its routine. Without habits, breadth and novelty are held to the stricter
    /// of the node's traffic and the built-in prior.
    fn judge(&self, x: &Features, habits: Option<&Profile>) -> Features {
        let mut e = self.model.exceedance(x);
        match habits {
            Some(p) => {
                for j in features::HABITS {
                    let own = p.own_exceedance(j, x[j]);
                    let far = if features::BURSTY.contains(&j) {
                        FAR_BEYOND_NODE_BURSTY
                    } else {
                        FAR_BEYOND_NODE
                    };
                    e[j] = if e[j] >= far { e[j].max(own) } else { own };
                }
            }
            None => {
                for j in features::BREADTH_FEATURES {
                    e[j] = e[j].max(self.model.prior_exceedance(j, x[j]));
                }
            }
        }
        e
    }

    /// Records how the owner answered an assessed request; an answered request
    /// the guard allowed is learned as normal behaviour.
    pub fn record_outcome(&mut self, ctx: &RequestContext, records_returned: usize, denied: bool) {
        let t = ctx.now_ms;
        let q = fnv(&ctx.query);
        let records = u32::try_from(records_returned).unwrap_or(u32::MAX);
        let pos = self.pending.iter().rposition(|pe| {
            pe.t == t && pe.q == q && pe.requester == ctx.requester && pe.staff == ctx.staff_user
        });
        let pending = pos.and_then(|i| self.pending.remove(i));

        let Some(req) = self.requesters.get_mut(&ctx.requester) else {
            return;
        };
        req.set_outcome(t, q, records, denied);
        let mut staff = ctx
            .staff_user
            .as_deref()
            .and_then(|s| self.staff.get_mut(&staff_key(&ctx.requester, s)));
        if let Some(st) = staff.as_deref_mut() {
            st.set_outcome(t, q, records, denied);
        }

        // Habits, including each party's own usual values and spread, learn
        // from everything answered: a party whose ordinary work the guard
        // flagged (a research reviewer on a node of clinicians) must come to be
        // judged by its own habits, or it would be flagged for ever. The
        // node-wide anomaly model learns only from what the guard itself found
        // ordinary, and nothing learns from a denial.
        let Some(pe) = pending.filter(|pe| pe.verdict != Verdict::Deny && !denied) else {
            return;
        };
        let allowed = pe.verdict == Verdict::Allow;
        let usual = Some(&pe.features);
        let hour = hour_of(t);
        let c = ctx.disease_category.as_deref().map(fnv);
        let p = fnv(&ctx.purpose);
        req.profile.learn(hour, c, p, usual);
        if let Some(st) = staff {
            st.profile.learn(hour, c, p, usual);
        }
        self.node.learn(hour, c, p, usual);
        if allowed {
            self.model.learn(&pe.features);
        }
    }
}

/// Makes room for `key` by forgetting the least recently seen party.
fn evict_if_full(map: &mut HashMap<String, Party>, key: &str) {
    if map.len() < MAX_PARTIES || map.contains_key(key) {
        return;
    }
    let oldest = map
        .iter()
        .min_by_key(|(_, p)| p.last_seen)
        .map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests;
