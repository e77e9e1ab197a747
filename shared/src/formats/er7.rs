//! HL7 v2 messages in their pipe-delimited encoding (ER7): segments, fields, repetitions,
//! components and subcomponents, with the separators each message declares in MSH-1/MSH-2, its
//! escape sequences and its character set (MSH-18).

use std::fmt;

/// Why a message could not be read at all (the answer is an `AR` acknowledgement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The separators a message declares: field (MSH-1), then component, repetition, escape and
/// subcomponent (MSH-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Separators {
    /// Between fields (`|`).
    pub field: char,
    /// Between components (`^`).
    pub component: char,
    /// Between repetitions (`~`).
    pub repetition: char,
    /// Starts and ends an escape sequence (`\`).
    pub escape: Option<char>,
    /// Between subcomponents (`&`).
    pub subcomponent: char,
}

impl Default for Separators {
    fn default() -> Self {
        Separators {
            field: '|',
            component: '^',
            repetition: '~',
            escape: Some('\\'),
            subcomponent: '&',
        }
    }
}

/// One segment: its name and its fields as written (escapes still in place). `fields[0]` is
/// field 1 (for MSH, MSH-3: MSH-1 and MSH-2 are the separators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `MSH`, `SCH`, `PID`…
    pub name: String,
    fields: Vec<String>,
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The separators it declared.
    pub separators: Separators,
    /// Its segments, in order.
    pub segments: Vec<Segment>,
}

/// The longest message read (a SIU is a few kilobytes).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

impl Message {
    /// Reads a message: segments ended by `\r`, `\n` or `\r\n`; the character set named in
    /// MSH-18 (UTF-8 or ISO 8859-1; none named: UTF-8, else ISO 8859-1).
    pub fn parse(bytes: &[u8]) -> Result<Message, Unreadable> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Unreadable(format!(
                "the message is larger than {MAX_MESSAGE_BYTES} bytes"
            )));
        }
        let text = decode(bytes)?;
        let text = text.trim_start_matches('\u{feff}');
        let mut lines = text.split(['\r', '\n']).filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| Unreadable("the message is empty".to_owned()))?;
        let separators = separators(header)?;
        let mut segments = vec![segment(header, separators, true)?];
        for line in lines {
            segments.push(segment(line, separators, false)?);
        }
        Ok(Message { separators, segments })
    }

    /// The first segment called `name`.
    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// The value at `segment`-`field`, repetition `rep`, component `comp`, subcomponent `sub`
    /// (all counted from 1, as HL7 does), unescaped; `None` when absent or empty.
    pub fn value(&self, segment: &str, field: usize, rep: usize, comp: usize, sub: usize) -> Option<String> {
        self.segment(segment)?.value(self.separators, field, rep, comp, sub)
    }

    /// The same, first repetition and subcomponent: the common case (`PID-5.2`).
    pub fn component(&self, segment: &str, field: usize, comp: usize) -> Option<String> {
        self.value(segment, field, 1, comp, 1)
    }

    /// The value at `segment`-`field`, component `comp` (first repetition and subcomponent), in
    /// every segment of that name, in order.
    pub fn components_of_all(&self, segment: &str, field: usize, comp: usize) -> Vec<String> {
        self.segments
            .iter()
            .filter(|s| s.name == segment)
            .filter_map(|s| s.value(self.separators, field, 1, comp, 1))
            .collect()
    }

    /// How many repetitions `segment`-`field` has.
    pub fn repetitions(&self, segment: &str, field: usize) -> usize {
        self.segment(segment)
            .and_then(|s| s.raw_field(field))
            .filter(|f| !f.is_empty())
            .map_or(0, |f| f.split(self.separators.repetition).count())
    }
}

impl Segment {
    /// Field `n` as written (counted from 1 as HL7 does; MSH-1 and MSH-2 are the separators).
    fn raw_field(&self, n: usize) -> Option<&str> {
        if self.name == "MSH" {
            return match n {
                0 => None,
                1 | 2 => None,
                _ => self.fields.get(n - 3).map(String::as_str),
            };
        }
        n.checked_sub(1).and_then(|i| self.fields.get(i)).map(String::as_str)
    }

    fn value(&self, seps: Separators, field: usize, rep: usize, comp: usize, sub: usize) -> Option<String> {
        let field = self.raw_field(field)?;
        let repetition = field.split(seps.repetition).nth(rep.checked_sub(1)?)?;
        let component = repetition.split(seps.component).nth(comp.checked_sub(1)?)?;
        let leaf = component.split(seps.subcomponent).nth(sub.checked_sub(1)?)?;
        let value = unescape(leaf, seps);
        let value = value.trim();
        (!value.is_empty() && value != "\"\"").then(|| value.to_owned())
    }
}

/// The text of `bytes` in the character set MSH-18 names.
fn decode(bytes: &[u8]) -> Result<String, Unreadable> {
    // MSH-18 is ASCII: read it from a Latin-1 view of the header line.
    let header_end = bytes
        .iter()
        .position(|b| matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let header: String = bytes[..header_end].iter().map(|&b| char::from(b)).collect();
    let charset = header
        .get(3..4)
        .and_then(|sep| header.split(sep).nth(17))
        .map(|c| c.trim().to_ascii_uppercase())
        .unwrap_or_default();
    let latin1 = || bytes.iter().map(|&b| char::from(b)).collect::<String>();
    match charset.as_str() {
        "" => Ok(String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| latin1())),
        "UNICODE UTF-8" | "UTF-8" | "ASCII" => String::from_utf8(bytes.to_vec())
            .map_err(|_| Unreadable(format!("MSH-18 says {charset}, but the bytes are not UTF-8"))),
        "8859/1" | "ISO-8859-1" | "ISO8859-1" | "ISO IR100" => Ok(latin1()),
        other => Err(Unreadable(format!(
            "MSH-18 names the character set {other:?}; UNICODE UTF-8 and 8859/1 are understood"
        ))),
    }
}

/// MSH-1 and MSH-2 of the header line.
fn separators(header: &str) -> Result<Separators, Unreadable> {
    let mut chars = header.chars();
    let name: String = chars.by_ref().take(3).collect();
    if name != "MSH" {
        return Err(Unreadable("the message does not begin with an MSH segment".to_owned()));
    }
    let field = chars
        .next()
        .ok_or_else(|| Unreadable("MSH-1 (the field separator) is missing".to_owned()))?;
    let encoding: Vec<char> = chars.take_while(|c| *c != field).collect();
    if encoding.len() < 2 || field.is_alphanumeric() {
        return Err(Unreadable(
            "MSH-2 must give at least the component and repetition separators".to_owned(),
        ));
    }
    let all = [
        Some(field),
        encoding.first().copied(),
        encoding.get(1).copied(),
        encoding.get(2).copied(),
        encoding.get(3).copied(),
    ];
    let declared: Vec<char> = all.iter().flatten().copied().collect();
    if declared
        .iter()
        .enumerate()
        .any(|(i, c)| declared[..i].contains(c) || c.is_alphanumeric())
    {
        return Err(Unreadable("MSH-1 and MSH-2 must be distinct punctuation".to_owned()));
    }
    Ok(Separators {
        field,
        component: encoding[0],
        repetition: encoding[1],
        escape: encoding.get(2).copied(),
        subcomponent: encoding.get(3).copied().unwrap_or('&'),
    })
}

/// One segment line.
fn segment(line: &str, seps: Separators, header: bool) -> Result<Segment, Unreadable> {
    let line = line.trim_end();
    let name: String = line.chars().take(3).collect();
    let valid_name = name.len() == 3
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && line[name.len()..].chars().next().is_none_or(|c| c == seps.field);
    if !valid_name {
        return Err(Unreadable(format!(
            "a segment does not begin with a three-letter name and the field separator: {:?}",
            line.chars().take(12).collect::<String>()
        )));
    }
    let rest = line.get(4..).unwrap_or("");
    let mut fields: Vec<String> = rest.split(seps.field).map(str::to_owned).collect();
    if header {
        // MSH-2 (the encoding characters) is not a field to read values from.
        fields.remove(0);
    }
    Ok(Segment { name, fields })
}

/// Replaces escape sequences: `\F\ \S\ \T\ \R\ \E\`, `\Xhh…\` (bytes, as UTF-8 when they form
/// it, else ISO 8859-1), `\.br\` as a line break; formatting and charset switches are dropped.
fn unescape(value: &str, seps: Separators) -> String {
    let Some(escape) = seps.escape else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + escape.len_utf8()..];
        let Some(end) = after.find(escape) else {
            // An escape character that starts no sequence stands for itself.
            out.push_str(&rest[start..]);
            return out;
        };
        let sequence = &after[..end];
        match sequence {
            "F" => out.push(seps.field),
            "S" => out.push(seps.component),
            "T" => out.push(seps.subcomponent),
            "R" => out.push(seps.repetition),
            "E" => out.push(escape),
            ".br" => out.push('\n'),
            hex if hex.starts_with('X') => out.push_str(&from_hex(&hex[1..])),
            _ => {}
        }
        rest = &after[end + escape.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn from_hex(hex: &str) -> String {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect();
    String::from_utf8(bytes.clone()).unwrap_or_else(|_| bytes.iter().map(|&b| char::from(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIU: &str = "MSH|^~\\&|EMR|CLINIC|RAPPEL|RAPPEL|20300107100000-0500||SIU^S12^SIU_S12|MSG0001|P|2.5.1|||||CAN|UNICODE UTF-8\r\
SCH|PL-1|RDV-1||||||SUIVI^Suivi^L\r\
PID|1||123^^^CLINIC^MR||Roy^Julie^^^^^L||19800101|F|||||^NET^Internet^julie@example.ca~^PRN^CP^^1^514^5550123||fre\r";

    #[test]
    fn fields_components_and_repetitions_are_counted_from_one() {
        let m = Message::parse(SIU.as_bytes()).unwrap();
        assert_eq!(m.component("MSH", 9, 2).as_deref(), Some("S12"));
        assert_eq!(m.component("MSH", 10, 1).as_deref(), Some("MSG0001"));
        assert_eq!(m.component("MSH", 12, 1).as_deref(), Some("2.5.1"));
        assert_eq!(m.component("SCH", 2, 1).as_deref(), Some("RDV-1"));
        assert_eq!(m.component("PID", 5, 2).as_deref(), Some("Julie"));
        assert_eq!(m.repetitions("PID", 13), 2);
        assert_eq!(m.value("PID", 13, 1, 4, 1).as_deref(), Some("julie@example.ca"));
        assert_eq!(m.value("PID", 13, 2, 3, 1).as_deref(), Some("CP"));
        assert_eq!(m.component("PID", 15, 1).as_deref(), Some("fre"));
        assert_eq!(m.component("PID", 99, 1), None);
        assert_eq!(m.component("ZZZ", 1, 1), None);
    }

    #[test]
    fn custom_separators_and_every_segment_ending_are_read() {
        let custom = "MSH#*!?%#EMR#CLINIC#RAPPEL#RAPPEL#20300107100000##SIU*S12#1#P#2.5\nSCH#A*B#RDV-2\r\nPID#1##1##Gagnon*Luc!Tremblay*Ann\n";
        let m = Message::parse(custom.as_bytes()).unwrap();
        assert_eq!(m.separators.field, '#');
        assert_eq!(m.component("MSH", 9, 2).as_deref(), Some("S12"));
        assert_eq!(m.component("SCH", 1, 2).as_deref(), Some("B"));
        assert_eq!(m.value("PID", 5, 2, 2, 1).as_deref(), Some("Ann"));
    }

    #[test]
    fn escapes_stand_for_separators_hex_bytes_and_line_breaks() {
        let m = Message::parse(
            "MSH|^~\\&|A|B|C|D|20300107||SIU^S12|1|P|2.5\rNTE|1||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X4C6F\\g\\.br\\h\\H\\i\\N\\".as_bytes(),
        )
        .unwrap();
        assert_eq!(m.component("NTE", 3, 1).as_deref(), Some("a|b^c&d~e\\fLog\nhi"));
        // UTF-8 bytes written in hex.
        let m =
            Message::parse("MSH|^~\\&|A|B|C|D|20300107||SIU^S12|1|P|2.5\rPID|1||||Dub\\XC3A9\\".as_bytes()).unwrap();
        assert_eq!(m.component("PID", 5, 1).as_deref(), Some("Dubé"));
    }

    #[test]
    fn latin1_messages_are_read_as_they_say() {
        let mut bytes = b"MSH|^~\\&|A|B|C|D|20300107||SIU^S12|1|P|2.5|||||CAN|8859/1\rPID|1||||Fran".to_vec();
        bytes.extend([0xE7, b'o', b'i', b's', b'^', b'H', 0xE9, b'l', 0xE8, b'n', b'e']);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.component("PID", 5, 1).as_deref(), Some("François"));
        assert_eq!(m.component("PID", 5, 2).as_deref(), Some("Hélène"));
        // Undeclared: UTF-8 when it is, else Latin-1.
        let mut bytes = b"MSH|^~\\&|A|B|C|D|20300107||SIU^S12|1|P|2.5\rPID|1||||".to_vec();
        bytes.extend([b'C', 0xF4, b't', b'e']);
        assert_eq!(
            Message::parse(&bytes).unwrap().component("PID", 5, 1).as_deref(),
            Some("Côte")
        );
        // Declared UTF-8 but not: refused rather than guessed.
        let mut bytes = b"MSH|^~\\&|A|B|C|D|20300107||SIU^S12|1|P|2.5|||||CAN|UNICODE UTF-8\rPID|1||||".to_vec();
        bytes.push(0xE9);
        assert!(Message::parse(&bytes).is_err());
    }

    #[test]
    fn what_is_not_a_message_is_refused_with_a_reason() {
        for bad in [
            "",
            "\r\n",
            "PID|1",
            "MSH",
            "MSH|",
            "MSH|^",
            "MSH|^^~\\&|",
            "MSHa^~\\&|",
            "MSH|^~\\&|A\rP|1",
        ] {
            assert!(Message::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(Message::parse(&vec![b'M'; MAX_MESSAGE_BYTES + 1]).is_err());
    }
}
