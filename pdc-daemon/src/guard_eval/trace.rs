//! The traffic trace `guard-eval` replays: one JSON object per line, each a data
//! request as a patient's node receives it plus a label that only the scorer reads.
//!
//! A line is split on reading into a [`TraceRequest`] (what the node sees) and a
//! [`Label`] (ground truth), kept apart in [`TraceLine`] so the replay in
//! `eval` can only be handed the request. Reading is bounded (line length, line
//! count) and every malformed line is reported with its number and what is wrong.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::access::MAX_QUERY_CHARS;

/// Longest trace line accepted, in bytes: a query of [`MAX_QUERY_CHARS`] in
/// four-byte characters and generous ids still fit.
pub(crate) const MAX_LINE_BYTES: usize = 8 * 1024;
/// Most lines a trace may have: about a year of a busy node's traffic, so a
/// wrong file (or a hostile one) fails fast instead of exhausting memory.
pub(crate) const MAX_LINES: usize = 2_000_000;
/// Longest requester or staff-user id accepted.
const MAX_ID_CHARS: usize = 256;
/// Most records one answer may claim; far above any patient's record count.
const MAX_RECORDS: u32 = 100_000;

/// The attack kinds a label may name, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttackKind {
    /// Many requests in a short time.
    Scrape,
    /// One disease category after another at a clinician's pace.
    Breadth,
    /// A few unrelated categories, tens of minutes apart.
    Drip,
    /// A bulk pull in the middle of the night.
    OffHoursBulk,
    /// A staff account used outside its shift or habits.
    CompromisedStaff,
    /// A staff account that keeps its normal pace and category mix at first and
    /// widens it slowly.
    Drift,
}

impl AttackKind {
    /// Every kind, in report order.
    pub const ALL: [AttackKind; 6] = [
        AttackKind::Scrape,
        AttackKind::Breadth,
        AttackKind::Drip,
        AttackKind::OffHoursBulk,
        AttackKind::CompromisedStaff,
        AttackKind::Drift,
    ];

    /// Name in a trace label.
    pub fn slug(self) -> &'static str {
        match self {
            AttackKind::Scrape => "scrape",
            AttackKind::Breadth => "breadth",
            AttackKind::Drip => "drip",
            AttackKind::OffHoursBulk => "off_hours_bulk",
            AttackKind::CompromisedStaff => "compromised_staff",
            AttackKind::Drift => "drift",
        }
    }

    /// Name in the report table.
    pub fn name(self) -> &'static str {
        match self {
            AttackKind::Scrape => "scraping burst",
            AttackKind::Breadth => "breadth enumeration",
            AttackKind::Drip => "slow drip",
            AttackKind::OffHoursBulk => "off-hours bulk pull",
            AttackKind::CompromisedStaff => "compromised staff",
            AttackKind::Drift => "slow drift",
        }
    }
}

/// Ground truth of one line: ordinary traffic, or one request of an attack episode.
/// On disk `{"kind":"normal"}` or `{"kind":"breadth","episode":7}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawLabel", into = "RawLabel")]
pub enum Label {
    /// Legitimate traffic: counted for false positives.
    Normal,
    /// Part of an attack; the lines of one episode share `episode`.
    Attack {
        /// What the attacker does.
        kind: AttackKind,
        /// Episode id, unique within the trace.
        episode: u32,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLabel {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    episode: Option<u32>,
}

impl TryFrom<RawLabel> for Label {
    type Error = String;

    fn try_from(r: RawLabel) -> Result<Self, String> {
        if r.kind == "normal" {
            return match r.episode {
                None => Ok(Label::Normal),
                Some(_) => Err("a normal label has no episode".to_owned()),
            };
        }
        let Some(kind) = AttackKind::ALL.into_iter().find(|k| k.slug() == r.kind) else {
            let kinds: Vec<&str> = AttackKind::ALL.iter().map(|k| k.slug()).collect();
            return Err(format!(
                "unknown label kind {:?}; expected normal or one of {}",
                r.kind,
                kinds.join(", ")
            ));
        };
        let episode = r
            .episode
            .ok_or_else(|| format!("an attack label ({}) needs an episode id", r.kind))?;
        Ok(Label::Attack { kind, episode })
    }
}

impl From<Label> for RawLabel {
    fn from(l: Label) -> Self {
        match l {
            Label::Normal => RawLabel {
                kind: "normal".to_owned(),
                episode: None,
            },
            Label::Attack { kind, episode } => RawLabel {
                kind: kind.slug().to_owned(),
                episode: Some(episode),
            },
        }
    }
}

/// One request as the patient's node receives it. Nothing here says whether it
/// is an attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// Arrival time, milliseconds since the Unix epoch (the guard takes hour of day in UTC).
    pub time_ms: u64,
    /// Authenticated id of the requesting hospital.
    pub requester: String,
    /// Staff member the hospital named; absent or empty for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_user: Option<String>,
    /// Query text as typed, e.g. "type 2 diabetes"; the category is derived from it.
    pub query: String,
    /// Stated purpose, e.g. "treatment".
    pub purpose: String,
    /// Whether the owner refused it before asking the guard (purpose not granted,
    /// expired grant, unpaid accesses).
    #[serde(default)]
    pub refused: bool,
    /// Records the owner would return if the request is answered.
    #[serde(default)]
    pub records: u32,
}

/// One trace line: the request and, separately, its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    /// What the node sees.
    pub request: TraceRequest,
    /// What only the scorer reads.
    pub label: Label,
}

/// The line layout on disk: the request's fields and `label` side by side.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    time_ms: u64,
    requester: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    staff_user: Option<String>,
    query: String,
    purpose: String,
    #[serde(default)]
    refused: bool,
    #[serde(default)]
    records: u32,
    label: Label,
}

/// A whole trace, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The lines, sorted by `time_ms`.
    pub lines: Vec<TraceLine>,
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// One line is malformed.
    #[error("trace line {line}: {why}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong, and what was expected.
        why: String,
    },
    /// The trace has more lines than [`MAX_LINES`].
    #[error("trace has more than {MAX_LINES} lines; split it into smaller traces")]
    TooLong,
    /// The trace has no requests.
    #[error("trace has no requests; each line must be one JSON request object")]
    Empty,
}

impl Trace {
    /// Reads a trace file (see the README's "Guard traffic traces").
    pub fn load(path: &Path) -> Result<Self, TraceError> {
        let io = |source| TraceError::Io {
            path: path.display().to_string(),
            source,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        Self::read(io::BufReader::new(f)).map_err(|e| match e {
            TraceError::Io { source, .. } => io(source),
            e => e,
        })
    }

    /// Reads JSON lines from `r`; blank lines are skipped.
    pub fn read(mut r: impl BufRead) -> Result<Self, TraceError> {
        let io = |source| TraceError::Io {
            path: "<input>".to_owned(),
            source,
        };
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        let mut number = 0;
        loop {
            buf.clear();
            number += 1;
            // Read at most one byte past the bound, so an endless line is refused
            // without being held in memory.
            let n = io::Read::take(&mut r, MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(io)?;
            if n == 0 {
                break;
            }
            if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
                return Err(line_error(
                    number,
                    format!("longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            let text = std::str::from_utf8(&buf)
                .map_err(|_| line_error(number, "not UTF-8".to_owned()))?;
            // Blank lines count too, so a file of nothing but newlines still ends.
            if number > MAX_LINES {
                return Err(TraceError::TooLong);
            }
            if text.trim().is_empty() {
                continue;
            }
            let line = parse_line(text).map_err(|why| line_error(number, why))?;
            if let Some(prev) = lines.last().map(|l: &TraceLine| l.request.time_ms)
                && line.request.time_ms < prev
            {
                return Err(line_error(
                    number,
                    format!(
                        "time_ms {} is earlier than the previous line's {prev}; sort the trace by time",
                        line.request.time_ms
                    ),
                ));
            }
            lines.push(line);
        }
        if lines.is_empty() {
            return Err(TraceError::Empty);
        }
        Ok(Self { lines })
    }

    /// Writes the trace as JSON lines.
    pub fn write(&self, mut w: impl Write) -> io::Result<()> {
        for l in &self.lines {
            let r = &l.request;
            let raw = RawLine {
                time_ms: r.time_ms,
                requester: r.requester.clone(),
                staff_user: r.staff_user.clone(),
                query: r.query.clone(),
                purpose: r.purpose.clone(),
                refused: r.refused,
                records: r.records,
                label: l.label,
            };
            serde_json::to_writer(&mut w, &raw)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }
}

fn line_error(line: usize, why: String) -> TraceError {
    TraceError::Line { line, why }
}

/// Parses and checks one line; the error says what is wrong in words.
fn parse_line(text: &str) -> Result<TraceLine, String> {
    let raw: RawLine = serde_json::from_str(text).map_err(|e| {
        // serde_json counts lines within this one line; the column is what helps.
        let mut msg = e.to_string();
        if let Some(at) = msg.rfind(" at line ") {
            msg.truncate(at);
        }
        format!(
            "{msg} (column {}); a line is one JSON object with time_ms, requester, \
             staff_user, query, purpose, refused, records and label",
            e.column()
        )
    })?;
    let id = |what: &str, v: &str| -> Result<(), String> {
        if v.trim().is_empty() || v.chars().count() > MAX_ID_CHARS {
            Err(format!("{what} must be 1 to {MAX_ID_CHARS} characters"))
        } else {
            Ok(())
        }
    };
    id("requester", &raw.requester)?;
    if let Some(s) = &raw.staff_user
        && s.chars().count() > MAX_ID_CHARS
    {
        return Err(format!(
            "staff_user must be at most {MAX_ID_CHARS} characters"
        ));
    }
    // The node refuses such a query before the guard sees it, so it has no place
    // in a trace of what the guard judges.
    let q = raw.query.trim().chars().count();
    if q == 0 || q > MAX_QUERY_CHARS {
        return Err(format!(
            "query must be 1 to {MAX_QUERY_CHARS} characters (the node refuses others unjudged)"
        ));
    }
    if raw.purpose.trim().is_empty() {
        return Err("purpose must not be empty".to_owned());
    }
    if raw.records > MAX_RECORDS {
        return Err(format!("records must be at most {MAX_RECORDS}"));
    }
    Ok(TraceLine {
        request: TraceRequest {
            time_ms: raw.time_ms,
            requester: raw.requester,
            staff_user: raw.staff_user,
            query: raw.query,
            purpose: raw.purpose,
            refused: raw.refused,
            records: raw.records,
        },
        label: raw.label,
    })
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Normal => f.write_str("normal"),
            Label::Attack { kind, episode } => write!(f, "{} #{episode}", kind.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(label: &str) -> String {
        format!(
            r#"{{"time_ms":1000,"requester":"h1","staff_user":"s1","query":"asthma","purpose":"treatment","refused":false,"records":2,"label":{label}}}"#
        )
    }

    #[test]
    fn lines_round_trip_with_their_labels() {
        let text = format!(
            "{}\n\n{}\n",
            line(r#"{"kind":"normal"}"#),
            line(r#"{"kind":"breadth","episode":7}"#)
        );
        let t = Trace::read(text.as_bytes()).unwrap();
        assert_eq!(t.lines.len(), 2);
        assert_eq!(t.lines[0].label, Label::Normal);
        assert_eq!(
            t.lines[1].label,
            Label::Attack {
                kind: AttackKind::Breadth,
                episode: 7
            }
        );
        assert_eq!(t.lines[0].request.query, "asthma");
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(Trace::read(out.as_slice()).unwrap(), t);
    }

    #[test]
    fn malformed_lines_name_their_number_and_fault() {
        let err = |text: &str| Trace::read(text.as_bytes()).unwrap_err().to_string();
        let good = line(r#"{"kind":"normal"}"#);
        let e = err(&format!("{good}\n{{\"time_ms\":1}}\n"));
        assert!(e.starts_with("trace line 2: missing field"), "{e}");
        let e = err(&format!("{good}\n{}\n", line(r#"{"kind":"scrape"}"#)));
        assert!(e.starts_with("trace line 2:"), "{e}");
        let e = err(&format!("{}\n", line(r#"{"kind":"normal","episode":1}"#)));
        assert!(e.starts_with("trace line 1:"), "{e}");
        let e = err(&good.replace("\"asthma\"", "\"  \""));
        assert!(e.contains("query must be 1 to 512"), "{e}");
        let e = err(&good.replace("\"records\":2", "\"records\":2,\"extra\":1"));
        assert!(e.contains("unknown field `extra`"), "{e}");
        let e = err(&format!("{good}\n{}\n", good.replace("1000", "999")));
        assert!(e.contains("trace line 2: time_ms 999 is earlier"), "{e}");
        let long = format!("{}\n", "x".repeat(MAX_LINE_BYTES + 10));
        let e = err(&format!("{good}\n{long}"));
        assert!(e.contains("trace line 2: longer than 8192 bytes"), "{e}");
        assert!(err("\n\n").contains("no requests"));
    }
}
