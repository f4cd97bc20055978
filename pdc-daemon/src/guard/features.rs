//! Behaviour features: what one requester (and one staff user of it) has been doing.
//!
//! Each party keeps a short, bounded log of its recent requests (for the sliding
//! windows) and a long-lived profile of its *accepted* requests (for "relative to
//! its own habits": usual hours, usual disease categories, usual purpose). Only
//! accepted requests shape a profile, so an attacker's flagged traffic never
//! becomes "usual".

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::GuardConfig;

/// Number of features in a [`Features`] vector.
pub(super) const N: usize = 15;

/// One request's behaviour features; every feature grows with suspicion, so the
/// tail model only has to look at the upper tail.
pub(super) type Features = [f64; N];

// Feature indices. Kept as constants (not an enum) because the model indexes
// plain arrays in its hot loop.
pub(super) const RATE_SHORT: usize = 0;
pub(super) const REQUESTER_RATE: usize = 1;
pub(super) const PACE: usize = 2;
pub(super) const DISTINCT_QUERIES: usize = 3;
pub(super) const CATEGORIES_LONG: usize = 4;
pub(super) const BREADTH: usize = 5;
pub(super) const NOVEL_CATEGORIES: usize = 6;
pub(super) const RECORDS: usize = 7;
pub(super) const DENIED: usize = 8;
pub(super) const OFF_HOURS: usize = 9;
pub(super) const PURPOSE: usize = 10;
pub(super) const NEW_REQUESTER: usize = 11;
pub(super) const NEW_STAFF: usize = 12;
pub(super) const RARE_CATEGORIES: usize = 13;
pub(super) const DISTINCT_RUN: usize = 14;

/// Smallest spread (between the usual value and the usual 99th percentile) the
/// tail model will assume per feature, in the feature's own unit. Without it a
/// feature that is almost always 0 in history (denials, purpose changes) would
/// make a single harmless step look infinitely surprising.
pub(super) const FLOORS: Features = [
    2.0, // requests in the short window
    4.0, // requests from the requester in the window
    3.0, // requests per minute implied by recent gaps
    3.0, // distinct queries
    2.0, // distinct categories in the long window
    2.0, // distinct categories in the last requests
    1.5, // unfamiliar categories in the last requests
    4.0, // records per request
    0.3, // denied share
    0.5, // off-hours
    2.0, // purpose change (one stated change of purpose is ordinary)
    0.5, // new requester
    0.5, // new staff user
    1.5, // categories unfamiliar to the whole requester
    2.0, // consecutive requests each for another category
];

/// How many of a party's latest requests the count-based windows look at. A
/// count window (not a time window) is what catches slow enumeration: its
/// breadth does not depend on how fast the requests come.
pub(super) const LAST_N: usize = 10;

/// Most recent requests the pace looks through for its last four distinct ones.
const PACE_SCAN: usize = 32;

/// Pseudo-count of undenied requests added to the denied share.
const DENIED_PRIOR: u32 = 3;

/// Latest answered requests averaged for "records per request".
const RECORDS_OVER: usize = 5;

/// Most requests kept per party; the windows saturate beyond it, which is fine
/// because a party that fast is far past every limit anyway.
const MAX_EVENTS: usize = 512;

/// Most distinct categories or purposes remembered per profile, so a hostile
/// requester cannot grow the node's memory without bound.
const MAX_KEYS: usize = 1024;

/// Weight of one accepted request in a profile's running "usual" values.
const USUAL_ALPHA: f64 = 0.05;

/// Mean absolute deviations above a party's usual value that count as its own
/// "top 1 %" (see [`Profile::own_exceedance`]) for breadth, novelty and
/// records: about the 99th percentile of a normal spread (2.33 sd = 2.9 mean
/// deviations), a little tighter because these features are small counts.
const OWN_SPREAD: f64 = 2.5;

/// The same for how fast and how much a party asks: clinical work comes in
/// sessions and surges, so these counts are heavy-tailed and a party's own
/// mean deviation understates how far its ordinary busy hours reach.
const OWN_SPREAD_BURSTY: f64 = 4.5;

/// The rate and volume features, judged with [`OWN_SPREAD_BURSTY`].
pub(super) const BURSTY: [usize; 4] = [RATE_SHORT, REQUESTER_RATE, PACE, DISTINCT_QUERIES];

/// Largest exceedance one feature may contribute against a party's own habits
/// (as the model caps the node-wide one).
const MAX_OWN_EXCEEDANCE: f64 = 20.0;

/// Features judged against a party's own habits once it has enough of them:
/// how fast, how much and how broadly it asks. Hours and purpose are already
/// relative to a reference profile; denials and newness are not habits.
pub(super) const HABITS: [usize; 10] = [
    RATE_SHORT,
    REQUESTER_RATE,
    PACE,
    DISTINCT_QUERIES,
    CATEGORIES_LONG,
    BREADTH,
    NOVEL_CATEGORIES,
    RECORDS,
    RARE_CATEGORIES,
    DISTINCT_RUN,
];

/// Features about breadth and novelty, on which a party without habits of its
/// own (nor a hospital with any) is held to the built-in prior of clinical work
/// when that is stricter than what the node as a whole has learned: broad
/// research or emergency habits of other hospitals must not make a newcomer's
/// enumeration look ordinary.
pub(super) const BREADTH_FEATURES: [usize; 5] = [
    CATEGORIES_LONG,
    BREADTH,
    NOVEL_CATEGORIES,
    RARE_CATEGORIES,
    DISTINCT_RUN,
];

/// Stable 64-bit FNV-1a hash. Used instead of `DefaultHasher` because the hashes
/// are persisted in snapshots and must not change between Rust releases.
pub(crate) fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// UTC hour of day of a millisecond timestamp.
pub(super) fn hour_of(now_ms: u64) -> usize {
    // The modulo keeps the value below 24, so the cast cannot truncate.
    ((now_ms / 3_600_000) % 24) as usize
}

/// One request in a party's recent log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Event {
    /// When it arrived (ms).
    pub(super) t: u64,
    /// Hash of the query text.
    pub(super) q: u64,
    /// Hash of the disease category, if the search assigned one.
    pub(super) c: Option<u64>,
    /// Hash of the stated purpose.
    pub(super) p: u64,
    /// Whether the category was unfamiliar to the party's reference profile.
    pub(super) novel: bool,
    /// Whether it was also unfamiliar one level up (the whole hospital for a
    /// staff user, the whole node for a requester): asking what nobody there
    /// asks about is stronger evidence than one clinician branching out.
    #[serde(default)]
    pub(super) rare: bool,
    /// Records returned and whether the owner denied it, once known.
    pub(super) outcome: Option<(u32, bool)>,
}

/// Long-lived habits learned from a party's answered requests (allowed or
/// flagged, not denied): a flagged clinician who keeps doing the same thing
/// must stop looking new, or a new hire in a new specialty would be flagged
/// for ever.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Profile {
    /// Answered requests learned so far.
    pub(super) learned: u32,
    /// Accepted requests per UTC hour.
    pub(super) hours: [u32; 24],
    /// Accepted requests per category hash.
    pub(super) categories: HashMap<u64, u32>,
    /// Accepted requests per purpose hash.
    pub(super) purposes: HashMap<u64, u32>,
    /// Running average of each feature over answered requests ("usual is ...").
    pub(super) usual: Features,
    /// Running mean absolute deviation of each feature from `usual`, over the
    /// same requests: how much this party's own behaviour varies. Absent in
    /// snapshots written before it existed (then zero, i.e. the floors).
    #[serde(default)]
    pub(super) dev: Features,
    /// Requests folded into `usual` and `dev`; the party's own habits are
    /// trusted from `maturity` of them on. Counted apart from `learned` because
    /// snapshots written before `dev` existed have a `learned` count but no
    /// measure yet of how much the party's behaviour varies.
    #[serde(default)]
    pub(super) usual_n: u32,
}

impl Profile {
    /// Whether this profile has seen enough to speak for its party.
    pub(super) fn mature(&self, maturity: u32) -> bool {
        self.learned >= maturity
    }

    /// Folds one answered request into the profile's habits, and into its
    /// "usual" feature values and their spread when given (`usual_from`: every
    /// answered request the guard did not deny).
    pub(super) fn learn(
        &mut self,
        hour: usize,
        category: Option<u64>,
        purpose: u64,
        usual_from: Option<&Features>,
    ) {
        if let Some(x) = usual_from {
            self.usual_n = self.usual_n.saturating_add(1);
            if self.usual_n == 1 {
                self.usual = *x;
            } else {
                for ((u, d), v) in self.usual.iter_mut().zip(self.dev.iter_mut()).zip(x) {
                    *d += USUAL_ALPHA * ((v - *u).abs() - *d);
                    *u += USUAL_ALPHA * (v - *u);
                }
            }
        }
        self.learned = self.learned.saturating_add(1);
        if let Some(h) = self.hours.get_mut(hour) {
            *h = h.saturating_add(1);
        }
        if let Some(c) = category {
            bump(&mut self.categories, c);
        }
        bump(&mut self.purposes, purpose);
    }

    /// How far `hour` is from this profile's active hours: 0 at its busiest hour,
    /// near 1 at an hour it has never been active. Neighbouring hours count half,
    /// so a shift that runs a little late is not "off-hours".
    fn off_hours(&self, hour: usize) -> f64 {
        let weight = |h: usize| -> f64 {
            let c = |k: usize| f64::from(self.hours[k % 24]);
            c(h) + 0.5 * (c(h + 23) + c(h + 1)) + 1.0
        };
        let peak = (0..24).map(weight).fold(0.0, f64::max);
        1.0 - weight(hour) / peak
    }

    /// Whether this profile's own usual values and spread have seen enough
    /// requests to judge its party by.
    pub(super) fn has_habits(&self, maturity: u32) -> bool {
        self.usual_n >= maturity
    }

    /// How far `value` of feature `j` sits above this party's own usual value,
    /// in units of its own usual spread: 1.0 is about as high as its top 1 %
    /// (mean + [`OWN_SPREAD`] mean absolute deviations, [`OWN_SPREAD_BURSTY`]
    /// for rates), never narrower than the feature's floor, so a very regular
    /// party is not flagged for one step off its routine.
    pub(super) fn own_exceedance(&self, j: usize, value: f64) -> f64 {
        let k = if BURSTY.contains(&j) {
            OWN_SPREAD_BURSTY
        } else {
            OWN_SPREAD
        };
        let spread = (k * self.dev[j]).max(FLOORS[j]);
        ((value - self.usual[j]) / spread).clamp(0.0, MAX_OWN_EXCEEDANCE)
    }

    /// The most common purpose, if any.
    fn main_purpose(&self) -> Option<u64> {
        self.purposes
            .iter()
            .max_by_key(|(k, v)| (**v, **k))
            .map(|(k, _)| *k)
    }
}

fn bump(map: &mut HashMap<u64, u32>, key: u64) {
    if let Some(v) = map.get_mut(&key) {
        *v = v.saturating_add(1);
    } else if map.len() < MAX_KEYS {
        map.insert(key, 1);
    }
}

/// A requester, or one staff user of a requester: its recent log and its habits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Party {
    /// Recent requests, oldest first.
    pub(super) events: VecDeque<Event>,
    /// Habits learned from accepted requests.
    pub(super) profile: Profile,
    /// Last request time (ms), for evicting forgotten parties.
    pub(super) last_seen: u64,
}

impl Party {
    /// Appends a request, dropping what no window needs any more.
    pub(super) fn push(&mut self, ev: Event, keep_ms: u64) {
        self.last_seen = self.last_seen.max(ev.t);
        let now = ev.t;
        self.events.push_back(ev);
        while self.events.len() > MAX_EVENTS
            || (self.events.len() > LAST_N
                && self
                    .events
                    .front()
                    .is_some_and(|e| e.t.saturating_add(keep_ms) < now))
        {
            self.events.pop_front();
        }
    }

    /// Requests within `window_ms` before `now` (inclusive of the current one).
    pub(super) fn count_since(&self, now: u64, window_ms: u64) -> usize {
        let since = now.saturating_sub(window_ms);
        self.events
            .iter()
            .rev()
            .take_while(|e| e.t >= since)
            .count()
    }

    /// Records the owner's answer on the logged request it belongs to.
    pub(super) fn set_outcome(&mut self, t: u64, q: u64, records: u32, denied: bool) {
        if let Some(e) = self
            .events
            .iter_mut()
            .rev()
            .find(|e| e.t == t && e.q == q && e.outcome.is_none())
        {
            e.outcome = Some((records, denied));
        }
    }
}

/// The profiles a party is compared with: the first is its own once mature,
/// else its requester's (a new staff user of a known hospital), else the
/// node's; the second is the next mature one up the same chain (what the
/// hospital or the node as a whole knows). `None` where nothing has enough
/// history yet: novelty cannot be judged there and counts as familiar.
pub(super) fn references<'a>(
    own: &'a Profile,
    requester: Option<&'a Profile>,
    node: &'a Profile,
    maturity: u32,
) -> (Option<&'a Profile>, Option<&'a Profile>) {
    let mut chain = [Some(own), requester, Some(node)]
        .into_iter()
        .flatten()
        .filter(|p| p.mature(maturity));
    let first = chain.next();
    // The node is its own requester's level; skip a repeat of the same profile.
    let second = chain.find(|p| first.is_none_or(|f| !std::ptr::eq(*p, f)));
    (first, second)
}

/// What is known about the current request before its features are computed.
pub(super) struct Context<'a> {
    pub(super) now: u64,
    pub(super) hour: usize,
    pub(super) purpose: u64,
    pub(super) reference: Option<&'a Profile>,
    pub(super) requester_learned: u32,
    pub(super) staff_learned: Option<u32>,
    pub(super) requester_rate: usize,
}

/// Computes the feature vector for the actor's latest request (already pushed).
pub(super) fn compute(actor: &Party, cx: &Context<'_>, cfg: &GuardConfig) -> Features {
    let mut x = [0.0; N];
    let windows = Windows::count(actor, cx.now, cfg);
    let latest = Latest::count(actor);
    let (records, denied) = outcomes(actor);

    // Off-hours only relative to habits someone here has shown. A node without
    // any history does not know its requesters' time zones or shifts, so a
    // fixed "clinical day" would turn half the world's working hours into
    // suspicion; until a reference matures the hour counts as ordinary.
    let off = cx.reference.map_or(0.0, |p| p.off_hours(cx.hour));
    let purpose_novel = cx
        .reference
        .and_then(Profile::main_purpose)
        .is_some_and(|main| main != cx.purpose);

    x[RATE_SHORT] = windows.rate_short as f64;
    x[REQUESTER_RATE] = cx.requester_rate as f64;
    x[PACE] = pace(actor);
    x[DISTINCT_QUERIES] = windows.queries as f64;
    x[CATEGORIES_LONG] = windows.categories as f64;
    x[BREADTH] = latest.categories as f64;
    x[NOVEL_CATEGORIES] = latest.novel as f64;
    x[RECORDS] = records;
    x[DENIED] = denied;
    x[OFF_HOURS] = off;
    x[PURPOSE] = (latest.purposes.saturating_sub(1) + usize::from(purpose_novel)) as f64;
    x[NEW_REQUESTER] = newness(cx.requester_learned);
    x[NEW_STAFF] = cx.staff_learned.map_or(0.0, newness);
    x[RARE_CATEGORIES] = latest.rare as f64;
    x[DISTINCT_RUN] = distinct_run(actor) as f64;
    x
}

/// What the time windows ending now hold: requests in the short window,
/// distinct queries in the window, distinct categories in the long window.
struct Windows {
    rate_short: usize,
    queries: usize,
    categories: usize,
}

impl Windows {
    fn count(actor: &Party, now: u64, cfg: &GuardConfig) -> Self {
        let short = now.saturating_sub(cfg.short_window_secs.saturating_mul(1000));
        let window = now.saturating_sub(cfg.window_secs.saturating_mul(1000));
        let long = now.saturating_sub(cfg.long_window_secs.saturating_mul(1000));

        // Small linear-probe sets: windows are short, and this avoids hashing
        // allocations on the hot path.
        let mut queries: Vec<u64> = Vec::with_capacity(16);
        let mut cats_long: Vec<u64> = Vec::with_capacity(16);
        let mut rate_short = 0usize;
        for e in actor.events.iter().rev() {
            if e.t < long {
                break;
            }
            if e.t >= short {
                rate_short += 1;
            }
            if e.t >= window && !queries.contains(&e.q) {
                queries.push(e.q);
            }
            if let Some(c) = e.c
                && !cats_long.contains(&c)
            {
                cats_long.push(c);
            }
        }
        Windows {
            rate_short,
            queries: queries.len(),
            categories: cats_long.len(),
        }
    }
}

/// What the last [`LAST_N`] requests hold: distinct categories and purposes,
/// and how many asked a category new to the party or to its requester.
struct Latest {
    categories: usize,
    purposes: usize,
    novel: usize,
    rare: usize,
}

impl Latest {
    fn count(actor: &Party) -> Self {
        let mut cats_last: Vec<u64> = Vec::with_capacity(LAST_N);
        let mut purposes_last: Vec<u64> = Vec::with_capacity(4);
        let mut novel = 0usize;
        let mut rare = 0usize;
        for e in actor.events.iter().rev().take(LAST_N) {
            if let Some(c) = e.c
                && !cats_last.contains(&c)
            {
                cats_last.push(c);
            }
            if !purposes_last.contains(&e.p) {
                purposes_last.push(e.p);
            }
            novel += usize::from(e.novel);
            rare += usize::from(e.rare);
        }
        Latest {
            categories: cats_last.len(),
            purposes: purposes_last.len(),
            novel,
            rare,
        }
    }
}

/// Requests per minute implied by the recent gaps between requests.
///
/// Pace from the median of the last three gaps: one long pause (the start of
/// a session) does not hide a burst, and one quick refinement does not make one.
/// With a single gap there is no median yet: a party's second request right
/// after its first is a refinement as often as the start of a burst, and the
/// third request decides. A request repeating the query just before it (a
/// retry, a reload, a double click) fetches nothing new, so the pace runs from
/// the first of such a repeat; the request counts and hard limits still see
/// every one.
fn pace(actor: &Party) -> f64 {
    let mut starts: Vec<u64> = Vec::with_capacity(5);
    let mut newer_q = None;
    for e in actor.events.iter().rev().take(PACE_SCAN) {
        if newer_q == Some(e.q) {
            starts.pop();
        } else if starts.len() == 4 {
            break;
        }
        starts.push(e.t);
        newer_q = Some(e.q);
    }
    let mut gaps: Vec<u64> = starts
        .windows(2)
        .map(|w| w[0].saturating_sub(w[1]))
        .collect();
    gaps.sort_unstable();
    match gaps.len() {
        0 | 1 => 0.0,
        n => {
            let median_s = gaps[n / 2] as f64 / 1000.0;
            (60.0 / median_s.max(0.5)).min(120.0)
        }
    }
}

/// Latest consecutive requests that each asked yet another category:
/// enumeration, however slow, keeps this growing; a clinician's work keeps
/// returning to the same few. It does not depend on how much history the
/// party has, which matters for a brand-new staff account.
fn distinct_run(actor: &Party) -> usize {
    let mut run: Vec<u64> = Vec::with_capacity(LAST_N);
    for e in actor.events.iter().rev().take(LAST_N) {
        match e.c {
            Some(c) if !run.contains(&c) => run.push(c),
            _ => break,
        }
    }
    run.len()
}

/// Records per answered request (over the latest [`RECORDS_OVER`]) and the
/// denied share of the latest [`LAST_N`] answered requests.
fn outcomes(actor: &Party) -> (f64, f64) {
    let answered = actor.events.iter().rev().filter_map(|e| e.outcome);
    let (mut rec_sum, mut rec_n) = (0u64, 0u32);
    for (r, _) in answered.clone().take(RECORDS_OVER) {
        rec_sum += u64::from(r);
        rec_n += 1;
    }
    let (mut denied, mut out_n) = (0u32, 0u32);
    for (_, d) in answered.take(LAST_N) {
        denied += u32::from(d);
        out_n += 1;
    }
    let records = if rec_n == 0 {
        0.0
    } else {
        rec_sum as f64 / f64::from(rec_n)
    };
    // Shrunk towards 0 so one denied first request is not "100% denied".
    let denied = f64::from(denied) / f64::from(out_n + DENIED_PRIOR);
    (records, denied)
}

/// 1 for a first contact, fading as accepted history accumulates.
fn newness(learned: u32) -> f64 {
    1.0 / (1.0 + f64::from(learned) / 10.0)
}

/// Explains one feature in words, e.g. "42 distinct disease categories in the
/// last 10 minutes; usual is 3".
pub(super) fn describe(
    i: usize,
    value: f64,
    usual: f64,
    cfg: &GuardConfig,
    hour: usize,
    learned: u32,
) -> String {
    let n = |v: f64| format!("{}", v.round());
    let w = |secs: u64| window_words(secs);
    match i {
        RATE_SHORT => format!(
            "{} requests in the last {}; usual is {}",
            n(value),
            w(cfg.short_window_secs),
            n(usual)
        ),
        REQUESTER_RATE => format!(
            "{} requests from this requester in the last {}; usual is {}",
            n(value),
            w(cfg.window_secs),
            n(usual)
        ),
        PACE => format!(
            "requests arriving {:.1} s apart; usual gap is {}",
            60.0 / value.max(0.5),
            if usual < 0.05 {
                "minutes or more".to_owned()
            } else {
                format!("{:.0} s", 60.0 / usual)
            }
        ),
        DISTINCT_QUERIES => format!(
            "{} distinct queries in the last {}; usual is {}",
            n(value),
            w(cfg.window_secs),
            n(usual)
        ),
        CATEGORIES_LONG => format!(
            "{} distinct disease categories in the last {}; usual is {}",
            n(value),
            w(cfg.long_window_secs),
            n(usual)
        ),
        BREADTH => format!(
            "{} distinct disease categories in the last {LAST_N} requests; usual is {}",
            n(value),
            n(usual)
        ),
        NOVEL_CATEGORIES => format!(
            "{} of the last {LAST_N} requests asked about disease categories never asked before; usual is {}",
            n(value),
            n(usual)
        ),
        RECORDS => format!("{value:.1} records returned per request; usual is {usual:.1}"),
        DENIED => format!(
            "{:.0}% of recent requests denied; usual is {:.0}%",
            value * 100.0,
            usual * 100.0
        ),
        OFF_HOURS => format!(
            "request at {hour:02}:00 UTC, an hour at which this requester is rarely active ({:.0}% below its busiest hour)",
            value * 100.0
        ),
        PURPOSE => "stated purpose differs from this requester's usual purpose".to_owned(),
        NEW_REQUESTER if learned == 0 => "first contact from this requester".to_owned(),
        NEW_REQUESTER => format!("new requester with only {learned} earlier accepted requests"),
        RARE_CATEGORIES => format!(
            "{} of the last {LAST_N} requests asked about disease categories nobody at this requester asked before; usual is {}",
            n(value),
            n(usual)
        ),
        DISTINCT_RUN => format!(
            "each of the last {} requests asked about a different disease category; usual is {}",
            n(value),
            n(usual)
        ),
        NEW_STAFF if learned == 0 => "first request from this staff user".to_owned(),
        _ => format!("new staff user with only {learned} earlier accepted requests"),
    }
}

fn window_words(secs: u64) -> String {
    match secs {
        60 => "minute".to_owned(),
        s if s % 3600 == 0 && s > 3600 => format!("{} hours", s / 3600),
        3600 => "hour".to_owned(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_stable() {
        // Persisted in snapshots: a change here would silently reset every node's habits.
        assert_eq!(fnv(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn off_hours_follows_habits() {
        let mut p = Profile::default();
        for _ in 0..50 {
            p.learn(10, None, 1, None);
        }
        assert!(p.off_hours(10) < 0.01);
        assert!(p.off_hours(3) > 0.95);
    }
}
