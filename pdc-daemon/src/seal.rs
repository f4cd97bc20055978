//! Sealing to a node's encryption key: HPKE (RFC 9180) base mode with the suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, from the `hpke` crate.
//!
//! Each node holds an X25519 [`EncryptionSecret`] (`keys/enc.key`) of its own, distinct
//! from its ed25519 signing key, and publishes the [`EncryptionPublic`] half on the
//! ledger. A message for several readers (an Access block's details for the owner and
//! the requester) is sealed once per reader: one single-shot HPKE ciphertext each, no
//! scheme of our own on top.
//!
//! `info` names what is sealed (a fixed, versioned label per use, so a ciphertext made
//! for one purpose never opens as another) and `aad` binds it to its context (for
//! example the public part of the block it travels in): both must be given again,
//! byte for byte, to open.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;

/// Length of an X25519 key and of an encapsulated key.
pub const KEY_LEN: usize = 32;
/// Length of the ChaCha20-Poly1305 tag every ciphertext carries.
pub const TAG_LEN: usize = 16;
/// Largest plaintext sealed or opened. Sealed details travel inside ledger blocks,
/// which are at most 64 KiB, so nothing legitimate is larger; bounding it lets `open`
/// refuse a hostile size before any work.
pub const MAX_PLAINTEXT: usize = 64 * 1024;
/// Largest `info` and `aad` accepted: they are short labels and block headers.
pub const MAX_CONTEXT: usize = 4 * 1024;

/// What went wrong while sealing or opening.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The plaintext (or the ciphertext less its tag) is over [`MAX_PLAINTEXT`].
    #[error("sealed payload is {len} bytes; the limit is {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `info` or `aad` is over [`MAX_CONTEXT`].
    #[error("{what} is {len} bytes; the limit is {MAX_CONTEXT}")]
    ContextTooLarge {
        /// `"info"` or `"aad"`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The ciphertext is shorter than its authentication tag.
    #[error("ciphertext is {len} bytes, shorter than its {TAG_LEN}-byte tag")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// A key or encapsulated key does not have the required 32 bytes.
    #[error("{what} must be {KEY_LEN} bytes, got {len}")]
    BadLength {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The recipient's public key is unusable (all zero or of low order): nothing can be
    /// sealed to it. The recipient must publish a real key.
    #[error("the recipient's encryption key is not a usable X25519 public key")]
    BadRecipientKey,
    /// Encryption failed inside HPKE.
    #[error("sealing failed: {0}")]
    Seal(String),
    /// Decapsulation failed: the encapsulated key is not usable with this secret.
    #[error("the encapsulated key is invalid")]
    BadEncapsulatedKey,
    /// Authentication failed: not sealed to this key, altered, or opened with another
    /// `info` or `aad` than it was sealed with.
    #[error("cannot open: sealed to another key, altered, or opened with a different context")]
    Open,
}

/// A node's X25519 secret key. Zeroized on drop (the stored bytes here, the clamped
/// scalar inside `hpke`); its `Debug` shows only the public key.
pub struct EncryptionSecret {
    /// The 32 bytes as stored in `keys/enc.key`.
    bytes: Zeroizing<[u8; KEY_LEN]>,
    /// The same secret as HPKE uses it.
    key: <Kem as hpke::Kem>::PrivateKey,
    /// The matching public key, computed once.
    public: EncryptionPublic,
}

impl EncryptionSecret {
    /// A fresh random secret from the operating system's generator.
    pub fn generate() -> Result<Self, SealError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut());
        Self::from_bytes(bytes)
    }

    /// The secret stored as `bytes`. HPKE clamps any 32 bytes into a valid X25519
    /// scalar, so this fails only if the crate ever starts refusing some.
    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Result<Self, SealError> {
        let key = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes.as_ref()).map_err(|_| {
            SealError::BadLength {
                what: "encryption secret",
                len: KEY_LEN,
            }
        })?;
        let mut public = [0u8; KEY_LEN];
        Kem::sk_to_pk(&key).write_exact(&mut public);
        Ok(Self {
            bytes,
            key,
            public: EncryptionPublic(public),
        })
    }

    /// The bytes to store (only the identity module writes them to disk).
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        self.bytes.clone()
    }

    /// The public key to publish.
    pub fn public(&self) -> EncryptionPublic {
        self.public
    }
}

impl std::fmt::Debug for EncryptionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret, even in debug logs.
        f.debug_struct("EncryptionSecret")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A node's X25519 public key, as published on the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncryptionPublic(pub [u8; KEY_LEN]);

impl EncryptionPublic {
    /// Parses a published key: exactly 32 bytes, not all zero.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SealError> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::BadLength {
            what: "encryption key",
            len: bytes.len(),
        })?;
        if arr == [0u8; KEY_LEN] {
            return Err(SealError::BadRecipientKey);
        }
        Ok(Self(arr))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for EncryptionPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionPublic({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for EncryptionPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// One HPKE single-shot ciphertext for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The encapsulated key (the sender's ephemeral X25519 public key).
    pub enc: [u8; KEY_LEN],
    /// ChaCha20-Poly1305 ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

impl Sealed {
    /// The wire form.
    pub fn to_proto(&self) -> pdc_proto::ledger::Sealed {
        pdc_proto::ledger::Sealed {
            enc: self.enc.to_vec(),
            ciphertext: self.ciphertext.clone(),
        }
    }

    /// Reads the wire form, checking the sizes [`open`] would refuse.
    pub fn from_proto(msg: &pdc_proto::ledger::Sealed) -> Result<Self, SealError> {
        let enc: [u8; KEY_LEN] =
            msg.enc
                .as_slice()
                .try_into()
                .map_err(|_| SealError::BadLength {
                    what: "encapsulated key",
                    len: msg.enc.len(),
                })?;
        let sealed = Self {
            enc,
            ciphertext: msg.ciphertext.clone(),
        };
        sealed.check_size()?;
        Ok(sealed)
    }

    fn check_size(&self) -> Result<(), SealError> {
        let len = self.ciphertext.len();
        if len < TAG_LEN {
            return Err(SealError::Truncated { len });
        }
        if len - TAG_LEN > MAX_PLAINTEXT {
            return Err(SealError::TooLarge {
                len: len - TAG_LEN,
                max: MAX_PLAINTEXT,
            });
        }
        Ok(())
    }
}

fn check_context(info: &[u8], aad: &[u8]) -> Result<(), SealError> {
    for (what, v) in [("info", info), ("aad", aad)] {
        if v.len() > MAX_CONTEXT {
            return Err(SealError::ContextTooLarge { what, len: v.len() });
        }
    }
    Ok(())
}

/// Seals `plaintext` to `recipient`, bound to `info` and `aad`.
pub fn seal(
    recipient: &EncryptionPublic,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, SealError> {
    check_context(info, aad)?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(SealError::TooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT,
        });
    }
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| SealError::BadRecipientKey)?;
    let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
    )
    .map_err(|e| match e {
        // A low-order recipient key makes the X25519 result all zero, which HPKE refuses.
        hpke::HpkeError::EncapError => SealError::BadRecipientKey,
        other => SealError::Seal(other.to_string()),
    })?;
    let mut enc_bytes = [0u8; KEY_LEN];
    enc.write_exact(&mut enc_bytes);
    Ok(Sealed {
        enc: enc_bytes,
        ciphertext,
    })
}

/// Opens what [`seal`] made for `secret`'s public key with the same `info` and `aad`.
pub fn open(
    secret: &EncryptionSecret,
    info: &[u8],
    aad: &[u8],
    sealed: &Sealed,
) -> Result<Vec<u8>, SealError> {
    check_context(info, aad)?;
    sealed.check_size()?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.enc)
        .map_err(|_| SealError::BadEncapsulatedKey)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &secret.key,
        &enc,
        info,
        &sealed.ciphertext,
        aad,
    )
    .map_err(|e| match e {
        hpke::HpkeError::DecapError => SealError::BadEncapsulatedKey,
        _ => SealError::Open,
    })
}

#[cfg(test)]
mod tests;
