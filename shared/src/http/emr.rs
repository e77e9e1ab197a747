//! The EMR API (function `on-save`, docs/BEHAVIOUR.md §4).

use super::body::{from_value, parse_json, read_capped};
use super::ApiError;
use crate::domain::{AppointmentContent, AppointmentId, Clinic, ClinicSettings, TypeCode, TypeSettings};
use crate::services::{PreviewQuery, Rappel, SaveOutcome};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The clinic whose API key authorised the request.
pub struct AuthClinic(pub Clinic);

impl FromRequestParts<Arc<Rappel>> for AuthClinic {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, rappel: &Arc<Rappel>) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, key) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim().to_owned())
            })
            .unwrap_or_default();
        Ok(AuthClinic(rappel.authenticate(&key).await?))
    }
}

/// The EMR API router.
pub fn router(rappel: Arc<Rappel>) -> Router {
    Router::new()
        .route("/v1/clinic", get(get_clinic).put(put_clinic))
        .route("/v1/appointment-types", get(list_types))
        .route("/v1/appointment-types/{code}", axum::routing::put(put_type))
        .route("/v1/appointments/{id}", get(get_appointment).put(put_appointment))
        .route("/v1/events", get(events))
        .route("/v1/ledger", get(ledger))
        .route("/v1/previews/{kind}", get(preview))
        .route("/v1/suppressions", get(suppressions))
        .route("/v1/suppressions/{address}", axum::routing::delete(lift_suppression))
        .route("/hl7/v2", axum::routing::post(hl7_message))
        .route("/fhir/r4", axum::routing::post(fhir_bundle))
        .route("/fhir/r4/Appointment/{id}", axum::routing::put(fhir_appointment))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(rappel)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn json_body<T: serde::de::DeserializeOwned>(request: Request) -> Result<T, ApiError> {
    let length = declared_length(request.headers());
    let bytes = read_capped(request.into_body(), length).await?;
    parse_json(&bytes)
}

async fn get_clinic(AuthClinic(clinic): AuthClinic) -> Json<ClinicSettings> {
    Json(clinic.settings)
}

async fn put_clinic(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    request: Request,
) -> Result<Json<ClinicSettings>, ApiError> {
    let settings: ClinicSettings = json_body(request).await?;
    Ok(Json(rappel.put_clinic_settings(&clinic, settings).await?))
}

async fn list_types(State(rappel): State<Arc<Rappel>>, AuthClinic(clinic): AuthClinic) -> Result<Response, ApiError> {
    let types = rappel.appointment_types(&clinic).await?;
    Ok(Json(json!({ "appointment_types": types })).into_response())
}

async fn put_type(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    Path(code): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let code = TypeCode::parse(&code).map_err(|e| ApiError::invalid("code", e.0))?;
    let settings: TypeSettings = json_body(request).await?;
    let (created, appointment_type) = rappel.put_appointment_type(&clinic, code, settings).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(appointment_type)).into_response())
}

fn appointment_id(id: &str) -> Result<AppointmentId, ApiError> {
    AppointmentId::parse(id).map_err(|e| ApiError::invalid("id", e.0))
}

async fn put_appointment(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let id = appointment_id(&id)?;
    let body: serde_json::Value = json_body(request).await?;
    if let Some(body_id) = body.get("id") {
        if body_id.as_str() != Some(id.as_str()) {
            return Err(ApiError::invalid("id", "the body's id differs from the id in the path"));
        }
    }
    let content: AppointmentContent = from_value(body)?;
    let (outcome, record, messages) = rappel.save_and_report(&clinic, id, content).await?;
    let status = match outcome {
        SaveOutcome::Created => StatusCode::CREATED,
        SaveOutcome::Updated | SaveOutcome::Unchanged => StatusCode::OK,
    };
    Ok((status, Json(rappel.view(&clinic, &record, &messages))).into_response())
}

async fn get_appointment(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = appointment_id(&id)?;
    Ok(Json(rappel.appointment_view(&clinic, &id).await?).into_response())
}

type QueryMap = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn query(q: QueryMap) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::malformed(format!("bad query string: {e}")))
}

async fn events(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let page = rappel
        .events(
            &clinic,
            q.get("after").map(String::as_str),
            q.get("limit").map(String::as_str),
        )
        .await?;
    Ok(Json(page).into_response())
}

async fn ledger(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let report = rappel.ledger(&clinic, q.get("month").map(String::as_str)).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], report.to_csv()).into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

/// `GET /v1/suppressions`: the addresses no email goes to.
async fn suppressions(State(rappel): State<Arc<Rappel>>, AuthClinic(clinic): AuthClinic) -> Result<Response, ApiError> {
    let list = rappel
        .store
        .suppressions(&clinic.id)
        .await
        .map_err(crate::services::ServiceError::from)?;
    let zone = clinic.settings.tz();
    let list: Vec<_> = list
        .iter()
        .map(|s| {
            let at =
                s.at.with_timezone(&zone)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            json!({ "address": s.address, "reason": s.reason, "at": at })
        })
        .collect();
    Ok(Json(json!({ "suppressions": list })).into_response())
}

/// `DELETE /v1/suppressions/{address}`: mail the address again (204; 404 when it was not on
/// the list).
async fn lift_suppression(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    Path(address): Path<String>,
) -> Result<Response, ApiError> {
    if crate::domain::Email::parse(&address).is_err() {
        return Err(ApiError::invalid("address", "not an email address"));
    }
    let lifted = rappel
        .store
        .lift_suppression(&clinic.id, &address)
        .await
        .map_err(crate::services::ServiceError::from)?;
    if !lifted {
        return Err(crate::services::ServiceError::NotFound("suppressed address").into());
    }
    tracing::info!(clinic = %clinic.id, "suppression lifted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn preview(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    Path(kind): Path<String>,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let wanted = PreviewQuery {
        kind: &kind,
        type_code: q.get("type_code").map(String::as_str),
        language: q.get("language").map(String::as_str),
        modality: q.get("modality").map(String::as_str),
        before: q.get("before").map(String::as_str),
    };
    Ok(Json(rappel.preview(&clinic, wanted).await?).into_response())
}

/// The body of a request in an EMR format, at most `MAX_BODY` bytes.
async fn format_body(request: Request) -> Result<axum::body::Bytes, ApiError> {
    let length = declared_length(request.headers());
    read_capped(request.into_body(), length).await
}

/// An answer in an EMR format: its status, its media type, and `Retry-After` with a 503.
fn format_answer(status: u16, content_type: &'static str, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("30"));
    }
    response
}

/// `POST /hl7/v2`: one ER7 message; the answer is its acknowledgement.
async fn hl7_message(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    request: Request,
) -> Result<Response, ApiError> {
    let bytes = format_body(request).await?;
    let answer = rappel.receive_hl7(&clinic, &bytes).await;
    Ok(format_answer(
        answer.status,
        "x-application/hl7-v2+er7; charset=utf-8",
        answer.ack,
    ))
}

fn fhir_response(answer: crate::services::FhirAnswer) -> Response {
    format_answer(answer.status, "application/fhir+json", answer.body.to_string())
}

/// `PUT /fhir/r4/Appointment/{id}`: an Appointment with its Patient, Practitioner and Location
/// contained.
async fn fhir_appointment(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let bytes = format_body(request).await?;
    Ok(fhir_response(rappel.put_fhir_appointment(&clinic, &id, &bytes).await))
}

/// `POST /fhir/r4`: a transaction or batch Bundle.
async fn fhir_bundle(
    State(rappel): State<Arc<Rappel>>,
    AuthClinic(clinic): AuthClinic,
    request: Request,
) -> Result<Response, ApiError> {
    let bytes = format_body(request).await?;
    Ok(fhir_response(rappel.post_fhir_bundle(&clinic, &bytes).await))
}
