//! The anomaly model: an isolation forest plus per-feature tail statistics, both
//! learned online from accepted requests and seeded with a prior of normal
//! clinical behaviour.
//!
//! Why two parts: an isolation forest (Liu, Ting & Zhou 2008) is good at unusual
//! *combinations*, but it cannot isolate a value on a feature that was constant in
//! its training sample (a burst of denials on a node that never saw one), and in
//! 13 dimensions it is slow to notice an extreme value on a single feature. The
//! tail statistics — how far each feature sits above its usual 99th percentile —
//! cover exactly that, and they double as the explanation in words.
//!
//! Learning is amortised so every call stays in microseconds: each accepted
//! request rebuilds one tree and refreshes one feature's statistics, round robin.

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::features::{self as f, FLOORS, Features, N};

/// Synthetic "normal clinical behaviour" samples the model starts from and
/// always keeps, so a brand-new node can judge and an old one cannot drift
/// arbitrarily far from sane behaviour.
const PRIOR_SAMPLES: usize = 512;

/// Seed of the prior sampler: the prior is part of the program, not of a node.
const PRIOR_SEED: u64 = 0x005e_c0e7_9da7;

/// Largest exceedance one feature may contribute, so one absurd value (a
/// thousand requests a second) does not swamp the explanation of the others.
const MAX_EXCEEDANCE: f64 = 20.0;

#[derive(Debug, Clone, Copy)]
enum Node {
    Split {
        feature: u8,
        threshold: f64,
        left: u32,
        right: u32,
    },
    Leaf {
        size: u32,
    },
}

#[derive(Debug, Clone, Default)]
struct Tree {
    nodes: Vec<Node>,
}

/// Learned state that is persisted; trees and statistics are rebuilt from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ModelState {
    /// Ring buffer of accepted requests' features.
    pub(super) history: Vec<Features>,
    /// Next slot to overwrite once the ring is full.
    pub(super) next: usize,
    /// Trees built so far; seeds each tree's RNG so builds are reproducible.
    pub(super) generation: u64,
}

/// The isolation forest and tail statistics over prior ∪ history.
#[derive(Debug, Clone)]
pub(super) struct Model {
    pub(super) state: ModelState,
    prior: Vec<Features>,
    trees: Vec<Tree>,
    /// Per feature: median over prior ∪ history.
    median: Features,
    /// Per feature: max(99th percentile - median, floor).
    spread: Features,
    /// Median and spread of the prior alone: the program's idea of ordinary
    /// clinical work, which the node's own traffic cannot widen.
    prior_median: Features,
    prior_spread: Features,
    next_tree: usize,
    next_stat: usize,
    capacity: usize,
    sample_size: usize,
    seed: u64,
}

/// Average path length of an unsuccessful binary-search-tree search over `n`
/// points: the isolation forest's normaliser c(n).
fn c(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_9) - 2.0 * (n - 1.0) / n
        }
    }
}

impl Model {
    /// A model over `state` (empty for a new node), fully built.
    pub(super) fn new(
        state: ModelState,
        trees: usize,
        capacity: usize,
        sample_size: usize,
        seed: u64,
    ) -> Self {
        let mut state = state;
        if state.history.len() > capacity {
            // A smaller configured history keeps the newest samples.
            let start = state.history.len() - capacity;
            let oldest = state.next % state.history.len();
            state.history.rotate_left(oldest);
            state.history.drain(..start);
            state.next = 0;
        }
        let prior = prior();
        let (prior_median, prior_spread) = stats(&prior);
        let mut m = Self {
            state,
            prior,
            prior_median,
            prior_spread,
            trees: vec![Tree::default(); trees.max(1)],
            median: [0.0; N],
            spread: FLOORS,
            next_tree: 0,
            next_stat: 0,
            capacity: capacity.max(1),
            sample_size: sample_size.max(2),
            seed,
        };
        for i in 0..m.trees.len() {
            m.rebuild_tree(i);
        }
        for j in 0..N {
            m.refresh_stat(j);
        }
        m
    }

    fn len(&self) -> usize {
        self.prior.len() + self.state.history.len()
    }

    fn sample(&self, i: usize) -> &Features {
        match i.checked_sub(self.prior.len()) {
            None => &self.prior[i],
            Some(k) => &self.state.history[k],
        }
    }

    /// Learns one accepted request: stores it, rebuilds one tree, refreshes one
    /// feature's statistics.
    pub(super) fn learn(&mut self, x: &Features) {
        // Four decimals is plenty for behaviour and keeps snapshots small.
        let x = x.map(|v| (v * 1e4).round() / 1e4);
        if self.state.history.len() < self.capacity {
            self.state.history.push(x);
        } else {
            let slot = self.state.next % self.capacity;
            self.state.history[slot] = x;
            self.state.next = (slot + 1) % self.capacity;
        }
        let t = self.next_tree;
        self.rebuild_tree(t);
        self.next_tree = (t + 1) % self.trees.len();
        let s = self.next_stat;
        self.refresh_stat(s);
        self.next_stat = (s + 1) % N;
    }

    fn rebuild_tree(&mut self, t: usize) {
        self.state.generation = self.state.generation.wrapping_add(1);
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.seed ^ self.state.generation.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let n = self.len();
        let amount = self.sample_size.min(n);
        let mut idx: Vec<u32> = index::sample(&mut rng, n, amount)
            .into_iter()
            .filter_map(|i| u32::try_from(i).ok())
            .collect();
        let depth_limit = (amount as f64).log2().ceil() as usize;
        let mut tree = Tree {
            nodes: Vec::with_capacity(2 * amount),
        };
        self.grow(&mut tree, &mut idx, 0, depth_limit, &mut rng);
        if let Some(slot) = self.trees.get_mut(t) {
            *slot = tree;
        }
    }

    /// Grows a subtree over `idx` and returns its node index.
    fn grow(
        &self,
        tree: &mut Tree,
        idx: &mut [u32],
        depth: usize,
        limit: usize,
        rng: &mut ChaCha8Rng,
    ) -> u32 {
        let at = u32::try_from(tree.nodes.len()).unwrap_or(u32::MAX);
        let leaf = Node::Leaf {
            size: u32::try_from(idx.len()).unwrap_or(u32::MAX),
        };
        if depth >= limit || idx.len() <= 1 {
            tree.nodes.push(leaf);
            return at;
        }
        // Try a few random features for one that varies here; a node where
        // nothing varies is a leaf.
        for _ in 0..2 * N {
            let feature = rng.gen_range(0..N);
            let (lo, hi) = idx
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                    let v = self.sample(i as usize)[feature];
                    (lo.min(v), hi.max(v))
                });
            if hi <= lo {
                continue;
            }
            let threshold = rng.gen_range(lo..hi);
            let mut split = 0;
            for k in 0..idx.len() {
                if self.sample(idx[k] as usize)[feature] < threshold {
                    idx.swap(k, split);
                    split += 1;
                }
            }
            tree.nodes.push(Node::Split {
                feature: feature as u8,
                threshold,
                left: 0,
                right: 0,
            });
            let (l, r) = idx.split_at_mut(split);
            let left = self.grow(tree, l, depth + 1, limit, rng);
            let right = self.grow(tree, r, depth + 1, limit, rng);
            if let Some(Node::Split {
                left: sl,
                right: sr,
                ..
            }) = tree.nodes.get_mut(at as usize)
            {
                *sl = left;
                *sr = right;
            }
            return at;
        }
        tree.nodes.push(leaf);
        at
    }

    fn refresh_stat(&mut self, j: usize) {
        let mut col: Vec<f64> = (0..self.len()).map(|i| self.sample(i)[j]).collect();
        let n = col.len();
        if n == 0 {
            return;
        }
        let (_, med, _) = col.select_nth_unstable_by(n / 2, f64::total_cmp);
        let med = *med;
        let k = ((n as f64) * 0.99) as usize;
        let (_, q99, _) = col.select_nth_unstable_by(k.min(n - 1), f64::total_cmp);
        self.median[j] = med;
        self.spread[j] = (*q99 - med).max(FLOORS[j]);
    }

    /// Isolation-forest score in (0, 1): about 0.5 for ordinary requests,
    /// approaching 1 for requests that are isolated in a few splits.
    pub(super) fn forest_score(&self, x: &Features) -> f64 {
        let mut total = 0.0;
        for tree in &self.trees {
            let mut at = 0usize;
            let mut depth = 0.0;
            loop {
                match tree.nodes.get(at) {
                    Some(Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    }) => {
                        at = if x[*feature as usize] < *threshold {
                            *left
                        } else {
                            *right
                        } as usize;
                        depth += 1.0;
                    }
                    Some(Node::Leaf { size }) => {
                        total += depth + c(*size as usize);
                        break;
                    }
                    None => break,
                }
            }
        }
        let mean = total / self.trees.len() as f64;
        2f64.powf(-mean / c(self.sample_size.min(self.len())))
    }

    /// How far each feature is above its usual value, in units of the usual
    /// spread up to the 99th percentile: 1.0 means "as high as the top 1%".
    pub(super) fn exceedance(&self, x: &Features) -> Features {
        let mut e = [0.0; N];
        for j in 0..N {
            e[j] = ((x[j] - self.median[j]) / self.spread[j]).clamp(0.0, MAX_EXCEEDANCE);
        }
        e
    }

    /// Like [`Model::exceedance`] for feature `j`, against the prior alone.
    pub(super) fn prior_exceedance(&self, j: usize, value: f64) -> f64 {
        ((value - self.prior_median[j]) / self.prior_spread[j]).clamp(0.0, MAX_EXCEEDANCE)
    }

    /// The node-wide median of feature `j` ("usual" for parties without history).
    pub(super) fn median(&self, j: usize) -> f64 {
        self.median[j]
    }
}

/// Median and max(99th percentile - median, floor) of each feature of `xs`.
fn stats(xs: &[Features]) -> (Features, Features) {
    let mut median = [0.0; N];
    let mut spread = FLOORS;
    if xs.is_empty() {
        return (median, spread);
    }
    for j in 0..N {
        let mut col: Vec<f64> = xs.iter().map(|x| x[j]).collect();
        let n = col.len();
        let (_, med, _) = col.select_nth_unstable_by(n / 2, f64::total_cmp);
        let med = *med;
        let k = ((n as f64) * 0.99) as usize;
        let (_, q99, _) = col.select_nth_unstable_by(k.min(n - 1), f64::total_cmp);
        median[j] = med;
        spread[j] = (*q99 - med).max(FLOORS[j]);
    }
    (median, spread)
}

/// Feature vectors of ordinary clinical work: a clinician searching a few times
/// an hour in daytime, within a few related disease categories, getting a few
/// records, rarely denied, with an occasional new colleague, on-call hour or new
/// hospital. Fixed seed: the prior is part of the program.
fn prior() -> Vec<Features> {
    let mut rng = ChaCha8Rng::seed_from_u64(PRIOR_SEED);
    let mut out = Vec::with_capacity(PRIOR_SAMPLES);
    for _ in 0..PRIOR_SAMPLES {
        let mut x = [0.0; N];
        let pick = |rng: &mut ChaCha8Rng, w: &[f64]| -> f64 {
            let total: f64 = w.iter().sum();
            let mut r = rng.gen_range(0.0..total);
            for (i, wi) in w.iter().enumerate() {
                if r < *wi {
                    return i as f64;
                }
                r -= wi;
            }
            (w.len() - 1) as f64
        };
        x[f::RATE_SHORT] = 1.0 + pick(&mut rng, &[70.0, 22.0, 8.0]);
        x[f::REQUESTER_RATE] =
            x[f::RATE_SHORT] + pick(&mut rng, &[30.0, 25.0, 20.0, 12.0, 8.0, 5.0]);
        x[f::PACE] = match rng.gen_range(0..100) {
            0..60 => rng.gen_range(0.0..0.2),
            60..95 => rng.gen_range(0.2..2.0),
            _ => rng.gen_range(2.0..5.0),
        };
        x[f::DISTINCT_QUERIES] = 1.0 + pick(&mut rng, &[50.0, 30.0, 15.0, 5.0]);
        x[f::CATEGORIES_LONG] = 1.0 + pick(&mut rng, &[45.0, 35.0, 15.0, 5.0]);
        x[f::BREADTH] = 1.0 + pick(&mut rng, &[25.0, 35.0, 25.0, 10.0, 5.0]);
        x[f::NOVEL_CATEGORIES] = pick(&mut rng, &[80.0, 15.0, 5.0]);
        x[f::RECORDS] = -(1.0 - rng.gen_range(0.0..1.0f64)).ln();
        x[f::DENIED] = 0.1 * pick(&mut rng, &[90.0, 8.0, 2.0]);
        x[f::OFF_HOURS] = if rng.gen_bool(0.85) {
            rng.gen_range(0.0..0.3)
        } else {
            rng.gen_range(0.3..1.0)
        };
        x[f::PURPOSE] = pick(&mut rng, &[95.0, 5.0]);
        x[f::NEW_REQUESTER] = if rng.gen_bool(0.9) {
            rng.gen_range(0.0..0.1)
        } else {
            rng.gen_range(0.1..1.0)
        };
        x[f::RARE_CATEGORIES] = pick(&mut rng, &[85.0, 12.0, 3.0]);
        x[f::DISTINCT_RUN] = 1.0 + pick(&mut rng, &[55.0, 30.0, 12.0, 3.0]);
        x[f::NEW_STAFF] = if rng.gen_bool(0.85) {
            rng.gen_range(0.0..0.1)
        } else {
            rng.gen_range(0.1..1.0)
        };
        out.push(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forest_separates_outliers_from_prior() {
        let m = Model::new(ModelState::default(), 100, 2048, 256, 7);
        let typical = [
            1.0, 2.0, 0.1, 1.0, 1.0, 2.0, 0.0, 1.0, 0.0, 0.1, 0.0, 0.05, 0.05, 0.0, 1.0,
        ];
        let mut odd = typical;
        odd[f::PACE] = 60.0;
        odd[f::RATE_SHORT] = 20.0;
        odd[f::DISTINCT_QUERIES] = 20.0;
        assert!(
            m.forest_score(&typical) < 0.55,
            "{}",
            m.forest_score(&typical)
        );
        assert!(m.forest_score(&odd) > m.forest_score(&typical) + 0.1);
        assert!(m.exceedance(&odd)[f::PACE] > 5.0);
        assert!(m.exceedance(&typical).iter().all(|e| *e < 1.0));
    }

    #[test]
    fn ring_buffer_keeps_capacity() {
        let mut m = Model::new(ModelState::default(), 4, 8, 16, 1);
        for i in 0..20 {
            m.learn(&[i as f64; N]);
        }
        assert_eq!(m.state.history.len(), 8);
        assert!(m.state.history.iter().all(|x| x[0] >= 12.0));
    }
}
