//! Wires a node together: identity, store, records, consents, and the API server, with
//! a designed shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::config::{CONFIG_FILE, Config, ConfigError, Role};
use crate::guard::{Guard, GuardConfig};
use crate::identity::{IdentityError, NodeIdentity, write_secret_file};
use crate::ledger::{
    AccountId, EncryptionKey, Genesis, Kind, LedgerConfig, LedgerDb, LedgerError, PersistError,
    Register,
};
use crate::net::NetClient;
use crate::records::RecordStore;
use crate::store::{Store, StoreError, cf, prefix};
use crate::time::now_ms;

mod guard;
mod ledger;

pub use guard::GuardHandle;
pub use ledger::{LedgerHandle, LedgerState, PendingWrite};

/// The ledger's rules as this node's config sets them.
fn ledger_config(config: &Config) -> LedgerConfig {
    LedgerConfig {
        quiet_period_ms: config.quiet_period_secs.saturating_mul(1000),
        ..LedgerConfig::default()
    }
}

/// File in the data directory holding the address the API actually bound, so the CLI
/// finds a node started with port 0.
pub const API_ADDR_FILE: &str = pdc_proto::api::files::API_ADDR_FILE;
/// Database directory inside the data directory.
pub const DB_DIR: &str = "db";

/// Errors starting or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Key or token problem.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Database problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Config problem.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The API address cannot be bound.
    #[error(
        "cannot listen on {addr}: {source} — choose another address with --api-listen or PDC_API_LISTEN"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The ledger refused a block or could not be loaded.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The ledger on disk could not be loaded or written.
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// The network could not start or failed.
    #[error("network: {0}")]
    Net(#[from] crate::net::NetError),
    /// A configured peer address is not a multiaddr.
    #[error(
        "{what} address '{addr}' is not a multiaddr: {source}; fix p2p_listen / bootstrap in the node config"
    )]
    Address {
        /// Which setting ("listen", "bootstrap").
        what: &'static str,
        /// The text given.
        addr: String,
        /// Why it does not parse.
        source: libp2p::multiaddr::Error,
    },
    /// Records could not be read.
    #[error("records: {0}")]
    Records(#[from] crate::records::RecordError),
    /// The access guard's saved state is unusable.
    #[error("access guard state: {0}")]
    Guard(#[from] crate::guard::GuardError),
    /// A blocking task (ledger load, signature checks, search) panicked or was cancelled.
    #[error("a background task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Other I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Most blocks in one `Blocks` gossip message; receivers reject larger ones.
pub const MAX_GOSSIP_BLOCKS: usize = 256;

/// A running node's parts, shared by the API handlers, the portals and the network
/// task. Everything is reached through accessors and handles: the ledger and the guard
/// keep their locks and write order to themselves.
#[derive(Debug)]
pub struct Node {
    config: Config,
    identity: NodeIdentity,
    store: Store,
    records: RecordStore,
    started: Instant,
    account: AccountId,
    ledger: Arc<LedgerHandle>,
    guard: GuardHandle,
    /// The network, once started (shared with the ledger, which gossips through it).
    net: Arc<OnceLock<NetClient>>,
}

impl Node {
    /// Opens a node from its config: loads and checks the secret files, opens the store,
    /// rebuilds the ledger from disk (re-verifying every block), and writes the node's
    /// `Register` block if it has none yet.
    pub async fn open(config: Config) -> Result<Arc<Self>, NodeError> {
        let identity = NodeIdentity::load(&config.data_dir)?;
        let (text, origin) = config.genesis_text()?;
        let genesis = Genesis::parse(&text).map_err(|e| ConfigError::Parse {
            path: origin,
            detail: e.to_string(),
        })?;
        let store = Store::open(&config.data_dir.join(DB_DIR))?;
        let records = RecordStore::new(store.clone(), &identity.records_key);
        let ledger_db = LedgerDb::new(store.clone());
        let (db, g, lc) = (ledger_db.clone(), genesis.clone(), ledger_config(&config));
        let (ledger, next_order) =
            tokio::task::spawn_blocking(move || db.load(g, lc, now_ms())).await??;
        let account = AccountId(identity.account());
        let gs = &config.guard;
        let guard_config = GuardConfig {
            max_requests_per_minute: gs.max_requests_per_minute,
            max_requests_per_hour: gs.max_requests_per_hour,
            flag_threshold: gs.flag_threshold,
            deny_threshold: gs.deny_threshold,
            revoke_on_deny: gs.revoke_on_deny,
            ..GuardConfig::default()
        };
        let guard = match store.get(cf::GUARD, prefix::GUARD_STATE.to_vec()).await? {
            Some(bytes) => Guard::restore(&bytes, guard_config)?,
            // A brand-new node starts from the guard's conservative prior.
            None => Guard::new(guard_config)?,
        };
        let net = Arc::new(OnceLock::new());
        let ledger = Arc::new(LedgerHandle::new(ledger::LedgerParts {
            ledger,
            next_order,
            db: ledger_db,
            store: store.clone(),
            genesis,
            config: ledger_config(&config),
            signing_key: identity.signing_key.clone(),
            linger_ms: config.gossip_linger_ms,
            net: net.clone(),
        }));
        let node = Arc::new(Self {
            guard: GuardHandle::new(guard, store.clone()),
            config,
            identity,
            store,
            records,
            started: Instant::now(),
            account,
            ledger,
            net,
        });
        if node.ledger.read(|l| l.head(&account).is_none()) {
            let block = node
                .ledger
                .append(Kind::Register(Register {
                    role: node.config.role.as_str().to_string(),
                    display_name: node.config.name.clone(),
                    listen_addrs: Vec::new(),
                    encryption_key: node.identity.encryption_public().0.to_vec(),
                }))
                .await?;
            tracing::info!(block = %block.hash(), "wrote this node's Register block");
        }
        node.migrate().await?;
        Ok(node)
    }

    /// Brings a node made before salted commitments and encryption keys up to date:
    /// stored records without a salt get one (else their commitments would be plain
    /// content hashes), and a node whose ledger entry has no encryption key, or
    /// another one than its key file's, announces it with an `EncryptionKey` block.
    /// Both do nothing on a node that is up to date.
    async fn migrate(&self) -> Result<(), NodeError> {
        self.records.ensure_salts().await?;
        let mine = self.identity.encryption_public();
        if self.ledger.read(|l| l.encryption_key(&self.account)) != Some(mine) {
            let block = self
                .ledger
                .append(Kind::EncryptionKey(EncryptionKey {
                    key: mine.0.to_vec(),
                }))
                .await?;
            tracing::info!(block = %block.hash(), "announced this node's encryption key");
        }
        Ok(())
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its keys and token.
    pub fn identity(&self) -> &NodeIdentity {
        &self.identity
    }

    /// Its database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Its encrypted records.
    pub fn records(&self) -> &RecordStore {
        &self.records
    }

    /// When it started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The network's genesis.
    pub fn genesis(&self) -> &Genesis {
        self.ledger.genesis()
    }

    /// This node's ledger account (its public key).
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The ledger: reads, own appends, ingests from peers.
    pub fn ledger(&self) -> &Arc<LedgerHandle> {
        &self.ledger
    }

    /// The access guard.
    pub fn guard(&self) -> &GuardHandle {
        &self.guard
    }

    /// The network client, once the network has started.
    pub fn net(&self) -> Option<&NetClient> {
        self.net.get()
    }

    /// Connects the node to its started network; from now on appended blocks are
    /// gossiped. Returns false (and changes nothing) if a network was set already.
    pub fn set_net(&self, client: NetClient) -> bool {
        self.net.set(client).is_ok()
    }
}

/// What `init` created.
#[derive(Debug)]
pub struct InitReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The account (public key, hex).
    pub account: String,
    /// The libp2p PeerId.
    pub peer_id: String,
}

/// Creates a node in `data_dir`: keys, token and config file, all 0600. Refuses an
/// existing node.
pub fn init(data_dir: &Path, role: Role, name: &str) -> Result<InitReport, NodeError> {
    let cfg_path = data_dir.join(CONFIG_FILE);
    if cfg_path.exists() {
        return Err(IdentityError::AlreadyExists { path: cfg_path }.into());
    }
    let config = Config {
        role,
        name: name.trim().to_string(),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.validate()?;
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::Io {
        path: data_dir.into(),
        source,
    })?;
    let identity = NodeIdentity::create(data_dir)?;
    write_secret_file(&cfg_path, init_config_text(&config).as_bytes())?;
    Ok(InitReport {
        data_dir: data_dir.into(),
        account: identity.account_hex(),
        peer_id: identity.peer_id(),
    })
}

fn init_config_text(c: &Config) -> String {
    format!(
        "# Sec-Net PDC node configuration, written by `pdc-daemon init`.\n\
         # Every setting and its default is documented in config/node.example.toml.\n\
         # The data directory is the directory of this file.\n\n\
         role = \"{}\"\n\
         name = {}\n\
         api_listen = \"{}\"\n\n\
         [consent]\n\
         price = {}\n\
         purposes = [\"treatment\"]\n\
         expiry_days = {}\n",
        c.role,
        toml_string(&c.name),
        c.api_listen,
        c.consent.price,
        c.consent.expiry_days
    )
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
