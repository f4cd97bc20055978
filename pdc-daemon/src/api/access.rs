//! Status, the hospital's search, peers, rewards, audit and metrics.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::IntoResponse;
use pdc_proto::api::{ConnectInput, SearchInput};

use super::{ApiResult, ok, parse_json};
use crate::node::Node;
use crate::service;

pub(super) async fn status(State(node): State<Arc<Node>>) -> ApiResult {
    ok(service::node::status(&node).await)
}

/// A hospital's disease search over every patient who granted it access.
pub(super) async fn search_patients(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: SearchInput = parse_json(body)?;
    ok(service::search::search_patients(&node, input).await)
}

pub(super) async fn peers(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(service::network::peers(&node).await))
}

pub(super) async fn connect_peer(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: ConnectInput = parse_json(body)?;
    ok(service::network::connect(&node, input).await)
}

pub(super) async fn rewards(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(service::rewards::rewards(&node)))
}

pub(super) async fn audit(State(node): State<Arc<Node>>) -> ApiResult {
    ok(Ok(service::audit::audit(&node)))
}

/// Prometheus text format.
pub(super) async fn metrics(State(node): State<Arc<Node>>) -> ApiResult {
    let text = service::node::metrics_text(&node).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}
