//! SMS encoding and segment counting: GSM-7 (160 characters, 153 per part when split) or UCS-2
//! (70, 67 per part). A single character outside GSM-7 turns the whole text into UCS-2.

/// The basic GSM 03.38 alphabet (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (two septets each: escape + character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{000C}";

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 7-bit default alphabet.
    Gsm7,
    /// 16-bit, needed by any other character.
    Ucs2,
}

impl Encoding {
    /// `gsm7` or `ucs2`, as the ledger writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
        }
    }
}

/// The encoding and number of segments a text needs.
pub fn segments(text: &str) -> (Encoding, u32) {
    let mut septets = 0u32;
    let mut gsm = true;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENDED.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    if gsm {
        (Encoding::Gsm7, parts(septets, 160, 153))
    } else {
        // UTF-16 code units: characters outside the BMP take two.
        let units = text.chars().map(|c| c.len_utf16() as u32).sum();
        (Encoding::Ucs2, parts(units, 70, 67))
    }
}

/// The text with letters outside GSM-7 replaced by their plain form where they have one
/// (accented letters, ligatures, typographic quotes and dashes); others are left as they are.
pub fn fold_to_gsm7(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if GSM7_BASIC.contains(c) || GSM7_EXTENDED.contains(c) {
            out.push(c);
            continue;
        }
        match c {
            'â' | 'á' | 'ã' | 'ā' => out.push('a'),
            'À' | 'Â' | 'Á' | 'Ã' => out.push('A'),
            'ê' | 'ë' | 'ē' => out.push('e'),
            'È' | 'Ê' | 'Ë' => out.push('E'),
            'î' | 'ï' | 'í' => out.push('i'),
            'Î' | 'Ï' | 'Í' | 'Ì' => out.push('I'),
            'ô' | 'ó' | 'õ' => out.push('o'),
            'Ô' | 'Ó' | 'Ò' | 'Õ' => out.push('O'),
            'û' | 'ú' => out.push('u'),
            'Û' | 'Ù' | 'Ú' => out.push('U'),
            'ç' => out.push('c'),
            'ÿ' => out.push('y'),
            'Ÿ' => out.push('Y'),
            'œ' => out.push_str("oe"),
            'Œ' => out.push_str("OE"),
            '\u{2018}' | '\u{2019}' | '\u{2032}' => out.push('\''),
            '\u{201C}' | '\u{201D}' | '«' | '»' => out.push('"'),
            '\u{2013}' | '\u{2014}' | '\u{2010}' | '\u{2011}' => out.push('-'),
            '\u{a0}' | '\u{202F}' => out.push(' '),
            '\u{2026}' => out.push_str("..."),
            other => out.push(other),
        }
    }
    out
}

/// The text without the characters GSM-7 cannot carry.
pub fn gsm7_only(text: &str) -> String {
    text.chars()
        .filter(|c| GSM7_BASIC.contains(*c) || GSM7_EXTENDED.contains(*c))
        .collect()
}

fn parts(units: u32, single: u32, per_part: u32) -> u32 {
    if units <= single {
        1
    } else {
        units.div_ceil(per_part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_texts_fit_160_then_153_per_part() {
        assert_eq!(segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(307)), (Encoding::Gsm7, 3));
        assert_eq!(segments("Détails à 14 h, déc."), (Encoding::Gsm7, 1));
    }

    #[test]
    fn extended_characters_count_twice() {
        assert_eq!(segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
    }

    #[test]
    fn french_letters_fold_to_gsm7_and_the_rest_can_be_dropped() {
        let folded = fold_to_gsm7("Clinique Côté–Saint-Jérôme « Œuvre » l’été");
        assert_eq!(folded, "Clinique Coté-Saint-Jérome \" OEuvre \" l'été");
        assert_eq!(segments(&folded).0, Encoding::Gsm7);
        assert_eq!(gsm7_only(&fold_to_gsm7("Clinique 😀 中文 Ô")), "Clinique   O");
    }

    #[test]
    fn one_circumflex_or_cedilla_switches_to_ucs2() {
        assert_eq!(segments(&format!("{}ê", "a".repeat(69))), (Encoding::Ucs2, 1));
        assert_eq!(segments(&format!("{}ç", "a".repeat(70))), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"ê".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"ê".repeat(135)), (Encoding::Ucs2, 3));
    }
}
