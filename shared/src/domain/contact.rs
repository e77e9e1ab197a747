//! Contact values: email addresses, E.164 mobile numbers, web links and bounded text.

use super::InvalidValue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically valid email address with a dotted domain (`a@b.ca`), no display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Validates and trims `value`.
    pub fn parse(value: &str) -> Result<Email, InvalidValue> {
        let value = value.trim();
        let options = email_address::Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            ..Default::default()
        };
        email_address::EmailAddress::parse_with_options(value, options)
            .map(|_| Email(value.to_owned()))
            .map_err(|e| InvalidValue(format!("not a valid email address: {e}")))
    }
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        Email::parse(&value)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A mobile number normalised to E.164 (`+15145550123`). National numbers are read as Canadian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mobile(String);

impl Mobile {
    /// Parses a number as a patient would type it (`514 555-0123`, `+33 6 12 34 56 78`).
    pub fn parse(value: &str) -> Result<Mobile, InvalidValue> {
        let invalid = || InvalidValue("not a valid phone number".to_owned());
        if value.len() > 32 {
            return Err(invalid());
        }
        let number = phonenumber::parse(Some(phonenumber::country::Id::CA), value.trim()).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        Ok(Mobile(number.format().mode(phonenumber::Mode::E164).to_string()))
    }
    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Mobile {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        Mobile::parse(&value)
    }
}
impl From<Mobile> for String {
    fn from(m: Mobile) -> String {
        m.0
    }
}

/// An absolute `http`/`https` link (video visit, questionnaire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebLink(String);

impl WebLink {
    /// Accepts `https://…` or `http://…` with a host and no whitespace, up to 2,000 characters.
    pub fn parse(value: &str) -> Result<WebLink, InvalidValue> {
        let value = value.trim();
        let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
        let ok = match rest {
            Some(rest) => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                !host.is_empty()
                    && value.len() <= 2000
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
                    && !value.contains(['"', '<', '>'])
            }
            None => false,
        };
        if ok {
            Ok(WebLink(value.to_owned()))
        } else {
            Err(InvalidValue("must be an absolute http:// or https:// link".to_owned()))
        }
    }
    /// The link as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebLink {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        WebLink::parse(&value)
    }
}
impl From<WebLink> for String {
    fn from(l: WebLink) -> String {
        l.0
    }
}
impl fmt::Display for WebLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text shown to patients (names, addresses): trimmed, non-empty, at most 200 characters,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// Validates `value`.
    pub fn parse(value: &str) -> Result<Text, InvalidValue> {
        let value = value.trim();
        if value.is_empty() {
            return Err(InvalidValue("must not be empty".to_owned()));
        }
        if value.chars().count() > 200 {
            return Err(InvalidValue("must be at most 200 characters".to_owned()));
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(InvalidValue("must not contain control characters".to_owned()));
        }
        Ok(Text(value.to_owned()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        Text::parse(&value)
    }
}
impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}
impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_are_normalised_to_e164() {
        assert_eq!(Mobile::parse("514 555-0199").unwrap().as_str(), "+15145550199");
        assert_eq!(Mobile::parse("+1 (438) 555-0101").unwrap().as_str(), "+14385550101");
        assert!(Mobile::parse("12").is_err());
        assert!(Mobile::parse("not a number").is_err());
    }

    #[test]
    fn emails_need_a_dotted_domain_and_no_display_name() {
        assert!(Email::parse("marie@example.ca").is_ok());
        assert!(Email::parse("marie@localhost").is_err());
        assert!(Email::parse("Marie <marie@example.ca>").is_err());
        assert!(Email::parse("marie").is_err());
    }

    #[test]
    fn links_must_be_absolute_web_links() {
        assert!(WebLink::parse("https://meet.example.ca/r/1").is_ok());
        assert!(WebLink::parse("javascript:alert(1)").is_err());
        assert!(WebLink::parse("https://").is_err());
        assert!(WebLink::parse("https://a.ca/\"><script>").is_err());
    }
}
