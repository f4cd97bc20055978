//! Consent grants, revocations, and the pure access decision.
//!
//! [`decide`] is a pure function of the grants, the requester's authenticated key, the
//! purpose and the time: deny by default, allow only with a live grant for that purpose.

use pdc_proto::Message;
use pdc_proto::consent::Grant;
use rand::RngCore;

use crate::store::{Batch, Store, StoreError, cf};

/// Scopes a grant can give.
pub const SCOPES: &[&str] = &["all", "conditions"];

/// Errors of consent management.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// Storage failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No grant with that id.
    #[error("no consent grant with id {0}; list grants with `pdc consent list`")]
    NotFound(String),
    /// The request is malformed.
    #[error("invalid consent: {0}")]
    Invalid(String),
    /// Revoking a revoked grant.
    #[error("grant {0} is already revoked")]
    AlreadyRevoked(String),
    /// Stored bytes do not decode.
    #[error("stored grant {0} is corrupt")]
    Corrupt(String),
}

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

/// What a new grant should say.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// The grantee's 32-byte key.
    pub grantee: Vec<u8>,
    /// Display name of the grantee (label only).
    pub grantee_name: String,
    /// "all" or "conditions".
    pub scope: String,
    /// Purposes; must not be empty.
    pub purposes: Vec<String>,
    /// Expiry in epoch ms; 0 = none.
    pub not_after_ms: u64,
    /// Price per access in micro-credits.
    pub price: u64,
}

/// The node's grants, stored in the `consents` column family.
#[derive(Debug, Clone)]
pub struct ConsentBook {
    store: Store,
}

impl ConsentBook {
    /// Wraps the node's store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Validates and durably stores a new grant.
    pub async fn grant(&self, req: GrantRequest, now_ms: u64) -> Result<Grant, ConsentError> {
        if req.grantee.len() != 32 {
            return Err(ConsentError::Invalid(format!(
                "grantee must be a 32-byte public key (64 hex digits), got {} bytes",
                req.grantee.len()
            )));
        }
        if !SCOPES.contains(&req.scope.as_str()) {
            return Err(ConsentError::Invalid(format!(
                "scope '{}' is unknown; use one of {}",
                req.scope,
                SCOPES.join(", ")
            )));
        }
        let purposes: Vec<String> = req
            .purposes
            .iter()
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        if purposes.is_empty() {
            return Err(ConsentError::Invalid(
                "name at least one purpose, e.g. treatment or research".into(),
            ));
        }
        if req.not_after_ms != 0 && req.not_after_ms <= now_ms {
            return Err(ConsentError::Invalid(format!(
                "expiry {} is in the past",
                fmt_ms(req.not_after_ms)
            )));
        }
        let mut grant_id = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut grant_id);
        let g = Grant {
            grant_id,
            grantee: req.grantee,
            scope: req.scope,
            purposes,
            not_after_ms: req.not_after_ms,
            price: req.price,
            created_ms: now_ms,
            revoked_ms: 0,
            grantee_name: req.grantee_name,
        };
        self.save(&g).await?;
        Ok(g)
    }

    async fn save(&self, g: &Grant) -> Result<(), ConsentError> {
        let mut b = Batch::new();
        b.put(cf::CONSENTS, g.grant_id.clone(), g.encode_to_vec());
        self.store.commit(b).await?;
        Ok(())
    }

    /// Marks a grant revoked (it stays listed, as history).
    pub async fn revoke(&self, grant_id_hex: &str, now_ms: u64) -> Result<Grant, ConsentError> {
        let id = hex::decode(grant_id_hex.trim())
            .map_err(|_| ConsentError::NotFound(grant_id_hex.to_string()))?;
        let bytes = self
            .store
            .get(cf::CONSENTS, id)
            .await?
            .ok_or_else(|| ConsentError::NotFound(grant_id_hex.to_string()))?;
        let mut g = Grant::decode(bytes.as_slice())
            .map_err(|_| ConsentError::Corrupt(grant_id_hex.to_string()))?;
        if g.revoked_ms != 0 {
            return Err(ConsentError::AlreadyRevoked(grant_id_hex.to_string()));
        }
        g.revoked_ms = now_ms;
        self.save(&g).await?;
        Ok(g)
    }

    /// Every grant, oldest first.
    pub async fn list(&self) -> Result<Vec<Grant>, ConsentError> {
        let rows = self.store.scan(cf::CONSENTS, Vec::new()).await?;
        let mut out = rows
            .iter()
            .map(|(k, v)| {
                Grant::decode(v.as_slice()).map_err(|_| ConsentError::Corrupt(hex::encode(k)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|g| g.created_ms);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
