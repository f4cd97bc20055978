//! Latency of the access guard: `assess` + `record_outcome` per request on a
//! guard warmed with a few days of clinical traffic.
//!
//! Run with `cargo bench -p pdc-daemon --bench guard`.

use std::time::Instant;

use pdc_daemon::guard::{Guard, GuardConfig, RequestContext};

const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;
const CATEGORIES: [&str; 12] = [
    "E08-E13", "I10-I16", "I20-I25", "J40-J47", "C50-C50", "F30-F39", "K70-K77", "M15-M19",
    "N17-N19", "G40-G47", "C81-C96", "Z00-Z13",
];

/// A deterministic stream: 8 hospitals x 6 staff, working hours, related searches.
fn request(i: u64) -> RequestContext {
    // A cheap LCG keeps the bench free of RNG dependencies and reproducible.
    let r = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407)
        >> 33;
    let hospital = r % 8;
    let staff = (r >> 3) % 6;
    let cat = CATEGORIES[((hospital * 3 + staff + (r >> 6) % 3) % 12) as usize];
    // ~400 requests a day spread over 08:00-17:00 UTC.
    let day = i / 400;
    let in_day = (i % 400) * (9 * HOUR_MS / 400);
    RequestContext {
        requester: format!("hospital-{hospital}"),
        staff_user: Some(format!("staff-{staff}")),
        query: format!("{cat} variant {}", (r >> 9) % 4),
        disease_category: Some(cat.to_owned()),
        purpose: "treatment".to_owned(),
        now_ms: 20_000 * DAY_MS + day * DAY_MS + 8 * HOUR_MS + in_day,
    }
}

fn main() {
    let Ok(mut guard) = Guard::new(GuardConfig::default()) else {
        eprintln!("default guard config is invalid");
        std::process::exit(1);
    };
    // Warm-up: five days of traffic, so profiles, history and forest are full.
    let warm = 2_000;
    for i in 0..warm {
        let ctx = request(i);
        let d = guard.assess(&ctx);
        guard.record_outcome(&ctx, 1, false);
        std::hint::black_box(d);
    }
    let n = 20_000;
    let mut samples = Vec::with_capacity(n as usize);
    for i in warm..warm + n {
        let ctx = request(i);
        let start = Instant::now();
        let d = guard.assess(&ctx);
        guard.record_outcome(&ctx, 1, false);
        samples.push(start.elapsed());
        std::hint::black_box(d);
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "guard assess+record_outcome over {n} requests (warmed with {warm}): p50={:.1?} p99={:.1?} max={:.1?}",
        pct(0.50),
        pct(0.99),
        samples[samples.len() - 1]
    );
    println!("snapshot size: {} bytes", guard.snapshot().len());
}
