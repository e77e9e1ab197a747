//! Patient links (function `patient-action`, docs/BEHAVIOUR.md §5): the page, the three actions, the
//! calendar file. A `GET` never changes anything; mail scanners prefetch links.

use super::ApiError;
use crate::domain::{HalfDay, Language, PatientStatus};
use crate::links;
use crate::messages::{phrases, Details};
use crate::rules::Refusal;
use crate::services::{Dependency, PatientAction, PatientPage, Rappel, RescheduleForm, ServiceError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// Headers on every patient response: the page is personal, must not be cached or indexed, and
/// its URL (the token) must not leak to other sites through the Referer.
const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    ("referrer-policy", "no-referrer"),
    ("x-robots-tag", "noindex, nofollow"),
    ("cache-control", "no-store, private"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

/// The patient router.
pub fn router(rappel: Arc<Rappel>) -> Router {
    Router::new()
        .route("/p/{token}", get(page))
        .route("/p/{token}/reschedule", post(reschedule))
        .route("/p/{token}/{action}", post(act))
        .route("/p/{token}/calendar.ics", get(calendar))
        .layer(axum::middleware::map_response(add_security_headers))
        .with_state(rappel)
}

async fn add_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `?lang=` as given; a malformed query string is the same as none.
type LangParam = Result<Query<LangQuery>, axum::extract::rejection::QueryRejection>;

#[derive(Debug, Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

/// The language the patient picked with the FR/EN switch (`?lang=`), if any. Otherwise the page
/// speaks the patient's language, else the clinic's — never the browser's Accept-Language, which
/// on a shared or English-set phone would override what the clinic recorded.
fn chosen_language(query: &LangQuery) -> Option<Language> {
    query.lang.as_deref().and_then(Language::parse)
}

#[derive(Template)]
#[template(path = "page.html")]
struct PageHtml<'a> {
    d: &'a Details,
    token: &'a str,
    other_lang: &'static str,
    heading: String,
    notices: Vec<String>,
    refusal: Option<String>,
    cancelled: bool,
    confirmed: bool,
    can_confirm: bool,
    can_cancel: bool,
    can_arrive: bool,
    /// The half-days the reschedule form offers (value, label), when it is offered.
    reschedule_options: Option<Vec<(String, String)>>,
    /// The open request's half-days and note, as the patient sent them.
    reschedule_sent: Option<(Vec<String>, Option<String>)>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeHtml<'a> {
    lang: Language,
    title: &'a str,
    message: &'a str,
}

fn page_language(page: &PatientPage, chosen: Option<Language>) -> Language {
    chosen.unwrap_or_else(|| page.record.language(page.clinic.settings.language))
}

/// Why a page is shown again instead of the result of a POST.
enum Setback {
    /// The action is not open (409).
    Refused(Refusal),
    /// The reschedule form was not filled right (422).
    InvalidForm,
}

fn render_page(rappel: &Rappel, page: &PatientPage, lang: Language, setback: Option<Setback>) -> String {
    let settings = &page.clinic.settings;
    let record = &page.record;
    let d = rappel.details(settings, page.type_settings.as_ref(), record, lang);
    let t = d.t;
    let start = record.content.start();
    let end = start + chrono::Duration::minutes(i64::from(record.content.duration_minutes));
    let cancelled_by_clinic = !record.content.is_booked();
    let mut notices = Vec::new();
    if cancelled_by_clinic {
        notices.push(t.state_cancelled.to_owned());
    } else if page.now >= end {
        notices.push(t.state_past.to_owned());
    } else {
        match record.patient_status {
            PatientStatus::CancelledByPatient => notices.push(t.state_cancelled_by_patient.to_owned()),
            PatientStatus::Arrived => notices.push(t.state_arrived.to_owned()),
            PatientStatus::Confirmed => notices.push(t.state_confirmed.to_owned()),
            PatientStatus::Pending => {
                if let Err(Refusal::ConfirmNotOpenYet(at)) = page.check(PatientAction::Confirm) {
                    notices.push(phrases::confirm_opens(lang, &d.format_instant(at, settings)));
                }
            }
        }
        if settings.allow_patient_cancellation
            && matches!(page.check(PatientAction::Cancel), Err(Refusal::CancellationClosed(_)))
        {
            notices.push(phrases::cancellation_closed(
                lang,
                settings.phone.as_ref().map(|p| p.as_str()),
            ));
        }
    }
    if record.reschedule_request.is_some() && page.check(PatientAction::Cancel) != Err(Refusal::AppointmentCancelled) {
        notices.push(t.reschedule_sent.to_owned());
    }
    let refusal = setback.map(|setback| match setback {
        Setback::Refused(r) => phrases::refusal(
            lang,
            r,
            |at| d.format_instant(at, settings),
            settings.phone.as_ref().map(|p| p.as_str()),
        ),
        Setback::InvalidForm => t.reschedule_invalid.to_owned(),
    });
    let reschedule_options = page.check_reschedule().ok().map(|()| {
        HalfDay::offered(page.local_today())
            .iter()
            .map(|h| (h.value(), phrases::half_day(lang, h)))
            .collect()
    });
    let reschedule_sent = record.reschedule_request.as_ref().map(|r| {
        let days = r.preferences.iter().map(|h| phrases::half_day(lang, h)).collect();
        (days, r.note.clone())
    });
    let html = PageHtml {
        d: &d,
        token: &record.token,
        other_lang: match lang {
            Language::Fr => "en",
            Language::En => "fr",
        },
        heading: if refusal.is_some() {
            t.refused_title.to_owned()
        } else {
            t.page_title.to_owned()
        },
        notices,
        refusal,
        cancelled: cancelled_by_clinic || record.patient_status == PatientStatus::CancelledByPatient,
        confirmed: matches!(record.patient_status, PatientStatus::Confirmed | PatientStatus::Arrived),
        can_confirm: record.patient_status == PatientStatus::Pending && page.check(PatientAction::Confirm).is_ok(),
        can_cancel: page.check(PatientAction::Cancel).is_ok(),
        can_arrive: record.patient_status != PatientStatus::Arrived && page.check(PatientAction::Arrive).is_ok(),
        reschedule_options,
        reschedule_sent,
    };
    html.render().unwrap_or_default()
}

fn notice_page(status: StatusCode, lang: Language, error: &ServiceError) -> Response {
    let t = phrases::for_language(lang);
    let (title, message) = match error {
        ServiceError::Gone => (t.expired, t.expired),
        ServiceError::NotFound(_) => (t.unknown, t.unknown),
        _ => (t.refused_title, t.refused_title),
    };
    let html = NoticeHtml { lang, title, message }.render().unwrap_or_default();
    (status, Html(html)).into_response()
}

/// An error as the client asked for it: JSON for API clients, a page for browsers.
fn error_response(error: ServiceError, wants_json: bool, lang: Language) -> Response {
    let api = ApiError::from(error);
    if wants_json || api.status.is_server_error() {
        return api.into_response();
    }
    let status = api.status;
    let service_error = match status {
        StatusCode::GONE => ServiceError::Gone,
        StatusCode::NOT_FOUND => ServiceError::NotFound("link"),
        _ => ServiceError::unavailable(Dependency::Store, String::new()),
    };
    notice_page(status, lang, &service_error)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

async fn page(State(rappel): State<Arc<Rappel>>, Path(token): Path<String>, query: LangParam) -> Response {
    let chosen = chosen_language(&query.map(|q| q.0).unwrap_or_default());
    match rappel.patient_page(&token).await {
        Ok(page) => {
            let lang = page_language(&page, chosen);
            Html(render_page(&rappel, &page, lang, None)).into_response()
        }
        Err(e) => error_response(e, false, chosen.unwrap_or_default()),
    }
}

/// `POST /p/{token}/confirm|cancel|arrive`.
async fn act(
    State(rappel): State<Arc<Rappel>>,
    Path((token, action)): Path<(String, String)>,
    query: LangParam,
    headers: HeaderMap,
) -> Response {
    let chosen = chosen_language(&query.map(|q| q.0).unwrap_or_default());
    let json = wants_json(&headers);
    let action = match action.as_str() {
        "confirm" => PatientAction::Confirm,
        "cancel" => PatientAction::Cancel,
        "arrive" => PatientAction::Arrive,
        _ => return error_response(ServiceError::NotFound("action"), json, chosen.unwrap_or_default()),
    };
    match rappel.patient_act(&token, action).await {
        Ok(status) if json => Json(serde_json::json!({ "patient_status": status })).into_response(),
        Ok(_) => {
            let lang = chosen.map(|l| format!("?lang={}", l.tag())).unwrap_or_default();
            Redirect::to(&format!("../{token}{lang}")).into_response()
        }
        Err(ServiceError::Refused(refusal)) if !json => match rappel.patient_page(&token).await {
            Ok(page) => {
                let lang = page_language(&page, chosen);
                (
                    StatusCode::CONFLICT,
                    Html(render_page(&rappel, &page, lang, Some(Setback::Refused(refusal)))),
                )
                    .into_response()
            }
            Err(e) => error_response(e, false, chosen.unwrap_or_default()),
        },
        Err(e) => error_response(e, json, chosen.unwrap_or_default()),
    }
}

/// The reschedule form as browsers post it (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize)]
struct RescheduleFields {
    choice1: Option<String>,
    choice2: Option<String>,
    choice3: Option<String>,
    note: Option<String>,
}

/// `POST /p/{token}/reschedule`: the patient asks for another time. Browsers get the page back
/// (the request shown, or why not); API clients (`Accept: application/json`) get the request.
async fn reschedule(
    State(rappel): State<Arc<Rappel>>,
    Path(token): Path<String>,
    query: LangParam,
    headers: HeaderMap,
    fields: Result<axum::Form<RescheduleFields>, axum::extract::rejection::FormRejection>,
) -> Response {
    let chosen = chosen_language(&query.map(|q| q.0).unwrap_or_default());
    let json = wants_json(&headers);
    let form = match fields {
        Ok(axum::Form(f)) => RescheduleForm {
            preferences: [f.choice1, f.choice2, f.choice3].into_iter().flatten().collect(),
            note: f.note,
        },
        Err(_) => {
            let error = ServiceError::invalid("preferences", "send the form as application/x-www-form-urlencoded");
            return setback_response(&rappel, &token, error, json, chosen).await;
        }
    };
    match rappel.request_reschedule(&token, &form).await {
        Ok(request) if json => Json(serde_json::json!({ "reschedule_request": request })).into_response(),
        Ok(_) => {
            let lang = chosen.map(|l| format!("?lang={}", l.tag())).unwrap_or_default();
            Redirect::to(&format!("../{token}{lang}")).into_response()
        }
        Err(e) => setback_response(&rappel, &token, e, json, chosen).await,
    }
}

/// A refused or invalid POST: the page again with why (409 or 422), or the JSON error.
async fn setback_response(
    rappel: &Rappel,
    token: &str,
    error: ServiceError,
    json: bool,
    chosen: Option<Language>,
) -> Response {
    let (status, setback) = match &error {
        ServiceError::Refused(refusal) if !json => (StatusCode::CONFLICT, Setback::Refused(*refusal)),
        ServiceError::Invalid { .. } if !json => (StatusCode::UNPROCESSABLE_ENTITY, Setback::InvalidForm),
        _ => return error_response(error, json, chosen.unwrap_or_default()),
    };
    match rappel.patient_page(token).await {
        Ok(page) => {
            let lang = page_language(&page, chosen);
            (status, Html(render_page(rappel, &page, lang, Some(setback)))).into_response()
        }
        Err(e) => error_response(e, false, chosen.unwrap_or_default()),
    }
}

async fn calendar(State(rappel): State<Arc<Rappel>>, Path(token): Path<String>, query: LangParam) -> Response {
    let chosen = chosen_language(&query.map(|q| q.0).unwrap_or_default());
    let page = match rappel.patient_page(&token).await {
        Ok(page) => page,
        Err(e) => return error_response(e, false, chosen.unwrap_or_default()),
    };
    let lang = page_language(&page, chosen);
    let settings = &page.clinic.settings;
    let d = rappel.details(settings, page.type_settings.as_ref(), &page.record, lang);
    let summary = format!("{} — {}", d.clinic_name, d.professional);
    let location = match &d.modality.link {
        Some((_, url)) if page.record.content.modality == crate::domain::Modality::Telemedicine => Some(url.clone()),
        _ => d
            .modality
            .lines
            .last()
            .cloned()
            .filter(|_| page.record.content.modality == crate::domain::Modality::InPerson),
    };
    let description = format!("{}\n{}", d.modality.title, d.patient_url);
    let ics = links::calendar_file(&page.record, &summary, location.as_deref(), &description, page.now);
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"rendez-vous.ics\""),
        ],
        ics,
    )
        .into_response()
}
