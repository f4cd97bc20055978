//! Consent grants, revocations and the check.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use pdc_proto::api::{CheckInput, GrantInput};

use super::{ApiResult, created, ok, parse_json};
use crate::node::Node;
use crate::service::consent;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/consents", get(list).post(grant))
        .route("/consents/{id}/revoke", post(revoke))
        .route("/consents/check", post(check))
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(consent::list(&node)))
}

async fn grant(State(node): State<Arc<Node>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let input: GrantInput = parse_json(body)?;
    created(consent::grant(&node, input).await)
}

async fn revoke(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    ok(consent::revoke(&node, &id).await)
}

async fn check(State(node): State<Arc<Node>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let input: CheckInput = parse_json(body)?;
    ok(consent::check(&node, input))
}
