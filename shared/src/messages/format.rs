//! Dates and times as patients read them: Quebec French ("mardi 1er décembre 2026", "14 h 30")
//! or English ("Tuesday, December 1, 2026", "2:30 PM"). Written out here because neither locale
//! data set gives the OQLF's "14 h 30" or "1er".

use crate::domain::Language;
use chrono::{Datelike, NaiveDateTime, Timelike};

const FR_DAYS: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const FR_MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
// Short forms for texts. French ones avoid letters outside GSM-7 ("aout", not "août").
const FR_DAYS_SHORT: [&str; 7] = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."];
const EN_DAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const FR_MONTHS_SHORT: [&str; 12] = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "aout", "sept.", "oct.", "nov.", "déc.",
];
const EN_MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn fr_day_of_month(day: u32) -> String {
    if day == 1 {
        "1er".to_owned()
    } else {
        day.to_string()
    }
}

/// "mardi 1er décembre 2026" / "Tuesday, December 1, 2026".
pub fn long_date(t: NaiveDateTime, lang: Language) -> String {
    let weekday = t.weekday().num_days_from_monday() as usize;
    let month = t.month0() as usize;
    match lang {
        Language::Fr => format!(
            "{} {} {} {}",
            FR_DAYS[weekday],
            fr_day_of_month(t.day()),
            FR_MONTHS[month],
            t.year()
        ),
        Language::En => format!("{}, {} {}, {}", EN_DAYS[weekday], EN_MONTHS[month], t.day(), t.year()),
    }
}

/// "mar. 1er déc." / "Tue Dec 1": the date in a text.
pub fn short_date(t: NaiveDateTime, lang: Language) -> String {
    let weekday = t.weekday().num_days_from_monday() as usize;
    let month = t.month0() as usize;
    match lang {
        Language::Fr => format!(
            "{} {} {}",
            FR_DAYS_SHORT[weekday],
            fr_day_of_month(t.day()),
            FR_MONTHS_SHORT[month]
        ),
        Language::En => format!("{} {} {}", EN_DAYS_SHORT[weekday], EN_MONTHS_SHORT[month], t.day()),
    }
}

/// "14 h 30" or "9 h" / "2:30 PM".
pub fn time(t: NaiveDateTime, lang: Language) -> String {
    match lang {
        Language::Fr if t.minute() == 0 => format!("{} h", t.hour()),
        Language::Fr => format!("{} h {:02}", t.hour(), t.minute()),
        Language::En => {
            let (pm, hour) = t.hour12();
            format!("{}:{:02} {}", hour, t.minute(), if pm { "PM" } else { "AM" })
        }
    }
}

/// "mardi 1er décembre 2026 à 14 h 30" / "Tuesday, December 1, 2026 at 2:30 PM".
pub fn date_time(t: NaiveDateTime, lang: Language) -> String {
    match lang {
        Language::Fr => format!("{} à {}", long_date(t, lang), time(t, lang)),
        Language::En => format!("{} at {}", long_date(t, lang), time(t, lang)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, mi, 0).unwrap()
    }

    #[test]
    fn french_dates_follow_quebec_usage() {
        assert_eq!(
            date_time(at(2026, 12, 1, 14, 30), Language::Fr),
            "mardi 1er décembre 2026 à 14 h 30"
        );
        assert_eq!(
            date_time(at(2026, 12, 2, 9, 0), Language::Fr),
            "mercredi 2 décembre 2026 à 9 h"
        );
        assert_eq!(short_date(at(2026, 8, 3, 9, 0), Language::Fr), "lun. 3 aout");
    }

    #[test]
    fn english_dates_use_a_12_hour_clock() {
        assert_eq!(
            date_time(at(2026, 12, 1, 14, 30), Language::En),
            "Tuesday, December 1, 2026 at 2:30 PM"
        );
        assert_eq!(time(at(2026, 12, 1, 0, 5), Language::En), "12:05 AM");
        assert_eq!(time(at(2026, 12, 1, 12, 0), Language::En), "12:00 PM");
    }
}
