//! Latency of the disease search: `normalize` over typical queries and `rank` of one
//! query over 100,000 synthetic record conditions. Run in release:
//! `cargo bench -p pdc-daemon --bench search`. Targets: normalize p99 <= 1 ms,
//! rank of 100k records p99 <= 20 ms.

use std::time::{Duration, Instant};

use pdc_daemon::search::{Normalized, normalize, preload, rank};

const QUERIES: &[&str] = &[
    "hypertension",
    "heart attack",
    "sugar diabetes",
    "type 2 diabetes with neuropathy",
    "pharingitis",
    "hypertenshun",
    "sinus infection",
    "copd",
    "broken arm",
    "History of cardiac arrest (situation)",
    "Body mass index 30+ - obesity (finding)",
    "Acute viral pharyngitis (disorder)",
    "chronic kidney disease stage 3",
    "zebra stripes disease",
    "depresion and anxiety",
    "left knee osteoarthritis",
    "Nonproliferative diabetic retinopathy due to type 2 diabetes mellitus (disorder)",
    "artheritis",
    "UTI",
    "alzheimers",
];

/// Condition texts for the synthetic records: typed lay phrases and SNOMED-style
/// displays mixed with ICD-10-CM titles so record concepts span the terminology.
const CONDITIONS: &[&str] = &[
    "Hypertension",
    "Type 2 diabetes mellitus",
    "Viral sinusitis (disorder)",
    "Acute bronchitis (disorder)",
    "Sprain of ankle",
    "Prediabetes",
    "Hyperlipidemia",
    "Childhood asthma",
    "Chronic obstructive bronchitis (disorder)",
    "Fracture of forearm",
    "Major depression disorder",
    "Osteoarthritis of knee",
    "Streptococcal sore throat (disorder)",
    "Myocardial Infarction",
    "Chronic kidney disease stage 1 (disorder)",
    "Normal pregnancy",
    "Epilepsy",
    "Anemia (disorder)",
    "Malignant neoplasm of breast (disorder)",
    "Alzheimer's disease (disorder)",
    "Gout",
    "Kidney stone",
    "Otitis media",
    "Seasonal allergic rhinitis",
    "Migraine",
    "Rupture of appendix",
    "Cholelithiasis",
    "Escherichia coli urinary tract infection",
    "Atrial Fibrillation",
    "Chronic pain",
    "Essential (primary) hypertension",
    "Acute pharyngitis due to other specified organisms",
    "Displaced fracture of lateral end of right clavicle",
    "Type 2 diabetes mellitus with diabetic chronic kidney disease",
    "Sprain of unspecified ligament of left ankle",
    "Unspecified asthma with (acute) exacerbation",
    "Cellulitis of left lower limb",
    "Acute and subacute infective endocarditis",
    "Generalized anxiety disorder",
    "Obstructive sleep apnea (adult) (pediatric)",
];

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn report(name: &str, samples: &mut [Duration]) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    println!(
        "{name:<28} n={:<6} p50={:>9.3?} p99={:>9.3?}",
        samples.len(),
        p50,
        p99
    );
}

fn main() {
    let start = Instant::now();
    preload();
    println!("{:<28} {:?}", "index build (once)", start.elapsed());

    let mut samples = Vec::new();
    for _ in 0..50 {
        for q in QUERIES {
            let t = Instant::now();
            let n = normalize(q);
            samples.push(t.elapsed());
            std::hint::black_box(n);
        }
    }
    report("normalize", &mut samples);

    // Record-side normalization happens at write time; here each distinct text is
    // normalized once and shared by many records, as stored values would be.
    let distinct: Vec<Normalized> = CONDITIONS.iter().map(|c| normalize(c)).collect();
    let ids: Vec<String> = (0..100_000).map(|i| format!("record-{i:06}")).collect();
    let records: Vec<(&str, &Normalized)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), &distinct[(i * 7 + i / 13) % distinct.len()]))
        .collect();

    let mut samples = Vec::new();
    let mut hits = 0;
    for round in 0..5 {
        for q in QUERIES {
            let query = normalize(q);
            let t = Instant::now();
            let found = rank(&query, records.iter().copied());
            samples.push(t.elapsed());
            if round == 0 {
                hits += found.len();
            }
            std::hint::black_box(found);
        }
    }
    report("rank 100k records", &mut samples);
    println!("(hits over {} queries: {hits})", QUERIES.len());
}
