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
        if let Some(canadian) = canadian_e164(value.trim()) {
            return Ok(Mobile(canadian));
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

/// libphonenumber's metadata for Canada alone (`phone/canada.xml`, the `CA` territory of the
/// metadata the `phonenumber` crate ships, same version). Loading the crate's whole database
/// parses every country's patterns (80 ms, on the first number a process sees), and its parser
/// compiles Unicode-wide patterns on first use (several more milliseconds); this loads in about
/// a millisecond and judges a number with Canada's own patterns only.
static CANADA: std::sync::LazyLock<Option<phonenumber::metadata::Database>> =
    std::sync::LazyLock::new(|| phonenumber::metadata::Database::parse(include_str!("phone/canada.xml")).ok());

/// The E.164 form of a valid Canadian number written the usual ways (`514 555-0123`,
/// `(514) 555-0123`, `1-514-555-0123`, `+1 514 555 0123`), judged by Canada's metadata as
/// `phonenumber::is_valid` judges it; `None` for anything else (other countries, extensions,
/// letters, invalid numbers), which the whole database then judges.
fn canadian_e164(value: &str) -> Option<String> {
    if !value
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '+'))
    {
        return None;
    }
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let plus = value.trim_start().starts_with('+');
    if value.matches('+').count() > usize::from(plus) {
        return None;
    }
    let national = match (plus, digits.len()) {
        (true, 11) | (false, 11) => digits.strip_prefix('1')?,
        (false, 10) => digits.as_str(),
        _ => return None,
    };
    let canada = CANADA.as_ref()?.by_id("CA")?.descriptors();
    // phonenumber's `number_type` is not `Unknown`: the general pattern, then any one of the
    // number types. Geographic lines first: each pattern compiles the first time it is tried,
    // and almost every patient's number is one, so the eight rarer types are seldom compiled.
    let typed = [
        canada.fixed_line(),
        canada.mobile(),
        canada.toll_free(),
        canada.premium_rate(),
        canada.shared_cost(),
        canada.voip(),
        canada.personal_number(),
        canada.pager(),
        canada.uan(),
        canada.voicemail(),
    ];
    (canada.general().is_match(national) && typed.iter().flatten().any(|d| d.is_match(national)))
        .then(|| format!("+1{national}"))
}

impl TryFrom<String> for Mobile {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        if READING_STORED.get() {
            return Mobile::stored(value);
        }
        Mobile::parse(&value)
    }
}

impl Mobile {
    /// A number this system normalised and stored itself: only its E.164 shape is checked, since
    /// judging it again against libphonenumber's patterns costs milliseconds in a fresh process
    /// (the patterns compile on first use) and tens of microseconds after.
    fn stored(value: String) -> Result<Mobile, InvalidValue> {
        let digits = value.strip_prefix('+').unwrap_or_default();
        if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') {
            Ok(Mobile(value))
        } else {
            Err(InvalidValue("a stored mobile number is not in E.164 form".to_owned()))
        }
    }
}

thread_local! {
    static READING_STORED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Deserialises what a store adapter reads back: values this system validated before writing
/// them are not judged again, only checked for shape (see `Mobile::stored`). Input from outside
/// (requests, events) never goes through here.
pub fn read_stored<T>(deserialize: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            READING_STORED.set(self.0);
        }
    }
    // Deserialising is synchronous: the flag cannot leak to another task on this thread.
    let _reset = Reset(READING_STORED.replace(true));
    deserialize()
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

/// Numbers that go through libphonenumber's own patterns (not the Canadian fast path), with
/// what the crate answers with all of `regex`'s features: the E.164 form, or `None` when it
/// refuses them. The functions build `regex` with fewer features (vendor/README.md); a pattern
/// needing a missing one would panic on first use. `infra/phone-check` runs this table with the
/// functions' feature set, which the test suite (built with every dev-dependency) cannot.
pub const PHONE_SAMPLES: &[(&str, Option<&str>)] = &[
    ("514 555-0199 EXT. 12", Some("+15145550199")),
    ("(514) 555-0199 ext 7", Some("+15145550199")),
    ("514.555.0199 x12", Some("+15145550199")),
    ("514 555 0199 ★", Some("+15145550199")),
    ("++1 514 555 0199", Some("+15145550199")),
    ("tel: +33 6 12 34 56 78", Some("+33612345678")),
    // The crate reads ASCII digits only, and no extension word in French.
    ("５１４ ５５５ ０１９９", None),
    ("٥١٤٥٥٥٠١٩٩", None),
    ("+1 514 555 0199 poste 12", None),
    ("５１４", None),
];

/// The samples of [`PHONE_SAMPLES`] that `Mobile::parse` answers otherwise, described.
pub fn phone_samples_disagreeing() -> Vec<String> {
    PHONE_SAMPLES
        .iter()
        .filter_map(|(text, expected)| {
            let got = Mobile::parse(text).ok().map(|m| m.0);
            (got.as_deref() != *expected).then(|| format!("{text:?}: expected {expected:?}, got {got:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Canadian numbers skip the whole database; what they get must be what it would say.
    #[test]
    fn canadian_numbers_judged_alone_agree_with_the_whole_database() {
        let whole = |text: &str| {
            phonenumber::parse(Some(phonenumber::country::Id::CA), text)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string())
        };
        let mut fast = 0;
        for text in [
            "514 555-0199",
            "+1 (438) 555-0101",
            "1-418-555-0123",
            "(819) 555 0000",
            "+1 604 555 0123",
            "212 555 0123",
            "+1 212 555 0123",
            "+33 6 12 34 56 78",
            "555-0123",
            "011 33 6 12 34 56 78",
            "999 555 0123",
            "514 555 012",
            "514 555 01234",
            "+44 7700 900123",
        ] {
            if let Some(e164) = canadian_e164(text) {
                fast += 1;
                assert_eq!(Some(e164), whole(text), "{text}");
            }
            assert_eq!(Mobile::parse(text).ok().map(|m| m.0), whole(text), "{text}");
        }
        assert_eq!(fast, 5, "the Canadian numbers take the fast path");
    }

    proptest::proptest! {
        #[test]
        fn any_number_the_fast_path_accepts_the_whole_database_accepts_alike(
            area in 100u32..1000,
            exchange in 0u32..1000,
            line in 0u32..10_000,
            style in 0usize..6,
        ) {
            let text = match style {
                0 => format!("{area}{exchange:03}{line:04}"),
                1 => format!("{area} {exchange:03}-{line:04}"),
                2 => format!("({area}) {exchange:03}-{line:04}"),
                3 => format!("1-{area}-{exchange:03}-{line:04}"),
                4 => format!("+1 {area} {exchange:03} {line:04}"),
                _ => format!("+1{area}.{exchange:03}.{line:04}"),
            };
            let whole = phonenumber::parse(Some(phonenumber::country::Id::CA), &text)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
            match canadian_e164(&text) {
                // Taken by the fast path: the whole database says the same.
                Some(e164) => proptest::prop_assert_eq!(Some(e164), whole),
                // Left to the whole database: never a Canadian number the fast path should have taken.
                None => {
                    let canadian = whole
                        .as_deref()
                        .and_then(|w| phonenumber::parse(None, w).ok())
                        .and_then(|n| n.country().id())
                        == Some(phonenumber::country::Id::CA);
                    proptest::prop_assert!(!canadian, "{} is Canadian", text);
                }
            }
        }
    }

    #[test]
    fn stored_mobiles_are_checked_for_shape_only_and_requests_are_judged_in_full() {
        let json = "\"+19995550123\"";
        // 999 is no area code: the number has the right shape but cannot exist: a request is refused…
        assert!(serde_json::from_str::<Mobile>(json).is_err());
        // …while a stored value is taken as the store holds it (it was judged when it came in).
        let stored: Mobile = read_stored(|| serde_json::from_str(json)).unwrap();
        assert_eq!(stored.as_str(), "+19995550123");
        for bad in ["\"514 555-0199\"", "\"+1\"", "\"+0123456789\"", "\"+1514555019912345\""] {
            assert!(read_stored(|| serde_json::from_str::<Mobile>(bad)).is_err(), "{bad}");
        }
        // The flag does not outlive the read.
        assert!(serde_json::from_str::<Mobile>(json).is_err());
    }

    #[test]
    fn mobiles_are_normalised_to_e164() {
        assert_eq!(Mobile::parse("514 555-0199").unwrap().as_str(), "+15145550199");
        assert_eq!(Mobile::parse("+1 (438) 555-0101").unwrap().as_str(), "+14385550101");
        assert!(Mobile::parse("12").is_err());
        assert!(Mobile::parse("not a number").is_err());
    }

    /// Numbers outside the fast path go through libphonenumber's Unicode patterns (`\p{Nd}`,
    /// `\P{N}`, `\P{L}`, case-insensitive extensions): each must compile with the `regex`
    /// features vendor/ keeps, or parsing would fail on first use. The answers are the ones the
    /// crate gives with all of `regex`'s features (checked when the features were cut).
    #[test]
    fn numbers_with_extensions_and_stray_characters_are_understood() {
        assert_eq!(phone_samples_disagreeing(), Vec::<String>::new());
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
