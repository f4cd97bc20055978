// Tests fail loudly by design.
#![allow(clippy::unwrap_used)]

use super::*;

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;
const T0: u64 = 20_000 * DAY;

fn ctx(
    requester: &str,
    staff: Option<&str>,
    category: Option<&str>,
    query: &str,
    now_ms: u64,
) -> RequestContext {
    RequestContext {
        requester: requester.to_owned(),
        staff_user: staff.map(str::to_owned),
        query: query.to_owned(),
        disease_category: category.map(str::to_owned),
        purpose: "treatment".to_owned(),
        now_ms,
    }
}

/// Feeds `days` of a clinician's ordinary work: a few diabetes and hypertension
/// searches in the given hours.
fn warm(g: &mut Guard, requester: &str, staff: &str, hours: std::ops::Range<u64>, days: u64) {
    let cats = ["E08-E13", "I10-I16", "E08-E13", "I20-I25"];
    for d in 0..days {
        for (k, h) in hours.clone().enumerate() {
            let t = T0 + d * DAY + h * HOUR + (k as u64 * 7 % 50) * MIN;
            let cat = cats[(d as usize + k) % cats.len()];
            let c = ctx(
                requester,
                Some(staff),
                Some(cat),
                &format!("{cat} q{}", k % 3),
                t,
            );
            let dec = g.assess(&c);
            g.record_outcome(&c, 1, false);
            assert_ne!(
                dec.verdict,
                Verdict::Deny,
                "warm-up request denied: {}",
                dec.summary()
            );
        }
    }
}

#[test]
fn hard_limit_denies_and_may_revoke() {
    let config = GuardConfig {
        max_requests_per_minute: 5,
        revoke_on_deny: true,
        ..GuardConfig::default()
    };
    let mut g = Guard::new(config).unwrap();
    let mut last = None;
    for i in 0..6 {
        let c = ctx(
            "h1",
            Some("alice"),
            Some("E08-E13"),
            "diabetes",
            T0 + 10 * HOUR + i * 1000,
        );
        last = Some(g.assess(&c));
        g.record_outcome(&c, 0, false);
    }
    let d = last.unwrap();
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(d.revoke);
    assert_eq!(
        d.reasons[0],
        "6 requests in the last minute; the limit is 5"
    );
    assert!(
        d.summary()
            .starts_with("deny score=1.00 revoke: 6 requests in the last minute"),
        "{}",
        d.summary()
    );
}

#[test]
fn fresh_guard_is_conservative() {
    // Ordinary daytime work from a first contact is answered ...
    let mut g = Guard::new(GuardConfig::default()).unwrap();
    let c = ctx(
        "h1",
        Some("alice"),
        Some("E08-E13"),
        "type 2 diabetes",
        T0 + 10 * HOUR,
    );
    let d = g.assess(&c);
    g.record_outcome(&c, 2, false);
    assert_eq!(d.verdict, Verdict::Allow, "{}", d.summary());

    // ... but a burst is flagged before any history exists.
    let mut flagged_at = None;
    for i in 0..10u64 {
        let c = ctx(
            "h2",
            Some("bob"),
            Some("I10-I16"),
            &format!("q{i}"),
            T0 + 11 * HOUR + i * 1500,
        );
        let d = g.assess(&c);
        g.record_outcome(&c, 1, false);
        if d.verdict != Verdict::Allow && flagged_at.is_none() {
            flagged_at = Some(i + 1);
        }
    }
    assert!(
        flagged_at.is_some_and(|n| n <= 5),
        "burst flagged at {flagged_at:?}"
    );
}

/// A warmed-up clinician who then enumerates eight unrelated disease categories, 40 s
/// apart: the guard's decision on each request, in order.
fn breadth_enumeration(config: GuardConfig) -> Vec<GuardDecision> {
    let mut g = Guard::new(config).unwrap();
    warm(&mut g, "h1", "alice", 9..13, 10);
    let blocks = [
        "A00-A09", "B20-B20", "C50-C50", "F20-F29", "G30-G32", "K70-K77", "N17-N19", "O20-O29",
    ];
    blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let c = ctx(
                "h1",
                Some("alice"),
                Some(b),
                b,
                T0 + 12 * DAY + 10 * HOUR + i as u64 * 40_000,
            );
            let d = g.assess(&c);
            g.record_outcome(&c, 0, false);
            d
        })
        .collect()
}

#[test]
fn breadth_is_explained_in_words() {
    let first_flag = breadth_enumeration(GuardConfig::default())
        .into_iter()
        .enumerate()
        .find(|(_, d)| d.verdict != Verdict::Allow)
        .map(|(i, d)| (i + 1, d));
    let (n, d) = first_flag.expect("breadth enumeration not flagged");
    assert!(n <= 5, "flagged only at request {n}");
    assert!(!d.reasons.is_empty());
    assert!(
        d.reasons.iter().any(|r| r.contains("disease categories")),
        "reasons: {:?}",
        d.reasons
    );
    assert!(d.summary().contains("disease categories"));
}

#[test]
fn snapshot_restore_keeps_learned_behaviour() {
    let mut g = Guard::new(GuardConfig::default()).unwrap();
    warm(&mut g, "h1", "night-nurse", 1..5, 12);
    let bytes = g.snapshot();
    let r = Guard::restore(&bytes, GuardConfig::default()).unwrap();

    // Same state, whatever the map order in the bytes. Only the count of trees
    // built differs: a restored guard rebuilds its forest from the history.
    let strip = |b: &[u8]| {
        let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["model"]["generation"] = serde_json::Value::Null;
        v
    };
    assert!(
        strip(&bytes) == strip(&r.snapshot()),
        "restored state differs"
    );
    assert_eq!(r.model.state.history, g.model.state.history);
    assert!(r.requesters["h1"].profile.learned >= 40);

    // The restored guard judges like the original: the night nurse's usual work is
    // fine, a fresh guard has never heard of her.
    let probe = ctx(
        "h1",
        Some("night-nurse"),
        Some("E08-E13"),
        "E08-E13 q1",
        T0 + 13 * DAY + 2 * HOUR,
    );
    let (mut g2, mut r2) = (g.clone(), r);
    let (dg, dr) = (g2.assess(&probe), r2.assess(&probe));
    assert_eq!(dg.verdict, Verdict::Allow);
    assert_eq!(dr.verdict, dg.verdict);
    assert!(
        (dg.score - dr.score).abs() < 0.05,
        "{} vs {}",
        dg.score,
        dr.score
    );
    assert!(r2.requesters["h1"].profile.mature(r2.config.maturity));
    assert!(
        Guard::new(GuardConfig::default())
            .unwrap()
            .requesters
            .is_empty()
    );
}

#[test]
fn restore_rejects_bad_bytes_and_config() {
    assert!(matches!(
        Guard::restore(b"not json", GuardConfig::default()),
        Err(GuardError::Corrupt(_))
    ));
    let old = br#"{"version":99}"#;
    assert!(matches!(
        Guard::restore(old, GuardConfig::default()),
        Err(GuardError::UnsupportedVersion { found: 99 })
    ));
    let bad = GuardConfig {
        flag_threshold: 0.9,
        deny_threshold: 0.8,
        ..GuardConfig::default()
    };
    let err = Guard::new(bad).unwrap_err();
    assert!(
        err.to_string().contains("flag_threshold <= deny_threshold"),
        "{err}"
    );
}

#[test]
fn config_parses_with_defaults() {
    let c: GuardConfig =
        serde_json::from_str(r#"{"max_requests_per_minute": 12, "revoke_on_deny": true}"#).unwrap();
    assert_eq!(c.max_requests_per_minute, 12);
    assert!(c.revoke_on_deny);
    assert_eq!(c.window_secs, GuardConfig::default().window_secs);
}

#[test]
fn allowed_decision_has_short_summary() {
    let d = GuardDecision {
        verdict: Verdict::Allow,
        score: 0.42,
        reasons: vec![],
        revoke: false,
    };
    assert_eq!(d.summary(), "allow score=0.42");
}

/// A clinician's ordinary session: a handful of searches minutes apart over a
/// few diseases, starting at `start`. Returns every decision.
fn ordinary_session(g: &mut Guard, requester: &str, staff: &str, start: u64) -> Vec<GuardDecision> {
    let steps = [
        (0, "E08-E13", "type 2 diabetes"),
        (3, "I10-I16", "hypertension"),
        (11, "E08-E13", "diabetes"),
        (18, "J40-J4A", "asthma"),
        (32, "I10-I16", "high blood pressure"),
        (41, "E08-E13", "hba1c diabetes"),
    ];
    steps
        .iter()
        .map(|&(minute, cat, q)| {
            let c = ctx(requester, Some(staff), Some(cat), q, start + minute * MIN);
            let d = g.assess(&c);
            g.record_outcome(&c, 1, false);
            d
        })
        .collect()
}

#[test]
fn fresh_guard_allows_ordinary_traffic_at_every_hour() {
    // A brand-new node knows nothing of its requesters' time zones or shifts, so
    // no hour of the day may make their ordinary first requests look suspicious.
    for hour in 0..24 {
        let mut g = Guard::new(GuardConfig::default()).unwrap();
        let start = T0 + hour * HOUR + 7 * MIN;
        for (i, d) in ordinary_session(&mut g, "h1", "dr.ada", start)
            .iter()
            .enumerate()
        {
            assert_eq!(
                d.verdict,
                Verdict::Allow,
                "{hour:02}:07 UTC, request {}: {}",
                i + 1,
                d.summary()
            );
        }
        // A second hospital's first contact in the same hour, with no staff name.
        let c = RequestContext {
            staff_user: None,
            ..ctx(
                "h2",
                None,
                Some("C50-C50"),
                "breast cancer",
                start + 50 * MIN,
            )
        };
        let d = g.assess(&c);
        assert_eq!(
            d.verdict,
            Verdict::Allow,
            "{hour:02}:57 UTC: {}",
            d.summary()
        );
    }
}

#[test]
fn one_quick_refinement_is_not_a_burst_but_three_quick_requests_are() {
    let mut g = Guard::new(GuardConfig::default()).unwrap();
    let t = T0 + 10 * HOUR;
    let mut verdicts = Vec::new();
    for (i, q) in ["diabetes", "type 2 diabetes", "diabetes mellitus"]
        .iter()
        .enumerate()
    {
        let c = ctx(
            "h1",
            Some("dr.ada"),
            Some("E08-E13"),
            q,
            t + i as u64 * 2_000,
        );
        let d = g.assess(&c);
        g.record_outcome(&c, 1, false);
        verdicts.push(d);
    }
    assert_eq!(
        verdicts[0].verdict,
        Verdict::Allow,
        "{}",
        verdicts[0].summary()
    );
    assert_eq!(
        verdicts[1].verdict,
        Verdict::Allow,
        "{}",
        verdicts[1].summary()
    );
    assert_ne!(
        verdicts[2].verdict,
        Verdict::Allow,
        "{}",
        verdicts[2].summary()
    );
    assert!(
        verdicts[2]
            .reasons
            .iter()
            .any(|r| r.contains("2.0 s apart")),
        "{:?}",
        verdicts[2].reasons
    );
}

#[test]
fn refused_requests_count_towards_the_hard_limits() {
    let config = GuardConfig {
        max_requests_per_minute: 4,
        ..GuardConfig::default()
    };
    let mut g = Guard::new(config).unwrap();
    let t = T0 + 10 * HOUR;
    // Four requests the owner refused (say, for a purpose nobody granted) ...
    for i in 0..4 {
        let c = ctx(
            "h1",
            Some("dr.ada"),
            Some("E08-E13"),
            "diabetes",
            t + i * 10_000,
        );
        g.record_refused(&c);
    }
    assert_eq!(
        g.model.state.history.len(),
        0,
        "nothing learned from refusals"
    );
    // ... make the fifth, within the same minute, one too many.
    let c = ctx(
        "h1",
        Some("dr.ada"),
        Some("E08-E13"),
        "diabetes",
        t + 45_000,
    );
    let d = g.assess(&c);
    assert_eq!(d.verdict, Verdict::Deny, "{}", d.summary());
    assert!(
        d.reasons[0].starts_with("5 requests in the last minute"),
        "{:?}",
        d.reasons
    );
}

#[test]
fn repeating_the_same_search_is_not_a_burst() {
    // A clinician reloading or retrying one search fetches nothing new; a
    // script walking through queries as fast does.
    let mut g = Guard::new(GuardConfig::default()).unwrap();
    let t = T0 + 10 * HOUR;
    for i in 0..4u64 {
        let c = ctx(
            "h1",
            Some("dr.ada"),
            Some("E08-E13"),
            "diabetes",
            t + i * 1_100,
        );
        let d = g.assess(&c);
        g.record_outcome(&c, 1, false);
        assert_ne!(
            d.verdict,
            Verdict::Deny,
            "repeat {}: {}",
            i + 1,
            d.summary()
        );
    }
    let mut last = None;
    for i in 0..3u64 {
        let q = format!("diabetes variant {i}");
        let c = ctx("h2", Some("dr.bob"), Some("E08-E13"), &q, t + i * 1_100);
        last = Some(g.assess(&c));
        g.record_outcome(&c, 1, false);
    }
    let d = last.unwrap();
    assert_ne!(d.verdict, Verdict::Allow, "{}", d.summary());
}

#[test]
fn a_deny_threshold_above_one_only_flags() {
    // config.rs documents it: above 1.0 the score never denies, the hard limits still do.
    let verdicts: Vec<Verdict> = breadth_enumeration(GuardConfig {
        deny_threshold: 1.5,
        ..GuardConfig::default()
    })
    .into_iter()
    .map(|d| d.verdict)
    .collect();
    assert!(verdicts.contains(&Verdict::Flag), "{verdicts:?}");
    assert!(!verdicts.contains(&Verdict::Deny), "{verdicts:?}");
    let too_low = GuardConfig {
        flag_threshold: 1.2,
        deny_threshold: 1.5,
        ..GuardConfig::default()
    };
    assert!(
        Guard::new(too_low).is_err(),
        "flag_threshold above 1 never flags"
    );
}

/// Thirty disease blocks a broad reviewer walks through.
fn review_blocks() -> Vec<String> {
    (0..30).map(|i| format!("B{i:02}")).collect()
}

/// Ten days of a research reviewer's ordinary work at hospital `h-broad`: two
/// daytime sessions, each ten searches two minutes apart in ten different
/// blocks of [`review_blocks`].
fn warm_reviewer(g: &mut Guard) {
    let blocks = review_blocks();
    let mut k = 0;
    for d in 0..10 {
        for session in [10, 14] {
            for i in 0..10 {
                let t = T0 + d * DAY + session * HOUR + i * 2 * MIN;
                let b = &blocks[k % blocks.len()];
                k += 7;
                let c = ctx("h-broad", Some("rev"), Some(b), b, t);
                g.assess(&c);
                g.record_outcome(&c, 1, false);
            }
        }
    }
}

/// Eight requests by `staff` of `requester`, each in another block of
/// [`review_blocks`], two minutes apart from `start`: whether each was flagged.
fn walk_blocks(g: &mut Guard, requester: &str, staff: &str, start: u64) -> Vec<bool> {
    review_blocks()
        .iter()
        .step_by(3)
        .take(8)
        .enumerate()
        .map(|(i, b)| {
            let c = ctx(
                requester,
                Some(staff),
                Some(b),
                b,
                start + i as u64 * 2 * MIN,
            );
            let d = g.assess(&c);
            g.record_outcome(&c, 1, false);
            d.verdict != Verdict::Allow
        })
        .collect()
}

#[test]
fn each_party_is_judged_against_its_own_habits() {
    // One node, two hospitals: a reviewer whose work is broad, a clinician
    // whose work is narrow. The same walk through eight blocks is ordinary for
    // the first and breadth enumeration for the second, however broad the
    // node's traffic as a whole is.
    let mut g = Guard::new(GuardConfig::default()).unwrap();
    warm_reviewer(&mut g);
    warm(&mut g, "h-narrow", "alice", 9..13, 10);
    let reviewer = walk_blocks(&mut g, "h-broad", "rev", T0 + 11 * DAY + 10 * HOUR);
    assert!(
        reviewer.iter().all(|f| !f),
        "reviewer flagged: {reviewer:?}"
    );
    let clinician = walk_blocks(&mut g, "h-narrow", "alice", T0 + 11 * DAY + 11 * HOUR);
    assert!(
        clinician.iter().take(5).any(|f| *f),
        "clinician not flagged within 5: {clinician:?}"
    );
}
