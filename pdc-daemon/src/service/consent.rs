//! Consent: grants written by a patient node, revocations, and the "would this
//! requester be allowed now?" check.

use pdc_proto::api::{
    CheckInput, CheckView, ConsentList, GrantInput, GrantState, GrantView, Scope,
};

use super::{ErrorKind, Result, ServiceError, label, require_role, resolve_principal};
use crate::config::Role;
use crate::consent::{Decision, decide, fmt_ms};
use crate::ledger::{BlockHash, Grant, Ledger};
use crate::node::Node;
use crate::records::now_ms;

/// The view of a grant as of now.
pub fn grant_view(l: &Ledger, g: &Grant) -> GrantView {
    let now = now_ms();
    let state = if g.revoked_by.is_some() {
        GrantState::Revoked
    } else if g.not_after_ms != 0 && g.not_after_ms <= now {
        GrantState::Expired
    } else {
        GrantState::Live
    };
    let time_of = |h: &BlockHash| l.block(h).map(|b| fmt_ms(b.timestamp_ms()));
    GrantView {
        grant_id: hex::encode(&g.grant_id),
        patient: g.patient.to_string(),
        patient_name: label(l, &g.patient),
        patient_fingerprint: g.patient.fingerprint(),
        grantee: g.grantee.to_string(),
        grantee_fingerprint: g.grantee.fingerprint(),
        grantee_name: label(l, &g.grantee),
        scope: g.scope.clone(),
        purposes: g.purposes.clone(),
        not_after_ms: g.not_after_ms,
        expires: if g.not_after_ms == 0 {
            "never".to_string()
        } else {
            fmt_ms(g.not_after_ms)
        },
        price: g.price,
        created: time_of(&g.block),
        block: g.block.to_string(),
        revoked: g.revoked_by.as_ref().and_then(time_of),
        state,
    }
}

/// A patient node lists the grants it gave; a hospital node the grants it holds.
pub fn list(node: &Node) -> ConsentList {
    let consents = node.ledger().read(|l| {
        let grants = match node.config().role {
            Role::Patient => l.grants_by_patient(&node.account()),
            Role::Hospital => l.grants_for_grantee(&node.account()),
        };
        grants.iter().map(|g| grant_view(l, g)).collect()
    });
    ConsentList { consents }
}

/// Writes a grant after checking everything a patient could get wrong: the grantee
/// (key or unambiguous registered name, not this node), the scope, at least one
/// purpose, an expiry in the future. Absent fields take the node's consent defaults.
pub async fn grant(node: &Node, input: GrantInput) -> Result<GrantView> {
    require_role(
        node,
        Role::Patient,
        "not_a_patient",
        "only a patient node grants access to its records",
    )?;
    let grantee = resolve_principal(node, &input.grantee)?;
    if grantee == node.account() {
        return Err(ServiceError::bad_request(
            "a node cannot grant consent to itself",
        ));
    }
    let defaults = &node.config().consent;
    let now = now_ms();
    let scope: Scope = match input.scope {
        Some(s) => s
            .parse()
            .map_err(|e| ServiceError::bad_request(format!("{e}")))?,
        None => Scope::All,
    };
    let purposes: Vec<String> = if input.purposes.is_empty() {
        defaults.purposes.clone()
    } else {
        input.purposes
    }
    .iter()
    .map(|p| p.trim().to_ascii_lowercase())
    .filter(|p| !p.is_empty())
    .collect();
    if purposes.is_empty() {
        return Err(ServiceError::bad_request(
            "name at least one purpose, e.g. treatment or research",
        ));
    }
    let days = input.expires_in_days.unwrap_or(defaults.expiry_days);
    let not_after_ms = input.not_after_ms.unwrap_or(if days == 0 {
        0
    } else {
        now.saturating_add(days.saturating_mul(86_400_000))
    });
    if not_after_ms != 0 && not_after_ms <= now {
        return Err(ServiceError::bad_request(format!(
            "expiry {} is in the past",
            fmt_ms(not_after_ms)
        )));
    }
    let price = input.price.unwrap_or(defaults.price);
    let block = crate::access::grant(
        node,
        grantee,
        purposes,
        scope.as_str().to_string(),
        not_after_ms,
        price,
    )
    .await?;
    node.ledger()
        .read(|l| {
            l.grants_by_patient(&node.account())
                .into_iter()
                .find(|g| g.block == block.hash())
                .map(|g| grant_view(l, &g))
        })
        .ok_or_else(|| ServiceError::internal("grant not found after writing it"))
}

/// Revokes one of this node's grants by id (hex).
pub async fn revoke(node: &Node, id: &str) -> Result<Option<GrantView>> {
    let gid = hex::decode(id.trim())
        .map_err(|_| ServiceError::bad_request(format!("'{id}' is not a grant id (hex)")))?;
    let find = |l: &Ledger| {
        l.grants_by_patient(&node.account())
            .into_iter()
            .find(|g| g.grant_id == gid)
    };
    let g = node.ledger().read(find).ok_or_else(|| {
        ServiceError::not_found(format!(
            "no consent grant with id {id}; list grants with `pdc consent list`"
        ))
    })?;
    if g.revoked_by.is_some() {
        return Err(ServiceError::new(
            ErrorKind::Conflict,
            "already_revoked",
            format!("grant {id} is already revoked"),
        ));
    }
    crate::access::revoke(node, gid.clone()).await?;
    Ok(node.ledger().read(|l| find(l).map(|g| grant_view(l, &g))))
}

/// Lets an owner ask "would this requester be allowed now?" without any access.
pub fn check(node: &Node, input: CheckInput) -> Result<CheckView> {
    let requester = parse_key(&input.requester, "requester")?;
    let grants = crate::access::grants_for_decide(node);
    Ok(
        match decide(&grants, &requester, &input.purpose, now_ms()) {
            Decision::Allow {
                grant_id,
                price,
                scope,
            } => CheckView::Allow {
                grant_id: hex::encode(grant_id),
                price,
                scope,
            },
            Decision::Deny { reason } => CheckView::Deny { reason },
        },
    )
}

fn parse_key(s: &str, what: &str) -> Result<Vec<u8>> {
    let k = hex::decode(s.trim()).map_err(|_| {
        ServiceError::bad_request(format!(
            "{what} must be a 64-hex-digit public key, got '{s}'"
        ))
    })?;
    if k.len() != 32 {
        return Err(ServiceError::bad_request(format!(
            "{what} must be 32 bytes (64 hex digits), got {} bytes",
            k.len()
        )));
    }
    Ok(k)
}
