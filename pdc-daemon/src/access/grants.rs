//! The patient's consent on the ledger: the grant and revoke writes, and the node's
//! grants as the pure decision of `consent` takes them.

use crate::ledger::{AccountId, ConsentGrant, ConsentRevoke, Kind, VerifiedBlock};
use crate::node::{Node, NodeError};

/// The ledger's grants of this node, as the pure [`crate::consent::decide`] function
/// takes them.
pub fn grants_for_decide(node: &Node) -> Vec<pdc_proto::consent::Grant> {
    node.ledger().read(|l| {
        l.grants_by_patient(&node.account())
            .into_iter()
            .map(|g| pdc_proto::consent::Grant {
                grant_id: g.grant_id,
                grantee: g.grantee.0.to_vec(),
                scope: g.scope,
                purposes: g.purposes,
                not_after_ms: g.not_after_ms,
                price: g.price,
                created_ms: 0,
                revoked_ms: u64::from(g.revoked_by.is_some()),
                grantee_name: String::new(),
            })
            .collect()
    })
}

/// Patient side: grants `grantee` access on the ledger.
pub async fn grant(
    node: &Node,
    grantee: AccountId,
    purposes: Vec<String>,
    scope: String,
    not_after_ms: u64,
    price: u64,
) -> Result<VerifiedBlock, NodeError> {
    let mut grant_id = vec![0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut grant_id);
    node.ledger()
        .append(Kind::ConsentGrant(ConsentGrant {
            grant_id,
            grantee: grantee.0.to_vec(),
            scope,
            purposes,
            not_after_ms,
            price,
        }))
        .await
}

/// Patient side: revokes one of its grants on the ledger.
pub async fn revoke(node: &Node, grant_id: Vec<u8>) -> Result<VerifiedBlock, NodeError> {
    node.ledger()
        .append(Kind::ConsentRevoke(ConsentRevoke { grant_id }))
        .await
}

/// Revokes every live grant of this node naming `requester`; returns how many. The owner
/// does this when the access guard denies a request and asks for the revocation.
pub(super) async fn revoke_grants_of(
    node: &Node,
    requester: &AccountId,
    now: u64,
) -> Result<usize, NodeError> {
    let live: Vec<Vec<u8>> = node.ledger().read(|l| {
        l.grants_by_patient(&node.account())
            .into_iter()
            .filter(|g| &g.grantee == requester && g.is_live(now))
            .map(|g| g.grant_id)
            .collect()
    });
    let n = live.len();
    for grant_id in live {
        node.ledger()
            .append(Kind::ConsentRevoke(ConsentRevoke { grant_id }))
            .await?;
    }
    Ok(n)
}
