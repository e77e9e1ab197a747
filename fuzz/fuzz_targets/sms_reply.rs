//! Any text as a patient's reply: reading it never panics, spaces and punctuation around it never
//! change what it asks for, and a reply that asks for something is one of the contract's words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rappel::formats::sms_reply::{read, Reply, MAX_REPLY_CHARS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let reply = read(text);
    if text.chars().count() + 4 <= MAX_REPLY_CHARS {
        assert_eq!(read(&format!("  {text} !")), reply, "{text:?}");
    }
    if reply != Reply::Other {
        assert!(text.chars().filter(|c| c.is_alphanumeric()).count() <= 11, "{text:?}");
    }
});
