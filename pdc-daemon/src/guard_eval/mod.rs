//! `guard-eval`: how well the access guard detects attacks, measured on labelled
//! traffic replayed through the node's own decision path.
//!
//! # Layout
//! - `trace`: the labelled traffic trace format `guard-eval` reads and writes
//!   ([`Trace`], one JSON request per line).
//! - `traffic`, `shifted`: two generators of such traces with different
//!   statistics; `generator` chooses one ([`generate_traffic`]).
//! - `eval`: a trace replayed through a real [`crate::guard::Guard`] as
//!   [`crate::access`] drives it, beside two baselines; see [`evaluate_trace`].
//!
//! It stands above `access` (it calls the access flow's context builder and the
//! normalizer's categories), so the guard itself never imports the access flow.

mod eval;
mod generator;
mod shifted;
mod trace;
mod traffic;

pub use self::eval::{GuardEvalReport, evaluate_trace, run_guard_eval};
pub use self::generator::{Generator, generate_traffic};
pub use self::trace::{AttackKind, Label, Trace, TraceError, TraceLine, TraceRequest};
