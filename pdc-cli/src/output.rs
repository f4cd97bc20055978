//! How answers are printed: aligned tables by default, the view's JSON with `--json`.

use pdc_proto::api::{Credits, short_key};
use serde::Serialize;

/// The output mode chosen on the command line.
#[derive(Clone, Copy)]
pub(crate) struct Out {
    /// Print JSON instead of tables.
    pub(crate) json: bool,
}

impl Out {
    /// Prints `v` as pretty JSON, or as the text `table` makes of it.
    pub(crate) fn print<T: Serialize>(self, v: &T, table: impl FnOnce(&T) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            print!("{}", table(v));
        }
    }
}

/// "Name fp" or the fingerprint alone: names are labels, the fingerprint identifies.
pub(crate) fn who(name: &str, fingerprint: &str, key: &str) -> String {
    if name.is_empty() {
        format!("{fingerprint} ({})", short_key(key))
    } else {
        format!("{name} {fingerprint}")
    }
}

/// "Name fp", trimmed when the name is unknown.
pub(crate) fn named(name: &str, fingerprint: &str) -> String {
    format!("{name} {fingerprint}").trim().to_string()
}

/// Micro-credits as credits ("0.5", "1.0").
pub(crate) fn credits(micro: impl Into<i128>) -> String {
    Credits(i64::try_from(micro.into()).unwrap_or(i64::MAX)).to_string()
}

/// A plain aligned table.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ");
        l.truncate(l.trim_end().len());
        l + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}
