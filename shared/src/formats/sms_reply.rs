//! What a patient's text reply asks for: confirm (`OUI`, `O`, `YES`, `Y`, `1`), cancel
//! (`ANNULER`, `2`), stop texts (the carriers' opt-out words, honoured, never invited), texts
//! again (`START`, `UNSTOP`), the carrier's `HELP`, or anything else. Case, accents, spaces and
//! punctuation are ignored (around the word and inside it: "O.U.I" reads `OUI`, "opt out"
//! `OPTOUT`); only the whole reply counts ("oui merci" is not a confirmation: the patient gets
//! the short answer with the link).

/// What a reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Confirm the appointment.
    Confirm,
    /// Cancel it.
    Cancel,
    /// Stop all texts (carrier opt-out word): honoured by the carrier and by Rappel.
    OptOut,
    /// Texts again after an opt-out (`START`, `UNSTOP`, the carriers' words).
    OptIn,
    /// `HELP`: the carrier's own keyword, which the provider answers itself.
    Help,
    /// Anything else: answered once a day with the link and the clinic's phone.
    Other,
}

/// The longest reply read; anything longer is `Other` without being looked at further.
pub const MAX_REPLY_CHARS: usize = 1600;

/// Carriers' opt-out words in Canada and the US (CTIA, CWTA), in French and English.
const OPT_OUT: [&str; 13] = [
    "STOP",
    "REMOVE",
    "TD",
    "ARRET",
    "ARRETER",
    "CANCEL",
    "END",
    "QUIT",
    "UNSUBSCRIBE",
    "STOPALL",
    "REVOKE",
    "OPTOUT",
    "DESABONNER",
];

/// Reads a reply.
pub fn read(text: &str) -> Reply {
    if text.chars().count() > MAX_REPLY_CHARS {
        return Reply::Other;
    }
    let word = normalise(text);
    match word.as_str() {
        "OUI" | "O" | "YES" | "Y" | "1" => Reply::Confirm,
        "ANNULER" | "2" => Reply::Cancel,
        w if OPT_OUT.contains(&w) => Reply::OptOut,
        "START" | "UNSTOP" => Reply::OptIn,
        "HELP" => Reply::Help,
        _ => Reply::Other,
    }
}

/// Upper case, accents removed (French letters), spaces, punctuation and symbols (emoji) around
/// the reply and inside it dropped, so "  Oui ! 👍" reads `OUI` and "opt out" reads `OPTOUT`.
/// A letter or digit of another script makes the reply read as nothing (`Other`): "OUIж" is not
/// a confirmation.
fn normalise(text: &str) -> String {
    let mut word = String::new();
    for c in text.chars() {
        let base = match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' | 'Ä' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'î' | 'ï' | 'Î' | 'Ï' => 'I',
            'ô' | 'ö' | 'Ô' | 'Ö' => 'O',
            'ù' | 'û' | 'ü' | 'Ù' | 'Û' | 'Ü' => 'U',
            'ç' | 'Ç' => 'C',
            c if c.is_ascii_alphanumeric() => c.to_ascii_uppercase(),
            // Full-width letters and digits (some keyboards): their ASCII forms.
            c @ '\u{FF10}'..='\u{FF5A}' => match char::from_u32(u32::from(c) - 0xFEE0) {
                Some(ascii) if ascii.is_ascii_alphanumeric() => ascii.to_ascii_uppercase(),
                _ => continue,
            },
            c if c.is_alphanumeric() => return String::new(),
            _ => continue,
        };
        word.push(base);
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyword_table() {
        let cases: &[(&str, Reply)] = &[
            ("OUI", Reply::Confirm),
            ("oui", Reply::Confirm),
            ("  Oui  ", Reply::Confirm),
            ("Oui!", Reply::Confirm),
            ("oui 👍", Reply::Confirm),
            ("o", Reply::Confirm),
            ("Yes.", Reply::Confirm),
            ("y", Reply::Confirm),
            ("1", Reply::Confirm),
            ("１", Reply::Confirm),
            ("ANNULER", Reply::Cancel),
            ("annuler", Reply::Cancel),
            ("Annulér", Reply::Cancel),
            (" 2 ", Reply::Cancel),
            ("STOP", Reply::OptOut),
            ("stop", Reply::OptOut),
            ("Arrêt", Reply::OptOut),
            ("ARRET", Reply::OptOut),
            ("cancel", Reply::OptOut),
            ("Unsubscribe", Reply::OptOut),
            ("opt out", Reply::OptOut),
            ("END", Reply::OptOut),
            ("Opt-Out", Reply::OptOut),
            ("remove", Reply::OptOut),
            ("TD", Reply::OptOut),
            ("Start", Reply::OptIn),
            ("UNSTOP", Reply::OptIn),
            ("help", Reply::Help),
            ("aide", Reply::Other),
            ("oui merci", Reply::Other),
            ("non", Reply::Other),
            ("12", Reply::Other),
            ("", Reply::Other),
            ("   ", Reply::Other),
            ("👍", Reply::Other),
            ("Quelle heure?", Reply::Other),
            ("OUIж", Reply::Other),
            ("ϵOPTOUTϵ", Reply::Other),
        ];
        for (text, expected) in cases {
            assert_eq!(read(text), *expected, "{text:?}");
        }
        // A 2,000-character reply is looked at no further, whatever it holds.
        assert_eq!(read(&format!("OUI{}", " ".repeat(1997))), Reply::Other);
        assert_eq!(read(&"a".repeat(2000)), Reply::Other);
    }

    #[test]
    fn cancel_is_an_opt_out_word_and_never_a_cancellation() {
        // Telling patients to reply CANCEL would unsubscribe them from every text.
        assert_eq!(read("CANCEL"), Reply::OptOut);
        assert_ne!(read("Cancel"), Reply::Cancel);
    }
}
