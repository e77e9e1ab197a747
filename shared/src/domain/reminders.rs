//! A type's reminders: how long before the appointment each goes, and on which channels.

use super::{Channel, InvalidValue};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long before the appointment a reminder goes: `90m`, `36h`, `7d`; from 1 h to 14 d.
/// Compared as durations: `1d` and `24h` are the same offset (written back as `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReminderOffset {
    minutes: u32,
}

impl ReminderOffset {
    /// The pre-visit reminder of a `full` type without a list: 36 h before.
    pub const DEFAULT: ReminderOffset = ReminderOffset { minutes: 36 * 60 };
    const SHORTEST_MINUTES: u32 = 60;
    const LONGEST_MINUTES: u32 = 14 * 24 * 60;

    /// Reads `<number><unit>` with unit `m`, `h` or `d`.
    pub fn parse(value: &str) -> Result<ReminderOffset, InvalidValue> {
        let bad = || InvalidValue("must be a number followed by m, h or d, such as 90m, 36h or 7d".to_owned());
        let value = value.trim();
        let unit_minutes = match value.chars().last() {
            Some('m') => 1,
            Some('h') => 60,
            Some('d') => 24 * 60,
            _ => return Err(bad()),
        };
        let number = &value[..value.len() - 1];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let minutes = number
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(unit_minutes))
            .filter(|m| (Self::SHORTEST_MINUTES..=Self::LONGEST_MINUTES).contains(m))
            .ok_or_else(|| InvalidValue("must be from 1h to 14d".to_owned()))?;
        Ok(ReminderOffset { minutes })
    }

    /// The offset as a duration.
    pub fn duration(self) -> Duration {
        Duration::minutes(i64::from(self.minutes))
    }
}

impl fmt::Display for ReminderOffset {
    /// In the largest unit that divides it: `1d`, `36h`, `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minutes {
            m if m % (24 * 60) == 0 => write!(f, "{}d", m / (24 * 60)),
            m if m % 60 == 0 => write!(f, "{}h", m / 60),
            m => write!(f, "{m}m"),
        }
    }
}

impl TryFrom<String> for ReminderOffset {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, InvalidValue> {
        ReminderOffset::parse(&value)
    }
}

impl From<ReminderOffset> for String {
    fn from(o: ReminderOffset) -> String {
        o.to_string()
    }
}

/// One reminder of a type: how long before, and on which of the patient's channels (both when
/// left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderSpec {
    /// How long before the appointment.
    pub before: ReminderOffset,
    /// The channels it may use; none listed: every channel the patient has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
}

impl ReminderSpec {
    /// The reminder a `full` type without a list has.
    pub fn default_reminder() -> ReminderSpec {
        ReminderSpec {
            before: ReminderOffset::DEFAULT,
            channels: None,
        }
    }

    /// Whether it goes out on `channel`.
    pub fn allows(&self, channel: Channel) -> bool {
        self.channels.as_ref().is_none_or(|c| c.contains(&channel))
    }
}

/// The most reminders one type may list.
pub const MAX_REMINDERS: usize = 6;

/// Checks a type's list: at most [`MAX_REMINDERS`], offsets distinct as durations, channels
/// named at least once and at most once each. The error names the field (`reminders[2].before`).
pub fn check_reminders(reminders: &[ReminderSpec]) -> Result<(), (String, String)> {
    if reminders.len() > MAX_REMINDERS {
        return Err((
            "reminders".to_owned(),
            format!("at most {MAX_REMINDERS} reminders per type"),
        ));
    }
    for (i, spec) in reminders.iter().enumerate() {
        if let Some(j) = reminders[..i].iter().position(|other| other.before == spec.before) {
            return Err((
                format!("reminders[{i}].before"),
                format!("{} is the same offset as reminders[{j}]", spec.before),
            ));
        }
        if let Some(channels) = &spec.channels {
            let field = format!("reminders[{i}].channels");
            if channels.is_empty() {
                return Err((
                    field,
                    "must name at least one channel (email, sms), or be left out".to_owned(),
                ));
            }
            if channels.iter().enumerate().any(|(k, c)| channels[..k].contains(c)) {
                return Err((field, "names the same channel twice".to_owned()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_three_units_within_1h_to_14d_and_compare_as_durations() {
        let minutes = |s: &str| ReminderOffset::parse(s).map(|o| o.duration().num_minutes());
        assert_eq!(minutes("90m"), Ok(90));
        assert_eq!(minutes("36h"), Ok(36 * 60));
        assert_eq!(minutes("7d"), Ok(7 * 24 * 60));
        assert_eq!(ReminderOffset::parse("1d"), ReminderOffset::parse("24h"));
        assert_eq!(ReminderOffset::parse("60m").unwrap().to_string(), "1h");
        assert_eq!(ReminderOffset::parse("24h").unwrap().to_string(), "1d");
        assert_eq!(ReminderOffset::parse("90m").unwrap().to_string(), "90m");
        for bad in [
            "",
            "h",
            "36",
            "36 h",
            "-2h",
            "2.5h",
            "3w",
            "59m",
            "15d",
            "336h1",
            "99999999999d",
        ] {
            assert!(ReminderOffset::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ReminderOffset::parse("14d").is_ok() && ReminderOffset::parse("1h").is_ok());
    }

    #[test]
    fn a_list_names_the_first_bad_field() {
        let spec = |before: &str, channels: Option<Vec<Channel>>| ReminderSpec {
            before: ReminderOffset::parse(before).unwrap(),
            channels,
        };
        assert_eq!(
            check_reminders(&[spec("7d", None), spec("2h", Some(vec![Channel::Sms]))]),
            Ok(())
        );
        let (field, _) = check_reminders(&[spec("1d", None), spec("2h", None), spec("24h", None)]).unwrap_err();
        assert_eq!(field, "reminders[2].before");
        let (field, _) = check_reminders(&[spec("2h", Some(vec![]))]).unwrap_err();
        assert_eq!(field, "reminders[0].channels");
        let (field, _) = check_reminders(&[spec("2h", Some(vec![Channel::Sms, Channel::Sms]))]).unwrap_err();
        assert_eq!(field, "reminders[0].channels");
        let many: Vec<_> = (1..=7).map(|h| spec(&format!("{h}h"), None)).collect();
        assert_eq!(check_reminders(&many).unwrap_err().0, "reminders");
    }
}
