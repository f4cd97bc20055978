//! Small value types shared by the whole ledger: hashes, accounts, roles, amounts.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;

/// Micro-credits in one credit: every amount on the ledger is an integer number of
/// micro-credits so that balances never meet floating-point rounding. Defined with the
/// one credit formatter, [`pdc_proto::api::Credits`].
pub use pdc_proto::api::MICROS_PER_CREDIT;

/// Hash of a block: blake3 of its exact `SignedBlock` encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BlockHash(pub [u8; 32]);

impl BlockHash {
    /// The all-zero hash, which is the `prev` of every seq-1 block.
    pub const ZERO: BlockHash = BlockHash([0; 32]);

    /// blake3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Reads a hash from a protobuf `bytes` field; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// First 8 hex digits, for logs and tables where the full hash is noise.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({})", self.short())
    }
}

impl FromStr for BlockHash {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(Self)
    }
}

/// An account on the ledger: the ed25519 public key of one node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// Reads an account from a protobuf `bytes` field; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Short, human-comparable form shown beside display names, which are only labels:
    /// the first 8 bytes as four groups of hex, e.g. `3f2a:91c0:7d44:e012`.
    pub fn fingerprint(&self) -> String {
        let h = hex::encode(&self.0[..8]);
        format!("{}:{}:{}:{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
    }

    /// The ed25519 key, if these bytes are a valid curve point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl From<&VerifyingKey> for AccountId {
    fn from(key: &VerifyingKey) -> Self {
        Self(key.to_bytes())
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.fingerprint())
    }
}

impl FromStr for AccountId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(Self)
    }
}

/// Why a hex string is not a 32-byte key or hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits (32 bytes), got {got:?}: {reason}")]
pub struct ParseIdError {
    got: String,
    reason: String,
}

fn parse_hex32(s: &str) -> Result<[u8; 32], ParseIdError> {
    let err = |reason: String| ParseIdError {
        got: s.chars().take(80).collect(),
        reason,
    };
    let bytes = hex::decode(s.trim()).map_err(|e| err(e.to_string()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| err(format!("{} bytes", bytes.len())))
}

/// What kind of principal an account is, fixed by its `Register` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Owns medical records; writes consents and the access audit trail.
    Patient,
    /// Asks patients for records and pays for each access.
    Hospital,
}

impl Role {
    /// The spelling used in `Register.role`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Hospital => "hospital",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Role::Patient),
            "hospital" => Ok(Role::Hospital),
            other => Err(format!(
                "unknown role {other:?}: expected \"patient\" or \"hospital\""
            )),
        }
    }
}

/// What the data owner decided about one request, as written in an `Access` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessDecision {
    /// Records were returned.
    Granted,
    /// Nothing was returned; the block's reason says why.
    Denied,
    /// Records were returned but the guard marked the request as unusual.
    Flagged,
}

impl AccessDecision {
    /// The spelling used in `Access.decision`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AccessDecision::Granted => "granted",
            AccessDecision::Denied => "denied",
            AccessDecision::Flagged => "flagged",
        }
    }
}

impl FromStr for AccessDecision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "granted" => Ok(AccessDecision::Granted),
            "denied" => Ok(AccessDecision::Denied),
            "flagged" => Ok(AccessDecision::Flagged),
            other => Err(format!(
                "unknown access decision {other:?}: expected \"granted\", \"denied\" or \"flagged\""
            )),
        }
    }
}
