//! The contract's JSON errors: `{"error":{"code","message","field"}}`, and the mapping from
//! service errors to HTTP statuses. Nothing here panics, whatever the input.

use crate::services::ServiceError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: String,
    /// For people.
    pub message: String,
    /// The request field at fault, as a dotted path.
    pub field: Option<String>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
        }
    }

    /// Names the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// 400.
    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        json!({ "error": error })
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let message = e.to_string();
        match e {
            ServiceError::Invalid { field, message } => ApiError::invalid(field, message),
            ServiceError::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or unknown API key; send Authorization: Bearer <key>",
            ),
            ServiceError::NotFound(_) => ApiError::not_found(message),
            ServiceError::StaleRevision { .. } => {
                ApiError::new(StatusCode::CONFLICT, "stale_revision", message).with_field("revision")
            }
            ServiceError::RevisionConflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "revision_conflict", message).with_field("revision")
            }
            ServiceError::Refused(refusal) => ApiError::new(StatusCode::CONFLICT, refusal.code(), message),
            ServiceError::Gone => ApiError::new(StatusCode::GONE, "link_expired", message),
            ServiceError::Unavailable { dependency, cause } => {
                // The cause is an error code or what was busy, never patient data (see
                // `ServiceError::Unavailable`); the EMR sees only that it should retry.
                tracing::warn!(dependency = dependency.as_str(), cause = %cause, "unavailable; the caller may retry");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a dependency is unavailable; retry the same request later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = %self.code, "request failed");
        }
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        response
    }
}
