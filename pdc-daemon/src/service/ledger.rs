//! Ledger views: chain heads, chains and blocks, a full re-check, balances, fork
//! proofs and the directory of registered principals.

use pdc_proto::api::{
    BalanceView, BalancesView, BlockBody, BlockView, ChainView, Credits, DirectoryView, ForkView,
    ForksView, HeadView, HeadsView, PrincipalView, VerifyView,
};

use super::{Result, ServiceError, label};
use crate::consent::fmt_ms;
use crate::ledger::{AccountId, BlockHash, Kind, Ledger, VerifiedBlock};
use crate::node::Node;
use crate::records::now_ms;

fn body_view(k: &Kind) -> BlockBody {
    match k {
        Kind::Register(r) => BlockBody::Register {
            role: r.role.clone(),
            display_name: r.display_name.clone(),
            listen_addrs: r.listen_addrs.clone(),
            encryption_key: hex::encode(&r.encryption_key),
        },
        Kind::ConsentGrant(g) => BlockBody::ConsentGrant {
            grant_id: hex::encode(&g.grant_id),
            grantee: hex::encode(&g.grantee),
            scope: g.scope.clone(),
            purposes: g.purposes.clone(),
            not_after_ms: g.not_after_ms,
            price: g.price,
        },
        Kind::ConsentRevoke(r) => BlockBody::ConsentRevoke {
            grant_id: hex::encode(&r.grant_id),
        },
        Kind::Access(a) => BlockBody::Access {
            request_id: hex::encode(&a.request_id),
            requester: hex::encode(&a.requester),
            query: a.query.clone(),
            purpose: a.purpose.clone(),
            decision: a.decision.clone(),
            reason: a.reason.clone(),
            record_hashes: a.record_hashes.iter().map(hex::encode).collect(),
            price: a.price,
            staff_user: a.staff_user.clone(),
        },
        Kind::Send(x) => BlockBody::Send {
            to: hex::encode(&x.to),
            amount: x.amount,
            access_ref: hex::encode(&x.access_ref),
        },
        Kind::Receive(r) => BlockBody::Receive {
            send_hash: hex::encode(&r.send_hash),
            sender: hex::encode(&r.sender),
            send_seq: r.send_seq,
        },
        Kind::EncryptionKey(k) => BlockBody::EncryptionKey {
            key: hex::encode(&k.key),
        },
    }
}

/// The view of one block.
pub fn block_view(l: &Ledger, b: &VerifiedBlock) -> BlockView {
    BlockView {
        hash: b.hash().to_string(),
        author: b.author().to_string(),
        author_name: label(l, &b.author()),
        fingerprint: b.author().fingerprint(),
        seq: b.seq(),
        prev: b.prev().to_string(),
        timestamp_ms: b.timestamp_ms(),
        time: fmt_ms(b.timestamp_ms()),
        balance_after: b.balance_after(),
        counts: l.counts(&b.hash()),
        body: body_view(b.kind()),
        size: b.bytes().len(),
    }
}

fn parse_account(s: &str) -> Result<AccountId> {
    s.parse::<AccountId>().map_err(|e| {
        ServiceError::bad_request(format!("'{s}' is not an account (64 hex digits): {e}"))
    })
}

/// The head of every chain this node holds.
pub fn heads(node: &Node) -> HeadsView {
    let heads = node.ledger().read(|l| {
        l.heads()
            .iter()
            .map(|(a, h)| HeadView {
                author: a.to_string(),
                name: label(l, a),
                fingerprint: a.fingerprint(),
                seq: h.seq,
                hash: h.hash.to_string(),
            })
            .collect()
    });
    HeadsView {
        network: hex::encode(node.genesis().hash()),
        heads,
    }
}

/// Every block of one account's chain (`author`: 64 hex digits).
pub fn chain(node: &Node, author: &str) -> Result<ChainView> {
    let a = parse_account(author)?;
    let blocks = node.ledger().read(|l| {
        l.blocks_range(&a, 1, u32::MAX as usize)
            .iter()
            .map(|b| block_view(l, b))
            .collect()
    });
    Ok(ChainView {
        author: a.to_string(),
        blocks,
    })
}

/// One block by hash.
pub fn block(node: &Node, hash: &str) -> Result<BlockView> {
    let h: BlockHash = hash
        .parse()
        .map_err(|e| ServiceError::bad_request(format!("'{hash}' is not a block hash: {e}")))?;
    node.ledger()
        .read(|l| l.block(&h).map(|b| block_view(l, b)))
        .ok_or_else(|| ServiceError::not_found(format!("no block {h} on this node")))
}

/// Re-checks every stored block and chain link, off the async runtime.
pub async fn verify(node: &Node) -> Result<VerifyView> {
    let report = node.ledger().verify_stored().await.map_err(|e| {
        ServiceError::new(super::ErrorKind::Internal, "ledger", e.to_string()).caused_by(e)
    })?;
    Ok(VerifyView {
        ok: report.first_bad.is_none(),
        blocks: report.blocks,
        fork_proofs: report.proofs,
        chain_links: report.links,
        first_bad: report.first_bad,
    })
}

/// Every account's balance, confirmed and pending.
pub fn balances(node: &Node) -> BalancesView {
    let now = now_ms();
    let balances = node.ledger().read(|l| {
        l.balances(now)
            .iter()
            .map(|(a, b)| BalanceView {
                account: a.to_string(),
                name: label(l, a),
                fingerprint: a.fingerprint(),
                confirmed: b.confirmed,
                pending: b.pending,
                void: b.void,
                chain: b.chain,
                confirmed_credits: Credits(b.confirmed).fixed(),
                pending_credits: Credits(b.pending).fixed(),
                total_credits: Credits(b.confirmed + b.pending).fixed(),
            })
            .collect()
    });
    BalancesView { balances }
}

/// Every fork proof this node holds.
pub fn forks(node: &Node) -> ForksView {
    let forks = node.ledger().read(|l| {
        l.fork_proofs()
            .map(|p| {
                let (a, b) = p.hashes();
                ForkView {
                    author: p.author().to_string(),
                    name: label(l, &p.author()),
                    fingerprint: p.author().fingerprint(),
                    seq: p.seq(),
                    frozen_at: p.frozen_at(),
                    blocks: [a.to_string(), b.to_string()],
                }
            })
            .collect()
    });
    ForksView { forks }
}

/// Every registered principal.
pub fn directory(node: &Node) -> DirectoryView {
    let principals = node.ledger().read(|l| {
        l.directory()
            .iter()
            .map(|p| PrincipalView {
                account: p.account.to_string(),
                fingerprint: p.account.fingerprint(),
                role: p.role.as_str().to_string(),
                display_name: p.display_name.clone(),
                pinned_name: p.pinned_name.clone(),
                listen_addrs: p.listen_addrs.clone(),
                head_seq: l.head(&p.account).map(|h| h.seq),
            })
            .collect()
    });
    DirectoryView { principals }
}
