//! Errors as Nomad's HTTP API sends them: a status code and a plain-text body
//! (`404 job not found`, `405 Invalid method`); the Go client shows them as
//! `Unexpected response code: <code> (<body>)`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::server::endpoints::RpcError;

/// Nomad's text for a method a route does not take.
pub const INVALID_METHOD: &str = "Invalid method";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub message: String,
    /// `X-Nomad-Index` for reads that found nothing (Nomad sets it before the 404).
    pub index: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            index: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    pub fn invalid_method() -> Self {
        Self::new(405, INVALID_METHOD)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    pub fn with_index(mut self, index: u64) -> Self {
        self.index = Some(index.max(1));
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> Self {
        ApiError::new(e.code, e.message)
    }
}

/// Anything untyped is the server's fault (Nomad: 500 with the error's text).
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = self.code, error = %self.message, "request failed");
        } else {
            tracing::debug!(code = self.code, error = %self.message, "request failed");
        }
        let mut resp = (status, self.message).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        if let Some(index) = self.index {
            headers.insert("X-Nomad-Index", HeaderValue::from(index));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_keep_code_and_text() {
        let e: ApiError = RpcError::not_found("job not found").into();
        assert_eq!((e.code, e.message.as_str()), (404, "job not found"));
        let e: ApiError = anyhow::anyhow!("disk full").context("writing").into();
        assert_eq!((e.code, e.message.as_str()), (500, "writing: disk full"));
    }

    #[test]
    fn responses_are_plain_text_with_the_code() {
        let resp = ApiError::invalid_method().with_index(0).into_response();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/plain");
        assert_eq!(resp.headers()["X-Nomad-Index"], "1");
    }
}
