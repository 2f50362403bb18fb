//! The Mettler Toledo MT-SICS command set: the commands the station sends and the parser for
//! the balance's replies.
//!
//! A reply is `<ID> <status> [<data>...] [<unit>]`, where the ID echoes the command, or one of
//! the general errors `ES`/`ET`/`EL`. Column widths are not documented reliably, so the parser
//! splits on whitespace rather than on fixed columns. It is pure and takes one line without its
//! CR LF (see [`crate::devices::framer`]); every malformed input is a [`ParseError`], never a
//! panic, because the bytes come from a cable.

use crate::core::weight::{ScaleReading, Unit};

/// Weight now, stable or not.
pub const SI: &[u8] = b"SI\r\n";
/// Weight now, repeated until cancelled.
pub const SIR: &[u8] = b"SIR\r\n";
/// Reset: cancels pending commands (including `SIR`); answered in I4 format.
pub const RESET: &[u8] = b"@\r\n";
/// Zero when stable.
pub const ZERO: &[u8] = b"Z\r\n";
/// Tare when stable.
pub const TARE: &[u8] = b"T\r\n";

/// One reply from the balance.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `S S`/`S D` weight lines, `S +` (overload) and `S -` (underload).
    Reading(ScaleReading),
    /// Status `I` for any command: understood but not executable now (busy, or no stability in
    /// time). Also `<ID> +`/`<ID> -` for commands other than a weight request (`Z +`): the load
    /// was out of range for the command.
    NotReady,
    /// `S S Error 3` style: the code (all text after `Error`).
    WeightError(String),
    /// Status `A` for any command (`Z A`, `I4 A "SN"`, `TAC A`), and the tare reply `T S …`.
    Acknowledged { command: String },
    /// `ES`: the balance did not recognise the command.
    SyntaxError,
    /// `ET`: parity error or break on the line.
    TransmissionError,
    /// `EL`, or status `L`: the command or a parameter is not allowed.
    LogicError,
}

/// A reply line that is not valid MT-SICS. `line` is the offending line, escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty MT-SICS reply")]
    Empty,
    #[error("MT-SICS reply is not UTF-8 text: {line}")]
    NotText { line: String },
    #[error("unknown MT-SICS status in reply: {line}")]
    UnknownStatus { line: String },
    #[error("bad weight value in MT-SICS reply: {line}")]
    BadValue { line: String },
    #[error("unknown unit in MT-SICS reply: {line}")]
    UnknownUnit { line: String },
    #[error("malformed MT-SICS reply: {line}")]
    Malformed { line: String },
}

/// Longest escaped excerpt of a bad line kept in a [`ParseError`].
const MAX_SHOWN: usize = 64;

/// Parses one reply line (without CR LF).
pub fn parse_reply(line: &[u8]) -> Result<Reply, ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::NotText { line: escape(line) })?;
    let mut fields = text.split_ascii_whitespace();
    let id = fields.next().ok_or(ParseError::Empty)?;
    let rest: Vec<&str> = fields.collect();
    let malformed = || ParseError::Malformed { line: escape(line) };
    let acknowledged = || Reply::Acknowledged {
        command: id.to_owned(),
    };
    match (id, rest.as_slice()) {
        ("ES", []) => Ok(Reply::SyntaxError),
        ("ET", []) => Ok(Reply::TransmissionError),
        ("EL", []) => Ok(Reply::LogicError),
        (_, []) => Err(malformed()),
        ("S", ["+"]) => Ok(Reply::Reading(ScaleReading::Overload)),
        ("S", ["-"]) => Ok(Reply::Reading(ScaleReading::Underload)),
        ("S", ["S" | "D", "Error", code @ ..]) if !code.is_empty() => {
            Ok(Reply::WeightError(code.join(" ")))
        }
        ("S", [status @ ("S" | "D"), value, unit]) => {
            let (value, unit) = parse_weight(value, unit, line)?;
            Ok(Reply::Reading(ScaleReading::weight(
                value,
                unit,
                *status == "S",
            )))
        }
        ("S", ["S" | "D", ..]) => Err(malformed()),
        (_, ["I" | "+" | "-"]) => Ok(Reply::NotReady),
        (_, ["L"]) => Ok(Reply::LogicError),
        (_, ["A", ..]) => Ok(acknowledged()),
        ("T" | "TI", ["S", value, unit]) => parse_weight(value, unit, line).map(|_| acknowledged()),
        _ => Err(ParseError::UnknownStatus { line: escape(line) }),
    }
}

/// The value and unit fields of a weight.
fn parse_weight(value: &str, unit: &str, line: &[u8]) -> Result<(f64, Unit), ParseError> {
    let value = parse_value(value).ok_or_else(|| ParseError::BadValue { line: escape(line) })?;
    let unit = Unit::parse(unit).ok_or_else(|| ParseError::UnknownUnit { line: escape(line) })?;
    Ok((value, unit))
}

/// A decimal number with an optional sign directly in front: `100.00`, `-0.50`, `+3`.
/// Rejects what `f64::from_str` would also accept but no balance sends (`inf`, `1e3`).
fn parse_value(s: &str) -> Option<f64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    s.parse().ok()
}

/// The start of `line` for an error message: printable ASCII as is, other bytes as `\xNN`.
fn escape(line: &[u8]) -> String {
    let mut shown = String::new();
    for &b in line {
        let piece = match b {
            b'\\' => "\\\\".to_owned(),
            0x20..=0x7e => char::from(b).to_string(),
            _ => format!("\\x{b:02x}"),
        };
        if shown.len() + piece.len() > MAX_SHOWN {
            shown.push_str("...");
            break;
        }
        shown.push_str(&piece);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Reply, ParseError> {
        parse_reply(s.as_bytes())
    }

    fn weight(value: f64, unit: Unit, stable: bool) -> Result<Reply, ParseError> {
        Ok(Reply::Reading(ScaleReading::weight(value, unit, stable)))
    }

    #[test]
    fn weight_replies() {
        assert_eq!(parse("S S     100.00 g"), weight(100.0, Unit::G, true));
        assert_eq!(parse("S D     100.03 g"), weight(100.03, Unit::G, false));
        assert_eq!(parse("S S      -0.50 kg"), weight(-0.5, Unit::Kg, true));
        let Ok(Reply::Reading(ScaleReading::Weight { grams, .. })) = parse("S S -0.50 kg") else {
            panic!("a weight");
        };
        assert_eq!(grams, -500.0);
        assert_eq!(parse("S S 12 mg"), weight(12.0, Unit::Mg, true));
        assert_eq!(parse("S D 1.5 lb"), weight(1.5, Unit::Lb, false));
        assert_eq!(parse("S S +3 OZ"), weight(3.0, Unit::Oz, true));
        assert_eq!(parse("S\tS\t5 g"), weight(5.0, Unit::G, true));
        assert_eq!(parse("S +"), Ok(Reply::Reading(ScaleReading::Overload)));
        assert_eq!(parse("S -"), Ok(Reply::Reading(ScaleReading::Underload)));
    }

    #[test]
    fn status_and_error_replies() {
        assert_eq!(parse("S I"), Ok(Reply::NotReady));
        assert_eq!(parse("Z I"), Ok(Reply::NotReady));
        assert_eq!(parse("Z +"), Ok(Reply::NotReady));
        assert_eq!(parse("S S Error 3"), Ok(Reply::WeightError("3".to_owned())));
        assert_eq!(
            parse("S D Error 10 b"),
            Ok(Reply::WeightError("10 b".to_owned()))
        );
        let ack = |command: &str| {
            Ok(Reply::Acknowledged {
                command: command.into(),
            })
        };
        assert_eq!(parse("Z A"), ack("Z"));
        assert_eq!(parse("I4 A \"SIM00001\""), ack("I4"));
        assert_eq!(parse("TAC A"), ack("TAC"));
        assert_eq!(parse("T S      50.00 g"), ack("T"));
        assert_eq!(parse("ES"), Ok(Reply::SyntaxError));
        assert_eq!(parse("ET"), Ok(Reply::TransmissionError));
        assert_eq!(parse("EL"), Ok(Reply::LogicError));
        assert_eq!(parse("Z L"), Ok(Reply::LogicError));
    }

    /// The name of the error variant `line` parses to.
    fn error_kind(line: &str) -> String {
        let err = parse(line).expect_err(line);
        format!("{err:?}")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn garbage_is_an_error() {
        let cases = [
            ("", "Empty"),
            ("   ", "Empty"),
            ("S", "Malformed"),
            ("S S Error", "Malformed"),
            ("S S 100.00", "Malformed"),
            ("S S 1 g extra", "Malformed"),
            ("S X 100.00 g", "UnknownStatus"),
            ("hello world", "UnknownStatus"),
            ("S S 100.00 stone", "UnknownUnit"),
            ("S S 1 \u{b5}g", "UnknownUnit"),
            ("T S 5 ct", "UnknownUnit"),
        ];
        for (line, kind) in cases {
            assert_eq!(error_kind(line), kind, "{line:?}");
        }
        for bad in ["1,5", "inf", "NaN", "1e3", "-", ".", "--1", "1.2.3", "0x10"] {
            assert_eq!(error_kind(&format!("S S {bad} g")), "BadValue", "{bad}");
        }
        let err = parse("S S 100.00 stone").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown unit in MT-SICS reply: S S 100.00 stone"
        );
    }

    #[test]
    fn bad_bytes_are_shown_escaped_and_truncated() {
        let err = parse_reply(b"S S \xff\x00 g\\").unwrap_err();
        let shown = r"S S \xff\x00 g\\";
        assert_eq!(
            err,
            ParseError::NotText {
                line: shown.to_owned()
            }
        );
        assert_eq!(
            err.to_string(),
            format!("MT-SICS reply is not UTF-8 text: {shown}")
        );

        let long = [&b"S S 1 g"[..], &[0x80; 100]].concat();
        let ParseError::NotText { line } = parse_reply(&long).unwrap_err() else {
            panic!("not text");
        };
        assert_eq!(line, format!("S S 1 g{}...", r"\x80".repeat(14)));
    }
}
