//! Wires a node together: identity, store, records, consents, and the API server, with
//! a designed shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{CONFIG_FILE, Config, Role};
use crate::consent::ConsentBook;
use crate::identity::{IdentityError, NodeIdentity, write_secret_file};
use crate::records::RecordStore;
use crate::store::{Store, StoreError};

/// File in the data directory holding the address the API actually bound, so the CLI
/// finds a node started with port 0.
pub const API_ADDR_FILE: &str = "api.addr";
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
    /// Other I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running node's parts, shared by the API handlers.
#[derive(Debug)]
pub struct Node {
    /// Its configuration.
    pub config: Config,
    /// Its keys and token.
    pub identity: NodeIdentity,
    /// Its database.
    pub store: Store,
    /// Encrypted records.
    pub records: RecordStore,
    /// Consent grants.
    pub consents: ConsentBook,
    /// When it started.
    pub started: Instant,
}

impl Node {
    /// Opens a node from its config: loads and checks the secret files, opens the store.
    pub fn open(config: Config) -> Result<Arc<Self>, NodeError> {
        let identity = NodeIdentity::load(&config.data_dir)?;
        let store = Store::open(&config.data_dir.join(DB_DIR))?;
        let records = RecordStore::new(store.clone(), &identity.records_key);
        let consents = ConsentBook::new(store.clone());
        Ok(Arc::new(Self {
            config,
            identity,
            store,
            records,
            consents,
            started: Instant::now(),
        }))
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

/// Runs a node until `shutdown` resolves: serves the API, then closes the store so every
/// acknowledged write is on disk.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let node = Node::open(config)?;
    let addr = node.config.api_listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| NodeError::Bind { addr, source })?;
    let addr_file = node.config.data_dir.join(API_ADDR_FILE);
    std::fs::write(&addr_file, bound.to_string()).map_err(|source| NodeError::Io {
        path: addr_file.clone(),
        source,
    })?;
    tracing::info!(
        role = %node.config.role,
        name = %node.config.name,
        account = %node.identity.account_hex(),
        peer_id = %node.identity.peer_id(),
        api = %bound,
        "node started"
    );
    let app = crate::api::router(node.clone());
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("shutting down: flushing the store");
    node.store.close().await;
    let _ = std::fs::remove_file(&addr_file);
    served.map_err(|source| NodeError::Io {
        path: PathBuf::from("api"),
        source,
    })?;
    tracing::info!("stopped cleanly");
    Ok(())
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
