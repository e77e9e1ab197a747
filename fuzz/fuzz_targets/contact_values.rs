//! Any text as a phone number, email, link or name: parsing never panics, and what is accepted
//! is normalised once and for all (parsing the normal form gives the normal form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rappel::domain::{Email, Mobile, Text, WebLink};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(mobile) = Mobile::parse(text) {
        assert!(mobile.as_str().starts_with('+'));
        assert_eq!(Mobile::parse(mobile.as_str()).unwrap(), mobile);
    }
    if let Ok(email) = Email::parse(text) {
        assert_eq!(Email::parse(email.as_str()).unwrap(), email);
    }
    if let Ok(link) = WebLink::parse(text) {
        assert_eq!(WebLink::parse(link.as_str()).unwrap(), link);
    }
    if let Ok(value) = Text::parse(text) {
        assert_eq!(Text::parse(value.as_str()).unwrap(), value);
    }
});
