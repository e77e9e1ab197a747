//! Identifiers. An EMR's ids and type codes share one alphabet, checked once here.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused; the HTTP edge turns it into a 422 naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn check_emr_key(value: &str, what: &str) -> Result<(), InvalidValue> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(InvalidValue(format!(
            "{what} must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
        )))
    }
}

macro_rules! emr_key {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value` against `[A-Za-z0-9._-]{1,64}`.
            pub fn parse(value: &str) -> Result<Self, InvalidValue> {
                check_emr_key(value, $what)?;
                Ok(Self(value.to_owned()))
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, InvalidValue> {
                check_emr_key(&value, $what)?;
                Ok(Self(value))
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

emr_key!(
    /// The EMR's id of an appointment, unique within a clinic.
    AppointmentId,
    "an appointment id"
);
emr_key!(
    /// The EMR's code of an appointment type, unique within a clinic.
    TypeCode,
    "a type code"
);
emr_key!(
    /// A clinic (tenant). Issued by Rappel's admin tooling, never taken from a request body.
    ClinicId,
    "a clinic id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_contract_alphabet_up_to_64_characters() {
        assert!(AppointmentId::parse("A-1.b_2").is_ok());
        assert!(AppointmentId::parse(&"x".repeat(64)).is_ok());
        assert!(AppointmentId::parse(&"x".repeat(65)).is_err());
        assert!(AppointmentId::parse("").is_err());
        assert!(AppointmentId::parse("a/b").is_err());
        assert!(AppointmentId::parse("é").is_err());
        assert!(AppointmentId::parse("a b").is_err());
    }
}
