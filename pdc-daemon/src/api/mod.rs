//! The HTTP JSON API. Every route needs the node's bearer token; every error is
//! `{ "error": ..., "detail": ... }` ([`ErrorView`]); request bodies are size-limited
//! (the limit layer is the daemon's, shared with the portals).
//!
//! Handlers only parse, call the [`crate::service`] function and answer `Json(view)`.
//!
//! # Layout
//! - [`records`]: records, FHIR import/export, local search.
//! - [`consent`]: grants, revocations, the check.
//! - [`ledger`]: heads, chains, blocks, verify, balances, forks, directory.
//! - [`access`]: hospital search, peers, rewards, audit, metrics.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pdc_proto::api::ErrorView;
use serde::Deserialize;

use crate::identity::constant_time_eq;
use crate::node::Node;
use crate::service::{ErrorKind, ServiceError};

mod access;
mod consent;
mod ledger;
mod records;

/// A JSON error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let view = ErrorView {
            error: self.error.to_string(),
            detail: self.detail,
        };
        (self.status, Json(view)).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let status = match e.kind {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.code, e.detail)
    }
}

/// What every handler returns.
type ApiResult = Result<Response, ApiError>;

/// A view as a 200 JSON response.
fn ok<T: serde::Serialize>(r: crate::service::Result<T>) -> ApiResult {
    Ok(Json(r?).into_response())
}

/// A view as a 201 JSON response.
fn created<T: serde::Serialize>(r: crate::service::Result<T>) -> ApiResult {
    Ok((StatusCode::CREATED, Json(r?)).into_response())
}

/// Turns a raw body into `T`, with body-limit and JSON errors as JSON responses.
fn parse_json<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::bad_request(format!("request body is not valid JSON for this call: {e}"))
            .into()
    })
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                "request body exceeds the node's limit (api_max_body_bytes)",
            )
        } else {
            ApiError::new(status, "bad_body", r.body_text())
        }
    })
}

/// Builds the API router for a node: `/api/v1/...`, `/metrics` and the JSON not-found
/// fallback, all behind the bearer token. The daemon merges it with the portals'.
pub fn router(node: Arc<Node>) -> Router {
    let api = Router::new()
        .route("/status", get(access::status))
        .merge(records::routes())
        .merge(consent::routes())
        .merge(ledger::routes())
        .route("/search", post(access::search_patients))
        .route("/peers", get(access::peers))
        .route("/peers/connect", post(access::connect_peer))
        .route("/rewards", get(access::rewards))
        .route("/audit", get(access::audit));
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(access::metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such API route; see README.md for the routes",
            )
        })
        .layer(middleware::from_fn_with_state(node.clone(), require_token))
        .with_state(node)
}

/// Deny by default: every request needs `Authorization: Bearer <token>`.
async fn require_token(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), node.identity().api_token.as_bytes()) => {
            next.run(req).await
        }
        _ => {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token; send `Authorization: Bearer <token>` with the token from the node's api.token file",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
    }
}
