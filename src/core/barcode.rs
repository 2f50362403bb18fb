//! What a scanner delivered: the text of one barcode, with its symbology when
//! the scanner reports an AIM identifier, plus the GS1 element-string helpers
//! needed to read product (AI 01) and postal (AI 420) data out of GS1 symbols.
//!
//! This module owns the shape of a scan before anyone interprets it. The
//! symbology matters downstream because the digits alone are ambiguous: a
//! 12-digit UPC-A product code can also pass a carrier check digit, and only
//! the `]E0` identifier says which one the operator scanned. Tables follow
//! device-protocols.md §3b (AIM identifiers) and §3c (GS1 element strings, with
//! AI lengths from the GS1 Barcode Syntax Dictionary). Everything here is pure,
//! and no input can make it panic.

use std::fmt;

/// The GS1 separator: every FNC1 after the first position arrives as ASCII GS.
pub const GS: char = '\u{1d}';

/// Symbology reported by an AIM identifier (`]cm`), when the scanner sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Code128,
    Gs1_128,
    EanUpc,
    Ean8,
    Code39,
    Itf,
    Gs1DataBar,
    Gs1DataMatrix,
    Gs1Qr,
    DataMatrix,
    Qr,
    Pdf417,
    Aztec,
    Other,
}

impl Symbology {
    /// Decodes the code and modifier characters of `]cm`. The GS1 variants
    /// are told apart by their exact modifier (§3b); otherwise the code
    /// character names the family, so an EAN-13 with add-on (`]E3`) is still
    /// a retail product code and a Code 39 with check digit (`]A1`) is Code 39.
    fn from_aim(code: char, modifier: char) -> Symbology {
        match (code, modifier) {
            ('C', '1') => Symbology::Gs1_128,
            ('C', _) => Symbology::Code128,
            ('E', '4') => Symbology::Ean8,
            ('E', _) => Symbology::EanUpc,
            ('A', _) => Symbology::Code39,
            ('I', _) => Symbology::Itf,
            ('e', _) => Symbology::Gs1DataBar,
            ('d', '2') => Symbology::Gs1DataMatrix,
            ('d', _) => Symbology::DataMatrix,
            ('Q', '3') => Symbology::Gs1Qr,
            ('Q', _) => Symbology::Qr,
            ('L', _) => Symbology::Pdf417,
            ('z', _) => Symbology::Aztec,
            _ => Symbology::Other,
        }
    }

    /// True when the symbol starts with FNC1, i.e. holds GS1 element strings.
    pub fn is_gs1(self) -> bool {
        matches!(
            self,
            Symbology::Gs1_128
                | Symbology::Gs1DataBar
                | Symbology::Gs1DataMatrix
                | Symbology::Gs1Qr
        )
    }

    /// True for the point-of-sale product symbologies (EAN-13/UPC-A/UPC-E, EAN-8).
    pub fn is_retail_product(self) -> bool {
        matches!(self, Symbology::EanUpc | Symbology::Ean8)
    }

    /// The same name serde uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Symbology::Code128 => "code128",
            Symbology::Gs1_128 => "gs1_128",
            Symbology::EanUpc => "ean_upc",
            Symbology::Ean8 => "ean8",
            Symbology::Code39 => "code39",
            Symbology::Itf => "itf",
            Symbology::Gs1DataBar => "gs1_data_bar",
            Symbology::Gs1DataMatrix => "gs1_data_matrix",
            Symbology::Gs1Qr => "gs1_qr",
            Symbology::DataMatrix => "data_matrix",
            Symbology::Qr => "qr",
            Symbology::Pdf417 => "pdf417",
            Symbology::Aztec => "aztec",
            Symbology::Other => "other",
        }
    }
}

/// One decoded barcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barcode {
    /// The data, without the AIM identifier.
    pub text: String,
    /// The 3-character AIM identifier, e.g. `]C1`, when one was split off.
    pub aim: Option<String>,
    pub symbology: Option<Symbology>,
}

impl Barcode {
    /// A scanned frame. With `aim_prefix` true, a leading `]cm` is split off
    /// and decoded; a frame without one is kept whole, with no symbology.
    pub fn from_frame(frame: &str, aim_prefix: bool) -> Barcode {
        match aim_prefix.then(|| split_aim(frame)).flatten() {
            Some((code, modifier, text)) => Barcode {
                text: text.to_owned(),
                aim: Some(format!("]{code}{modifier}")),
                symbology: Some(Symbology::from_aim(code, modifier)),
            },
            None => Barcode::plain(frame),
        }
    }

    /// Text that came without any symbology information.
    pub fn plain(text: &str) -> Barcode {
        Barcode {
            text: text.to_owned(),
            aim: None,
            symbology: None,
        }
    }
}

/// `]` + an ASCII letter (code) + an ASCII letter or digit (modifier).
fn split_aim(frame: &str) -> Option<(char, char, &str)> {
    let mut chars = frame.strip_prefix(']')?.chars();
    let code = chars.next().filter(char::is_ascii_alphabetic)?;
    let modifier = chars.next().filter(char::is_ascii_alphanumeric)?;
    Some((code, modifier, chars.as_str()))
}

/// Why a GS1 element string could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gs1Error {
    /// No Application Identifier digits at this byte offset.
    BadAi { offset: usize },
    /// A predefined-length element is cut short or not all digits.
    BadFixedValue { ai: String },
    /// A variable-length element has no data before the next GS or the end.
    EmptyValue { ai: String },
}

impl fmt::Display for Gs1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gs1Error::BadAi { offset } => write!(f, "no GS1 AI at byte {offset}"),
            Gs1Error::BadFixedValue { ai } => {
                write!(f, "GS1 AI {ai}: value too short or not numeric")
            }
            Gs1Error::EmptyValue { ai } => write!(f, "GS1 AI {ai}: empty value"),
        }
    }
}

impl std::error::Error for Gs1Error {}

/// Splits a GS1 element string (leading FNC1 already removed) into
/// `(AI, value)` pairs. Predefined-length elements (§3c: 00, 01, 02, 11–17,
/// 20, 31nn–36nn, 410–417) need no separator; every other value runs to the
/// next GS or the end. A GS before the first AI or after a predefined-length
/// element is redundant and skipped.
pub fn gs1_elements(data: &str) -> Result<Vec<(String, String)>, Gs1Error> {
    let mut elements = Vec::new();
    let mut rest = data;
    loop {
        rest = rest.trim_start_matches(GS);
        if rest.is_empty() {
            return Ok(elements);
        }
        let bad_ai = Gs1Error::BadAi {
            offset: data.len() - rest.len(),
        };
        let (ai, after) = ai_length(rest)
            .and_then(|len| rest.split_at_checked(len))
            .filter(|(ai, _)| is_digits(ai))
            .ok_or(bad_ai)?;
        let (value, tail) = match predefined_length(ai) {
            Some(len) => after
                .split_at_checked(len)
                .filter(|(value, _)| is_digits(value))
                .ok_or_else(|| Gs1Error::BadFixedValue { ai: ai.to_owned() })?,
            None => after.split_once(GS).unwrap_or((after, "")),
        };
        if value.is_empty() {
            return Err(Gs1Error::EmptyValue { ai: ai.to_owned() });
        }
        elements.push((ai.to_owned(), value.to_owned()));
        rest = tail;
    }
}

/// Length of the AI starting `rest`, from its first two digits (GS1 Barcode
/// Syntax Dictionary); two digits for any prefix not listed.
fn ai_length(rest: &str) -> Option<usize> {
    let [tens @ b'0'..=b'9', units @ b'0'..=b'9', ..] = rest.as_bytes() else {
        return None;
    };
    Some(match (tens - b'0') * 10 + (units - b'0') {
        23..=25 | 40..=42 | 71 => 3,
        31..=36 | 39 | 43 | 70 | 72 | 80..=82 => 4,
        _ => 2,
    })
}

/// Value length of a predefined-length (numeric) AI; `None` for variable ones.
fn predefined_length(ai: &str) -> Option<usize> {
    let number: u32 = ai.parse().ok()?;
    match (ai.len(), number) {
        (2, 0) => Some(18),
        (2, 1 | 2) => Some(14),
        (2, 11..=17) => Some(6),
        (2, 20) => Some(2),
        (3, 410..=417) => Some(13),
        (4, 3100..=3699) => Some(6),
        _ => None,
    }
}

/// The value of AI 01 (a GTIN-14) among parsed `elements`.
pub fn gtin(elements: &[(String, String)]) -> Option<&str> {
    elements
        .iter()
        .find(|(ai, _)| ai == "01")
        .map(|(_, value)| value.as_str())
}

/// `code` as a GTIN-14 (zero-padded on the left) if it is an 8-, 12-, 13- or
/// 14-digit GTIN with a correct check digit.
pub fn gtin14(code: &str) -> Option<String> {
    (matches!(code.len(), 8 | 12 | 13 | 14) && gs1_check_digit_ok(code))
        .then(|| format!("{code:0>14}"))
}

/// GS1 mod 10: from the rightmost data digit leftwards, weights 3, 1, 3, …;
/// check = (10 − sum mod 10) mod 10. The last digit of `digits` is the check.
pub fn gs1_check_digit_ok(digits: &str) -> bool {
    if digits.len() < 2 || !is_digits(digits) {
        return false;
    }
    let mut values = digits.bytes().rev().map(|b| u32::from(b - b'0'));
    let check = values.next();
    let sum = values
        .zip([3, 1].into_iter().cycle())
        .fold(0, |sum, (digit, weight)| (sum + digit * weight) % 10);
    check == Some((10 - sum) % 10)
}

/// True for a non-empty string of ASCII digits.
pub(crate) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aim_identifiers_from_the_table() {
        use Symbology::*;
        #[rustfmt::skip]
        let table = [
            ("]C0", Code128), ("]C1", Gs1_128), ("]E0", EanUpc), ("]E4", Ean8), ("]A0", Code39),
            ("]I0", Itf), ("]I1", Itf), ("]e0", Gs1DataBar), ("]d2", Gs1DataMatrix), ("]Q3", Gs1Qr),
            ("]d1", DataMatrix), ("]Q1", Qr), ("]L0", Pdf417), ("]z0", Aztec),
            ("]E3", EanUpc), ("]X9", Other),
        ];
        for (aim, symbology) in table {
            let barcode = Barcode::from_frame(&format!("{aim}AB12"), true);
            assert_eq!(barcode.text, "AB12", "{aim}");
            assert_eq!(barcode.aim.as_deref(), Some(aim));
            assert_eq!(barcode.symbology, Some(symbology), "{aim}");
        }
    }

    #[test]
    fn frames_without_a_usable_aim_prefix_are_kept_whole() {
        for frame in ["12345", "]C", "]", "]1C0", "]Cé1", "]é", ""] {
            assert_eq!(Barcode::from_frame(frame, true), Barcode::plain(frame));
        }
        let unexpected = Barcode::from_frame("]C1ABC", false);
        assert_eq!(unexpected.text, "]C1ABC");
        assert_eq!(unexpected.symbology, None);
        assert_eq!(Barcode::from_frame("]C1", true).text, "");
    }

    #[test]
    fn symbology_classes_and_names() {
        use Symbology::*;
        #[rustfmt::skip]
        let all = [
            Code128, Gs1_128, EanUpc, Ean8, Code39, Itf, Gs1DataBar, Gs1DataMatrix, Gs1Qr,
            DataMatrix, Qr, Pdf417, Aztec, Other,
        ];
        for s in all {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            let gs1 = matches!(s, Gs1_128 | Gs1DataBar | Gs1DataMatrix | Gs1Qr);
            assert_eq!(s.is_gs1(), gs1);
            assert_eq!(s.is_retail_product(), matches!(s, EanUpc | Ean8));
        }
    }

    #[test]
    fn gs1_element_strings() {
        let split = |data: &str| match gs1_elements(data) {
            Ok(elements) => elements
                .iter()
                .map(|(ai, value)| format!("({ai}){value}"))
                .collect(),
            Err(e) => e.to_string(),
        };
        #[rustfmt::skip]
        let cases = [
            ("010952123454321310ABC123\u{1d}21S1", "(01)09521234543213(10)ABC123(21)S1"),
            ("00000123450000000027", "(00)000123450000000027"),
            ("420102820000\u{1d}9261290113185417468510", "(420)102820000(92)61290113185417468510"),
            // 4- and 3-digit predefined lengths; a redundant GS first and after a fixed field.
            ("\u{1d}31030012504100614141999996\u{1d}17251231", "(3103)001250(410)0614141999996(17)251231"),
            ("7003251231123010X", "(7003)251231123010X"),
            ("", ""),
            ("0", "no GS1 AI at byte 0"),
            ("10A\u{1d}X1", "no GS1 AI at byte 4"),
            ("01123", "GS1 AI 01: value too short or not numeric"),
            ("01ABCDEFGHIJKLMN", "GS1 AI 01: value too short or not numeric"),
            ("01éééééééééééééé", "GS1 AI 01: value too short or not numeric"),
            ("011ééééééé", "GS1 AI 01: value too short or not numeric"),
            ("10\u{1d}21X", "GS1 AI 10: empty value"),
        ];
        for (data, expected) in cases {
            assert_eq!(split(data), expected, "{data:?}");
        }
        assert_eq!(gs1_elements("0"), Err(Gs1Error::BadAi { offset: 0 }));
    }

    #[test]
    fn check_digits_and_gtins() {
        for valid in [
            "4006381333931",
            "036000291452",
            "96385074",
            "09521234543213",
            "000123450000000027",
        ] {
            assert!(gs1_check_digit_ok(valid), "{valid}");
        }
        for invalid in [
            "4006381333932",
            "036000291451",
            "96385075",
            "0",
            "",
            "40063813339A1",
            "é",
        ] {
            assert!(!gs1_check_digit_ok(invalid), "{invalid}");
        }
        assert_eq!(gtin14("036000291452").as_deref(), Some("00036000291452"));
        assert_eq!(gtin14("96385074").as_deref(), Some("00000096385074"));
        assert_eq!(gtin14("4006381333931").as_deref(), Some("04006381333931"));
        assert_eq!(gtin14("000123450000000027"), None);
        assert_eq!(gtin14("4006381333932"), None);
        let elements = [("10", "ABC"), ("01", "09521234543213")].map(|(a, v)| (a.into(), v.into()));
        assert_eq!(gtin(&elements), Some("09521234543213"));
        assert_eq!(gtin(&elements[..1]), None);
    }
}
