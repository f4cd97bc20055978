//! Which generator writes a trace: the two sources of labelled traffic, named as the
//! `guard-eval --generator` flag names them. Kept apart from both generators so
//! neither imports the other.

use std::fmt;
use std::str::FromStr;

use super::trace::Trace;
use super::{shifted, traffic};

/// Which generator writes a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// Day-shift hospitals with narrow habits (the prior's statistics).
    Clinic,
    /// Night emergency departments, broad research, newcomers, drift (other statistics).
    Shifted,
}

impl FromStr for Generator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "clinic" => Ok(Self::Clinic),
            "shifted" => Ok(Self::Shifted),
            other => Err(format!(
                "unknown generator {other:?}; expected clinic or shifted"
            )),
        }
    }
}

impl fmt::Display for Generator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Clinic => "clinic",
            Self::Shifted => "shifted",
        })
    }
}

/// A trace from `generator` with `seed`: a fortnight of several hospitals'
/// normal work plus attack episodes, in time order.
pub fn generate_traffic(generator: Generator, seed: u64) -> Trace {
    match generator {
        Generator::Clinic => traffic::clinic(seed),
        Generator::Shifted => shifted::generate(seed),
    }
}
