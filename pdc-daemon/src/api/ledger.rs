//! Ledger views.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};

use super::{ApiResult, ok};
use crate::node::Node;
use crate::service::ledger;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/ledger/heads", get(heads))
        .route("/ledger/chain/{author}", get(chain))
        .route("/ledger/block/{hash}", get(block))
        .route("/ledger/verify", post(verify))
        .route("/balances", get(balances))
        .route("/forks", get(forks))
        .route("/directory", get(directory))
}

async fn heads(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(ledger::heads(&node)))
}

async fn chain(State(node): State<Arc<Node>>, Path(author): Path<String>) -> ApiResult {
    ok(ledger::chain(&node, &author))
}

async fn block(State(node): State<Arc<Node>>, Path(hash): Path<String>) -> ApiResult {
    ok(ledger::block(&node, &hash))
}

async fn verify(State(node): State<Arc<Node>>) -> ApiResult {
    ok(ledger::verify(&node).await)
}

async fn balances(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(ledger::balances(&node)))
}

async fn forks(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(ledger::forks(&node)))
}

async fn directory(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(ledger::directory(&node)))
}
