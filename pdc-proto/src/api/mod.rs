//! The HTTP API's wire contract: every view the daemon returns and every input it
//! accepts, as serde types. The daemon serialises these, the portal renders their
//! fields, and the CLI deserialises them, so a renamed field is a compile error in all
//! three rather than a blank table cell.
//!
//! The JSON field names are the API's (see README.md); changing one is a change of
//! the wire format, like renumbering a protobuf field.
//!
//! Also here, because every client shows them the same way: the domain enums
//! [`Purpose`] and [`Scope`], the credit formatter [`Credits`] and the short form of a
//! key or hash, [`short_key`].
//!
//! # Layout
//! The views are defined by area and all re-exported here, so a client writes
//! `pdc_proto::api::StatusView`:
//! - this file: domain enums, formatters, data-dir file names, errors, status;
//! - `records`: records, FHIR import report, local search;
//! - `consent`: grants and the check;
//! - `ledger`: heads, chains, blocks, verify, balances, forks, directory;
//! - `access`: a hospital's search, peers, rewards, audit.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod access;
mod consent;
mod ledger;
mod records;

pub use access::*;
pub use consent::*;
pub use ledger::*;
pub use records::*;

// ----- domain enums and formatters ----------------------------------------------------

/// Why a hospital asks for data. A grant names the purposes it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Care of the patient.
    Treatment,
    /// Medical research.
    Research,
    /// Emergency care.
    Emergency,
    /// Public-health reporting and surveillance.
    PublicHealth,
}

impl Purpose {
    /// Every purpose, in the order forms list them.
    pub const ALL: [Purpose; 4] = [
        Purpose::Treatment,
        Purpose::Research,
        Purpose::Emergency,
        Purpose::PublicHealth,
    ];

    /// The word on the wire and on the ledger, e.g. `public-health`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Treatment => "treatment",
            Purpose::Research => "research",
            Purpose::Emergency => "emergency",
            Purpose::PublicHealth => "public-health",
        }
    }

    /// How a form labels it, e.g. "Emergency care".
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Treatment => "Treatment",
            Purpose::Research => "Research",
            Purpose::Emergency => "Emergency care",
            Purpose::PublicHealth => "Public health",
        }
    }

    /// The words of every purpose, for error messages ("treatment, research, ...").
    pub fn list() -> String {
        join_words(Self::ALL.iter().map(|p| p.as_str()))
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = UnknownWord;
    /// Case and surrounding space do not matter: `" Research"` is `research`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let w = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == w)
            .ok_or_else(|| UnknownWord {
                what: "purpose",
                word: w,
                known: Self::list(),
            })
    }
}

/// What a grant lets its grantee read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Matching conditions plus the profile (shown under the pseudonym).
    #[default]
    All,
    /// Matching conditions only.
    Conditions,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 2] = [Scope::All, Scope::Conditions];

    /// The word on the wire and on the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Conditions => "conditions",
        }
    }

    /// The words of every scope, for error messages.
    pub fn list() -> String {
        join_words(Self::ALL.iter().map(|s| s.as_str()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownWord;
    /// Exact words only, as the ledger stores them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownWord {
                what: "scope",
                word: s.to_string(),
                known: Self::list(),
            })
    }
}

/// A word that names no [`Purpose`] or [`Scope`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownWord {
    what: &'static str,
    word: String,
    known: String,
}

impl fmt::Display for UnknownWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} '{}' is unknown; use one of {}",
            self.what, self.word, self.known
        )
    }
}

impl std::error::Error for UnknownWord {}

fn join_words<'a>(words: impl Iterator<Item = &'a str>) -> String {
    words.collect::<Vec<_>>().join(", ")
}

/// Micro-credits in one credit: every amount is an integer number of micro-credits.
pub const MICROS_PER_CREDIT: u64 = 1_000_000;

/// An amount of micro-credits, formatted the one way people read it.
///
/// `Display` writes credits with trailing zeros dropped but one decimal kept (`0.5`,
/// `1.0`, `-12.25`); [`Credits::fixed`] writes all six decimals, as the API's
/// `*_credits` fields carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credits(pub i64);

impl Credits {
    /// Six decimals, e.g. `500000` -> `"0.500000"`.
    pub fn fixed(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!(
            "{sign}{}.{:06}",
            abs / MICROS_PER_CREDIT,
            abs % MICROS_PER_CREDIT
        )
    }
}

impl From<u64> for Credits {
    fn from(micro: u64) -> Self {
        Self(i64::try_from(micro).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = self.fixed();
        match full.split_once('.') {
            Some((int, frac)) => {
                let frac = frac.trim_end_matches('0');
                write!(f, "{int}.{}", if frac.is_empty() { "0" } else { frac })
            }
            None => f.write_str(&full),
        }
    }
}

/// The first 16 hex digits of a key or hash, for tables; show the full value beside it
/// (a title, `--json`) where it must be compared.
pub fn short_key(hex: &str) -> String {
    hex.chars().take(16).collect()
}

/// The files of a node's data directory that more than one program reads: the daemon
/// writes them, the CLI and the test harness find the node through them.
pub mod files {
    /// The node's config (TOML), written by `pdc-daemon init`.
    pub const CONFIG_FILE: &str = "config.toml";
    /// The API bearer token (0600).
    pub const TOKEN_FILE: &str = "api.token";
    /// The address the API actually bound, written at start, removed on a clean stop.
    pub const API_ADDR_FILE: &str = "api.addr";
    /// The node's ed25519 seed (0600): its ledger account and libp2p identity.
    pub const NODE_KEY_FILE: &str = "keys/node.key";
    /// The key that encrypts records at rest (0600).
    pub const RECORDS_KEY_FILE: &str = "keys/records.key";
    /// The node's X25519 encryption secret (0600): what others seal details to.
    pub const ENCRYPTION_KEY_FILE: &str = "keys/enc.key";
    /// The one-time code for the first portal account.
    pub const SETUP_CODE_FILE: &str = "portal-setup.code";
    /// Where the API listens when the config does not say.
    pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:7070";
}

// ----- errors -------------------------------------------------------------------------

/// Every error response: a stable code and what to do, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    /// A short code, e.g. `not_found`, `ambiguous_name`.
    pub error: String,
    /// What was wrong and what to do.
    pub detail: String,
}

// ----- node ---------------------------------------------------------------------------

/// `GET /status`: the node's identity and counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// The node's configured name.
    pub name: String,
    /// `patient` or `hospital`.
    pub role: String,
    /// The node's account (64 hex digits).
    pub account: String,
    /// The account's fingerprint.
    pub fingerprint: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// The daemon's version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Records held.
    pub records: usize,
    /// Live grants given by this node.
    pub consents_live: usize,
    /// Grants given by this node, live or not.
    pub consents_total: usize,
    /// The data directory.
    pub data_dir: String,
    /// The network's id from the genesis.
    pub network_id: String,
    /// The genesis hash (hex).
    pub network: String,
    /// Seq of the node's own chain head (0 = empty).
    pub chain_seq: u64,
}

#[cfg(test)]
mod tests;
