//! Creating the AWS resources Rappel needs in a local emulator (moto) or an empty account:
//! the table (with TTL), the SES identity and configuration set, the schedule group.
//! `template.yaml` creates the same in a real deployment.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

/// Names of the resources to create.
#[derive(Debug, Clone)]
pub struct LocalResources {
    /// DynamoDB table.
    pub table: String,
    /// SES identity (a domain or an address).
    pub ses_identity: String,
    /// SES configuration set.
    pub configuration_set: String,
    /// Scheduler group.
    pub schedule_group: String,
}

/// Creates every resource that does not exist yet.
pub async fn provision(sdk: &aws_config::SdkConfig, names: &LocalResources) -> Result<(), String> {
    create_table(&aws_sdk_dynamodb::Client::new(sdk), &names.table).await?;
    let ses = aws_sdk_sesv2::Client::new(sdk);
    let identity = ses
        .create_email_identity()
        .email_identity(&names.ses_identity)
        .send()
        .await;
    if let Err(e) = identity {
        if !e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) {
            return Err(format!("ses identity: {e:?}"));
        }
    }
    let set = ses
        .create_configuration_set()
        .configuration_set_name(&names.configuration_set)
        .send()
        .await;
    if let Err(e) = set {
        if !e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) {
            return Err(format!("ses configuration set: {e:?}"));
        }
    }
    let scheduler = aws_sdk_scheduler::Client::new(sdk);
    let group = scheduler
        .create_schedule_group()
        .name(&names.schedule_group)
        .send()
        .await;
    if let Err(e) = group {
        if !e.as_service_error().is_some_and(|s| s.is_conflict_exception()) {
            return Err(format!("schedule group: {e:?}"));
        }
    }
    Ok(())
}

/// Creates the table as `template.yaml` does (on-demand, PK/SK, TTL on `expires_at`).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("PK")?)
        .attribute_definitions(attribute("SK")?)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(format!("create table {table}: {e:?}")),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("table TTL: {e:?}"))?;
    Ok(())
}
