//! What a scan means to the station: an order to pack, an operator command,
//! an item going into the box, or input to reject.
//!
//! The packing flow hangs off this decision, so it is one ordered list of
//! rules in [`Classifier::classify`], configured per site by
//! [`ClassifierSpec`]. Two safeguards shape the order: a retail product
//! symbology (`]E0`, `]E4`) is always an item, because a UPC-A can pass a
//! FedEx Express check digit; and only "safe" text becomes an order number
//! from a site pattern, because order numbers later name files and database
//! rows. Carrier formats live in [`super::carrier`], scan decoding in
//! [`super::barcode`]; this module only decides.

use std::fmt;

use regex::Regex;

use super::barcode::{Barcode, GS, Symbology, gs1_elements, gtin, gtin14};
use super::carrier::Carrier;

/// An operator instruction given by scanning a command sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Done,
    Cancel,
    ModePack,
    ModeReturns,
}

/// The barcode texts of the command sheet, matched exactly (case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandCodes {
    pub done: String,
    pub cancel: String,
    pub mode_pack: String,
    pub mode_returns: String,
}

impl Default for CommandCodes {
    fn default() -> Self {
        CommandCodes {
            done: "PW-DONE".to_owned(),
            cancel: "PW-CANCEL".to_owned(),
            mode_pack: "PW-MODE-PACK".to_owned(),
            mode_returns: "PW-MODE-RETURNS".to_owned(),
        }
    }
}

impl CommandCodes {
    fn command(&self, text: &str) -> Option<Command> {
        [
            (&self.done, Command::Done),
            (&self.cancel, Command::Cancel),
            (&self.mode_pack, Command::ModePack),
            (&self.mode_returns, Command::ModeReturns),
        ]
        .into_iter()
        .find_map(|(code, command)| (code == text).then_some(command))
    }
}

/// Site configuration of the classifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifierSpec {
    /// Carriers tried, in this order.
    pub carriers: Vec<Carrier>,
    /// Site order-number regexes. They must match the whole text; they are
    /// anchored here.
    pub order_patterns: Vec<String>,
    /// Regex (whole text) for anything else that is an order.
    pub catch_all: Option<String>,
    pub commands: CommandCodes,
    /// Longest accepted scan, in characters.
    pub max_len: usize,
}

impl Default for ClassifierSpec {
    fn default() -> Self {
        ClassifierSpec {
            carriers: Carrier::ALL.to_vec(),
            order_patterns: Vec::new(),
            catch_all: None,
            commands: CommandCodes::default(),
            max_len: 128,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanKind {
    /// `matched_by` is a carrier name, `pattern:<index>` or `catch_all`.
    Order {
        number: String,
        matched_by: String,
    },
    Command(Command),
    /// `gtin` is the GTIN-14 from GS1 AI 01, or the EAN/UPC itself zero-padded.
    Item {
        code: String,
        gtin: Option<String>,
    },
    Invalid {
        reason: InvalidReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReason {
    Empty,
    TooLong,
    /// A character below 0x20, or DEL, other than the GS1 separator GS.
    ControlCharacters,
    /// Other non-printable Unicode: C1 controls, whitespace other than the
    /// space, invisible formatting characters, private use, U+FFFD.
    NotPrintable,
}

/// A site regex that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// `order_patterns[<index>]` or `catch_all`.
    pub which: String,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.which, self.message)
    }
}

impl std::error::Error for PatternError {}

#[derive(Debug, Clone)]
pub struct Classifier {
    carriers: Vec<Carrier>,
    order_patterns: Vec<Regex>,
    catch_all: Option<Regex>,
    commands: CommandCodes,
    max_len: usize,
}

impl Classifier {
    pub fn new(spec: ClassifierSpec) -> Result<Classifier, PatternError> {
        let order_patterns = spec
            .order_patterns
            .iter()
            .enumerate()
            .map(|(i, pattern)| whole_text_regex(format!("order_patterns[{i}]"), pattern))
            .collect::<Result<_, _>>()?;
        let catch_all = spec
            .catch_all
            .as_deref()
            .map(|pattern| whole_text_regex("catch_all".to_owned(), pattern))
            .transpose()?;
        Ok(Classifier {
            carriers: spec.carriers,
            order_patterns,
            catch_all,
            commands: spec.commands,
            max_len: spec.max_len,
        })
    }

    /// Rules, first match wins:
    /// 1. unusable text → `Invalid`;
    /// 2. a command code → `Command`;
    /// 3. a retail product symbology → `Item`;
    /// 4. GS1 data (a GS1 symbology, or no symbology but a GS in the text):
    ///    AI 01 → `Item`; AI 420 → USPS if enabled; AI 00 (an SSCC, whose 20
    ///    digits would pass as a legacy USPS number) skips the carriers;
    /// 5. the enabled carriers in order;
    /// 6. if the text is a safe order number: the site patterns, then the catch-all;
    /// 7. anything else → `Item`.
    pub fn classify(&self, barcode: &Barcode) -> ScanKind {
        let text = barcode.text.as_str();
        if let Some(reason) = self.invalid_reason(text) {
            return ScanKind::Invalid { reason };
        }
        if let Some(command) = self.commands.command(text) {
            return ScanKind::Command(command);
        }
        if barcode.symbology.is_some_and(Symbology::is_retail_product) {
            return item(text, barcode.symbology);
        }
        let mut try_carriers = true;
        let gs1 = match barcode.symbology {
            Some(symbology) => symbology.is_gs1(),
            None => text.contains(GS),
        };
        if let Some(elements) = gs1.then(|| gs1_elements(text).ok()).flatten() {
            if let Some(gtin) = gtin(&elements) {
                return ScanKind::Item {
                    code: text.to_owned(),
                    gtin: gtin14(gtin),
                };
            }
            let has = |wanted: &str| elements.iter().any(|(ai, _)| ai == wanted);
            if has("420")
                && self.carriers.contains(&Carrier::Usps)
                && let Some(number) = Carrier::Usps.recognise(text)
            {
                return order(number, Carrier::Usps.name());
            }
            try_carriers = !has("00");
        }
        if try_carriers {
            for carrier in &self.carriers {
                if let Some(number) = carrier.recognise(text) {
                    return order(number, carrier.name());
                }
            }
        }
        if is_safe_order_number(text) {
            if let Some(i) = self.order_patterns.iter().position(|re| re.is_match(text)) {
                return order(text.to_owned(), &format!("pattern:{i}"));
            }
            if self.catch_all.as_ref().is_some_and(|re| re.is_match(text)) {
                return order(text.to_owned(), "catch_all");
            }
        }
        item(text, barcode.symbology)
    }

    fn invalid_reason(&self, text: &str) -> Option<InvalidReason> {
        if text.is_empty() {
            Some(InvalidReason::Empty)
        } else if text.chars().nth(self.max_len).is_some() {
            Some(InvalidReason::TooLong)
        } else if text.chars().any(|c| c != GS && (c < ' ' || c == '\u{7f}')) {
            Some(InvalidReason::ControlCharacters)
        } else if text.chars().any(is_non_printable) {
            Some(InvalidReason::NotPrintable)
        } else {
            None
        }
    }
}

/// Compiles `pattern` to match whole texts only. Compiling it alone first
/// reports errors against what the operator wrote, and proves its groups
/// balance, so a stray `)` cannot escape the anchoring group.
fn whole_text_regex(which: String, pattern: &str) -> Result<Regex, PatternError> {
    Regex::new(pattern)
        .and_then(|_| Regex::new(&format!("^(?:{pattern})$")))
        .map_err(|e| PatternError {
            which,
            message: e.to_string(),
        })
}

fn order(number: String, matched_by: &str) -> ScanKind {
    ScanKind::Order {
        number,
        matched_by: matched_by.to_owned(),
    }
}

/// An item; its GTIN is filled when the text is one, judged by length as the
/// symbology allows (an 8-digit `]E0` is a UPC-E, which needs expanding, not
/// padding, so it gets none).
fn item(text: &str, symbology: Option<Symbology>) -> ScanKind {
    let lengths: &[usize] = match symbology {
        Some(Symbology::EanUpc) => &[12, 13],
        Some(Symbology::Ean8) => &[8],
        _ => &[8, 12, 13, 14],
    };
    ScanKind::Item {
        code: text.to_owned(),
        gtin: lengths
            .contains(&text.len())
            .then(|| gtin14(text))
            .flatten(),
    }
}

/// Order numbers name files and database rows later, so a pattern match only
/// counts if the text is 4 to 64 of ASCII letters, digits, `-`, `_` and `.`.
/// Carrier numbers always are (see [`super::carrier`]).
fn is_safe_order_number(text: &str) -> bool {
    (4..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Non-printable beyond the ASCII controls, without Unicode tables: C1
/// controls, whitespace other than the space (NBSP, line separators…),
/// soft hyphen, zero-width and bidirectional formatting, the byte-order mark,
/// private use, noncharacters, and U+FFFD (the mark of a lossy decode).
fn is_non_printable(c: char) -> bool {
    (c != GS && c.is_control())
        || (c.is_whitespace() && c != ' ')
        || matches!(c,
            '\u{ad}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{e000}'..='\u{f8ff}'
            | '\u{fdd0}'..='\u{fdef}'
            | '\u{fff9}'..='\u{ffff}'
            | '\u{f0000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per classification keeps the case tables readable.
    fn summary(kind: ScanKind) -> String {
        match kind {
            ScanKind::Order { number, matched_by } => format!("{matched_by} {number}"),
            ScanKind::Command(command) => format!("{command:?}"),
            ScanKind::Item { code, gtin } => {
                format!("item {code} {}", gtin.as_deref().unwrap_or("-"))
            }
            ScanKind::Invalid { reason } => format!("invalid {reason:?}"),
        }
    }

    /// Classifies each frame (AIM prefix expected) and compares summaries;
    /// every order number, carrier ones included, must be safe.
    fn run(spec: ClassifierSpec, cases: &[(&str, &str)]) {
        let classifier = Classifier::new(spec).unwrap();
        for (frame, expected) in cases {
            let kind = classifier.classify(&Barcode::from_frame(frame, true));
            if let ScanKind::Order { number, .. } = &kind {
                assert!(is_safe_order_number(number), "{number}");
            }
            assert_eq!(summary(kind), *expected, "{frame:?}");
        }
    }

    #[test]
    fn default_rules() {
        let ten_kb = "A".repeat(10 * 1024);
        let too_wide = "é".repeat(129);
        let widest = "é".repeat(128);
        let widest_item = format!("item {widest} -");
        #[rustfmt::skip]
        run(ClassifierSpec::default(), &[
            ("1Z5R89390357567127", "ups 1Z5R89390357567127"),
            ("1z5r89390357567127", "ups 1Z5R89390357567127"),
            ("1Z5R89390357567128", "item 1Z5R89390357567128 -"),
            ("9400111201080805483016", "usps 9400111201080805483016"),
            ("986578788855", "fedex 986578788855"),
            ("568283610012000", "fedex 568283610012000"),
            ("9261292700768711948021", "usps 9261292700768711948021"),
            ("3318810025", "dhl 3318810025"),
            ("JJD0099999999", "dhl JJD0099999999"),
            ("RR123456785CN", "s10 RR123456785CN"),
            // USPS IMpb with the GS1 420+ZIP prefix, with and without AIM and GS.
            ("]C1420102820000\u{1d}9261290113185417468510", "usps 9261290113185417468510"),
            ("420102820000\u{1d}9261290113185417468510", "usps 9261290113185417468510"),
            ("]C14201028200009261290113185417468510", "usps 9261290113185417468510"),
            ("]C142022153\u{1d}9101026837331000039521", "usps 9101026837331000039521"),
            ("420221539101026837331000039521", "usps 9101026837331000039521"),
            // Commands: exact and case-sensitive, AIM or not.
            ("PW-DONE", "Done"),
            ("]C0PW-CANCEL", "Cancel"),
            ("PW-MODE-PACK", "ModePack"),
            ("PW-MODE-RETURNS", "ModeReturns"),
            ("pw-done", "item pw-done -"),
            ("PW-DONE ", "item PW-DONE  -"),
            // 885677000009 is a valid UPC-A and a valid FedEx Express number.
            ("885677000009", "fedex 885677000009"),
            ("]E0885677000009", "item 885677000009 00885677000009"),
            ("]E04006381333931", "item 4006381333931 04006381333931"),
            ("]E496385074", "item 96385074 00000096385074"),
            ("]E001234565", "item 01234565 -"), // UPC-E: needs expanding, not padding
            // GS1 product data; the GS alone marks GS1 when there is no AIM.
            ("]d2010952123454321310ABC123\u{1d}21S1", "item 010952123454321310ABC123\u{1d}21S1 09521234543213"),
            ("010952123454321310ABC123\u{1d}21S1", "item 010952123454321310ABC123\u{1d}21S1 09521234543213"),
            ("]Q30109521234543214", "item 0109521234543214 -"),
            // An SSCC is not a legacy USPS number, unless nothing says it is GS1.
            ("]C100000123450000000027", "item 00000123450000000027 -"),
            ("00000123450000000027", "usps 00000123450000000027"),
            // Fallback items.
            ("4006381333931", "item 4006381333931 04006381333931"),
            ("]C009521234543213", "item 09521234543213 09521234543213"),
            ("4006381333932", "item 4006381333932 -"),
            ("]C0SKU-RED-42", "item SKU-RED-42 -"),
            // Unusable input.
            ("", "invalid Empty"),
            ("]C1", "invalid Empty"),
            (&ten_kb, "invalid TooLong"),
            (&too_wide, "invalid TooLong"),
            (&widest, &widest_item),
            ("\tABC1", "invalid ControlCharacters"),
            ("ABC1\r", "invalid ControlCharacters"),
            ("AB\0C1", "invalid ControlCharacters"),
            ("ABC\u{7f}", "invalid ControlCharacters"),
            ("\u{1b}[2J", "invalid ControlCharacters"),
            ("\u{85}ABC", "invalid NotPrintable"),
            ("AB\u{a0}C", "invalid NotPrintable"),
            ("\u{200b}1234", "invalid NotPrintable"),
            ("\u{feff}SO-1", "invalid NotPrintable"),
            ("A\u{202e}B", "invalid NotPrintable"),
            ("A\u{2028}B", "invalid NotPrintable"),
            ("\u{e000}", "invalid NotPrintable"),
            ("A\u{fffd}", "invalid NotPrintable"),
        ]);
    }

    #[test]
    fn site_configuration() {
        let spec = ClassifierSpec::default;
        let fedex_first = ClassifierSpec {
            carriers: vec![Carrier::FedEx, Carrier::Usps],
            ..spec()
        };
        run(
            fedex_first,
            &[("9261292700768711948021", "fedex 9261292700768711948021")],
        );
        let no_usps = ClassifierSpec {
            carriers: vec![Carrier::Ups, Carrier::FedEx],
            ..spec()
        };
        #[rustfmt::skip]
        run(no_usps, &[
            ("]C1420102820000\u{1d}9261290113185417468510", "item 420102820000\u{1d}9261290113185417468510 -"),
            ("9400111201080805483016", "item 9400111201080805483016 -"),
        ]);
        let commands = CommandCodes {
            done: "FERTIG".into(),
            ..CommandCodes::default()
        };
        let catch_all = ClassifierSpec {
            commands,
            catch_all: Some(".*".into()),
            ..spec()
        };
        #[rustfmt::skip]
        run(catch_all, &[
            ("FERTIG", "Done"),
            ("PW-DONE", "catch_all PW-DONE"),
            ("web_1001.a-B", "catch_all web_1001.a-B"),
            ("]E0036000291452", "item 036000291452 00036000291452"),
            ("986578788855", "fedex 986578788855"),
            // Matched, but not safe as an order number.
            ("ORDER 123", "item ORDER 123 -"),
            ("../../etc/passwd", "item ../../etc/passwd -"),
            ("A1;DROP", "item A1;DROP -"),
            ("ABC", "item ABC -"),
            ("Café-1234", "item Café-1234 -"),
            (&"A".repeat(65), &format!("item {} -", "A".repeat(65))),
            (&"A".repeat(64), &format!("catch_all {}", "A".repeat(64))),
        ]);
        let patterns = vec![r"SO-\d{6}".into(), r"\d+|#\d+".into(), "A{4}|B{4}".into()];
        #[rustfmt::skip]
        run(ClassifierSpec { order_patterns: patterns, ..spec() }, &[
            ("SO-123456", "pattern:0 SO-123456"),
            ("XSO-123456", "item XSO-123456 -"),
            ("SO-1234567", "item SO-1234567 -"),
            ("77001234", "pattern:1 77001234"),
            ("#1234", "item #1234 -"),
            ("BBBB", "pattern:2 BBBB"),
            ("XAAAA", "item XAAAA -"),
            ("BBBBX", "item BBBBX -"),
        ]);
    }

    #[test]
    fn bad_regexes_name_the_pattern() {
        let error = |order_patterns: &[&str], catch_all: Option<&str>| {
            let spec = ClassifierSpec {
                order_patterns: order_patterns.iter().map(|p| p.to_string()).collect(),
                catch_all: catch_all.map(str::to_owned),
                ..ClassifierSpec::default()
            };
            Classifier::new(spec).unwrap_err()
        };
        let unclosed = error(&["SO-\\d+", "(unclosed"], None);
        assert_eq!(unclosed.which, "order_patterns[1]");
        assert!(unclosed.message.contains("unclosed group"), "{unclosed}");
        assert!(
            unclosed
                .to_string()
                .starts_with("order_patterns[1]: regex parse error")
        );
        let class = error(&[], Some("[a-"));
        assert_eq!(class.which, "catch_all");
        assert!(
            class.message.contains("unclosed character class"),
            "{class}"
        );
        // A pattern that would escape the anchoring group is refused as written.
        let escape = error(&["A{4})|(B{4}"], None);
        assert!(escape.message.contains("unopened group"), "{escape}");
    }
}
