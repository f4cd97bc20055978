//! Evaluation harness: a labelled traffic [`Trace`] replayed through a real
//! [`Guard`] the way a node's decision path drives it, compared with two
//! baselines (a fixed rate limit and a per-requester z-score on counts).
//!
//! The replay sees only each line's [`TraceRequest`]: it builds the guard's
//! [`RequestContext`] with `access::guard_context_with` (the category derived
//! from the query text by the node's normalizer) and makes the guard calls in
//! the order `access::answer_at` makes them. The [`Label`] is read only by the
//! scorer, to split normal traffic from attack episodes.
//!
//! Each attack episode is replayed on a clone of the guard taken at the
//! episode's onset, interleaved with the normal traffic of that time, so
//! episodes do not contaminate each other or the false-positive count, which is
//! measured on the uninterrupted normal timeline after a warm-up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;

use super::generator::{Generator, generate_traffic};
use super::trace::{AttackKind, Label, Trace, TraceRequest};
use super::traffic::{DAY, MINUTE, WARMUP_DAYS};
use crate::access;
use crate::guard::{Guard, GuardConfig, RequestContext, Verdict, fnv};

/// "Detected" means flagged or denied within this many requests of the onset.
const DETECT_WITHIN: usize = 5;
/// The fixed baseline: a per-requester limit, set just above what busy
/// hospitals reach in normal traffic.
const BASELINE_PER_MINUTE: usize = 4;
/// The adaptive baseline's long window: its counts and distinct categories
/// are of the requester's last hour.
const Z_LONG: u64 = 60 * MINUTE;
/// Flag when a count lies this many standard deviations above the requester's
/// own usual value of it.
const Z_THRESHOLD: f64 = 4.0;
/// Smallest standard deviation assumed per measure (requests in the last
/// minute, in the last hour, distinct categories in the last hour): a very
/// regular requester must not be flagged for one extra request.
const Z_SD_FLOOR: [f64; 3] = [1.0, 3.0, 1.5];
/// Weight of one unflagged request in the requester's running mean and
/// variance (about the last 50 requests).
const Z_ALPHA: f64 = 0.02;
/// Unflagged requests of a requester before its own statistics are trusted;
/// until then only the fixed limit applies.
const Z_MIN_SAMPLES: u32 = 30;
/// Most requests of one requester kept for the windows.
const Z_MAX_RECENT: usize = 4096;

/// A request as the guard is handed it: built from a [`TraceRequest`] alone.
#[derive(Debug, Clone)]
struct Arrival {
    ctx: RequestContext,
    records: usize,
    /// Refused by the owner before the guard is asked (a purpose not granted, an
    /// expired grant): logged in the guard, not judged by it.
    refused: bool,
}

/// Builds what the node's decision path would hand the guard for `r`; the
/// category memo only saves normalizing the same query text twice.
fn arrive(r: &TraceRequest, categories: &mut HashMap<String, Option<String>>) -> Arrival {
    let staff = r.staff_user.as_deref().unwrap_or("");
    let categorize = |q: &str| {
        categories
            .entry(q.to_owned())
            .or_insert_with(|| access::disease_category(q))
            .clone()
    };
    Arrival {
        ctx: access::guard_context_with(
            &r.requester,
            staff,
            &r.query,
            &r.purpose,
            r.time_ms,
            categorize,
        ),
        records: r.records as usize,
        refused: r.refused,
    }
}

/// Replays one request as `access::answer_at` drives the guard: a refusal is only
/// logged; otherwise assess, then the outcome (nothing returned when denied).
/// Returns whether the guard flagged or denied it, `None` when it was not asked.
fn replay(guard: &mut Guard, a: &Arrival) -> Option<bool> {
    if a.refused {
        guard.record_refused(&a.ctx);
        return None;
    }
    let d = guard.assess(&a.ctx);
    let denied = d.verdict == Verdict::Deny;
    guard.record_outcome(&a.ctx, if denied { 0 } else { a.records }, denied);
    Some(d.verdict != Verdict::Allow)
}

/// The fixed baseline: a per-requester rate limit.
#[derive(Debug, Clone, Default)]
struct RateLimit {
    seen: HashMap<String, VecDeque<u64>>,
}

impl RateLimit {
    /// Whether this request exceeds the limit.
    fn check(&mut self, ctx: &RequestContext) -> bool {
        let q = self.seen.entry(ctx.requester.clone()).or_default();
        q.push_back(ctx.now_ms);
        while q.front().is_some_and(|t| t + MINUTE <= ctx.now_ms) {
            q.pop_front();
        }
        q.len() > BASELINE_PER_MINUTE
    }
}

/// One requester's recent requests and its own usual values for the
/// adaptive baseline.
#[derive(Debug, Clone, Default)]
struct Counts {
    /// Time and category hash of its requests of the last [`Z_LONG`].
    recent: VecDeque<(u64, Option<u64>)>,
    /// Unflagged requests learned from.
    n: u32,
    /// Running mean and variance of each measure, sampled at its requests.
    mean: [f64; 3],
    var: [f64; 3],
}

/// The adaptive baseline: a per-requester limit that is the fixed limit OR a
/// z-score against the requester's own history, on three measures taken at
/// each of its requests: requests in the last minute, requests in the last
/// hour, distinct disease categories in the last hour. A measure more than
/// [`Z_THRESHOLD`] standard deviations above the requester's own running mean
/// (learned from its unflagged requests) flags, so it catches everything the
/// fixed limit catches and, for a requester with habits, bursts and breadth
/// well below that limit.
#[derive(Debug, Clone, Default)]
struct ZScore {
    seen: HashMap<String, Counts>,
}

impl ZScore {
    fn check(&mut self, ctx: &RequestContext) -> bool {
        let t = ctx.now_ms;
        let c = self.seen.entry(ctx.requester.clone()).or_default();
        let cat = ctx.disease_category.as_deref().map(fnv);
        c.recent.push_back((t, cat));
        while c.recent.len() > Z_MAX_RECENT
            || c.recent.front().is_some_and(|(r, _)| r + Z_LONG <= t)
        {
            c.recent.pop_front();
        }
        let minute = c.recent.iter().filter(|(r, _)| r + MINUTE > t).count();
        let mut cats: Vec<u64> = Vec::new();
        for (_, k) in &c.recent {
            if let Some(k) = k
                && !cats.contains(k)
            {
                cats.push(*k);
            }
        }
        let v = [minute as f64, c.recent.len() as f64, cats.len() as f64];
        let fixed = minute > BASELINE_PER_MINUTE;
        let adaptive = c.n >= Z_MIN_SAMPLES
            && (0..3).any(|k| {
                let sd = c.var[k].sqrt().max(Z_SD_FLOOR[k]);
                (v[k] - c.mean[k]) / sd > Z_THRESHOLD
            });
        let flagged = fixed || adaptive;
        if !flagged {
            let first = c.n == 0;
            for ((mean, var), x) in c.mean.iter_mut().zip(c.var.iter_mut()).zip(v) {
                if first {
                    *mean = x;
                } else {
                    let d = x - *mean;
                    *mean += Z_ALPHA * d;
                    *var = (1.0 - Z_ALPHA) * (*var + Z_ALPHA * d * d);
                }
            }
            c.n = c.n.saturating_add(1);
        }
        flagged
    }
}

/// The guard and both baselines, advanced together.
#[derive(Debug, Clone)]
struct Judges {
    guard: Guard,
    limit: RateLimit,
    zscore: ZScore,
}

/// Who flagged one request: the guard (`None` when it was not asked), the fixed
/// limit, the z-score.
type Flags = (Option<bool>, bool, bool);

impl Judges {
    fn judge(&mut self, a: &Arrival) -> Flags {
        (
            replay(&mut self.guard, a),
            self.limit.check(&a.ctx),
            self.zscore.check(&a.ctx),
        )
    }
}

/// Detection counts of one judge over a set of episodes.
#[derive(Debug, Clone, Default)]
struct Detections {
    detected: usize,
    /// 1-based index of the first flagged request, per episode flagged at all.
    first_hits: Vec<usize>,
}

impl Detections {
    fn add(&mut self, hit: Option<usize>) {
        if let Some(hit) = hit {
            self.first_hits.push(hit);
            self.detected += usize::from(hit <= DETECT_WITHIN);
        }
    }
}

#[derive(Debug, Clone, Default)]
struct KindResult {
    episodes: usize,
    guard: Detections,
    baseline: Detections,
    zscore: Detections,
    /// Attack requests whose query the normalizer placed in no category, of all.
    uncategorized: usize,
    requests: usize,
}

impl KindResult {
    fn add(&mut self, hits: [Option<usize>; 3]) {
        self.episodes += 1;
        self.guard.add(hits[0]);
        self.baseline.add(hits[1]);
        self.zscore.add(hits[2]);
    }
}

/// Results of [`evaluate_trace`]; its `Display` prints the tables and ends with
/// the one-line summary `total detection=.. fpr=.. baseline_detection=..
/// baseline_fpr=.. zscore_detection=.. zscore_fpr=..`.
#[derive(Debug, Clone)]
pub struct GuardEvalReport {
    source: String,
    days: u64,
    kinds: Vec<(AttackKind, KindResult)>,
    /// Episodes through requesters first seen after the warm-up.
    newcomer: KindResult,
    normal: usize,
    normal_uncategorized: usize,
    false_positives: usize,
    baseline_false_positives: usize,
    zscore_false_positives: usize,
    warmup_normal: usize,
    warmup_flagged: usize,
}

impl GuardEvalReport {
    /// Share of attack episodes the guard flagged or denied within 5 requests of onset.
    pub fn detection(&self) -> f64 {
        ratio(self.sum(|k| k.guard.detected), self.episodes())
    }

    /// Share of normal requests (after warm-up) the guard flagged or denied.
    pub fn fpr(&self) -> f64 {
        ratio(self.false_positives, self.normal)
    }

    /// Detection share of the fixed rate-limit baseline.
    pub fn baseline_detection(&self) -> f64 {
        ratio(self.sum(|k| k.baseline.detected), self.episodes())
    }

    /// False-positive share of the fixed rate-limit baseline.
    pub fn baseline_fpr(&self) -> f64 {
        ratio(self.baseline_false_positives, self.normal)
    }

    /// Detection share of the per-requester z-score baseline.
    pub fn zscore_detection(&self) -> f64 {
        ratio(self.sum(|k| k.zscore.detected), self.episodes())
    }

    /// False-positive share of the per-requester z-score baseline.
    pub fn zscore_fpr(&self) -> f64 {
        ratio(self.zscore_false_positives, self.normal)
    }

    fn sum(&self, f: impl Fn(&KindResult) -> usize) -> usize {
        self.kinds.iter().map(|(_, k)| f(k)).sum()
    }

    fn episodes(&self) -> usize {
        self.sum(|k| k.episodes)
    }

    #[cfg(test)]
    fn kind(&self, kind: AttackKind) -> Option<&KindResult> {
        self.kinds.iter().find(|(k, _)| *k == kind).map(|(_, r)| r)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn median(v: &[usize]) -> String {
    let mut v = v.to_vec();
    v.sort_unstable();
    match v.len() {
        0 => "-".to_owned(),
        n if n % 2 == 1 => v[n / 2].to_string(),
        n => format!("{:.1}", (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0),
    }
}

impl fmt::Display for GuardEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "guard evaluation ({}): {} days ({WARMUP_DAYS} warm-up), {} normal requests evaluated, {} attack episodes",
            self.source,
            self.days,
            self.normal,
            self.episodes()
        )?;
        writeln!(
            f,
            "detected = flagged or denied within {DETECT_WITHIN} requests of onset; median = requests from onset to first flag; \
             uncat. = attack requests whose query the normalizer placed in no category"
        )?;
        writeln!(
            f,
            "{:<22} {:>8} {:>6} | {:>14} {:>6} | {:>14} {:>6} | {:>14} {:>6}",
            "attack",
            "episodes",
            "uncat.",
            "guard detected",
            "median",
            "limit detected",
            "median",
            "zscore detected",
            "median"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, r: &KindResult| {
            let pct = |d: usize| format!("{d} ({:.0}%)", 100.0 * ratio(d, r.episodes));
            writeln!(
                f,
                "{:<22} {:>8} {:>5.0}% | {:>14} {:>6} | {:>14} {:>6} | {:>14} {:>6}",
                name,
                r.episodes,
                100.0 * ratio(r.uncategorized, r.requests),
                pct(r.guard.detected),
                median(&r.guard.first_hits),
                pct(r.baseline.detected),
                median(&r.baseline.first_hits),
                pct(r.zscore.detected),
                median(&r.zscore.first_hits)
            )
        };
        for (kind, r) in &self.kinds {
            row(f, kind.name(), r)?;
        }
        if self.newcomer.episodes > 0 {
            row(f, "(via newcomer)", &self.newcomer)?;
        }
        writeln!(
            f,
            "(via newcomer) = the episodes above through a requester first seen after the warm-up"
        )?;
        writeln!(
            f,
            "false positives on normal traffic: guard {}/{} = {:.4}, limit ({BASELINE_PER_MINUTE} req/min per requester) {}/{} = {:.4}, \
             zscore (the limit, or 1-min / 1-h count or 1-h distinct categories > mean + {Z_THRESHOLD} sd of the requester's own) {}/{} = {:.4}",
            self.false_positives,
            self.normal,
            self.fpr(),
            self.baseline_false_positives,
            self.normal,
            self.baseline_fpr(),
            self.zscore_false_positives,
            self.normal,
            self.zscore_fpr()
        )?;
        writeln!(
            f,
            "normal queries the normalizer placed in no category: {}/{}",
            self.normal_uncategorized, self.normal
        )?;
        writeln!(
            f,
            "during warm-up (not counted) the guard flagged {}/{} normal requests while learning",
            self.warmup_flagged, self.warmup_normal
        )?;
        write!(
            f,
            "total detection={:.4} fpr={:.4} baseline_detection={:.4} baseline_fpr={:.4} zscore_detection={:.4} zscore_fpr={:.4}",
            self.detection(),
            self.fpr(),
            self.baseline_detection(),
            self.baseline_fpr(),
            self.zscore_detection(),
            self.zscore_fpr()
        )
    }
}

/// An attack episode: its kind and its requests, in time order.
struct Episode {
    kind: AttackKind,
    reqs: Vec<Arrival>,
    via_newcomer: bool,
}

/// Generates a trace from `generator` with `seed` and evaluates it in memory,
/// through the same path as a trace file ([`evaluate_trace`]).
pub fn run_guard_eval(generator: Generator, seed: u64) -> GuardEvalReport {
    evaluate_trace(
        &generate_traffic(generator, seed),
        &format!("{generator} generator, seed {seed}"),
    )
}

/// Replays `trace` through a fresh [`Guard`] with the default config and
/// through both baselines, and reports detection and false-positive rates side
/// by side. The first [`WARMUP_DAYS`] days (from the UTC midnight before the
/// first request) are learned from but not counted. `source` names the trace in
/// the report's first line.
pub fn evaluate_trace(trace: &Trace, source: &str) -> GuardEvalReport {
    let mut categories = HashMap::new();
    let first = trace.lines.first().map_or(0, |l| l.request.time_ms);
    let last = trace.lines.last().map_or(0, |l| l.request.time_ms);
    let eval_from = first / DAY * DAY + WARMUP_DAYS * DAY;

    // The scorer's split: normal timeline and episodes, by label only.
    let mut first_seen: HashMap<&str, u64> = HashMap::new();
    let mut normal = Vec::new();
    let mut by_episode: BTreeMap<u32, Episode> = BTreeMap::new();
    for line in &trace.lines {
        let r = &line.request;
        first_seen.entry(r.requester.as_str()).or_insert(r.time_ms);
        let a = arrive(r, &mut categories);
        match line.label {
            Label::Normal => normal.push(a),
            Label::Attack { kind, episode } => {
                let via_newcomer = first_seen
                    .get(r.requester.as_str())
                    .is_some_and(|t| *t >= eval_from);
                by_episode
                    .entry(episode)
                    .or_insert_with(|| Episode {
                        kind,
                        reqs: Vec::new(),
                        via_newcomer,
                    })
                    .reqs
                    .push(a);
            }
        }
    }
    let mut episodes: Vec<Episode> = by_episode.into_values().collect();
    episodes.sort_by_key(|e| e.reqs.first().map_or(0, |r| r.ctx.now_ms));

    let mut results: Vec<(AttackKind, KindResult)> = AttackKind::ALL
        .iter()
        .filter(|k| episodes.iter().any(|e| e.kind == **k))
        .map(|k| (*k, KindResult::default()))
        .collect();
    let mut report = GuardEvalReport {
        source: source.to_owned(),
        days: last.saturating_sub(first / DAY * DAY).div_ceil(DAY),
        kinds: Vec::new(),
        newcomer: KindResult::default(),
        normal: 0,
        normal_uncategorized: 0,
        false_positives: 0,
        baseline_false_positives: 0,
        zscore_false_positives: 0,
        warmup_normal: 0,
        warmup_flagged: 0,
    };
    // The evaluation uses the shipped defaults; a failure here is a bug in them.
    let Ok(guard) = Guard::new(GuardConfig::default()) else {
        report.kinds = results;
        return report;
    };
    let mut judges = Judges {
        guard,
        limit: RateLimit::default(),
        zscore: ZScore::default(),
    };
    let mut next_episode = episodes.iter().peekable();
    let mut score =
        |judges: &Judges, ep: &Episode, background: &[Arrival], report: &mut GuardEvalReport| {
            let hits = run_episode(judges, ep, background);
            if let Some((_, k)) = results.iter_mut().find(|(k, _)| *k == ep.kind) {
                k.add(hits);
                k.requests += ep.reqs.len();
                k.uncategorized += ep
                    .reqs
                    .iter()
                    .filter(|a| a.ctx.disease_category.is_none())
                    .count();
            }
            if ep.via_newcomer {
                report.newcomer.add(hits);
                report.newcomer.requests += ep.reqs.len();
            }
        };
    for (i, r) in normal.iter().enumerate() {
        while let Some(ep) =
            next_episode.next_if(|e| e.reqs.first().is_some_and(|a| a.ctx.now_ms <= r.ctx.now_ms))
        {
            score(&judges, ep, &normal[i..], &mut report);
        }
        let (flagged, limit, z) = judges.judge(r);
        // A request the owner refused anyway is neither a false positive nor a
        // correct allow, for the guard or the baselines.
        let Some(flagged) = flagged else {
            continue;
        };
        if r.ctx.now_ms >= eval_from {
            report.normal += 1;
            report.normal_uncategorized += usize::from(r.ctx.disease_category.is_none());
            report.false_positives += usize::from(flagged);
            report.baseline_false_positives += usize::from(limit);
            report.zscore_false_positives += usize::from(z);
        } else {
            report.warmup_normal += 1;
            report.warmup_flagged += usize::from(flagged);
        }
    }
    // Episodes after the last normal request, on the final state.
    for ep in next_episode {
        score(&judges, ep, &[], &mut report);
    }
    report.kinds = results;
    report
}

/// Replays one episode, interleaved with the normal traffic of its time, on
/// clones; returns the 1-based index of the first attack request flagged by the
/// guard, the fixed limit and the z-score.
fn run_episode(judges: &Judges, ep: &Episode, normal: &[Arrival]) -> [Option<usize>; 3] {
    let mut j = judges.clone();
    let end = ep.reqs.last().map_or(0, |r| r.ctx.now_ms);
    let mut background = normal.iter().take_while(|r| r.ctx.now_ms <= end).peekable();
    let mut hits = [None; 3];
    for (i, a) in ep.reqs.iter().enumerate() {
        while let Some(r) = background.next_if(|r| r.ctx.now_ms < a.ctx.now_ms) {
            j.judge(r);
        }
        let (g, l, z) = j.judge(a);
        for (hit, flagged) in hits.iter_mut().zip([g == Some(true), l, z]) {
            if flagged && hit.is_none() {
                *hit = Some(i + 1);
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::traffic::{FREE_TEXT, VOCABULARY};
    use super::*;

    /// The generators' phrases are placed by the node's normalizer where the
    /// generators think, so a trace's categories are what the guard is told.
    #[test]
    fn vocabulary_maps_to_its_blocks() {
        let mut wrong = Vec::new();
        for (block, phrases) in VOCABULARY {
            for p in *phrases {
                let got = access::disease_category(p);
                if got.as_deref() != Some(*block) {
                    wrong.push(format!("{p:?} -> {got:?}, expected {block}"));
                }
            }
        }
        for p in FREE_TEXT {
            let got = access::disease_category(p);
            if got.is_some() {
                wrong.push(format!("{p:?} -> {got:?}, expected none"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// A request of requester `h` at `t` whose query is also its category.
    fn zctx(h: &str, cat: &str, t: u64) -> RequestContext {
        access::guard_context_with(h, "s", cat, "treatment", t, |q| Some(q.to_owned()))
    }

    #[test]
    fn adaptive_limit_flags_what_the_fixed_limit_flags() {
        // A requester never seen before: no habits, so only the fixed limit
        // applies, and its fifth request within a minute is over it.
        let mut z = ZScore::default();
        let flagged: Vec<bool> = (0..5)
            .map(|i| z.check(&zctx("h", "asthma", i * 5_000)))
            .collect();
        assert_eq!(flagged, [false, false, false, false, true]);
    }

    #[test]
    fn adaptive_limit_flags_breadth_against_the_requesters_own_history() {
        let mut z = ZScore::default();
        // Two days of one request every 10 minutes, alternating between two
        // categories: about 6 requests and 2 categories an hour.
        let mut t = 0;
        for i in 0..288 {
            let cat = if i % 2 == 0 { "asthma" } else { "diabetes" };
            assert!(!z.check(&zctx("h", cat, t)), "habit request {i}");
            t += 10 * MINUTE;
        }
        // Then a new category every 2 minutes: never over the fixed limit,
        // but far broader than this requester's own hours.
        let flagged: Vec<bool> = (0..15)
            .map(|i| z.check(&zctx("h", &format!("cat{i}"), t + (i + 1) * 2 * MINUTE)))
            .collect();
        assert!(!flagged[0], "{flagged:?}");
        assert!(flagged.iter().any(|f| *f), "{flagged:?}");
        // Another requester's habits do not make it lenient or strict.
        assert!(!z.check(&zctx("other", "cat0", t)));
    }

    /// The gate: every seed of the clinic generator and the shifted one's
    /// tuning seeds 1-5 (seeds 6-8 are held out: run by hand, reported in
    /// BENCHMARKS.md, never tuned on). The traces are independent, so they run
    /// on threads (the debug suite has thirteen fortnights to replay).
    #[test]
    fn meets_targets_over_seeds() {
        let runs: Vec<(Generator, u64)> = (1..=8)
            .map(|s| (Generator::Clinic, s))
            .chain((1..=5).map(|s| (Generator::Shifted, s)))
            .collect();
        let reports: Vec<(Generator, u64, GuardEvalReport)> = std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .iter()
                .map(|&(g, seed)| scope.spawn(move || (g, seed, run_guard_eval(g, seed))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an evaluation thread panicked"))
                .collect()
        });
        let mut clinic_detection = Vec::new();
        for (g, seed, r) in &reports {
            let what = format!("{g} seed {seed}");
            let last = r.to_string().lines().last().unwrap_or_default().to_owned();
            assert!(last.starts_with("total detection="), "{last}");
            assert!(last.contains(" zscore_fpr="), "{last}");
            match g {
                Generator::Clinic => {
                    // The targets, met on every seed.
                    assert!(r.detection() >= 0.95, "{what}: {r}");
                    assert!(r.fpr() <= 0.01, "{what}: {r}");
                    clinic_detection.push(r.detection());
                    for kind in [AttackKind::Drip, AttackKind::Breadth] {
                        let k = r.kind(kind).map_or((0.0, 0.0), |k| {
                            (
                                ratio(k.guard.detected, k.episodes),
                                ratio(k.baseline.detected, k.episodes),
                            )
                        });
                        assert!(k.0 >= k.1 + 0.5, "{what} {}: {k:?}", kind.name());
                    }
                }
                Generator::Shifted => {
                    // GAP, not met: the targets (detection >= 0.95, fpr <= 0.01)
                    // fail on traffic unlike the guard's prior. With each party
                    // judged against its own habits, seeds 1-5 reach detection
                    // 0.47-0.60 (was 0.31-0.41) at fpr 0.008-0.016 (was
                    // 0.013-0.030): slow drip, compromised staff and drift keep
                    // the victim's pace and mostly its categories in their first
                    // five requests, and bursty emergency nights still cost
                    // false positives. Asserted here is what the guard reaches,
                    // so a regression shows; scraping is always caught.
                    assert!(r.detection() >= 0.45, "{what}: {r}");
                    assert!(r.fpr() <= 0.016, "{what}: {r}");
                    let scrape = r
                        .kind(AttackKind::Scrape)
                        .map(|k| (k.guard.detected, k.episodes));
                    assert!(scrape.is_some_and(|(d, n)| d == n), "{what}: {r}");
                }
            }
        }
        let mean = clinic_detection.iter().sum::<f64>() / clinic_detection.len() as f64;
        assert!(mean >= 0.95, "clinic mean detection {mean}");
    }
}
