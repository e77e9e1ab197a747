//! Which AWS service and operation a request is, from its wire form.

use axum::http::{HeaderMap, Method};
use std::fmt;

/// The AWS service a request is signed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// DynamoDB (signing name `dynamodb`, awsJson1_0).
    DynamoDb,
    /// SES v2 (signing name `ses`, restJson1).
    Ses,
    /// SNS (signing name `sns`, awsQuery).
    Sns,
    /// EventBridge Scheduler (signing name `scheduler`, restJson1).
    Scheduler,
    /// Any other service, or an unsigned request; never faulted at random.
    Other,
}

impl Service {
    /// The service a SigV4 signing name (the credential scope's fourth part) stands for.
    pub fn from_signing_name(name: &str) -> Service {
        match name {
            "dynamodb" => Service::DynamoDb,
            "ses" => Service::Ses,
            "sns" => Service::Sns,
            "scheduler" => Service::Scheduler,
            _ => Service::Other,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::DynamoDb => "dynamodb",
            Service::Ses => "ses",
            Service::Sns => "sns",
            Service::Scheduler => "scheduler",
            Service::Other => "other",
        })
    }
}

/// The service and operation of a request, e.g. `(DynamoDb, "TransactWriteItems")`.
pub(crate) fn classify(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (Service, String) {
    let service = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(signing_name)
        .map_or(Service::Other, Service::from_signing_name);
    let operation = match service {
        Service::DynamoDb => target(headers),
        Service::Sns => action(body).or_else(|| action(query.as_bytes())),
        Service::Ses => ses_operation(method, path),
        Service::Scheduler => scheduler_operation(method, path),
        Service::Other => target(headers)
            .or_else(|| action(body))
            .or_else(|| action(query.as_bytes())),
    };
    (service, operation.unwrap_or_else(|| format!("{method} {path}")))
}

/// `SERVICE` of `Credential=AKID/yyyymmdd/region/SERVICE/aws4_request` in a SigV4 `Authorization`.
fn signing_name(authorization: &str) -> Option<&str> {
    let scope = authorization.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    scope.split('/').nth(3)
}

/// `<Op>` of `X-Amz-Target: DynamoDB_20120810.<Op>` (awsJson protocols).
fn target(headers: &HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    Some(target.rsplit('.').next()?.to_owned())
}

/// `<Op>` of `Action=<Op>` in a form-encoded body or query (awsQuery protocol).
fn action(form: &[u8]) -> Option<String> {
    let form = std::str::from_utf8(form).ok()?;
    form.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .filter(|op| !op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The SES v2 operations Rappel uses, from their REST routes.
fn ses_operation(method: &Method, path: &str) -> Option<String> {
    let op = match (method.as_str(), segments(path).as_slice()) {
        ("POST", ["v2", "email", "outbound-emails"]) => "SendEmail",
        ("POST", ["v2", "email", "identities"]) => "CreateEmailIdentity",
        ("GET", ["v2", "email", "identities"]) => "ListEmailIdentities",
        ("GET", ["v2", "email", "identities", _]) => "GetEmailIdentity",
        ("DELETE", ["v2", "email", "identities", _]) => "DeleteEmailIdentity",
        ("POST", ["v2", "email", "configuration-sets"]) => "CreateConfigurationSet",
        ("GET", ["v2", "email", "account"]) => "GetAccount",
        _ => return None,
    };
    Some(op.to_owned())
}

/// EventBridge Scheduler operations, from their REST routes.
fn scheduler_operation(method: &Method, path: &str) -> Option<String> {
    let op = match (method.as_str(), segments(path).as_slice()) {
        ("POST", ["schedules", _]) => "CreateSchedule",
        ("PUT", ["schedules", _]) => "UpdateSchedule",
        ("DELETE", ["schedules", _]) => "DeleteSchedule",
        ("GET", ["schedules", _]) => "GetSchedule",
        ("GET", ["schedules"]) => "ListSchedules",
        ("POST", ["schedule-groups", _]) => "CreateScheduleGroup",
        ("DELETE", ["schedule-groups", _]) => "DeleteScheduleGroup",
        ("GET", ["schedule-groups", _]) => "GetScheduleGroup",
        ("GET", ["schedule-groups"]) => "ListScheduleGroups",
        _ => return None,
    };
    Some(op.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20300107/ca-central-1/SERVICE/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=abc";

    fn signed(service: &str) -> String {
        AUTH.replace("SERVICE", service)
    }

    #[test]
    fn dynamodb_operation_from_target() {
        let auth = signed("dynamodb");
        let h = headers(&[
            ("authorization", &auth),
            ("x-amz-target", "DynamoDB_20120810.TransactWriteItems"),
        ]);
        assert_eq!(
            classify(&Method::POST, "/", "", &h, b"{}"),
            (Service::DynamoDb, "TransactWriteItems".to_owned())
        );
    }

    #[test]
    fn sns_operation_from_form_action() {
        let auth = signed("sns");
        let h = headers(&[("authorization", &auth)]);
        let body = b"Action=Publish&Version=2010-03-31&PhoneNumber=%2B15145550100";
        assert_eq!(
            classify(&Method::POST, "/", "", &h, body),
            (Service::Sns, "Publish".to_owned())
        );
    }

    #[test]
    fn rest_operations_from_routes() {
        let ses = headers(&[("authorization", &signed("ses"))]);
        assert_eq!(
            classify(&Method::POST, "/v2/email/outbound-emails", "", &ses, b"{}").1,
            "SendEmail"
        );
        let scheduler = headers(&[("authorization", &signed("scheduler"))]);
        for (method, op) in [
            (Method::POST, "CreateSchedule"),
            (Method::PUT, "UpdateSchedule"),
            (Method::DELETE, "DeleteSchedule"),
            (Method::GET, "GetSchedule"),
        ] {
            assert_eq!(
                classify(&method, "/schedules/rappel-1", "groupName=rappel", &scheduler, b"").1,
                op
            );
        }
        assert_eq!(
            classify(&Method::PATCH, "/schedules/x", "", &scheduler, b""),
            (Service::Scheduler, "PATCH /schedules/x".to_owned())
        );
    }

    #[test]
    fn unsigned_requests_are_other() {
        assert_eq!(
            classify(&Method::GET, "/moto-api/data.json", "", &HeaderMap::new(), b"").0,
            Service::Other
        );
    }
}
