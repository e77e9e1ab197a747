//! AWS's failure responses, byte-shaped as each service's protocol sends them.

use crate::classify::Service;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{json, Value};

const DYNAMODB_ERROR: &str = "com.amazonaws.dynamodb.v20120810#";
const CONFLICT_MESSAGE: &str = "Transaction is ongoing for the item";
/// What DynamoDB says when an on-demand table (Rappel's) throttles: the message of a data-plane
/// `ThrottlingException` and of a `ThrottlingError` cancellation reason alike.
const THROTTLING_MESSAGE: &str = "Throughput exceeds the current capacity of your table or index. DynamoDB is \
     automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a \
     hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";

/// Makes request ids, AWS-shaped, from the seed and a counter (so they do not use the fault RNG).
pub(crate) struct RequestIds {
    state: u64,
}

impl RequestIds {
    pub fn new(seed: u64) -> RequestIds {
        RequestIds { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// DynamoDB's: 52 characters of `[0-9A-Z]`.
    fn dynamodb(&mut self) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        (0..52)
            .map(|_| ALPHABET[(self.next_u64() % ALPHABET.len() as u64) as usize] as char)
            .collect()
    }

    /// The other services': a lowercase UUID v4.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        let a = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

/// How a DynamoDB throttle is answered; drawn per throttled request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DynamoThrottle {
    /// HTTP 400 `ProvisionedThroughputExceededException` (retried by the SDK).
    ProvisionedThroughput,
    /// HTTP 400 `ThrottlingException` (retried by the SDK).
    Throttling,
    /// TransactWriteItems only: HTTP 400 `TransactionCanceledException` whose reason at `index`
    /// is `ThrottlingError` (not retried by the SDK: the caller must).
    Canceled { items: usize, index: usize },
}

/// The number of `TransactItems` in a TransactWriteItems body, and the index of the first whose
/// JSON contains `needle`.
pub(crate) fn transact_items(body: &[u8], needle: Option<&str>) -> (usize, Option<usize>) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(items) = parsed.get("TransactItems").and_then(Value::as_array) else {
        return (1, None);
    };
    let found = needle.and_then(|needle| items.iter().position(|item| item.to_string().contains(needle)));
    (items.len().max(1), found)
}

/// A DynamoDB error: `{"__type":"<error_type>",<fields in order>}`, `__type` first as DynamoDB
/// writes it (a `json!` map would sort it last).
fn dynamodb(ids: &mut RequestIds, status: StatusCode, error_type: &str, fields: &[(&str, Value)]) -> Response<Body> {
    let mut body = format!("{{\"__type\":{}", Value::from(error_type));
    for (name, value) in fields {
        body.push_str(&format!(",{}:{value}", Value::from(*name)));
    }
    body.push('}');
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", ids.dynamodb())
        .header("x-amz-crc32", crc32(body.as_bytes()).to_string())
        .body(Body::from(body))
        .expect("static response parts")
}

fn dynamodb_error(ids: &mut RequestIds, status: StatusCode, name: &str, message: &str) -> Response<Body> {
    let error_type = format!("{DYNAMODB_ERROR}{name}");
    dynamodb(ids, status, &error_type, &[("message", message.into())])
}

/// `TransactionCanceledException` with `reason` at `index` and `None` elsewhere.
fn canceled(ids: &mut RequestIds, items: usize, index: usize, reason: (&str, &str)) -> Response<Body> {
    let reasons: Vec<Value> = (0..items)
        .map(|i| match i == index {
            true => json!({ "Code": reason.0, "Message": reason.1 }),
            false => json!({ "Code": "None" }),
        })
        .collect();
    let codes: Vec<&str> = (0..items).map(|i| if i == index { reason.0 } else { "None" }).collect();
    let message = format!(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
        codes.join(", ")
    );
    let error_type = format!("{DYNAMODB_ERROR}TransactionCanceledException");
    let fields = [
        ("CancellationReasons", Value::from(reasons)),
        ("Message", message.into()),
    ];
    dynamodb(ids, StatusCode::BAD_REQUEST, &error_type, &fields)
}

/// DynamoDB TransactWriteItems: a `TransactionConflict` at `index` of `items`.
pub(crate) fn conflict(ids: &mut RequestIds, items: usize, index: usize) -> Response<Body> {
    canceled(ids, items, index, ("TransactionConflict", CONFLICT_MESSAGE))
}

/// DynamoDB's throttling answers.
pub(crate) fn dynamodb_throttle(ids: &mut RequestIds, kind: DynamoThrottle) -> Response<Body> {
    match kind {
        DynamoThrottle::ProvisionedThroughput => dynamodb_error(
            ids,
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your \
             provisioning level with the UpdateTable API.",
        ),
        // What an on-demand table answers a hot key or a burst past its capacity with.
        DynamoThrottle::Throttling => {
            dynamodb_error(ids, StatusCode::BAD_REQUEST, "ThrottlingException", THROTTLING_MESSAGE)
        }
        DynamoThrottle::Canceled { items, index } => {
            canceled(ids, items, index, ("ThrottlingError", THROTTLING_MESSAGE))
        }
    }
}

fn rest_json(ids: &mut RequestIds, status: StatusCode, error_type: &str, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", ids.uuid())
        .header("x-amzn-errortype", error_type)
        .body(Body::from(body.to_string()))
        .expect("static response parts")
}

fn sns(ids: &mut RequestIds, status: StatusCode, kind: &str, code: &str, message: &str) -> Response<Body> {
    let id = ids.uuid();
    let body = format!(
        "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n  <Error>\n    <Type>{kind}</Type>\n    \
         <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n  <RequestId>{id}</RequestId>\n\
         </ErrorResponse>\n"
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .header("x-amzn-requestid", id)
        .body(Body::from(body))
        .expect("static response parts")
}

/// The throttling answer of a service other than DynamoDB.
pub(crate) fn throttle(ids: &mut RequestIds, service: Service) -> Response<Body> {
    let too_many = StatusCode::TOO_MANY_REQUESTS;
    match service {
        Service::Ses => rest_json(
            ids,
            too_many,
            "TooManyRequestsException",
            json!({"message": "Maximum sending rate exceeded."}),
        ),
        Service::Sns => sns(ids, StatusCode::BAD_REQUEST, "Sender", "Throttling", "Rate exceeded"),
        Service::Scheduler => rest_json(
            ids,
            too_many,
            "ThrottlingException",
            json!({"Message": "Rate exceeded"}),
        ),
        Service::DynamoDb => dynamodb_throttle(ids, DynamoThrottle::ProvisionedThroughput),
        Service::Other => rest_json(
            ids,
            too_many,
            "ThrottlingException",
            json!({"message": "Rate exceeded"}),
        ),
    }
}

/// The service's HTTP 500.
pub(crate) fn server_error(ids: &mut RequestIds, service: Service) -> Response<Body> {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    match service {
        Service::DynamoDb => dynamodb_error(ids, status, "InternalServerError", "Internal server error"),
        Service::Sns => sns(ids, status, "Receiver", "InternalError", "Internal Error"),
        Service::Scheduler => rest_json(
            ids,
            status,
            "InternalServerException",
            json!({"Message": "Unexpected error encountered while processing the request."}),
        ),
        Service::Ses | Service::Other => rest_json(
            ids,
            status,
            "InternalFailure",
            json!({"message": "The request processing has failed because of an unknown error, exception or failure."}),
        ),
    }
}

/// CRC-32 (IEEE), as DynamoDB's `x-amz-crc32` header carries it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_text(response: Response<Body>) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), usize::MAX));
        String::from_utf8(bytes.unwrap().to_vec()).unwrap()
    }

    #[test]
    fn dynamodb_bodies_start_with_their_type() {
        let mut ids = RequestIds::new(1);
        let conflict = body_text(conflict(&mut ids, 2, 1));
        assert_eq!(
            conflict,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]"}"#
        );
        assert_eq!(
            body_text(server_error(&mut ids, Service::DynamoDb)),
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#
        );
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn request_ids_look_like_aws() {
        let mut ids = RequestIds::new(3);
        let d = ids.dynamodb();
        assert_eq!(d.len(), 52);
        assert!(d.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        let u = ids.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn transact_items_finds_the_needle() {
        let body = br#"{"TransactItems":[{"Put":{"Item":{"PK":{"S":"a"}}}},{"Update":{"Key":{"PK":{"S":"b#1"}}}}]}"#;
        assert_eq!(transact_items(body, Some("b#1")), (2, Some(1)));
        assert_eq!(transact_items(body, Some("zzz")), (2, None));
        assert_eq!(transact_items(b"not json", None), (1, None));
    }
}
