//! The fault proxy in front of a real moto, seen through the real AWS SDK clients: each fault
//! arrives as the error the SDK makes of AWS's own response, and the stats count it.

mod support;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ScalarAttributeType,
    TransactWriteItem,
};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use rappel_aws_faults::{Fault, FaultPlan, FaultProxy, FaultStats, Rates, Rule, Service};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::{sdk, sdk_one_attempt, shared_moto, Moto};

type Dynamo = aws_sdk_dynamodb::Client;

async fn create_table(db: &Dynamo, table: &str) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    db.create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("PK"))
        .attribute_definitions(attribute("SK"))
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .send()
        .await
        .unwrap();
}

fn key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(pk.to_owned())),
        ("SK".to_owned(), AttributeValue::S("ITEM".to_owned())),
    ])
}

async fn put(db: &Dynamo, table: &str, pk: &str) -> Result<(), SdkError<PutItemError, HttpResponse>> {
    db.put_item()
        .table_name(table)
        .set_item(Some(key(pk)))
        .send()
        .await
        .map(|_| ())
}

async fn exists(db: &Dynamo, table: &str, pk: &str) -> bool {
    let got = db
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk)))
        .send()
        .await
        .unwrap();
    got.item().is_some()
}

fn transact_put(table: &str, pk: &str) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(key(pk)))
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

async fn transact(
    db: &Dynamo,
    table: &str,
    pks: &[&str],
) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
    let items = pks.iter().map(|pk| transact_put(table, pk)).collect();
    db.transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
        .map(|_| ())
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The cancellation reason codes of a TransactionCanceledException.
fn reasons(err: SdkError<TransactWriteItemsError, HttpResponse>) -> Vec<String> {
    match err.into_service_error() {
        TransactWriteItemsError::TransactionCanceledException(e) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("").to_owned())
            .collect(),
        other => panic!("not a TransactionCanceledException: {other:?}"),
    }
}

async fn proxy(moto: &Moto, seed: u64, plan: FaultPlan) -> FaultProxy {
    FaultProxy::start(&moto.endpoint, seed, plan).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_conflict_cancels_the_transaction_at_the_named_item() {
    let moto = shared_moto();
    let proxy = proxy(&moto, 1, FaultPlan::default()).await;
    let db = Dynamo::new(&sdk_one_attempt(&proxy.url).await);
    create_table(&db, "conflict").await;

    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Conflict)
            .operation("TransactWriteItems")
            .body_contains("booking-b"),
    );
    let err = transact(&db, "conflict", &["booking-a", "booking-b"])
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(400));
    assert_eq!(err.code(), Some("TransactionCanceledException"));
    assert!(
        err.message()
            .unwrap()
            .ends_with("specific reasons [None, TransactionConflict]"),
        "{:?}",
        err.message()
    );
    let TransactWriteItemsError::TransactionCanceledException(canceled) = err.into_service_error() else {
        panic!("not a TransactionCanceledException");
    };
    let codes: Vec<_> = canceled.cancellation_reasons().iter().map(|r| r.code()).collect();
    assert_eq!(codes, [Some("None"), Some("TransactionConflict")]);
    assert_eq!(
        canceled.cancellation_reasons()[1].message(),
        Some("Transaction is ongoing for the item")
    );
    assert!(!exists(&db, "conflict", "booking-a").await);
    assert!(!exists(&db, "conflict", "booking-b").await);

    // Without `body_contains`: one conflicting item among three, the others `None`.
    proxy.force(Rule::new(Service::DynamoDb, Fault::Conflict));
    let codes = reasons(transact(&db, "conflict", &["x", "y", "z"]).await.unwrap_err());
    assert_eq!(codes.len(), 3);
    assert_eq!(
        codes.iter().filter(|c| *c == "TransactionConflict").count(),
        1,
        "{codes:?}"
    );
    assert_eq!(codes.iter().filter(|c| *c == "None").count(), 2, "{codes:?}");

    // The rules are used up: the same transaction goes through.
    assert!(proxy.pending_rules().is_empty());
    transact(&db, "conflict", &["booking-a", "booking-b"]).await.unwrap();
    assert!(exists(&db, "conflict", "booking-b").await);

    let stats = proxy.stats();
    assert_eq!(stats.requests(Service::DynamoDb, "TransactWriteItems"), 3);
    assert_eq!(
        stats.faults(Service::DynamoDb, "TransactWriteItems", Fault::Conflict),
        2
    );
    assert_eq!(stats.answers_lost(Service::DynamoDb, "TransactWriteItems"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_after_executes_the_request_and_error_before_does_not() {
    let moto = shared_moto();
    let proxy = proxy(&moto, 2, FaultPlan::default()).await;
    let db = Dynamo::new(&sdk_one_attempt(&proxy.url).await);
    create_table(&db, "errors").await;

    proxy.force(Rule::new(Service::DynamoDb, Fault::ErrorAfter).operation("PutItem"));
    let err = db
        .put_item()
        .table_name("errors")
        .set_item(Some(key("after")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert!(err.as_service_error().unwrap().is_internal_server_error(), "{err:?}");
    assert!(exists(&db, "errors", "after").await, "ErrorAfter executed the write");

    proxy.force(Rule::new(Service::DynamoDb, Fault::ErrorBefore).operation("PutItem"));
    let err = db
        .put_item()
        .table_name("errors")
        .set_item(Some(key("before")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert!(err.as_service_error().unwrap().is_internal_server_error(), "{err:?}");
    assert!(!exists(&db, "errors", "before").await, "ErrorBefore did not forward");

    // The SDK classifies the 500 as retryable: with its default retry the call succeeds.
    let retrying = Dynamo::new(&sdk(&proxy.url, RetryConfig::standard()).await);
    proxy.force(Rule::new(Service::DynamoDb, Fault::ErrorAfter).operation("PutItem"));
    put(&retrying, "errors", "retried").await.unwrap();

    let stats = proxy.stats();
    assert_eq!(stats.requests(Service::DynamoDb, "PutItem"), 4);
    assert_eq!(stats.faults(Service::DynamoDb, "PutItem", Fault::ErrorBefore), 1);
    assert_eq!(stats.answers_lost(Service::DynamoDb, "PutItem"), 2);
    assert_eq!(stats.total(Fault::ErrorAfter), 2);
}

async fn send_email(config: &SdkConfig, subject: &str) -> Result<(), SdkError<SendEmailError, HttpResponse>> {
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
    let text = |s: &str| Content::builder().data(s).build().unwrap();
    let message = Message::builder()
        .subject(text(subject))
        .body(Body::builder().text(text("Rendez-vous demain à 10 h")).build())
        .build();
    aws_sdk_sesv2::Client::new(config)
        .send_email()
        .from_email_address("rappel@clinique.example.ca")
        .destination(Destination::builder().to_addresses("patient@example.com").build())
        .content(EmailContent::builder().simple(message).build())
        .send()
        .await
        .map(|_| ())
}

async fn verify_identity(config: &SdkConfig) {
    let created = aws_sdk_sesv2::Client::new(config)
        .create_email_identity()
        .email_identity("clinique.example.ca")
        .send()
        .await;
    if let Err(e) = created {
        assert!(
            e.as_service_error().is_some_and(|s| s.is_already_exists_exception()),
            "{e:?}"
        );
    }
}

async fn publish(
    config: &SdkConfig,
) -> Result<(), SdkError<aws_sdk_sns::operation::publish::PublishError, HttpResponse>> {
    aws_sdk_sns::Client::new(config)
        .publish()
        .phone_number("+15145550100")
        .message("Rappel : rendez-vous demain à 10 h")
        .send()
        .await
        .map(|_| ())
}

async fn create_schedule(
    config: &SdkConfig,
    name: &str,
) -> Result<(), SdkError<aws_sdk_scheduler::operation::create_schedule::CreateScheduleError, HttpResponse>> {
    use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
    let target = Target::builder()
        .arn("arn:aws:lambda:ca-central-1:123456789012:function:reminder")
        .role_arn("arn:aws:iam::123456789012:role/rappel-scheduler")
        .input("{}")
        .build()
        .unwrap();
    aws_sdk_scheduler::Client::new(config)
        .create_schedule()
        .name(name)
        .schedule_expression("at(2030-01-07T10:00:00)")
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(target)
        .send()
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_reach_each_sdk_as_its_throttling_error() {
    let moto = shared_moto();
    let proxy = proxy(&moto, 3, FaultPlan::default()).await;
    let config = sdk_one_attempt(&proxy.url).await;
    let db = Dynamo::new(&config);
    create_table(&db, "throttles").await;

    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Throttle)
            .operation("PutItem")
            .times(6),
    );
    for _ in 0..6 {
        let err = db
            .put_item()
            .table_name("throttles")
            .set_item(Some(key("t")))
            .send()
            .await
            .unwrap_err();
        assert_eq!(status(&err), Some(400));
        let modeled = err.as_service_error().unwrap();
        assert!(
            modeled.is_provisioned_throughput_exceeded_exception() || modeled.is_throttling_exception(),
            "{err:?}"
        );
    }
    assert!(!exists(&db, "throttles", "t").await);

    proxy.force(
        Rule::new(Service::DynamoDb, Fault::Throttle)
            .operation("TransactWriteItems")
            .times(9),
    );
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..9 {
        let err = transact(&db, "throttles", &["u", "v"]).await.unwrap_err();
        kinds.insert(err.code().unwrap_or("").to_owned());
        match err.code() {
            Some("ProvisionedThroughputExceededException" | "ThrottlingException") => {}
            Some("TransactionCanceledException") => {
                let mut codes = reasons(err);
                codes.sort();
                assert_eq!(codes, ["None", "ThrottlingError"]);
            }
            _ => panic!("not a throttle: {err:?}"),
        }
    }
    // Seeded: this sequence draws all three shapes.
    assert_eq!(kinds.len(), 3, "{kinds:?}");

    verify_identity(&config).await;
    proxy.force(Rule::new(Service::Ses, Fault::Throttle).operation("SendEmail"));
    let err = send_email(&config, "throttled").await.unwrap_err();
    assert_eq!(
        (status(&err), err.code()),
        (Some(429), Some("TooManyRequestsException"))
    );
    assert_eq!(err.message(), Some("Maximum sending rate exceeded."));

    proxy.force(Rule::new(Service::Sns, Fault::Throttle).operation("Publish"));
    let err = publish(&config).await.unwrap_err();
    assert_eq!((status(&err), err.code()), (Some(400), Some("Throttling")));
    assert_eq!(err.message(), Some("Rate exceeded"));

    proxy.force(Rule::new(Service::Scheduler, Fault::Throttle).operation("CreateSchedule"));
    let err = create_schedule(&config, "throttled").await.unwrap_err();
    assert_eq!(status(&err), Some(429));
    assert!(err.as_service_error().unwrap().is_throttling_exception(), "{err:?}");

    let stats = proxy.stats();
    assert_eq!(stats.faults(Service::DynamoDb, "PutItem", Fault::Throttle), 6);
    assert_eq!(
        stats.faults(Service::DynamoDb, "TransactWriteItems", Fault::Throttle),
        9
    );
    assert_eq!(stats.faults(Service::Ses, "SendEmail", Fault::Throttle), 1);
    assert_eq!(stats.faults(Service::Sns, "Publish", Fault::Throttle), 1);
    assert_eq!(stats.faults(Service::Scheduler, "CreateSchedule", Fault::Throttle), 1);
    assert_eq!(stats.total(Fault::Throttle), 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_reach_each_sdk_as_a_5xx() {
    let moto = shared_moto();
    let proxy = proxy(&moto, 4, FaultPlan::default()).await;
    let config = sdk_one_attempt(&proxy.url).await;
    verify_identity(&config).await;

    proxy.force(Rule::new(Service::Ses, Fault::ErrorBefore).operation("SendEmail"));
    let err = send_email(&config, "lost").await.unwrap_err();
    assert_eq!((status(&err), err.code()), (Some(500), Some("InternalFailure")));

    proxy.force(Rule::new(Service::Sns, Fault::ErrorBefore).operation("Publish"));
    let err = publish(&config).await.unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert!(err.as_service_error().unwrap().is_internal_error_exception(), "{err:?}");

    proxy.force(Rule::new(Service::Scheduler, Fault::ErrorBefore).operation("CreateSchedule"));
    let err = create_schedule(&config, "errored").await.unwrap_err();
    assert_eq!(status(&err), Some(500));
    assert!(
        err.as_service_error().unwrap().is_internal_server_exception(),
        "{err:?}"
    );
}

fn sent_with_subject(data: &serde_json::Value, subject: &str) -> usize {
    let messages = data["ses"]["Message"].as_array().cloned().unwrap_or_default();
    messages.iter().filter(|m| m["subject"] == subject).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_default_retry_rides_over_one_throttle_and_repeats_a_lost_answer() {
    let moto = shared_moto();
    let proxy = proxy(&moto, 5, FaultPlan::default()).await;
    let config = sdk(&proxy.url, RetryConfig::standard()).await;
    let db = Dynamo::new(&config);
    create_table(&db, "retried").await;
    verify_identity(&config).await;

    proxy.force(Rule::new(Service::DynamoDb, Fault::Throttle).operation("PutItem"));
    put(&db, "retried", "p").await.unwrap();
    proxy.force(Rule::new(Service::Ses, Fault::Throttle).operation("SendEmail"));
    send_email(&config, "after a throttle").await.unwrap();
    proxy.force(Rule::new(Service::Sns, Fault::Throttle).operation("Publish"));
    publish(&config).await.unwrap();
    proxy.force(Rule::new(Service::Scheduler, Fault::Throttle).operation("CreateSchedule"));
    create_schedule(&config, "after-a-throttle").await.unwrap();

    let stats = proxy.stats();
    for (service, operation) in [
        (Service::DynamoDb, "PutItem"),
        (Service::Ses, "SendEmail"),
        (Service::Sns, "Publish"),
        (Service::Scheduler, "CreateSchedule"),
    ] {
        assert_eq!(
            stats.requests(service, operation),
            2,
            "{service} {operation} retried once"
        );
        assert_eq!(stats.faults(service, operation, Fault::Throttle), 1);
    }
    assert_eq!(sent_with_subject(&moto.data().await, "after a throttle"), 1);

    // An answer lost after SES sent the email: the SDK retries and the patient gets it twice,
    // which the stats report as a lost answer.
    proxy.force(Rule::new(Service::Ses, Fault::ErrorAfter).operation("SendEmail"));
    send_email(&config, "sent twice").await.unwrap();
    assert_eq!(sent_with_subject(&moto.data().await, "sent twice"), 2);
    assert_eq!(proxy.stats().answers_lost(Service::Ses, "SendEmail"), 1);
}

/// A fixed sequence of DynamoDB calls through a proxy seeded with `seed`, one attempt each: what
/// the SDK saw of each, and the stats.
async fn random_run(moto: &Moto, seed: u64, table: &str) -> (Vec<String>, FaultStats) {
    let proxy = proxy(moto, seed, FaultPlan::default()).await;
    let db = Dynamo::new(&sdk_one_attempt(&proxy.url).await);
    create_table(&db, table).await;
    proxy.set_plan(FaultPlan {
        dynamodb: Rates {
            conflict: 0.25,
            throttle: 0.2,
            error_before: 0.1,
            error_after: 0.1,
            timeout: 0.0,
        },
        ..FaultPlan::default()
    });
    let mut seen = Vec::new();
    for i in 0..30 {
        let pk = format!("item-{i}");
        let outcome = match i % 3 {
            0 => match put(&db, table, &pk).await {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("{:?}", e.code()),
            },
            1 => match transact(&db, table, &[&pk, "other"]).await {
                Ok(()) => "ok".to_owned(),
                Err(e) if e.code() == Some("TransactionCanceledException") => reasons(e).join(","),
                Err(e) => format!("{:?}", e.code()),
            },
            _ => match db.get_item().table_name(table).set_key(Some(key(&pk))).send().await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{:?}", e.code()),
            },
        };
        seen.push(outcome);
    }
    (seen, proxy.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_replay_from_the_seed() {
    let moto = shared_moto();
    let (first, first_stats) = random_run(&moto, 20300107, "replay-a").await;
    let (second, second_stats) = random_run(&moto, 20300107, "replay-b").await;
    let (other, _) = random_run(&moto, 7, "replay-c").await;
    println!("{first_stats}");
    assert_eq!(first, second);
    assert_eq!(first_stats, second_stats);
    assert_ne!(first, other, "another seed, other faults");
    assert!(first_stats.total_faults() >= 5, "{first_stats}");
    assert!(first.iter().any(|o| o == "ok"));
    let lost = first_stats.answers_lost(Service::DynamoDb, "PutItem")
        + first_stats.answers_lost(Service::DynamoDb, "TransactWriteItems")
        + first_stats.answers_lost(Service::DynamoDb, "GetItem");
    assert_eq!(lost, first_stats.total(Fault::ErrorAfter));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_executes_late_while_the_proxy_keeps_serving() {
    let moto = shared_moto();
    let delay = Duration::from_millis(1500);
    let plan = FaultPlan {
        timeout_delay: delay,
        ..FaultPlan::default()
    };
    let proxy = proxy(&moto, 6, plan).await;
    let config = sdk_one_attempt(&proxy.url).await;
    let db = Dynamo::new(&config);
    create_table(&db, "late").await;
    let impatient = Dynamo::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(300))
                    .build(),
            )
            .build(),
    );

    proxy.force(Rule::new(Service::DynamoDb, Fault::Timeout).operation("PutItem"));
    let started = Instant::now();
    let err = put(&impatient, "late", "late").await.unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    // The proxy still holds the write and serves other requests meanwhile.
    assert!(!exists(&db, "late", "late").await);
    assert!(started.elapsed() < delay, "read back before the held write went on");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !exists(&db, "late", "late").await {
        assert!(Instant::now() < deadline, "the held write never executed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= delay);

    let stats = proxy.stats();
    assert_eq!(stats.faults(Service::DynamoDb, "PutItem", Fault::Timeout), 1);
    assert_eq!(stats.answers_lost(Service::DynamoDb, "PutItem"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_api_is_forwarded_and_never_faulted() {
    let moto = shared_moto();
    let always = FaultPlan::every_service(Rates {
        error_before: 1.0,
        ..Rates::default()
    });
    let proxy = proxy(&moto, 8, always).await;
    let data = reqwest::get(format!("{}/moto-api/data.json", proxy.url)).await.unwrap();
    assert_eq!(data.status(), 200);
    assert!(data.json::<serde_json::Value>().await.unwrap().is_object());

    let db = Dynamo::new(&sdk_one_attempt(&proxy.url).await);
    let err = db.list_tables().send().await.unwrap_err();
    assert_eq!((status(&err), err.code()), (Some(500), Some("InternalServerError")));

    let stats = proxy.stats();
    assert_eq!(stats.total_requests(), 1, "moto-api requests are not counted");
    assert_eq!(stats.seed(), 8);
    let summary = stats.to_string();
    assert!(summary.contains("ListTables"), "{summary}");
    assert!(summary.contains("error-before 1"), "{summary}");
}
