//! Peers: who this node knows, and dialling one now.

use pdc_proto::api::{ChainHead, ConnectInput, Dialing, PeerView, PeersView};

use super::{ErrorKind, Result, ServiceError, label, net_client};
use crate::consent::fmt_ms;
use crate::ledger::AccountId;
use crate::node::Node;

/// Every peer the network task knows (none while the network is not started).
pub async fn peers(node: &Node) -> PeersView {
    let list = match node.net() {
        Some(c) => c.peers().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let peers = node.ledger().read(|l| {
        list.iter()
            .map(|p| {
                let acct = crate::net::account_of(&p.peer_id).map(AccountId);
                let principal = acct.and_then(|a| l.principal(&a));
                PeerView {
                    peer_id: p.peer_id.to_string(),
                    account: acct.map(|a| a.to_string()),
                    fingerprint: acct.map(|a| a.fingerprint()),
                    name: acct.map(|a| label(l, &a)).unwrap_or_default(),
                    role: principal.as_ref().map(|p| p.role.as_str().to_string()),
                    addresses: p.addrs.iter().map(|a| a.to_string()).collect(),
                    connected: p.connected,
                    foreign: p.foreign,
                    chain_head: acct.and_then(|a| l.head(&a)).map(|h| ChainHead {
                        seq: h.seq,
                        hash: h.hash.to_string(),
                    }),
                    last_seen: (p.last_seen_ms != 0).then(|| fmt_ms(p.last_seen_ms)),
                    agent: p.agent_version.clone(),
                }
            })
            .collect()
    });
    PeersView { peers }
}

/// Operator: dial a peer now (after a partition, or to add a bootstrap peer at run time).
pub async fn connect(node: &Node, input: ConnectInput) -> Result<Dialing> {
    let addr: crate::net::Multiaddr = input.addr.trim().parse().map_err(|e| {
        ServiceError::bad_request(format!(
            "'{}' is not a multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/12D3...: {e}",
            input.addr
        ))
    })?;
    let client = net_client(node)?;
    client.dial(addr.clone()).await.map_err(|e| {
        ServiceError::new(ErrorKind::BadGateway, "dial_failed", e.to_string()).caused_by(e)
    })?;
    Ok(Dialing {
        dialing: addr.to_string(),
    })
}
