//! SES v2 mailer and SNS texter.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
use aws_sdk_sns::types::MessageAttributeValue;
use rappel::ports::{Mailer, OutgoingEmail, OutgoingText, SendError, Texter};

/// The provider's error code only: its messages can quote the recipient, which must not reach
/// logs or events.
pub(crate) fn error_code<E, R>(error: &aws_sdk_sesv2::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata,
{
    use aws_sdk_sesv2::error::SdkError;
    match error {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("service error").to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(_) => "unreachable".to_owned(),
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        _ => "request not built".to_owned(),
    }
}

/// Error codes with which SES or SNS refuse a message for good: a retry would be refused the
/// same way, so the message is recorded as undeliverable and the request does not fail on it.
/// Throttling, 5xx and timeouts are not among them: those are retried.
const PERMANENT_REFUSALS: &[&str] = &[
    // SES v2
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "NotFoundException",
    "BadRequestException",
    "AccessDeniedException",
    // SNS
    "InvalidParameter",
    "InvalidParameterValue",
    "AuthorizationError",
    "OptedOut",
];

/// Error codes with which SES or SNS say they did not take the message because of its rate.
const THROTTLED: &[&str] = &[
    "TooManyRequestsException",
    "LimitExceededException",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "Throttled",
];

/// A provider error as the services see it: its code, whether retrying can help, and whether the
/// message may have gone out all the same. The SES and SNS clients make one attempt each (see
/// `lib.rs`), so that a send whose answer was lost is never silently repeated by the SDK: the
/// services retry it, and the event of the retried send says it may be a second copy.
pub(crate) fn send_error<E, R>(provider: &str, error: &aws_sdk_sesv2::error::SdkError<E, R>) -> SendError
where
    E: aws_sdk_sesv2::error::ProvideErrorMetadata,
{
    use aws_sdk_sesv2::error::SdkError;
    let code = error_code(error);
    let reason = format!("{provider}: {code}");
    if PERMANENT_REFUSALS.contains(&code.as_str()) {
        SendError::permanent(reason)
    } else if THROTTLED.contains(&code.as_str()) || matches!(error, SdkError::ConstructionFailure(_)) {
        SendError::temporary(reason)
    } else if let SdkError::DispatchFailure(failure) = error {
        // A connection that could not be made carried nothing; one that broke may have.
        if failure.is_io() || failure.is_timeout() || failure.is_other() {
            SendError::unknown_outcome(reason)
        } else {
            SendError::temporary(reason)
        }
    } else {
        SendError::unknown_outcome(reason)
    }
}

/// Sends emails through SES v2 with `Simple` content (HTML and text) and a configuration set.
#[derive(Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer using `configuration_set` (for delivery events), if any.
    pub fn new(client: aws_sdk_sesv2::Client, configuration_set: Option<String>) -> Self {
        SesMailer {
            client,
            configuration_set,
        }
    }
}

fn content(text: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::permanent(format!("ses content: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let tag = |name: &str, value: &str| {
            MessageTag::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| SendError::permanent(format!("ses tag: {e}")))
        };
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .set_reply_to_addresses(email.reply_to.clone().map(|r| vec![r]))
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .email_tags(tag("kind", email.kind.as_str())?)
            // Names the message in the configuration set's events (delivery-events).
            .email_tags(tag(rappel::formats::delivery::MESSAGE_TAG, &email.tag)?)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| send_error("ses", &e))?;
        Ok(out.message_id.unwrap_or_default())
    }
}

/// Sends transactional texts through SNS with a maximum price per message, from the deployment's
/// two-way number when it has one (so that patients' replies reach it).
#[derive(Clone)]
pub struct SnsTexter {
    client: aws_sdk_sns::Client,
    max_price_usd: String,
    origination_number: Option<String>,
    opt_outs: Option<OptOutTable>,
}

/// The opt-outs patients sent Rappel by text, kept in the deployment's table
/// (`OPTOUT#<sha256 of the number>`), beside the account's own list: AWS fills that one only
/// from its own keywords (`STOP`, `ARRET`, `CANCEL`, …), not from every word Rappel honours
/// (`ARRÊT`, `ARRETER`, `DESABONNER`, …), and has no call to add a number to it.
#[derive(Clone)]
pub struct OptOutTable {
    /// The DynamoDB client.
    pub client: aws_sdk_dynamodb::Client,
    /// The deployment's table.
    pub table: String,
}

impl OptOutTable {
    fn key(&self, number: &str) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        std::collections::HashMap::from([
            (
                "PK".to_owned(),
                S(format!("OPTOUT#{}", rappel::ports::number_key(number))),
            ),
            ("SK".to_owned(), S("OPTOUT".to_owned())),
        ])
    }

    async fn contains(&self, number: &str) -> Result<bool, SendError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(number)))
            .consistent_read(true)
            .send()
            .await
            .map_err(table_failed)?;
        Ok(out.item.is_some())
    }

    async fn add(&self, number: &str) -> Result<(), SendError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.key(number)))
            .send()
            .await
            .map_err(table_failed)?;
        Ok(())
    }

    async fn remove(&self, number: &str) -> Result<(), SendError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(number)))
            .send()
            .await
            .map_err(table_failed)?;
        Ok(())
    }
}

/// A failure of the opt-out table, worth retrying, named by its DynamoDB error code only.
fn table_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    error: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> SendError {
    let code = error.as_service_error().and_then(|e| e.code()).unwrap_or("unreachable");
    SendError::temporary(format!("dynamodb opt-outs: {code}"))
}

impl SnsTexter {
    /// A texter refusing to pay more than `max_price_usd` (e.g. `"0.10"`) per text, sending from
    /// `origination_number` (E.164) when given, else from whatever number SNS picks; with
    /// `opt_outs`, it keeps the opt-outs patients text it, and checks them before every text.
    pub fn new(
        client: aws_sdk_sns::Client,
        max_price_usd: String,
        origination_number: Option<String>,
        opt_outs: Option<OptOutTable>,
    ) -> Self {
        SnsTexter {
            client,
            max_price_usd,
            origination_number,
            opt_outs,
        }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, SendError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SendError::permanent(format!("sns attribute: {e}")))
}

#[async_trait]
impl Texter for SnsTexter {
    async fn send_text(&self, text: &OutgoingText) -> Result<String, SendError> {
        let mut publish = self
            .client
            .publish()
            .phone_number(&text.to)
            .message(&text.body)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?)
            .message_attributes("AWS.SNS.SMS.MaxPrice", string_attribute(&self.max_price_usd)?);
        if let Some(number) = &self.origination_number {
            publish = publish.message_attributes("AWS.MM.SMS.OriginationNumber", string_attribute(number)?);
        }
        let out = publish.send().await.map_err(|e| send_error("sns", &e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn is_opted_out(&self, to: &str) -> Result<bool, SendError> {
        let account = async {
            let out = self
                .client
                .check_if_phone_number_is_opted_out()
                .phone_number(to)
                .send()
                .await
                .map_err(|e| send_error("sns", &e))?;
            Ok::<bool, SendError>(out.is_opted_out)
        };
        let own = async {
            match &self.opt_outs {
                Some(table) => table.contains(to).await,
                None => Ok(false),
            }
        };
        // Both at once: the table adds no wait to a text.
        let (account, own) = tokio::join!(account, own);
        Ok(account? || own?)
    }

    /// Kept in the table (when the texter has one: only a two-way deployment receives replies).
    async fn honour_opt_out(&self, to: &str) -> Result<(), SendError> {
        match &self.opt_outs {
            Some(table) => table.add(to).await,
            None => Ok(()),
        }
    }

    /// Removed from the table. The account's own list is AWS's: its `START` keyword (where the
    /// number has one) or the SNS console opts a number back in there.
    async fn lift_opt_out(&self, to: &str) -> Result<(), SendError> {
        match &self.opt_outs {
            Some(table) => table.remove(to).await,
            None => Ok(()),
        }
    }
}
