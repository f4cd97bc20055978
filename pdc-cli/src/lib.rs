//! The library half of `pdc`: the typed client of a node's HTTP API. The binary's
//! commands use it, and so do the end-to-end tests, which check that what this client
//! reads is exactly what the daemon serves.

pub mod client;
