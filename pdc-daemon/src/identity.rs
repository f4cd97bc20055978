//! Node identity: the ed25519 key that is both the ledger account and the libp2p
//! `PeerId`, the record encryption key, the X25519 key others seal to, the API token,
//! and the 0600 files they live in.
//!
//! Losing `keys/node.key` loses the account: nothing else can sign for it. Losing
//! `keys/enc.key` loses what was sealed to it (the node's copies of access details).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::seal::{EncryptionPublic, EncryptionSecret};

/// Node signing key, relative to the data directory.
pub const NODE_KEY_FILE: &str = pdc_proto::api::files::NODE_KEY_FILE;
/// Record encryption key, relative to the data directory.
pub const RECORDS_KEY_FILE: &str = pdc_proto::api::files::RECORDS_KEY_FILE;
/// X25519 encryption secret, relative to the data directory.
pub const ENCRYPTION_KEY_FILE: &str = pdc_proto::api::files::ENCRYPTION_KEY_FILE;
/// API bearer token, relative to the data directory.
pub const TOKEN_FILE: &str = pdc_proto::api::files::TOKEN_FILE;

/// Why an identity file could not be created or used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A secret file can be read by group or others.
    #[error(
        "{path} is readable by other users (mode {mode:o}); secrets must be private: run `chmod 600 {path}` and start again"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file is missing.
    #[error("{path} is missing: {what}")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What to do about it.
        what: &'static str,
    },
    /// The file exists but does not hold a valid key or token.
    #[error("{path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Refusing to overwrite an existing node.
    #[error(
        "{path} already exists: this directory already holds a node; use another --data-dir or remove it deliberately"
    )]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Other I/O failure.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `contents` to a new file with mode 0600, failing if it exists. The data is
/// synced so a crash right after `init` leaves either no file or a whole one.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<(), IdentityError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).map_err(io_err(parent))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => IdentityError::AlreadyExists { path: path.into() },
            _ => IdentityError::Io {
                path: path.into(),
                source: e,
            },
        })?;
    f.write_all(contents).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))?;
    Ok(())
}

/// Refuses a secret file that group or others can read or write.
pub fn check_private(path: &Path) -> Result<(), IdentityError> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => IdentityError::Missing {
            path: path.into(),
            what: "create the node with `pdc-daemon init --role patient|hospital --name NAME`",
        },
        _ => IdentityError::Io {
            path: path.into(),
            source: e,
        },
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::InsecurePermissions {
            path: path.into(),
            mode,
        });
    }
    Ok(())
}

/// Reads a private file of exactly 32 bytes written as 64 hex digits.
fn read_key32(path: &Path) -> Result<Zeroizing<[u8; 32]>, IdentityError> {
    check_private(path)?;
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_err(path))?);
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), out.as_mut()).map_err(|e| IdentityError::Corrupt {
        path: path.into(),
        detail: format!("expected 64 hex digits ({e}); restore it from your backup"),
    })?;
    Ok(out)
}

fn random32() -> Zeroizing<[u8; 32]> {
    let mut b = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(b.as_mut());
    b
}

fn secret_from(path: &Path, bytes: Zeroizing<[u8; 32]>) -> Result<EncryptionSecret, IdentityError> {
    EncryptionSecret::from_bytes(bytes).map_err(|e| IdentityError::Corrupt {
        path: path.into(),
        detail: e.to_string(),
    })
}

fn write_encryption_key(path: &Path, secret: &EncryptionSecret) -> Result<(), IdentityError> {
    let text = Zeroizing::new(hex::encode(secret.to_bytes().as_ref()));
    write_secret_file(path, text.as_bytes())
}

/// Reads `keys/enc.key`, or creates it for a node made before nodes had one. Its
/// public half is then still to be published on the ledger (an `EncryptionKey` block).
fn load_or_create_encryption_key(data_dir: &Path) -> Result<EncryptionSecret, IdentityError> {
    let path = data_dir.join(ENCRYPTION_KEY_FILE);
    match fs::symlink_metadata(&path) {
        Ok(_) => secret_from(&path, read_key32(&path)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = secret_from(&path, random32())?;
            match write_encryption_key(&path, &secret) {
                Ok(()) => {}
                // Another process loading the same directory made it first: use that one.
                Err(IdentityError::AlreadyExists { .. }) => {
                    return secret_from(&path, read_key32(&path)?);
                }
                Err(e) => return Err(e),
            }
            tracing::info!(
                path = %path.display(),
                public = %secret.public(),
                "created this node's encryption key (the node predates them); back it up with the other keys"
            );
            Ok(secret)
        }
        Err(e) => Err(IdentityError::Io { path, source: e }),
    }
}

/// Everything secret a node holds.
pub struct NodeIdentity {
    /// Signs ledger blocks; its public half is the account and the PeerId.
    pub signing_key: SigningKey,
    /// Encrypts records at rest.
    pub records_key: Zeroizing<[u8; 32]>,
    /// Opens what others sealed to this node; its public half is on the ledger.
    pub encryption_secret: EncryptionSecret,
    /// The API bearer token.
    pub api_token: Zeroizing<String>,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug logs.
        f.debug_struct("NodeIdentity")
            .field("account", &self.account_hex())
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// Creates all secret files in `data_dir`, refusing if any exists.
    pub fn create(data_dir: &Path) -> Result<Self, IdentityError> {
        Self::create_with_seed(data_dir, random32())
    }

    /// Like [`NodeIdentity::create`] with a given signing-key seed. Only the demo uses
    /// it, for the demo genesis' well-known hospitals whose seeds are public.
    pub fn create_with_seed(
        data_dir: &Path,
        seed: Zeroizing<[u8; 32]>,
    ) -> Result<Self, IdentityError> {
        for f in [
            NODE_KEY_FILE,
            RECORDS_KEY_FILE,
            ENCRYPTION_KEY_FILE,
            TOKEN_FILE,
        ] {
            let p = data_dir.join(f);
            if p.exists() {
                return Err(IdentityError::AlreadyExists { path: p });
            }
        }
        let records_key = random32();
        let encryption_secret = secret_from(&data_dir.join(ENCRYPTION_KEY_FILE), random32())?;
        let token = Zeroizing::new(hex::encode(random32().as_ref()));
        write_secret_file(
            &data_dir.join(NODE_KEY_FILE),
            hex::encode(seed.as_ref()).as_bytes(),
        )?;
        write_secret_file(
            &data_dir.join(RECORDS_KEY_FILE),
            hex::encode(records_key.as_ref()).as_bytes(),
        )?;
        write_encryption_key(&data_dir.join(ENCRYPTION_KEY_FILE), &encryption_secret)?;
        write_secret_file(&data_dir.join(TOKEN_FILE), token.as_bytes())?;
        Ok(Self {
            signing_key: SigningKey::from_bytes(&seed),
            records_key,
            encryption_secret,
            api_token: token,
        })
    }

    /// Loads all secret files, refusing any that others can read.
    pub fn load(data_dir: &Path) -> Result<Self, IdentityError> {
        let seed = read_key32(&data_dir.join(NODE_KEY_FILE))?;
        let records_key = read_key32(&data_dir.join(RECORDS_KEY_FILE))?;
        let encryption_secret = load_or_create_encryption_key(data_dir)?;
        let token_path = data_dir.join(TOKEN_FILE);
        check_private(&token_path)?;
        let token = Zeroizing::new(
            fs::read_to_string(&token_path)
                .map_err(io_err(&token_path))?
                .trim()
                .to_string(),
        );
        if token.len() < 32 {
            return Err(IdentityError::Corrupt {
                path: token_path,
                detail: "token is shorter than 32 characters; write a long random token".into(),
            });
        }
        Ok(Self {
            signing_key: SigningKey::from_bytes(&seed),
            records_key,
            encryption_secret,
            api_token: token,
        })
    }

    /// The X25519 public key others seal to: what the node publishes on the ledger.
    pub fn encryption_public(&self) -> EncryptionPublic {
        self.encryption_secret.public()
    }

    /// The 32-byte public key: the ledger account.
    pub fn account(&self) -> [u8; 32] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// The account as hex.
    pub fn account_hex(&self) -> String {
        hex::encode(self.account())
    }

    /// The libp2p `PeerId` derived from the same key, so the network identity and the
    /// ledger account are one.
    pub fn peer_id(&self) -> String {
        let mut secret = self.signing_key.to_bytes();
        match libp2p_identity::Keypair::ed25519_from_bytes(&mut secret) {
            Ok(kp) => kp.public().to_peer_id().to_string(),
            Err(_) => String::new(),
        }
    }
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
