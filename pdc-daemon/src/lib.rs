//! Sec-Net PDC node: a personal data center that holds its owner's medical records,
//! decides who may read them, and logs every access.
//!
//! # Layout
//! Dependencies point one way: a module only uses modules listed below it.
//! - [`demo`]: `pdc-daemon demo`: a whole demo network in one process.
//! - [`daemon`]: a running daemon: node + network + the merged API and portal routers,
//!   start-up and shutdown.
//! - [`web`]: the patient, hospital and operator web portals (sessions, CSRF, argon2);
//!   pages render [`service`] views.
//! - [`api`]: HTTP JSON API with bearer-token auth; handlers parse, call [`service`],
//!   answer `Json(view)`. `web` and `api` are siblings: neither imports the other.
//! - [`service`]: the node's operations as async functions returning the typed views of
//!   [`pdc_proto::api`]; the rules the API and the portals share live here.
//! - [`peering`]: gossip validation, anti-entropy, answering requests over the network.
//! - [`guard_eval`]: the `guard-eval` command: labelled traces replayed through [`access`].
//! - [`access`]: the access flow: owner decides, logs and answers; requester checks and pays.
//! - [`node`]: a node's parts behind accessors: identity, store, records, and the
//!   [`node::LedgerHandle`] and [`node::GuardHandle`] that keep their locks to themselves.
//! - [`net`]: the libp2p swarm task and its client (gossip, data and sync protocols).
//! - [`guard`]: access-behaviour anomaly detection ("AI security").
//! - [`request`]: requester-signed data requests: sign, verify, the replay window.
//! - [`refusal`]: the per-peer token bucket and the local refusal log in front of
//!   the access decision.
//! - [`consent`]: grants, revocations, the pure access decision.
//! - [`search_eval`]: the `search-eval` command over real imports and stores.
//! - [`search`]: ICD-10-CM disease terminology and similarity ranking ("AI search").
//! - [`records`]: encrypted patient records; FHIR import/export.
//! - [`ledger`]: block lattice: blocks, validation, fold to balances, fork proofs.
//! - [`store`]: RocksDB column families, typed keys, group-committed durable writes.
//! - [`identity`]: keys, token, 0600 files.
//! - [`seal`]: HPKE sealing to a node's X25519 encryption key.
//! - [`time`]: the one wall-clock reading, `now_ms`.
//! - [`config`]: one documented Config from TOML and `PDC_*` variables.

pub mod access;
pub mod api;
pub mod config;
pub mod consent;
pub mod daemon;
pub mod demo;
pub mod guard;
pub mod guard_eval;
pub mod identity;
pub mod ledger;
pub mod net;
pub mod node;
pub mod peering;
pub mod records;
pub mod refusal;
pub mod request;
pub mod seal;
pub mod search;
pub mod search_eval;
pub mod service;
pub mod store;
pub mod time;
pub mod web;
