//! Cost of sealing an access' details: µs per HPKE seal and per open of a 1 KiB
//! payload (the size of an Access block's details: query, purpose, staff user, reason,
//! a few record commitments and the signed request). An access seals twice (owner and
//! requester), and each side opens its copy once.
//!
//! Run: `cargo bench --workspace --bench seal -- [iterations]` (default 2000).

use std::time::{Duration, Instant};

use pdc_daemon::seal::{EncryptionSecret, Sealed, open, seal};

const INFO: &[u8] = b"sec-net-pdc access details v1";
const PAYLOAD: usize = 1024;

fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort_unstable();
    let i = ((samples.len() as f64 * p) as usize).min(samples.len() - 1);
    samples[i].as_secs_f64() * 1e6
}

fn mean_us(samples: &[Duration]) -> f64 {
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e6 / samples.len() as f64
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let Ok(owner) = EncryptionSecret::generate() else {
        eprintln!("could not make an encryption key");
        std::process::exit(1);
    };
    let recipient = owner.public();
    // Deterministic, incompressible-looking details.
    let details: Vec<u8> = (0..PAYLOAD)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0])
        .collect();
    let aad = [7u8; 120];

    // Warm-up, so lazy tables and caches are in place.
    for _ in 0..50 {
        let s = seal(&recipient, INFO, &aad, &details).unwrap_or_else(|e| fail(&e));
        std::hint::black_box(open(&owner, INFO, &aad, &s).unwrap_or_else(|e| fail(&e)));
    }

    let mut sealed: Vec<Sealed> = Vec::with_capacity(n);
    let mut seal_t = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let s = seal(&recipient, INFO, &aad, &details).unwrap_or_else(|e| fail(&e));
        seal_t.push(t.elapsed());
        sealed.push(s);
    }
    let mut open_t = Vec::with_capacity(n);
    for s in &sealed {
        let t = Instant::now();
        let plain = open(&owner, INFO, &aad, s).unwrap_or_else(|e| fail(&e));
        open_t.push(t.elapsed());
        assert_eq!(plain.len(), PAYLOAD);
    }
    let (seal_mean, open_mean) = (mean_us(&seal_t), mean_us(&open_t));
    println!("HPKE X25519-HKDF-SHA256/ChaCha20-Poly1305, {PAYLOAD}-byte details, {n} iterations:");
    println!(
        "  seal: mean {seal_mean:.1} µs  p50 {:.1} µs  p99 {:.1} µs",
        pct(&mut seal_t, 0.50),
        pct(&mut seal_t, 0.99)
    );
    println!(
        "  open: mean {open_mean:.1} µs  p50 {:.1} µs  p99 {:.1} µs",
        pct(&mut open_t, 0.50),
        pct(&mut open_t, 0.99)
    );
    println!(
        "  per access (2 seals + 2 opens): {:.1} µs; ciphertext overhead {} bytes per recipient",
        2.0 * (seal_mean + open_mean),
        sealed[0].enc.len() + sealed[0].ciphertext.len() - PAYLOAD
    );
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("seal bench failed: {e}");
    std::process::exit(1);
}
