//! The node's one wall clock reading: milliseconds since the Unix epoch, as every block,
//! record, session and guard window stores time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the system clock is before it, and
/// `u64::MAX` rather than a wrapped value if it is absurdly far ahead.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
