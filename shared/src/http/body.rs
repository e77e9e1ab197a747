//! Reading request bodies: a 64 KiB cap, JSON parsed with the path of the first bad field.

use super::ApiError;
use axum::body::Body;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The largest body accepted (docs/BEHAVIOUR.md §4.2: 413 above).
pub const MAX_BODY: usize = 64 * 1024;

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is larger than {MAX_BODY} bytes"),
    )
}

/// Reads at most `MAX_BODY` bytes.
pub async fn read_capped(body: Body, declared_length: Option<usize>) -> Result<axum::body::Bytes, ApiError> {
    if declared_length.is_some_and(|l| l > MAX_BODY) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        // The limit error is only recognisable by its text somewhere along the source chain.
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(s) = source {
            if s.to_string().contains("length limit") {
                return too_large();
            }
            source = s.source();
        }
        ApiError::malformed(format!("the body could not be read: {e}"))
    })
}

/// Parses JSON into `T`: 400 when it is not JSON, 422 naming the field when it does not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed("the body is empty; a JSON object is expected"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// Converts an already parsed JSON value into `T`: 422 naming the field when it does not fit.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = inner.to_string();
            let field = field_name(&path, &message);
            ApiError::invalid(field, strip_position(&message))
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {inner}"),
        ),
    }
}

/// The dotted path of the bad field; "missing field `x`" at `a` becomes `a.x`.
fn field_name(path: &str, message: &str) -> String {
    let base = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (base, missing) {
        ("", Some(m)) => m.to_owned(),
        (b, Some(m)) => format!("{b}.{m}"),
        ("", None) => "body".to_owned(),
        (b, None) => b.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppointmentContent;

    #[test]
    fn not_json_is_400_and_a_bad_field_is_422_with_its_path() {
        let e = parse_json::<AppointmentContent>(b"{nope").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse_json::<AppointmentContent>(br#"{"revision":"one"}"#).unwrap_err();
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("revision"))
        );
        let e = parse_json::<AppointmentContent>(br#"{"revision":1,"start":"tomorrow"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("start"));
    }

    #[test]
    fn a_missing_nested_field_is_named_in_full() {
        let body = br#"{"revision":1,"start":"2026-12-01T10:00:00-05:00","duration_minutes":30,"type_code":"A","modality":"phone",
            "professional":{"display_name":"Dr X"},"patient":{"last_name":"Y"}}"#;
        let e = parse_json::<AppointmentContent>(body).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("patient.first_name"));
    }
}
