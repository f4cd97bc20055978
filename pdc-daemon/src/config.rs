//! One documented [`Config`], loaded from TOML, then `PDC_*` environment overrides,
//! then command-line flags (applied by the binary).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The demo network's genesis, built in so a node runs out of the box.
pub const DEMO_GENESIS: &str = include_str!("../../config/genesis.toml");

/// Name of the config file inside a node's data directory.
pub const CONFIG_FILE: &str = pdc_proto::api::files::CONFIG_FILE;

/// What kind of principal a node is. One principal per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A person holding their own medical data.
    #[default]
    Patient,
    /// An institution that searches consenting patients' data.
    Hospital,
}

impl Role {
    /// The lowercase name used in config files, the API and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Hospital => "hospital",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "patient" => Ok(Role::Patient),
            "hospital" => Ok(Role::Hospital),
            other => Err(ConfigError::Invalid {
                field: "role",
                detail: format!("'{other}' is not a role; use 'patient' or 'hospital'"),
            }),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's configuration. Every field has a documented default, so a config file only
/// needs what differs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory holding the node's keys, token, config and database. Default: the
    /// directory the config file is in, or `~/.pdc`.
    pub data_dir: PathBuf,
    /// Patient or hospital.
    pub role: Role,
    /// Display name, a label only: other nodes always see it beside a key fingerprint.
    pub name: String,
    /// Where the HTTP API listens. Loopback by default: exposing the API to a network
    /// is an explicit choice.
    pub api_listen: SocketAddr,
    /// Largest HTTP request body accepted, in bytes (FHIR bundles included).
    pub api_max_body_bytes: usize,
    /// Consent defaults used when a grant does not say otherwise.
    pub consent: ConsentDefaults,
    /// Log filter in `tracing_subscriber::EnvFilter` syntax, e.g. `info,pdc_daemon=debug`.
    pub log: String,
    /// Genesis file of the network this node belongs to. Every node of a network must
    /// use the same one. Default: the demo network's genesis built into the binary
    /// (`config/genesis.toml`).
    pub genesis: Option<PathBuf>,
    /// How long a received payment stays pending before it counts as confirmed, in
    /// seconds (no fork proof against its sender may appear meanwhile).
    pub quiet_period_secs: u64,
    /// A requester with an access older than this (seconds) still unpaid is refused
    /// until it pays.
    pub unpaid_after_secs: u64,
    /// libp2p listen addresses. Loopback by default.
    pub p2p_listen: Vec<String>,
    /// Peers to connect to at start, as multiaddrs ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Whether Kademlia learns peers' addresses and connects beyond the bootstrap peers.
    /// On by default; off pins the topology to the bootstrap list.
    pub p2p_discovery: bool,
    /// Most libp2p connections kept at once, incoming and outgoing (each is a socket,
    /// so the process's open-file limit must be higher). Unset: 256 for a patient, 1024
    /// for a hospital, which talks to every consenting patient.
    pub p2p_max_connections: Option<u32>,
    /// Connections kept without trimming. Above it, the node closes connections that
    /// carry nothing of its own: not in its gossip mesh, not a bootstrap peer, no sync
    /// request either way for 30 s and no data request for 10 minutes, least recently
    /// used first. Discovery otherwise leaves every node connected to every peer it ever
    /// looked up (gossipsub keeps a stream open on each, so they never idle out): a
    /// full mesh. Unset: 32 for a patient, 256 for a hospital.
    pub p2p_connection_target: Option<u32>,
    /// Seconds between anti-entropy rounds.
    pub sync_interval_secs: u64,
    /// Connected peers, picked at random, that each anti-entropy round syncs with.
    /// A few suffice (what one misses, the next round's picks bring, epidemic style);
    /// syncing with every peer each round costs every node O(peers) heads exchanges and
    /// keeps every connection from ever idling out, so the network stays a full mesh.
    pub sync_peers: usize,
    /// Milliseconds an Access block this node writes in answer to a data request waits
    /// before this node gossips it itself. The requester gets the block in the answer
    /// and relays it with its payment, in one message for a whole search; the owner
    /// publishes it only if that relay has not come back by then (a requester that
    /// never pays). During a search over N patients that saves every node N messages
    /// arriving while the answers are still being made. 0 gossips at once.
    pub gossip_linger_ms: u64,
    /// Milliseconds a hospital search waits for each patient's node.
    pub search_timeout_ms: u64,
    /// Patients asked at once by a hospital search.
    pub search_concurrency: usize,
    /// The access guard's limits and thresholds.
    pub guard: GuardSettings,
    /// The web portals' sessions and login limits.
    pub portal: PortalSettings,
    /// What the owner's node accepts of incoming data requests before deciding them.
    pub requests: RequestSettings,
}

/// Limits in front of the access decision: every peer can send requests, most of them
/// hold no grant, and none of that may cost the owner more than these bounds. Read and
/// validated now; [`crate::refusal`] and [`crate::request`] implement them, and the
/// access flow is not wired to them yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestSettings {
    /// Requests one peer may send at once before the per-peer rate applies.
    pub per_peer_burst: u32,
    /// Sustained requests per minute from one peer; more are refused unread.
    pub per_peer_per_minute: u32,
    /// How far a signed request's time may be from this node's clock, in seconds.
    /// Older or later requests are refused (a replay window, too).
    pub clock_skew_secs: u64,
    /// Refusals of parties holding no grant kept in the local refusal log (the oldest
    /// go first); they never reach the ledger.
    pub refusal_log_max: u32,
}

impl Default for RequestSettings {
    fn default() -> Self {
        Self {
            per_peer_burst: 20,
            per_peer_per_minute: 120,
            clock_skew_secs: 300,
            refusal_log_max: 1000,
        }
    }
}

/// Settings of the web portals (served on `api_listen` beside the API).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalSettings {
    /// A session unused for this many seconds ends; the user logs in again.
    pub session_idle_secs: u64,
    /// Failed logins for one user name before further attempts for that name
    /// are refused for `login_lockout_secs`.
    pub login_max_failures: u32,
    /// How long logins stay refused after too many failures, in seconds.
    pub login_lockout_secs: u64,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            session_idle_secs: 900,
            login_max_failures: 5,
            login_lockout_secs: 300,
        }
    }
}

/// Settings of the access guard that an operator tunes; the model's internals keep
/// their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardSettings {
    /// Hard limit: requests per minute from one requester before every further request
    /// is denied.
    pub max_requests_per_minute: u32,
    /// Hard limit per hour.
    pub max_requests_per_hour: u32,
    /// Anomaly score (0..1) from which a request is answered but flagged.
    pub flag_threshold: f64,
    /// Anomaly score from which a request is denied. Above 1.0 the score never denies
    /// (the hard limits still do).
    pub deny_threshold: f64,
    /// Whether a denial also revokes the requester's grants (written to the ledger).
    pub revoke_on_deny: bool,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            max_requests_per_minute: 30,
            max_requests_per_hour: 600,
            flag_threshold: 0.7,
            deny_threshold: 0.85,
            revoke_on_deny: false,
        }
    }
}

/// Defaults applied to new consent grants.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentDefaults {
    /// Price of one access in micro-credits (1 credit = 1,000,000). Default 0.5 credits.
    pub price: u64,
    /// Purposes granted when none are named.
    pub purposes: Vec<String>,
    /// Days until a grant expires when no expiry is given; 0 means no expiry.
    pub expiry_days: u64,
}

impl Default for ConsentDefaults {
    fn default() -> Self {
        Self {
            price: 500_000,
            purposes: vec!["treatment".into()],
            expiry_days: 365,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            role: Role::Patient,
            name: String::new(),
            api_listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            api_max_body_bytes: 16 * 1024 * 1024,
            consent: ConsentDefaults::default(),
            log: "info".into(),
            genesis: None,
            quiet_period_secs: 600,
            unpaid_after_secs: 600,
            p2p_listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            bootstrap: Vec::new(),
            p2p_discovery: true,
            sync_interval_secs: 10,
            sync_peers: 3,
            gossip_linger_ms: 3000,
            p2p_max_connections: None,
            p2p_connection_target: None,
            search_timeout_ms: 5000,
            search_concurrency: 64,
            guard: GuardSettings::default(),
            portal: PortalSettings::default(),
            requests: RequestSettings::default(),
        }
    }
}

/// `~/.pdc`, or `./.pdc` when there is no home directory.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".pdc")
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("config file {path} is invalid: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        detail: String,
    },
    /// A value is out of range or an environment override could not be parsed.
    #[error("invalid {field}: {detail}")]
    Invalid {
        /// The field or variable.
        field: &'static str,
        /// What was wrong and what to do.
        detail: String,
    },
}

impl Config {
    /// Most connections this node keeps: the configured value, or the role's default
    /// (see [`Config::p2p_max_connections`]).
    pub fn max_connections(&self) -> u32 {
        let default = match self.role {
            Role::Patient => 256,
            Role::Hospital => 1024,
        };
        self.p2p_max_connections.unwrap_or(default).max(1)
    }

    /// Connections kept without trimming: the configured value, or the role's default
    /// (see [`Config::p2p_connection_target`]), never above [`Config::max_connections`].
    pub fn connection_target(&self) -> u32 {
        let default = match self.role {
            Role::Patient => 32,
            Role::Hospital => 256,
        };
        self.p2p_connection_target
            .unwrap_or(default)
            .clamp(1, self.max_connections())
    }

    /// Parses TOML text. `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            detail: e.to_string(),
        })
    }

    /// Loads a config file, then applies `PDC_*` environment overrides and validates.
    /// A relative or empty `data_dir` is taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        if !text.lines().any(|l| l.trim_start().starts_with("data_dir")) {
            cfg.data_dir = base.to_path_buf();
        } else if cfg.data_dir.is_relative() {
            cfg.data_dir = base.join(&cfg.data_dir);
        }
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies overrides from variables named `PDC_<FIELD>`; `get` is the environment
    /// (a parameter so tests need not touch the process environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("PDC_API_LISTEN") {
            self.api_listen = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_API_LISTEN",
                detail: format!("'{v}' is not an address like 127.0.0.1:7070 ({e})"),
            })?;
        }
        if let Some(v) = get("PDC_API_MAX_BODY_BYTES") {
            self.api_max_body_bytes = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_API_MAX_BODY_BYTES",
                detail: format!("'{v}' is not a byte count ({e})"),
            })?;
        }
        if let Some(v) = get("PDC_NAME") {
            self.name = v;
        }
        if let Some(v) = get("PDC_GENESIS") {
            self.genesis = Some(PathBuf::from(v));
        }
        if let Some(v) = get("PDC_BOOTSTRAP") {
            self.bootstrap = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = get("PDC_P2P_LISTEN") {
            self.p2p_listen = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = get("PDC_SEARCH_TIMEOUT_MS") {
            self.search_timeout_ms = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_SEARCH_TIMEOUT_MS",
                detail: format!("'{v}' is not a number of milliseconds ({e})"),
            })?;
        }
        if let Some(v) = get("PDC_GUARD_DENY_THRESHOLD") {
            self.guard.deny_threshold = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_GUARD_DENY_THRESHOLD",
                detail: format!("'{v}' is not a number such as 0.85 ({e})"),
            })?;
        }
        if let Some(v) = get("PDC_GUARD_MAX_PER_MINUTE") {
            self.guard.max_requests_per_minute = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_GUARD_MAX_PER_MINUTE",
                detail: format!("'{v}' is not a count ({e})"),
            })?;
        }
        if let Some(v) = get("PDC_PORTAL_SESSION_IDLE_SECS") {
            self.portal.session_idle_secs = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_PORTAL_SESSION_IDLE_SECS",
                detail: format!("'{v}' is not a number of seconds ({e})"),
            })?;
        }
        if let Some(v) = get("PDC_LOG") {
            self.log = v;
        }
        if let Some(v) = get("PDC_DEFAULT_PRICE") {
            self.consent.price = v.parse().map_err(|e| ConfigError::Invalid {
                field: "PDC_DEFAULT_PRICE",
                detail: format!("'{v}' is not a number of micro-credits ({e})"),
            })?;
        }
        Ok(())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::Invalid {
                field: "name",
                detail: "a node needs a display name; set name = \"...\" in the config".into(),
            });
        }
        if self.api_max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                field: "api_max_body_bytes",
                detail: format!(
                    "{} bytes is too small; use at least 1024",
                    self.api_max_body_bytes
                ),
            });
        }
        if self.portal.session_idle_secs == 0 || self.portal.login_max_failures == 0 {
            return Err(ConfigError::Invalid {
                field: "portal",
                detail: "portal.session_idle_secs and portal.login_max_failures must be at least 1"
                    .into(),
            });
        }
        let r = &self.requests;
        if r.per_peer_burst == 0
            || r.per_peer_per_minute == 0
            || r.refusal_log_max == 0
            || r.clock_skew_secs == 0
        {
            return Err(ConfigError::Invalid {
                field: "requests",
                detail: "requests.per_peer_burst, per_peer_per_minute, clock_skew_secs and refusal_log_max must be at least 1".into(),
            });
        }
        if self.consent.purposes.iter().any(|p| p.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                field: "consent.purposes",
                detail: "purposes must be non-empty words such as \"treatment\"".into(),
            });
        }
        Ok(())
    }

    /// The genesis file text this config names (or the built-in demo genesis) and
    /// where it came from, for error messages.
    pub fn genesis_text(&self) -> Result<(String, PathBuf), ConfigError> {
        match &self.genesis {
            Some(p) => {
                let p = if p.is_relative() {
                    self.data_dir.join(p)
                } else {
                    p.clone()
                };
                let t = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                Ok((t, p))
            }
            None => Ok((
                DEMO_GENESIS.to_string(),
                PathBuf::from("built-in config/genesis.toml"),
            )),
        }
    }

    /// The config file text `pdc-daemon init` writes: every value spelled out.
    pub fn to_toml(&self) -> String {
        // Serializing a plain struct of strings, numbers and tables cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
