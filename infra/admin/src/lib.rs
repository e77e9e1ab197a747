//! `rappel-admin`: creates clinics and issues or rotates their API keys (only a hash is stored),
//! on DynamoDB (a deployment, or moto) or on the dev server's SQLite data; provisions a local AWS
//! emulator.

use rappel::adapters::sqlite::SqliteStore;
use rappel::domain::{Clinic, ClinicId, ClinicSettings, Email};
use rappel::ports::Store;
use rappel::services::{hash_api_key, new_api_key, register_clinic};
use std::path::PathBuf;

/// Usage text.
pub const USAGE: &str = "\
usage:
  rappel-admin create-clinic --id ID --name NAME [--sender-email ADDRESS] [--dev-data DIR]
  rappel-admin rotate-key --id ID [--dev-data DIR]
  rappel-admin bind-sender --id ID --domain DOMAIN [--identity-arn ARN] [--dev-data DIR]
  rappel-admin local-aws [--table NAME] [--ses-identity DOMAIN] [--schedule-group NAME]
  rappel-admin sms-delivery-logs --role-arn ARN

Without --dev-data, clinics live in the DynamoDB table named by RAPPEL_TABLE, reached with the
usual AWS settings (AWS_REGION, credentials, AWS_ENDPOINT_URL for a local emulator).
bind-sender binds the clinic to the SES sending domain DOMAIN (its key can then set senders in
that domain only) and, with --identity-arn, tags that SES identity rappel-deployment=$RAPPEL_DEPLOYMENT
(the stack name), the tag without which the functions' IAM role may not send from it.
local-aws creates the table, SES identity and configuration set, and schedule group at
AWS_ENDPOINT_URL (default names: rappel, example.ca, rappel).
sms-delivery-logs sets the account's SMS attributes that make SNS log every text's delivery to
CloudWatch Logs (the role is the stack's SmsDeliveryLogsRoleArn output), which delivery-events
reads: DeliveryStatusIAMRole, and DeliveryStatusSuccessSamplingRate 100.";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Create (or rename) a clinic and issue its key.
    CreateClinic {
        /// Clinic id.
        id: String,
        /// Clinic name.
        name: String,
        /// SES identity its emails come from.
        sender_email: Option<String>,
        /// SQLite data directory instead of DynamoDB.
        dev_data: Option<PathBuf>,
    },
    /// Replace a clinic's key.
    RotateKey {
        /// Clinic id.
        id: String,
        /// SQLite data directory instead of DynamoDB.
        dev_data: Option<PathBuf>,
    },
    /// Bind a clinic to a sending domain (and let the deployment send from its SES identity).
    BindSender {
        /// Clinic id.
        id: String,
        /// The SES domain its emails come from.
        domain: String,
        /// The SES identity's ARN, to tag for this deployment.
        identity_arn: Option<String>,
        /// SQLite data directory instead of DynamoDB.
        dev_data: Option<PathBuf>,
    },
    /// Let SNS log every text's delivery (account-level SMS attributes).
    SmsDeliveryLogs {
        /// The role SNS writes the logs with.
        role_arn: String,
    },
    /// Provision a local emulator.
    LocalAws {
        /// Table name.
        table: String,
        /// SES identity.
        ses_identity: String,
        /// Schedule group.
        schedule_group: String,
    },
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Command, String> {
    let (command, rest) = args.split_first().ok_or("no command given")?;
    let mut options = std::collections::HashMap::new();
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        let value = rest.next().ok_or_else(|| format!("--{name} needs a value"))?;
        options.insert(name.to_owned(), value.clone());
    }
    let mut take = |name: &str| options.remove(name);
    let command = match command.as_str() {
        "create-clinic" => Command::CreateClinic {
            id: take("id").ok_or("--id is required")?,
            name: take("name").ok_or("--name is required")?,
            sender_email: take("sender-email"),
            dev_data: take("dev-data").map(PathBuf::from),
        },
        "rotate-key" => Command::RotateKey {
            id: take("id").ok_or("--id is required")?,
            dev_data: take("dev-data").map(PathBuf::from),
        },
        "bind-sender" => Command::BindSender {
            id: take("id").ok_or("--id is required")?,
            domain: take("domain").ok_or("--domain is required")?,
            identity_arn: take("identity-arn"),
            dev_data: take("dev-data").map(PathBuf::from),
        },
        "sms-delivery-logs" => Command::SmsDeliveryLogs {
            role_arn: take("role-arn").ok_or("--role-arn is required")?,
        },
        "local-aws" => Command::LocalAws {
            table: take("table").unwrap_or_else(|| "rappel".to_owned()),
            ses_identity: take("ses-identity").unwrap_or_else(|| "example.ca".to_owned()),
            schedule_group: take("schedule-group").unwrap_or_else(|| "rappel".to_owned()),
        },
        other => return Err(format!("unknown command {other:?}")),
    };
    if let Some(extra) = options.keys().next() {
        return Err(format!("unknown option --{extra} for {command:?}"));
    }
    Ok(command)
}

async fn store(dev_data: Option<PathBuf>) -> Result<Box<dyn Store>, String> {
    match dev_data {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            Ok(Box::new(
                SqliteStore::open(&dir.join("rappel.db")).map_err(|e| e.to_string())?,
            ))
        }
        None => {
            let table = std::env::var("RAPPEL_TABLE")
                .map_err(|_| "RAPPEL_TABLE is not set (or pass --dev-data DIR)".to_owned())?;
            let sdk = rappel_aws::sdk::load_for_tools().await;
            Ok(Box::new(rappel_aws::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb_client(&sdk),
                table,
            )))
        }
    }
}

fn aws_sdk_dynamodb_client(sdk: &aws_config::SdkConfig) -> rappel_aws::dynamodb::Client {
    rappel_aws::dynamodb::Client::new(sdk)
}

/// Runs a command; returns what to print.
pub async fn run(command: Command) -> Result<String, String> {
    match command {
        Command::CreateClinic {
            id,
            name,
            sender_email,
            dev_data,
        } => {
            let id = ClinicId::parse(&id).map_err(|e| format!("--id: {}", e.0))?;
            let mut settings = ClinicSettings::named(&name).map_err(|e| format!("--name: {}", e.0))?;
            settings.sender_email = sender_email
                .map(|s| Email::parse(&s).map_err(|e| format!("--sender-email: {}", e.0)))
                .transpose()?;
            let store = store(dev_data).await?;
            let existing = store.clinic(&id).await.map_err(|e| e.to_string())?;
            if existing.is_some() {
                return Err(format!("clinic {id} exists already; use rotate-key to issue a new key"));
            }
            let key = new_api_key();
            register_clinic(
                store.as_ref(),
                &Clinic {
                    id: id.clone(),
                    settings,
                },
                &key,
            )
            .await
            .map_err(|e| e.to_string())?;
            Ok(format!(
                "clinic {id} created\nAPI key (shown once, only its hash is stored): {key}"
            ))
        }
        Command::RotateKey { id, dev_data } => {
            let id = ClinicId::parse(&id).map_err(|e| format!("--id: {}", e.0))?;
            let store = store(dev_data).await?;
            let key = new_api_key();
            store
                .set_api_key_hash(&id, &hash_api_key(&key))
                .await
                .map_err(|e| format!("clinic {id}: {e} (does it exist?)"))?;
            Ok(format!("new API key for {id} (the old one no longer works): {key}"))
        }
        Command::BindSender {
            id,
            domain,
            identity_arn,
            dev_data,
        } => {
            let id = ClinicId::parse(&id).map_err(|e| format!("--id: {}", e.0))?;
            let store = store(dev_data).await?;
            let clinic = rappel::services::bind_sender_domain(store.as_ref(), &id, &domain).await?;
            if let Some(arn) = identity_arn {
                tag_identity(&arn).await?;
            }
            Ok(format!(
                "clinic {id} sends from {} (sender: {})",
                clinic.settings.sender_domain.unwrap_or_default(),
                clinic.settings.sender_email.map_or_else(
                    || "none yet; the clinic sets one in that domain".to_owned(),
                    |e| e.as_str().to_owned()
                )
            ))
        }
        Command::SmsDeliveryLogs { role_arn } => {
            let sdk = rappel_aws::sdk::load_for_tools().await;
            set_sms_delivery_logs(&aws_sdk_sns::Client::new(&sdk), &role_arn).await?;
            Ok(format!(
                "SNS now logs every text's delivery with {role_arn} (success sampling 100 %)"
            ))
        }
        Command::LocalAws {
            table,
            ses_identity,
            schedule_group,
        } => {
            let sdk = rappel_aws::sdk::load_for_tools().await;
            let names = rappel_aws::local::LocalResources {
                table: table.clone(),
                ses_identity,
                configuration_set: "rappel".to_owned(),
                schedule_group,
            };
            rappel_aws::local::provision(&sdk, &names).await?;
            Ok(format!(
                "created table {table}, SES identity {}, configuration set rappel, schedule group {}",
                names.ses_identity, names.schedule_group
            ))
        }
    }
}

/// Sets the account's SMS attributes for delivery status logs: every text, successes included
/// (the ledger's provider price and the `delivered` status come from the success logs).
pub async fn set_sms_delivery_logs(sns: &aws_sdk_sns::Client, role_arn: &str) -> Result<(), String> {
    sns.set_sms_attributes()
        .attributes("DeliveryStatusIAMRole", role_arn)
        .attributes("DeliveryStatusSuccessSamplingRate", "100")
        .send()
        .await
        .map_err(|e| format!("setting SNS SMS attributes: {e}"))?;
    Ok(())
}

/// Tags an SES identity so this deployment's functions may send from it (see template.yaml).
async fn tag_identity(arn: &str) -> Result<(), String> {
    let deployment =
        std::env::var("RAPPEL_DEPLOYMENT").map_err(|_| "RAPPEL_DEPLOYMENT (the stack name) is not set".to_owned())?;
    let sdk = rappel_aws::sdk::load_for_tools().await;
    let tag = aws_sdk_sesv2::types::Tag::builder()
        .key("rappel-deployment")
        .value(deployment)
        .build()
        .map_err(|e| e.to_string())?;
    aws_sdk_sesv2::Client::new(&sdk)
        .tag_resource()
        .resource_arn(arn)
        .tags(tag)
        .send()
        .await
        .map_err(|e| format!("tagging {arn}: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse(&args("rotate-key --id c1 --dev-data /tmp/x")),
            Ok(Command::RotateKey {
                id: "c1".to_owned(),
                dev_data: Some(PathBuf::from("/tmp/x"))
            })
        );
        assert_eq!(
            parse(&args("create-clinic --id c1")),
            Err("--name is required".to_owned())
        );
        assert!(parse(&args("rotate-key --id c1 --color blue"))
            .unwrap_err()
            .contains("--color"));
        assert!(parse(&args("explode")).is_err());
        assert_eq!(
            parse(&args("bind-sender --id c1 --domain a.example.ca")),
            Ok(Command::BindSender {
                id: "c1".to_owned(),
                domain: "a.example.ca".to_owned(),
                identity_arn: None,
                dev_data: None
            })
        );
        assert_eq!(
            parse(&args(
                "sms-delivery-logs --role-arn arn:aws:iam::123456789012:role/logs"
            )),
            Ok(Command::SmsDeliveryLogs {
                role_arn: "arn:aws:iam::123456789012:role/logs".to_owned()
            })
        );
        assert_eq!(
            parse(&args("sms-delivery-logs")),
            Err("--role-arn is required".to_owned())
        );
    }

    #[tokio::test]
    async fn bind_sender_moves_a_clinic_to_another_domain() {
        let dir = std::env::temp_dir().join(format!("rappel-admin-bind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let at = dir.display();
        run(parse(&args(&format!(
            "create-clinic --id c1 --name Clinique --sender-email rdv@a.example.ca --dev-data {at}"
        )))
        .unwrap())
        .await
        .unwrap();
        let out = run(parse(&args(&format!(
            "bind-sender --id c1 --domain b.example.ca --dev-data {at}"
        )))
        .unwrap())
        .await
        .unwrap();
        assert!(out.contains("b.example.ca") && out.contains("none yet"), "{out}");
        let store = SqliteStore::open(&dir.join("rappel.db")).unwrap();
        use rappel::ports::ClinicStore;
        let clinic = store.clinic(&ClinicId::parse("c1").unwrap()).await.unwrap().unwrap();
        assert_eq!(clinic.settings.sender_domain.as_deref(), Some("b.example.ca"));
        assert_eq!(
            clinic.settings.sender_email, None,
            "a sender outside the new domain is cleared"
        );
        assert!(
            run(parse(&args(&format!("bind-sender --id c1 --domain nope --dev-data {at}"))).unwrap())
                .await
                .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_created_clinic_authenticates_with_its_key_until_rotated() {
        let dir = std::env::temp_dir().join(format!("rappel-admin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = run(parse(&args(&format!(
            "create-clinic --id c1 --name Clinique --dev-data {}",
            dir.display()
        )))
        .unwrap())
        .await
        .unwrap();
        let key = out.rsplit(' ').next().unwrap().to_owned();
        let store = SqliteStore::open(&dir.join("rappel.db")).unwrap();
        use rappel::ports::ClinicStore;
        assert_eq!(
            store
                .clinic_by_key_hash(&hash_api_key(&key))
                .await
                .unwrap()
                .unwrap()
                .id
                .as_str(),
            "c1"
        );
        drop(store);
        let again = run(parse(&args(&format!(
            "create-clinic --id c1 --name Autre --dev-data {}",
            dir.display()
        )))
        .unwrap())
        .await;
        assert!(again.is_err(), "never overwrites a clinic");
        let out = run(parse(&args(&format!("rotate-key --id c1 --dev-data {}", dir.display()))).unwrap())
            .await
            .unwrap();
        let new_key = out.rsplit(' ').next().unwrap().to_owned();
        let store = SqliteStore::open(&dir.join("rappel.db")).unwrap();
        assert!(store.clinic_by_key_hash(&hash_api_key(&key)).await.unwrap().is_none());
        assert!(store
            .clinic_by_key_hash(&hash_api_key(&new_key))
            .await
            .unwrap()
            .is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
