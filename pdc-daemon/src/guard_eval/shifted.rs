//! The second trace generator, with statistics deliberately unlike the guard's
//! built-in prior (`model.rs`) and the clinic generator:
//! - night-shift emergency departments (12-hour shifts starting 19:00/21:00,
//!   5–10 home categories used only 70 % of the time, ~25 s between searches)
//!   with surges: on about a third of nights an hour in which every clinician on
//!   shift searches in rapid sessions;
//! - a research institute whose legitimate sessions review 6–20 categories
//!   drawn from the whole vocabulary;
//! - a rural practice with a few slow sessions a day (~4 min gaps);
//! - two newcomer hospitals joining after the warm-up, one a night ED;
//! - attacks of six kinds, a third of them through the newcomers (from the day
//!   they join), including a drifting attacker who keeps the victim's pace and
//!   category mix at first and widens it slowly.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::trace::{AttackKind, Label, Trace};
use super::traffic::{
    DAY, Emit, HOUR, MINUTE, Patient, START, VOCABULARY, WARMUP_DAYS, Writer, free_text, normal,
    phrase, poisson, zipf,
};

const DAYS: u64 = 14;
const EPISODES_PER_KIND: usize = 15;

#[derive(Debug, Clone)]
struct Staff {
    id: String,
    home: Vec<usize>,
    shift_start: u64,
    shift_hours: u64,
    sessions_per_day: f64,
}

/// How one kind of site works.
#[derive(Debug, Clone, Copy)]
struct Habits {
    purpose: &'static str,
    /// Share of searches in a clinician's home categories (the rest: the site's
    /// pool 5 in 6, anything 1 in 6).
    home_share: f64,
    home: (usize, usize),
    /// Median seconds between searches of a session, and the log-normal sigma.
    gap_s: f64,
    gap_sigma: f64,
    /// Mean searches per session beyond the first.
    session_extra: f64,
    /// Research review: every search of a session in a new category of the whole vocabulary.
    review: bool,
    night: bool,
    always_open: bool,
}

#[derive(Debug, Clone)]
struct Site {
    id: String,
    pool: Vec<usize>,
    staff: Vec<Staff>,
    habits: Habits,
    joined_day: u64,
    newcomer: bool,
}

const ED: Habits = Habits {
    purpose: "emergency",
    home_share: 0.7,
    home: (5, 10),
    gap_s: 25.0,
    gap_sigma: 0.9,
    session_extra: 2.5,
    review: false,
    night: true,
    always_open: true,
};
const RESEARCH: Habits = Habits {
    purpose: "research",
    home_share: 0.0,
    home: (1, 1),
    gap_s: 120.0,
    gap_sigma: 0.7,
    session_extra: 12.0,
    review: true,
    night: false,
    always_open: false,
};
const UNIVERSITY: Habits = Habits {
    purpose: "treatment",
    home_share: 0.8,
    home: (3, 8),
    gap_s: 45.0,
    gap_sigma: 1.0,
    session_extra: 3.0,
    review: false,
    night: false,
    always_open: false,
};
const RURAL: Habits = Habits {
    purpose: "treatment",
    home_share: 0.85,
    home: (2, 4),
    gap_s: 240.0,
    gap_sigma: 0.6,
    session_extra: 1.0,
    review: false,
    night: false,
    always_open: false,
};

fn make_sites(rng: &mut ChaCha8Rng) -> Vec<Site> {
    // (name, habits, pool size, staff, joins on day, newcomer)
    let specs: [(&str, Habits, usize, usize, u64, bool); 7] = [
        ("night-ed-north", ED, 28, 10, 0, false),
        ("night-ed-south", ED, 24, 6, 0, false),
        (
            "research-institute",
            RESEARCH,
            VOCABULARY.len(),
            4,
            0,
            false,
        ),
        ("university", UNIVERSITY, 20, 8, 0, false),
        ("rural-practice", RURAL, 12, 2, 0, false),
        ("newcomer-ed", ED, 22, 5, WARMUP_DAYS + 2, true),
        ("newcomer-clinic", UNIVERSITY, 14, 3, WARMUP_DAYS + 5, true),
    ];
    let all: Vec<usize> = (0..VOCABULARY.len()).collect();
    specs
        .iter()
        .enumerate()
        .map(
            |(i, &(name, habits, pool_size, n_staff, joined_day, newcomer))| {
                let pool: Vec<usize> = all.choose_multiple(rng, pool_size).copied().collect();
                let staff = (0..n_staff)
                    .map(|s| {
                        let (start, hours) = if habits.night {
                            // Most of an ED's staff work nights; a few cover the day.
                            if rng.gen_bool(0.7) {
                                (*[19, 21].choose(rng).unwrap_or(&19), 12)
                            } else {
                                (7, 12)
                            }
                        } else {
                            (rng.gen_range(8..=9), rng.gen_range(7..=9))
                        };
                        let k = rng.gen_range(habits.home.0..=habits.home.1).min(pool.len());
                        Staff {
                            id: format!("site{i}-{name}-user-{s}"),
                            home: pool.choose_multiple(rng, k).copied().collect(),
                            shift_start: start,
                            shift_hours: hours,
                            sessions_per_day: if habits.review {
                                rng.gen_range(1.0..3.0)
                            } else if habits.night {
                                rng.gen_range(3.0..8.0)
                            } else {
                                rng.gen_range(0.5..4.0)
                            },
                        }
                    })
                    .collect();
                Site {
                    id: format!("site{i}-{name}"),
                    pool,
                    staff,
                    habits,
                    joined_day,
                    newcomer,
                }
            },
        )
        .collect()
}

fn gap_ms(rng: &mut ChaCha8Rng, h: &Habits) -> u64 {
    let s = (h.gap_s * (h.gap_sigma * normal(rng)).exp()).clamp(3.0, 1800.0);
    (s * 1000.0) as u64
}

/// One clinician's session of searches starting at `t`.
fn session(
    rng: &mut ChaCha8Rng,
    site: &Site,
    s: &Staff,
    patient: &Patient,
    mut t: u64,
    out: &mut Writer,
) {
    let h = &site.habits;
    let all: Vec<usize> = (0..VOCABULARY.len()).collect();
    let len = 1 + poisson(rng, h.session_extra).min(24);
    let mut review: Vec<usize> = all.clone();
    review.shuffle(rng);
    for i in 0..len {
        if i > 0 {
            t += gap_ms(rng, h);
        }
        let cat = if h.review {
            review[i % review.len()]
        } else if rng.gen_bool(h.home_share) {
            zipf(rng, &s.home).copied().unwrap_or(0)
        } else if rng.gen_bool(5.0 / 6.0) {
            *site.pool.choose(rng).unwrap_or(&0)
        } else {
            *all.choose(rng).unwrap_or(&0)
        };
        let free = rng.gen_bool(0.05);
        let (query, records) = if free {
            (free_text(rng), usize::from(rng.gen_bool(0.3)))
        } else {
            (phrase(rng, cat), patient.answer(Some(cat), false))
        };
        out.push(
            Emit {
                t,
                requester: &site.id,
                staff: &s.id,
                query,
                purpose: h.purpose,
                records,
                refused: rng.gen_bool(0.02),
            },
            Label::Normal,
        );
    }
}

fn normal_traffic(rng: &mut ChaCha8Rng, sites: &[Site], patient: &Patient, out: &mut Writer) {
    for day in 0..DAYS {
        let weekend = day % 7 >= 5;
        for site in sites {
            if day < site.joined_day {
                continue;
            }
            let h = &site.habits;
            for s in &site.staff {
                let mean = if weekend && !h.always_open {
                    s.sessions_per_day * 0.3
                } else {
                    s.sessions_per_day
                };
                for _ in 0..poisson(rng, mean) {
                    let off = (s.shift_start * HOUR + rng.gen_range(0..s.shift_hours * HOUR)) % DAY;
                    session(rng, site, s, patient, START + day * DAY + off, out);
                }
            }
            // A surge night: every clinician on the night shift works in quick
            // succession for an hour (a pile-up, a flu wave).
            if h.night && rng.gen_bool(0.35) {
                let surge = START + day * DAY + rng.gen_range(20..=26) % 24 * HOUR;
                for s in site.staff.iter().filter(|s| s.shift_start >= 19) {
                    for _ in 0..1 + poisson(rng, 1.5) {
                        let t = surge + rng.gen_range(0..HOUR);
                        session(rng, site, s, patient, t, out);
                    }
                }
            }
        }
    }
}

/// One attack episode's setting, drawn before its requests: the site and the
/// clinician it goes through, the account it uses, its day, and the categories
/// it can reach for.
struct Episode<'a> {
    site: &'a Site,
    victim: &'a Staff,
    /// The victim's own account or a new one at its site, half the time each.
    account: String,
    day_start: u64,
    /// Every category, shuffled.
    cats: Vec<usize>,
    /// `cats` without the victim's home categories.
    strange: Vec<usize>,
    patient: &'a Patient,
    label: Label,
}

impl<'a> Episode<'a> {
    /// Draws the setting of episode `n` of `kind`; `None` where there is no site
    /// or no clinician to go through.
    fn draw(
        rng: &mut ChaCha8Rng,
        kind: AttackKind,
        sites: &'a [Site],
        patient: &'a Patient,
        n: usize,
        out: &mut Writer,
    ) -> Option<Self> {
        // A third of the episodes come through a newcomer hospital, from the day it
        // joins: the guard has little or no history of it.
        let newcomers: Vec<&Site> = sites.iter().filter(|s| s.newcomer).collect();
        let established: Vec<&Site> = sites.iter().filter(|s| !s.newcomer).collect();
        let site = if n.is_multiple_of(3) {
            newcomers.choose(rng)
        } else {
            established.choose(rng)
        };
        let site = site.copied()?;
        let victim = site.staff.choose(rng)?;
        let from_day = site.joined_day.max(WARMUP_DAYS);
        let day = from_day + rng.gen_range(0..(DAYS - 1).saturating_sub(from_day).max(1));
        let day_start = START + day * DAY;
        let new_id = format!("{}-user-x{n}", site.id);
        let account = if rng.gen_bool(0.5) {
            victim.id.clone()
        } else {
            new_id
        };
        let mut cats: Vec<usize> = (0..VOCABULARY.len()).collect();
        cats.shuffle(rng);
        let strange: Vec<usize> = cats
            .iter()
            .copied()
            .filter(|c| !victim.home.contains(c))
            .collect();
        let label = out.episode(kind);
        Some(Episode {
            site,
            victim,
            account,
            day_start,
            cats,
            strange,
            patient,
            label,
        })
    }

    /// A time within the victim's shift on the episode's day.
    fn in_shift(&self, rng: &mut ChaCha8Rng) -> u64 {
        let v = self.victim;
        self.day_start + (v.shift_start * HOUR + rng.gen_range(0..v.shift_hours * HOUR)) % DAY
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
                requester: &self.site.id,
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
    sites: &[Site],
    patient: &Patient,
    n: usize,
    out: &mut Writer,
) {
    let Some(ep) = Episode::draw(rng, kind, sites, patient, n, out) else {
        return;
    };
    match kind {
        AttackKind::Scrape => scrape(rng, &ep, out),
        AttackKind::Breadth => breadth(rng, &ep, out),
        AttackKind::Drip => drip(rng, &ep, out),
        AttackKind::OffHoursBulk => off_hours_bulk(rng, &ep, out),
        AttackKind::CompromisedStaff => compromised_staff(rng, &ep, out),
        AttackKind::Drift => drift(rng, &ep, out),
    }
}

/// 30 searches 1–6 s apart in the site's own categories, in the victim's shift.
fn scrape(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.site.habits;
    let mut t = ep.in_shift(rng);
    for _ in 0..30 {
        let cat = *ep.site.pool.choose(rng).unwrap_or(&0);
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &ep.account, q, h.purpose, records);
        t += rng.gen_range(1_000..6_000);
    }
}

/// 25 searches in as many categories of the whole vocabulary, 20–90 s apart.
fn breadth(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.site.habits;
    let mut t = ep.in_shift(rng);
    for &cat in ep.cats.iter().take(25) {
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &ep.account, q, h.purpose, records);
        t += rng.gen_range(20_000..90_000);
    }
}

/// 10 searches outside the victim's home categories, 15–60 min apart.
fn drip(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.site.habits;
    let mut t = ep.in_shift(rng);
    for &cat in ep.strange.iter().take(10) {
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &ep.account, q, h.purpose, records);
        t += rng.gen_range(15 * MINUTE..60 * MINUTE);
    }
}

/// 25 searches after the victim's shift, 15–90 s apart, two in five of them a
/// broad free-text pull of every record.
fn off_hours_bulk(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.site.habits;
    let v = ep.victim;
    // Off hours for the victim: the hours after its shift ends.
    let mut t = ep.day_start + (v.shift_start + v.shift_hours + rng.gen_range(1..6)) % 24 * HOUR;
    for &cat in ep.cats.iter().take(25) {
        if rng.gen_bool(0.4) {
            let q = format!("{} all", free_text(rng));
            let records = ep.patient.answer(None, true);
            ep.push(out, t, &ep.account, q, h.purpose, records);
        } else {
            let q = phrase(rng, cat);
            let records = ep.patient.answer(Some(cat), false);
            ep.push(out, t, &ep.account, q, h.purpose, records);
        }
        t += rng.gen_range(15_000..90_000);
    }
}

/// The victim's own account, in or after its shift, sometimes under another
/// purpose: 12 searches 1–6 min apart, four in five outside its home categories.
fn compromised_staff(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.site.habits;
    let v = ep.victim;
    let mut t = if rng.gen_bool(0.5) {
        ep.day_start + (v.shift_start + v.shift_hours + rng.gen_range(2..8)) % 24 * HOUR
    } else {
        ep.in_shift(rng)
    };
    let purpose = if rng.gen_bool(0.3) {
        "public-health"
    } else {
        h.purpose
    };
    for i in 0..12 {
        let cat = if rng.gen_bool(0.8) {
            ep.strange.get(i).copied().unwrap_or(0)
        } else {
            *v.home.choose(rng).unwrap_or(&0)
        };
        let q = phrase(rng, cat);
        let records = ep.patient.answer(Some(cat), false);
        ep.push(out, t, &v.id, q, purpose, records);
        t += rng.gen_range(MINUTE..6 * MINUTE);
    }
}

/// The drifting attacker: the victim's own account, in its shift, at its site's
/// pace, in sessions like its own; the share of searches outside its home
/// categories grows from 10 % to 70 %, each a category not asked before.
fn drift(rng: &mut ChaCha8Rng, ep: &Episode<'_>, out: &mut Writer) {
    let h = ep.site.habits;
    let v = ep.victim;
    let mut t = ep.in_shift(rng);
    let total = 36;
    let mut next_strange = ep.strange.iter().copied();
    let mut i = 0;
    while i < total {
        for _ in 0..1 + poisson(rng, h.session_extra.min(3.0)) {
            if i >= total {
                break;
            }
            let p = 0.1 + 0.6 * i as f64 / total as f64;
            let cat = if rng.gen_bool(p) {
                next_strange.next().unwrap_or(0)
            } else {
                zipf(rng, &v.home).copied().unwrap_or(0)
            };
            let q = phrase(rng, cat);
            let records = ep.patient.answer(Some(cat), false);
            ep.push(out, t, &v.id, q, h.purpose, records);
            t += gap_ms(rng, &h);
            i += 1;
        }
        // The next session, later in the shift.
        t += rng.gen_range(20 * MINUTE..90 * MINUTE);
    }
}

/// The shifted generator's trace for `seed`.
pub(super) fn generate(seed: u64) -> Trace {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sites = make_sites(&mut rng);
    let patient = Patient::new(&mut rng, 9);
    let mut out = Writer::default();
    normal_traffic(&mut rng, &sites, &patient, &mut out);
    for kind in AttackKind::ALL {
        for n in 0..EPISODES_PER_KIND {
            attack(&mut rng, kind, &sites, &patient, n, &mut out);
        }
    }
    out.finish()
}
