//! Records, FHIR import/export and the node's own search.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use pdc_proto::api::RecordInput;
use serde::Deserialize;

use super::{ApiResult, body_bytes, created, ok, parse_json};
use crate::node::Node;
use crate::service::{ServiceError, records};

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/records", get(list).post(add))
        .route("/records/{id}", get(show).put(update).delete(delete))
        .route("/fhir/import", post(fhir_import))
        .route("/fhir/export", get(fhir_export))
        .route("/search/local", get(search_local))
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult {
    ok(records::list(&node).await)
}

async fn show(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    ok(records::show(&node, &id).await)
}

async fn add(State(node): State<Arc<Node>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let input: RecordInput = parse_json(body)?;
    created(records::add(&node, input).await)
}

async fn update(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: RecordInput = parse_json(body)?;
    ok(records::update(&node, &id, input).await)
}

async fn delete(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    ok(records::delete(&node, &id).await)
}

async fn fhir_import(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let bytes = body_bytes(body)?;
    created(records::fhir_import(&node, bytes.to_vec()).await)
}

async fn fhir_export(State(node): State<Arc<Node>>) -> ApiResult {
    ok(records::fhir_export(&node).await)
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: String,
}

async fn search_local(
    State(node): State<Arc<Node>>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult {
    let Query(SearchQuery { q }) =
        query.map_err(|e| ServiceError::bad_request(format!("use /search/local?q=WORDS ({e})")))?;
    ok(records::search_local(&node, q).await)
}
