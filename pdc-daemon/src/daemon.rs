//! A running daemon: the node, its network and its API, with a designed shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::net::NetClient;
use crate::node::{API_ADDR_FILE, Node, NodeError};

/// File in the data directory listing the node's libp2p addresses (with `/p2p/<id>`),
/// one per line, so operators and tests can give them to other nodes as bootstrap.
pub const P2P_ADDR_FILE: &str = "p2p.addr";

/// A started node: network up, API socket bound, address files written; not yet
/// serving HTTP. [`Running::serve`] serves until shutdown. Split from [`run`] so the
/// demo can set up data on live nodes before anyone connects.
#[derive(Debug)]
pub struct Running {
    /// The node.
    pub node: Arc<Node>,
    /// Where the API and portals listen.
    pub api_addr: SocketAddr,
    /// Its libp2p addresses, each ending in `/p2p/<peer id>`.
    pub p2p_addrs: Vec<String>,
    listener: tokio::net::TcpListener,
    net: NetClient,
    net_task: tokio::task::JoinHandle<()>,
}

/// Runs a node until `shutdown` resolves: starts the network and serves the API, then
/// stops the network, saves the guard, and closes the store so every acknowledged
/// write is on disk.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    start(config).await?.serve(shutdown).await
}

/// Opens the node, starts its network and binds its API socket.
pub async fn start(config: Config) -> Result<Running, NodeError> {
    let node = Node::open(config).await?;
    let addr = node.config().api_listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| NodeError::Bind { addr, source })?;
    let (net, net_task) = crate::peering::start(node.clone()).await?;
    let p2p: Vec<String> = net
        .listen_addrs()
        .await
        .map_err(NodeError::Net)?
        .into_iter()
        .map(|a| format!("{a}/p2p/{}", net.local_peer_id()))
        .collect();
    let dir = &node.config().data_dir;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| NodeError::Io { path, source })
    };
    write(P2P_ADDR_FILE, p2p.join("\n") + "\n")?;
    write(API_ADDR_FILE, bound.to_string())?;
    tracing::info!(
        role = %node.config().role,
        name = %node.config().name,
        account = %node.identity().account_hex(),
        peer_id = %net.local_peer_id(),
        api = %bound,
        p2p = %p2p.join(" "),
        "node started"
    );
    Ok(Running {
        node,
        api_addr: bound,
        p2p_addrs: p2p,
        listener,
        net,
        net_task,
    })
}

impl Running {
    /// Serves the API and portals until `shutdown` resolves, then stops the network,
    /// saves the guard and closes the store.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let Self {
            node,
            api_addr,
            listener,
            net,
            net_task,
            ..
        } = self;
        let dir = node.config().data_dir.clone();
        // The portals (session cookies) and the API (bearer token, JSON fallback) side by
        // side, under one body limit.
        let app = crate::web::router(node.clone())
            .merge(crate::api::router(node.clone()))
            .layer(axum::extract::DefaultBodyLimit::max(
                node.config().api_max_body_bytes,
            ));
        if let Some(code) = crate::web::setup_code(&node).await {
            tracing::warn!(
                "no portal user yet: open http://{api_addr}/setup?code={code} to create the first one (the code is also in {})",
                dir.join(crate::web::SETUP_CODE_FILE).display()
            );
        }
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        tracing::info!(
            "shutting down: stopping the network, saving the guard's state, flushing the store"
        );
        let _ = net.shutdown().await;
        net_task.abort();
        if let Err(e) = node.guard().save().await {
            tracing::warn!("could not save the access guard's state: {e}");
        }
        node.store().close().await;
        let _ = std::fs::remove_file(dir.join(API_ADDR_FILE));
        let _ = std::fs::remove_file(dir.join(P2P_ADDR_FILE));
        served.map_err(|source| NodeError::Io {
            path: PathBuf::from("api"),
            source,
        })?;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}
