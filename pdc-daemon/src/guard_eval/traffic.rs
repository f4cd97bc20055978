//! Trace generators for `guard-eval`: synthetic hospital traffic with attack
//! episodes, written as [`Trace`]s of query *text* (what a clinician types), so
//! the replay derives each request's category with the node's own normalizer.
//!
//! Two generators with different statistics:
//! - [`Generator::Clinic`]: day-shift hospitals whose staff keep to 2–6 home
//!   categories 90 % of the time, ~90 s between searches (the statistics the
//!   guard's built-in prior was written from);
//! - [`Generator::Shifted`] (in `shifted`): night-shift emergency departments
//!   with bursts, research hospitals with broad legitimate queries, newcomer
//!   hospitals joining mid-trace, attacks through newcomers, and a drifting
//!   attacker that keeps a normal pace and category mix at first.
//!
//! Attackers use the same kinds of accounts and fields as clinicians; what
//! differs is only what they do: how fast, how broad, when and how much.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::trace::{AttackKind, Label, Trace, TraceLine, TraceRequest};

pub(super) const MINUTE: u64 = 60_000;
pub(super) const HOUR: u64 = 60 * MINUTE;
pub(super) const DAY: u64 = 24 * HOUR;
/// Simulation epoch: a UTC midnight.
pub(super) const START: u64 = 20_000 * DAY;
/// Days at the start of a trace the scorer treats as warm-up (see `eval`).
pub(super) const WARMUP_DAYS: u64 = 4;
const DAYS: u64 = 14;
const EPISODES_PER_KIND: usize = 20;

/// Disease categories the simulated searches ask about: the ICD-10-CM block the
/// node's normalizer places the phrases in, and phrases a clinician would type
/// for it. `vocabulary_maps_to_its_blocks` checks each phrase against the
/// normalizer, so the block here is what the guard is told, not a wish.
pub(super) const VOCABULARY: &[(&str, &[&str])] = &[
    ("A00-A09", &["cholera", "shigellosis", "amebiasis"]),
    (
        "A15-A19",
        &[
            "tuberculosis",
            "respiratory tuberculosis",
            "miliary tuberculosis",
        ],
    ),
    (
        "B20",
        &["hiv disease", "human immunodeficiency virus disease"],
    ),
    (
        "C15-C26",
        &[
            "colon cancer",
            "malignant neoplasm of stomach",
            "pancreatic cancer",
        ],
    ),
    (
        "C30-C39",
        &[
            "lung cancer",
            "malignant neoplasm of bronchus and lung",
            "laryngeal cancer",
        ],
    ),
    ("C43-C44", &["melanoma", "malignant melanoma of skin"]),
    ("C50", &["breast cancer", "malignant neoplasm of breast"]),
    (
        "C51-C58",
        &[
            "ovarian cancer",
            "malignant neoplasm of ovary",
            "cervical cancer",
        ],
    ),
    (
        "C60-C63",
        &[
            "prostate cancer",
            "malignant neoplasm of prostate",
            "testicular cancer",
        ],
    ),
    (
        "C81-C96",
        &["hodgkin lymphoma", "myeloid leukemia", "lymphoid leukemia"],
    ),
    (
        "D50-D53",
        &[
            "iron deficiency anemia",
            "vitamin b12 deficiency anemia",
            "folate deficiency anemia",
        ],
    ),
    ("E00-E07", &["hypothyroidism", "thyroiditis", "goiter"]),
    (
        "E08-E13",
        &[
            "type 2 diabetes",
            "diabetes mellitus",
            "type 1 diabetes mellitus",
        ],
    ),
    ("E40-E46", &["protein-calorie malnutrition", "kwashiorkor"]),
    ("E65-E68", &["obesity", "overweight and obesity"]),
    (
        "E70-E88",
        &["cystic fibrosis", "amyloidosis", "lactose intolerance"],
    ),
    (
        "F10-F19",
        &[
            "alcohol dependence",
            "opioid dependence",
            "nicotine dependence",
        ],
    ),
    (
        "F20-F29",
        &[
            "schizophrenia",
            "schizoaffective disorder",
            "delusional disorder",
        ],
    ),
    (
        "F30-F39",
        &[
            "bipolar disorder",
            "major depressive disorder",
            "manic episode",
        ],
    ),
    (
        "F40-F48",
        &[
            "generalized anxiety disorder",
            "panic disorder",
            "obsessive-compulsive disorder",
        ],
    ),
    ("G20-G26", &["parkinson's disease", "dystonia"]),
    ("G30-G32", &["alzheimer's disease", "alzheimer disease"]),
    ("G35-G37", &["multiple sclerosis"]),
    ("G40-G47", &["epilepsy", "migraine", "sleep apnea"]),
    ("H25-H28", &["cataract", "age-related cataract"]),
    ("H40-H42", &["glaucoma", "open-angle glaucoma"]),
    (
        "I10-I1A",
        &[
            "hypertension",
            "essential hypertension",
            "high blood pressure",
        ],
    ),
    (
        "I20-I25",
        &[
            "angina pectoris",
            "myocardial infarction",
            "coronary artery disease",
        ],
    ),
    (
        "I30-I5A",
        &[
            "heart failure",
            "atrial fibrillation",
            "congestive heart failure",
        ],
    ),
    (
        "I60-I69",
        &["stroke", "cerebral infarction", "ischemic stroke"],
    ),
    ("I70-I79", &["atherosclerosis of aorta", "aortic aneurysm"]),
    ("J09-J18", &["pneumonia", "viral pneumonia", "influenza"]),
    (
        "J40-J4A",
        &[
            "asthma",
            "chronic obstructive pulmonary disease",
            "emphysema",
        ],
    ),
    ("K20-K31", &["gastritis", "gastric ulcer", "esophagitis"]),
    ("K50-K52", &["crohn's disease", "ulcerative colitis"]),
    (
        "K70-K77",
        &[
            "cirrhosis of liver",
            "alcoholic liver disease",
            "fatty liver",
        ],
    ),
    ("M05-M14", &["rheumatoid arthritis", "gout"]),
    (
        "M15-M19",
        &[
            "osteoarthritis of knee",
            "osteoarthritis of hip",
            "osteoarthritis",
        ],
    ),
    ("M80-M85", &["osteoporosis", "osteopenia"]),
    (
        "N17-N19",
        &["chronic kidney disease", "acute kidney failure"],
    ),
    ("N30-N39", &["cystitis", "urethral stricture"]),
    (
        "O20-O29",
        &["hyperemesis gravidarum", "excessive vomiting in pregnancy"],
    ),
    (
        "Q20-Q28",
        &[
            "ventricular septal defect",
            "congenital malformations of cardiac septa",
        ],
    ),
    ("R50-R69", &["syncope", "syncope and collapse", "fever"]),
    ("S00-S09", &["concussion", "intracranial injury"]),
    (
        "S70-S79",
        &["fracture of femur", "hip fracture", "broken hip"],
    ),
];

/// Free-text searches the terminology places in no category.
pub(super) const FREE_TEXT: &[&str] = &[
    "recent admissions",
    "discharge summary",
    "medication list",
    "follow-up notes",
];

/// Collects trace lines and hands out episode ids.
#[derive(Default)]
pub(super) struct Writer {
    pub(super) lines: Vec<TraceLine>,
    next_episode: u32,
}

/// One request a generator emits, before it is labelled.
pub(super) struct Emit<'a> {
    pub(super) t: u64,
    pub(super) requester: &'a str,
    pub(super) staff: &'a str,
    pub(super) query: String,
    pub(super) purpose: &'a str,
    pub(super) records: usize,
    pub(super) refused: bool,
}

impl Writer {
    pub(super) fn push(&mut self, e: Emit<'_>, label: Label) {
        self.lines.push(TraceLine {
            request: TraceRequest {
                time_ms: e.t,
                requester: e.requester.to_owned(),
                staff_user: Some(e.staff.to_owned()),
                query: e.query,
                purpose: e.purpose.to_owned(),
                refused: e.refused,
                records: u32::try_from(e.records).unwrap_or(u32::MAX),
            },
            label,
        });
    }

    /// A label for the next attack episode of `kind`.
    pub(super) fn episode(&mut self, kind: AttackKind) -> Label {
        self.next_episode += 1;
        Label::Attack {
            kind,
            episode: self.next_episode,
        }
    }

    pub(super) fn finish(mut self) -> Trace {
        // Stable: an episode's requests keep their order at equal times.
        self.lines.sort_by_key(|l| l.request.time_ms);
        Trace { lines: self.lines }
    }
}

/// The patient whose node is guarded: records per category.
pub(super) struct Patient {
    records: HashMap<usize, usize>,
}

impl Patient {
    pub(super) fn new(rng: &mut ChaCha8Rng, categories: usize) -> Self {
        let mut records = HashMap::new();
        for &c in (0..VOCABULARY.len())
            .collect::<Vec<_>>()
            .choose_multiple(rng, categories)
        {
            records.insert(c, rng.gen_range(1..=8));
        }
        Self { records }
    }

    /// Records a search of `category` returns; a broad free-text pull returns all.
    pub(super) fn answer(&self, category: Option<usize>, broad: bool) -> usize {
        match category {
            Some(c) => self.records.get(&c).copied().unwrap_or(0),
            None if broad => self.records.values().sum(),
            None => 0,
        }
    }
}

/// A phrase a clinician would type for category `c`.
pub(super) fn phrase(rng: &mut ChaCha8Rng, c: usize) -> String {
    VOCABULARY
        .get(c)
        .and_then(|(_, p)| p.choose(rng))
        .copied()
        .unwrap_or("asthma")
        .to_owned()
}

/// A free-text search naming no category.
pub(super) fn free_text(rng: &mut ChaCha8Rng) -> String {
    FREE_TEXT.choose(rng).copied().unwrap_or("notes").to_owned()
}

pub(super) fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    let l = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.gen_range(0.0..1.0f64);
        if p <= l || k > 100 {
            return k;
        }
        k += 1;
    }
}

pub(super) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Zipf-like pick: the first favourite is used most.
pub(super) fn zipf<'a>(rng: &mut ChaCha8Rng, items: &'a [usize]) -> Option<&'a usize> {
    let w: Vec<f64> = (1..=items.len()).map(|r| 1.0 / r as f64).collect();
    let total: f64 = w.iter().sum();
    let mut x = rng.gen_range(0.0..total);
    for (i, wi) in w.iter().enumerate() {
        if x < *wi {
            return items.get(i);
        }
        x -= wi;
    }
    items.last()
}

// ---- the clinic generator ----

#[derive(Debug, Clone)]
struct Staff {
    id: String,
    /// Favourite categories, most used first.
    home: Vec<usize>,
    shift_start: u64,
    shift_hours: u64,
    sessions_per_day: f64,
    joined_day: u64,
}

#[derive(Debug, Clone)]
struct Hospital {
    id: String,
    pool: Vec<usize>,
    purpose: &'static str,
    staff: Vec<Staff>,
    /// Works weekends at full strength (an emergency department).
    always_open: bool,
    joined_day: u64,
}

fn make_staff(
    rng: &mut ChaCha8Rng,
    id: String,
    pool: &[usize],
    shift_start: u64,
    joined_day: u64,
) -> Staff {
    let k = rng.gen_range(2..=6).min(pool.len());
    let home: Vec<usize> = pool.choose_multiple(rng, k).copied().collect();
    Staff {
        id,
        home,
        shift_start,
        shift_hours: rng.gen_range(8..=10),
        sessions_per_day: rng.gen_range(2.0..6.0),
        joined_day,
    }
}

fn make_hospitals(rng: &mut ChaCha8Rng) -> Vec<Hospital> {
    // (name, pool size, staff, purpose, always open, joins on day)
    let specs: [(&str, usize, usize, &'static str, bool, u64); 7] = [
        ("general", 14, 6, "treatment", false, 0),
        ("cardiology", 8, 4, "treatment", false, 0),
        ("emergency", 16, 8, "treatment", true, 0),
        ("research", 12, 3, "research", false, 0),
        ("oncology", 10, 5, "treatment", false, 0),
        ("clinic", 20, 2, "treatment", false, 0),
        ("newcomer", 10, 3, "treatment", false, WARMUP_DAYS + 4),
    ];
    let all: Vec<usize> = (0..VOCABULARY.len()).collect();
    specs
        .iter()
        .enumerate()
        .map(
            |(h, &(name, pool_size, n_staff, purpose, always_open, joined_day))| {
                let pool: Vec<usize> = all.choose_multiple(rng, pool_size).copied().collect();
                let staff = (0..n_staff)
                    .map(|s| {
                        let start = if always_open {
                            [7, 15, 23][s % 3]
                        } else {
                            rng.gen_range(7..=10)
                        };
                        make_staff(
                            rng,
                            format!("hospital-{h}-{name}-staff-{s}"),
                            &pool,
                            start,
                            joined_day,
                        )
                    })
                    .collect();
                Hospital {
                    id: format!("hospital-{h}-{name}"),
                    pool,
                    purpose,
                    staff,
                    always_open,
                    joined_day,
                }
            },
        )
        .collect()
}

/// Normal clinical traffic of every hospital over every day.
fn normal_traffic(
    rng: &mut ChaCha8Rng,
    hospitals: &mut [Hospital],
    patient: &Patient,
    out: &mut Writer,
) {
    // New colleagues join during the evaluated days: ordinary novelty.
    for (day, h) in [
        (WARMUP_DAYS + 2, 0),
        (WARMUP_DAYS + 6, 4),
        (WARMUP_DAYS + 7, 2),
    ] {
        if let Some(hosp) = hospitals.get_mut(h) {
            let id = format!("{}-staff-{}", hosp.id, hosp.staff.len());
            let start = rng.gen_range(7..=9);
            let s = make_staff(rng, id, &hosp.pool.clone(), start, day);
            hosp.staff.push(s);
        }
    }
    for day in 0..DAYS {
        let weekend = day % 7 >= 5;
        for h in hospitals.iter() {
            if day < h.joined_day {
                continue;
            }
            for s in &h.staff {
                if day < s.joined_day {
                    continue;
                }
                let mean = if weekend && !h.always_open {
                    s.sessions_per_day * 0.2
                } else {
                    s.sessions_per_day
                };
                for _ in 0..poisson(rng, mean) {
                    let on_call = rng.gen_bool(0.03);
                    let start = if on_call {
                        rng.gen_range(0..DAY)
                    } else {
                        (s.shift_start * HOUR + rng.gen_range(0..s.shift_hours * HOUR)) % DAY
                    };
                    session(rng, h, s, patient, START + day * DAY + start, out);
                }
            }
        }
    }
}

/// One clinician's search session: a few related searches minutes apart.
fn session(
    rng: &mut ChaCha8Rng,
    h: &Hospital,
    s: &Staff,
    patient: &Patient,
    mut t: u64,
    out: &mut Writer,
) {
    let all: Vec<usize> = (0..VOCABULARY.len()).collect();
    let pick = |rng: &mut ChaCha8Rng| -> usize {
        let r = rng.gen_range(0..100);
        let from = if r < 90 {
            &s.home
        } else if r < 97 {
            &h.pool
        } else {
            &all
        };
        zipf(rng, from).copied().unwrap_or(0)
    };
    let len = 1 + poisson(rng, 1.5).min(7);
    let purpose = if rng.gen_bool(0.01) {
        "second opinion"
    } else {
        h.purpose
    };
    let mut cat = pick(rng);
    for i in 0..len {
        if i > 0 {
            if rng.gen_bool(0.25) {
                cat = pick(rng);
            }
            let gap_s = (90.0 * (0.8 * normal(rng)).exp()).clamp(8.0, 900.0);
            t += (gap_s * 1000.0) as u64;
        }
        let free = rng.gen_bool(0.08);
        let (query, records) = if free {
            (free_text(rng), usize::from(rng.gen_bool(0.3)))
        } else {
            (phrase(rng, cat), patient.answer(Some(cat), false))
        };
        let refused = rng.gen_bool(0.01);
        out.push(
            Emit {
                t,
                requester: &h.id,
                staff: &s.id,
                query,
                purpose,
                records,
                refused,
            },
            Label::Normal,
        );
    }
}

/// One attack episode's setting, drawn before its requests: the hospital and
/// the clinician it goes through, its day, and the categories it reaches for.
struct Episode<'a> {
    hospital: &'a Hospital,
    victim: &'a Staff,
    /// A staff account new at the hospital, for episodes not using the victim's.
    new_id: String,
    day_start: u64,
    /// Every category, shuffled.
    cats: Vec<usize>,
    patient: &'a Patient,
    label: Label,
}

impl<'a> Episode<'a> {
    /// Draws the setting of episode `n` of `kind`.
    fn draw(
        rng: &mut ChaCha8Rng,
        kind: AttackKind,
        hospitals: &'a [Hospital],
        patient: &'a Patient,
        n: usize,
        out: &mut Writer,
    ) -> Self {
        // Attackers come through established hospitals (an insider, a stolen account
        // or a compromised hospital node); the newcomer is excluded only because it
        // has no history before its join day (the shifted generator attacks through
        // newcomers).
        let h = &hospitals[rng.gen_range(0..hospitals.len() - 1)];
        let members: Vec<&Staff> = h.staff.iter().filter(|s| s.joined_day == 0).collect();
        let victim = members.choose(rng).copied().unwrap_or(&h.staff[0]);
        let new_id = format!("{}-staff-{}", h.id, h.staff.len() + 10 + n);
        let day = WARMUP_DAYS + rng.gen_range(0..DAYS - WARMUP_DAYS - 1);
        let day_start = START + day * DAY;
        let mut cats: Vec<usize> = (0..VOCABULARY.len()).collect();
        cats.shuffle(rng);
        let label = out.episode(kind);
        Episode {
            hospital: h,
            victim,
            new_id,
            day_start,
            cats,
            patient,
            label,
        }
    }

    /// The victim's account with probability `p_existing`, else the new one.
    fn account(&self, rng: &mut ChaCha8Rng, p_existing: f64) -> String {
        if rng.gen_bool(p_existing) {
            self.victim.id.clone()
        } else {
            self.new_id.clone()
        }
    }

    /// A time in the first four hours of the victim's shift on the episode's day.
    fn in_shift(&self, rng: &mut ChaCha8Rng) -> u64 {
        self.day_start + (self.victim.shift_start * HOUR + rng.gen_range(0..4 * HOUR)) % DAY
    }

    /// Emits one request of the episode.
    fn push(
        &self,
        out: &mut Writer,
        t: u64,
        staff: &str,
        query: String,
        purpose: &str,
        records: usize,
    ) {
        out.push(
            Emit {
                t,
                requester: &self.hospital.id,
                staff,
                query,
                purpose,
                records,
                refused: false,
            },
            self.label,
        );
    }
}

fn attack(
    rng: &mut ChaCha8Rng,
    kind: AttackKind,
    hospitals: &[Hospital],
    patient: &Patient,
    n: usize,
    out: &mut Writer,
) {
    let ep = Episode::draw(rng, kind, hospitals, patient, n, out);
    match kind {
        AttackKind::Scrape => scrape(rng, &ep, out),
        AttackKind::Breadth => breadth(rng, &ep, out),
        AttackKind::Drip => drip(rng, &ep, out),
        AttackKind::OffHoursBulk => off_hours_bulk(rng, &ep, out),
        AttackKind::CompromisedStaff => compromised_staff(rng, &ep, out),
        // The clinic generator has no drifting attacker; see `shifted`.
        AttackKind::Drift => {}
    }
}

/// 40 searches 0.3–3 s apart in the hospital's own categories.
fn scrape(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.hospital;
    let staff = ep.account(rng, 0.5);
    let mut t = ep.in_shift(rng);
    for _ in 0..40 {
        let cat = *h.pool.choose(rng).unwrap_or(&0);
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &staff, q, h.purpose, records);
        t += rng.gen_range(300..3000);
    }
}

/// 30 searches in as many categories of the whole vocabulary, 12–60 s apart.
fn breadth(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.hospital;
    let staff = ep.account(rng, 0.5);
    let mut t = ep.in_shift(rng);
    for &cat in ep.cats.iter().take(30) {
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &staff, q, h.purpose, records);
        t += rng.gen_range(12_000..60_000);
    }
}

/// 12 searches in as many categories, 10–45 min apart, mostly from the
/// victim's own account.
fn drip(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.hospital;
    let staff = ep.account(rng, 0.7);
    let mut t = ep.in_shift(rng);
    for &cat in ep.cats.iter().take(12) {
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &staff, q, h.purpose, records);
        t += rng.gen_range(10 * MINUTE..45 * MINUTE);
    }
}

/// 20 searches in the small hours, 20–120 s apart, half of them a broad
/// free-text pull of every record.
fn off_hours_bulk(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.hospital;
    let staff = ep.account(rng, 0.5);
    let mut t = ep.day_start + rng.gen_range(0..4 * HOUR);
    for &cat in ep.cats.iter().take(20) {
        if rng.gen_bool(0.5) {
            let q = format!("{} all", free_text(rng));
            let records = ep.patient.answer(None, true);
            ep.push(out, t, &staff, q, h.purpose, records);
        } else {
            let q = phrase(rng, cat);
            let records = ep.patient.answer(Some(cat), false);
            ep.push(out, t, &staff, q, h.purpose, records);
        }
        t += rng.gen_range(20_000..120_000);
    }
}

/// The victim's own account, mostly after its shift, sometimes under another
/// purpose: 15 searches 0.5–5 min apart, four in five outside its home categories.
fn compromised_staff(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.hospital;
    let v = ep.victim;
    let off_shift = rng.gen_bool(0.6);
    let mut t = if off_shift {
        ep.day_start + (v.shift_start + v.shift_hours + rng.gen_range(2..10)) % 24 * HOUR
    } else {
        ep.in_shift(rng)
    };
    let strange: Vec<usize> = ep
        .cats
        .iter()
        .copied()
        .filter(|c| !v.home.contains(c))
        .collect();
    let purpose = if rng.gen_bool(0.25) {
        "research"
    } else {
        h.purpose
    };
    for i in 0..15 {
        let cat = if rng.gen_bool(0.8) {
            strange.get(i).copied().unwrap_or(0)
        } else {
            *v.home.choose(rng).unwrap_or(&0)
        };
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &v.id, q, purpose, records);
        t += rng.gen_range(30_000..300_000);
    }
}

/// The clinic generator: the traffic the guard's prior describes, with five
/// attack kinds of 20 episodes each through established hospitals.
pub(super) fn clinic(seed: u64) -> Trace {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut hospitals = make_hospitals(&mut rng);
    let patient = Patient::new(&mut rng, 6);
    let mut out = Writer::default();
    normal_traffic(&mut rng, &mut hospitals, &patient, &mut out);
    for kind in AttackKind::ALL {
        if kind == AttackKind::Drift {
            continue;
        }
        for n in 0..EPISODES_PER_KIND {
            attack(&mut rng, kind, &hospitals, &patient, n, &mut out);
        }
    }
    out.finish()
}
