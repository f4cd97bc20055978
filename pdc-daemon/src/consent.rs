//! Consent grants, revocations, and the pure access decision.
//!
//! [`decide`] is a pure function of the grants, the requester's authenticated key, the
//! purpose and the time: deny by default, allow only with a live grant for that purpose.

use pdc_proto::consent::Grant;

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Access allowed under this grant.
    Allow {
        /// The grant that allows it.
        grant_id: Vec<u8>,
        /// Price of this access in micro-credits.
        price: u64,
        /// Records in scope.
        scope: String,
    },
    /// Access denied, with the reason in words.
    Deny {
        /// Why.
        reason: String,
    },
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Decides whether `requester` may read for `purpose` at `now_ms`. Deny by default:
/// the requester must be the grantee of a grant that is not revoked, not expired, and
/// names the purpose. When several grants fail, the reason names the closest miss
/// (wrong purpose, then expired, then revoked) so the patient understands it.
pub fn decide(grants: &[Grant], requester: &[u8], purpose: &str, now_ms: u64) -> Decision {
    let mine: Vec<&Grant> = grants.iter().filter(|g| g.grantee == requester).collect();
    if mine.is_empty() {
        return Decision::Deny {
            reason: "no consent grant for this requester".into(),
        };
    }
    let purpose = purpose.trim().to_ascii_lowercase();
    let mut reason = String::new();
    let mut rank = 0;
    for g in mine {
        let (r, msg) = if g.revoked_ms != 0 {
            (
                1,
                format!("consent {} was revoked", hex::encode(&g.grant_id)),
            )
        } else if g.not_after_ms != 0 && now_ms > g.not_after_ms {
            (
                2,
                format!(
                    "consent {} expired at {}",
                    hex::encode(&g.grant_id),
                    fmt_ms(g.not_after_ms)
                ),
            )
        } else if !g.purposes.iter().any(|p| p.eq_ignore_ascii_case(&purpose)) {
            (
                3,
                format!(
                    "purpose '{purpose}' is not granted (granted: {})",
                    g.purposes.join(", ")
                ),
            )
        } else {
            return Decision::Allow {
                grant_id: g.grant_id.clone(),
                price: g.price,
                scope: g.scope.clone(),
            };
        };
        if r > rank {
            rank = r;
            reason = msg;
        }
    }
    Decision::Deny { reason }
}

/// Formats epoch milliseconds as an RFC 3339 UTC time.
pub fn fmt_ms(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests;
