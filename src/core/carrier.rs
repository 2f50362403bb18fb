//! Carrier tracking-number formats and their check digits.
//!
//! A pack session opens when the parcel's shipping label is scanned. This
//! module decides whether a scanned text is a tracking number of one carrier,
//! by shape *and* check digit, and returns it in the form the order system
//! knows it by (e.g. the 22-digit USPS number without the GS1 `420`+ZIP
//! routing prefix). Formats and algorithms follow device-protocols.md §3d,
//! which summarises jkeen/tracking_number_data; the test values there are the
//! unit tests here.
//!
//! Shapes overlap between carriers and with product codes: a 12-digit FedEx
//! Express number can be a valid UPC-A, and a 22-digit `92…` number is both a
//! USPS IMpb and a FedEx SmartPost number (SmartPost is delivered by USPS).
//! Resolving that is the classifier's job, through symbology and carrier
//! order. Every number returned is 10 to 25 ASCII upper-case letters and
//! digits, so it is always a safe order number.
//!
//! Left out on purpose: DHL eCommerce (`GM`, `LX`, `CN`, … + 10–39 digits, no
//! check digit: too many false positives), the FedEx Ground SSCC-18 and
//! 34-digit `96…` GSN forms.

use super::barcode::{GS, gs1_check_digit_ok, is_digits};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    Ups,
    Usps,
    /// Serialised as `fedex`, like [`Carrier::name`] (snake_case alone gives `fed_ex`).
    #[serde(rename = "fedex")]
    FedEx,
    Dhl,
    /// Universal Postal Union S10 numbers of national posts; serialised as `s10`.
    #[serde(rename = "s10")]
    UpuS10,
}

impl Carrier {
    pub const ALL: [Carrier; 5] = [
        Carrier::Ups,
        Carrier::Usps,
        Carrier::FedEx,
        Carrier::Dhl,
        Carrier::UpuS10,
    ];

    /// The configuration and serialisation name.
    pub fn name(self) -> &'static str {
        match self {
            Carrier::Ups => "ups",
            Carrier::Usps => "usps",
            Carrier::FedEx => "fedex",
            Carrier::Dhl => "dhl",
            Carrier::UpuS10 => "s10",
        }
    }

    /// The carrier called `name` (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Carrier> {
        Carrier::ALL
            .into_iter()
            .find(|carrier| carrier.name().eq_ignore_ascii_case(name))
    }

    /// If `text` is a valid tracking number of this carrier (format and check
    /// digit where the format has one), the normalised number. Letters are
    /// upper-cased first; nothing is trimmed. USPS also accepts the GS1
    /// `420`+ZIP forms, whose AIM identifier the caller has already removed.
    pub fn recognise(self, text: &str) -> Option<String> {
        let text = text.to_ascii_uppercase();
        match self {
            Carrier::Ups => ups(&text),
            Carrier::Usps => usps_routed(&text).or_else(|| usps(&text)),
            Carrier::FedEx => fedex(&text),
            Carrier::Dhl => dhl(&text),
            Carrier::UpuS10 => s10(&text),
        }
    }
}

/// `1Z` + shipper (6) + service (2) + package (7) + check, all alphanumeric.
/// Over the 15 characters after `1Z`, a digit counts as itself and a letter
/// as (ASCII − 3) mod 10; odd (0-based) positions are doubled; the check is
/// (10 − sum mod 10) mod 10.
fn ups(text: &str) -> Option<String> {
    let (check, body) = text.strip_prefix("1Z")?.as_bytes().split_last()?;
    if body.len() != 15 || !body.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let sum: u32 = body
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let value = if c.is_ascii_digit() {
                c - b'0'
            } else {
                (c - 3) % 10
            };
            u32::from(value) * if i % 2 == 1 { 2 } else { 1 }
        })
        .sum();
    (u32::from(*check) == u32::from(b'0') + (10 - sum % 10) % 10).then(|| text.to_owned())
}

/// GS1-128 IMpb: `420` + 5- or 9-digit ZIP, then the tracking number, with a
/// GS between them or (30/34 digits in all) without. Returns the part after
/// the ZIP.
fn usps_routed(text: &str) -> Option<String> {
    let routed = text.strip_prefix("420")?;
    let (zip, tracking) = match routed.split_once(GS) {
        Some(parts) => parts,
        None => routed.split_at_checked(match routed.len() {
            27 => 5,
            31 => 9,
            _ => return None,
        })?,
    };
    (matches!(zip.len(), 5 | 9) && is_digits(zip))
        .then(|| usps(tracking))
        .flatten()
}

/// 22-digit IMpb (`91`–`95`), or 20 digits: legacy, or IMpb printed without
/// its `91` prefix (checked with it, as tracking_number_data does). The check
/// is mod 10 with the even (0-based) positions of the body tripled; for these
/// odd-length bodies that is exactly the GS1 check digit.
fn usps(text: &str) -> Option<String> {
    let valid = is_digits(text)
        && match text.len() {
            22 => matches!(text.as_bytes(), [b'9', b'1'..=b'5', ..]) && gs1_check_digit_ok(text),
            20 => gs1_check_digit_ok(text) || gs1_check_digit_ok(&format!("91{text}")),
            _ => false,
        };
    valid.then(|| text.to_owned())
}

/// FedEx forms, all digits:
/// - 12 Express: weights 3,1,7 over 11 digits, sum mod 11 mod 10;
/// - 15 Ground: mod 10 with odd body positions tripled (the GS1 check);
/// - 22 `96…` Ground barcode: the last 15 digits are the Ground number;
/// - 22 `92…` or 20 SmartPost: the GS1 check over the number with `92`;
/// - 34 `100…` Express barcode: ZIP and routing data, then a 13-digit serial
///   and check on the Express scheme. The serial's leading zeros pad the
///   12-digit Express number, which is what is returned when they are `00`.
fn fedex(text: &str) -> Option<String> {
    if !is_digits(text) {
        return None;
    }
    let (number, valid) = match text.len() {
        12 => (text, fedex_mod11_ok(text)),
        15 => (text, gs1_check_digit_ok(text)),
        20 => (text, gs1_check_digit_ok(&format!("92{text}"))),
        22 if text.starts_with("92") => (text, gs1_check_digit_ok(text)),
        22 if text.starts_with("96") => {
            let ground = text.get(7..)?;
            (ground, gs1_check_digit_ok(ground))
        }
        34 if text.starts_with("100") => {
            let serial = text.get(20..)?;
            (
                serial.strip_prefix("00").unwrap_or(serial),
                fedex_mod11_ok(serial),
            )
        }
        _ => return None,
    };
    valid.then(|| number.to_owned())
}

/// FedEx Express: weights 1, 3, 7, 1, … from the rightmost body digit
/// leftwards (3,1,7 from the left of an 11-digit body); sum mod 11 mod 10.
fn fedex_mod11_ok(digits: &str) -> bool {
    let mut values = digits.bytes().rev().map(|b| u32::from(b - b'0'));
    let check = values.next();
    let sum: u32 = values
        .zip([1, 3, 7].into_iter().cycle())
        .map(|(d, w)| d * w)
        .sum();
    check == Some(sum % 11 % 10)
}

/// DHL Express waybill: 10–11 digits, the body mod 7 is the check digit.
/// DHL piece IDs: `JJD`/`JVGL` + digits, no check. tracking_number_data has 9–10
/// digits; labels seen in the field carry up to 21, which is the limit here.
fn dhl(text: &str) -> Option<String> {
    let valid = match text.len() {
        10 | 11 if is_digits(text) => {
            text.split_at_checked(text.len() - 1)
                .is_some_and(|(body, check)| {
                    body.parse::<u64>().ok().map(|body| body % 7) == check.parse().ok()
                })
        }
        _ => ["JJD", "JVGL"].iter().any(|prefix| {
            text.strip_prefix(prefix)
                .is_some_and(|digits| is_digits(digits) && (9..=21).contains(&digits.len()))
        }),
    };
    valid.then(|| text.to_owned())
}

/// UPU S10: 2 letters (service) + 8 digits + check + 2 letters (ISO country).
/// Weights 8,6,4,2,3,5,9,7; r = sum mod 11; check = 0 if r = 1, 5 if r = 0,
/// else 11 − r.
fn s10(text: &str) -> Option<String> {
    let [s1, s2, serial @ .., check, c1, c2] = text.as_bytes() else {
        return None;
    };
    let letters = [s1, s2, c1, c2].iter().all(|c| c.is_ascii_uppercase());
    if !letters || serial.len() != 8 || !serial.iter().chain([check]).all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = serial
        .iter()
        .zip([8, 6, 4, 2, 3, 5, 9, 7])
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    let expected = match sum % 11 {
        0 => 5,
        1 => 0,
        r => 11 - r,
    };
    (u32::from(check - b'0') == expected).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::Carrier::{self, *};

    /// `text` with the digit at byte `at` changed by one.
    fn bump(text: &str, at: usize) -> String {
        text.char_indices()
            .map(|(i, c)| match c.to_digit(10) {
                Some(d) if i == at => char::from_digit((d + 1) % 10, 10).unwrap_or(c),
                _ => c,
            })
            .collect()
    }

    /// (carrier, scanned, normalised, byte offset of a digit covered by the check).
    #[rustfmt::skip]
    const VALID: &[(Carrier, &str, &str, usize)] = &[
        (Ups, "1Z5R89390357567127", "1Z5R89390357567127", 4),
        (Ups, "1Z879E930346834440", "1Z879E930346834440", 2),
        (Ups, "1z5r89390357567127", "1Z5R89390357567127", 4),
        (Usps, "9400111201080805483016", "9400111201080805483016", 5),
        (Usps, "9261292700768711948021", "9261292700768711948021", 5), // also SmartPost
        (Usps, "03071790000523483741", "03071790000523483741", 0),
        (Usps, "71969010756003077385", "71969010756003077385", 3), // checked as 91…
        (Usps, "420102820000\u{1d}9261290113185417468510", "9261290113185417468510", 20),
        (Usps, "4201028200009261290113185417468510", "9261290113185417468510", 20),
        (Usps, "420221539101026837331000039521", "9101026837331000039521", 14),
        (Usps, "42022153\u{1d}9101026837331000039521", "9101026837331000039521", 14),
        (FedEx, "986578788855", "986578788855", 0),
        (FedEx, "568283610012000", "568283610012000", 1),
        (FedEx, "9261292700768711948021", "9261292700768711948021", 6),
        (FedEx, "61299998820821171811", "61299998820821171811", 2),
        (FedEx, "9611020987654312345672", "987654312345672", 9),
        (FedEx, "1001921334250001000300779017972697", "779017972697", 24),
        // Constructed: without `00` padding, the serial and check are returned whole.
        (FedEx, "1001921334250001000312986578788859", "12986578788859", 21),
        (Dhl, "3318810025", "3318810025", 0),
        (Dhl, "73891051146", "73891051146", 4),
        (UpuS10, "RR123456785CN", "RR123456785CN", 2),
        (UpuS10, "rr123456785cn", "RR123456785CN", 2),
        // Constructed: sum mod 11 of 0 (check 5) and of 1 (check 0).
        (UpuS10, "EE000000005DE", "EE000000005DE", 2),
        (UpuS10, "EE000040000DE", "EE000040000DE", 2),
    ];

    #[test]
    fn reference_values_and_one_digit_corruptions() {
        for &(carrier, scanned, normalised, body_digit) in VALID {
            assert_eq!(
                carrier.recognise(scanned).as_deref(),
                Some(normalised),
                "{scanned}"
            );
            let check_digit = scanned.len() - if carrier == UpuS10 { 3 } else { 1 };
            for at in [check_digit, body_digit] {
                assert_eq!(
                    carrier.recognise(&bump(scanned, at)),
                    None,
                    "{scanned} @{at}"
                );
            }
        }
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        let long_piece_id = format!("JJD{}", "1".repeat(22));
        #[rustfmt::skip]
        let rejected = [
            (Ups, " 1Z5R89390357567127"), // nothing is trimmed
            (Ups, "1Z5R8939035756712A"),
            (Usps, "9400111201080805483016\r"),
            (Usps, "9000111201080805483016"), // 22 digits must start 91–95
            (Usps, "4201028\u{1d}9261290113185417468510"), // ZIP of 4 digits
            (Usps, "61299998820821171811"), // SmartPost without its 92
            (FedEx, "9865 7878 8855"),
            (FedEx, "1001901781990001000300617767839438"),
            (FedEx, "9600000000000000000001"),
            (Dhl, "JVGL0999999990X"),
            (Dhl, "JJD00999999"),
            (Dhl, &long_piece_id),
            (Dhl, "XJD0099999998"),
            (Dhl, "3318810010"),
            (UpuS10, "R1123456785CN"),
            (UpuS10, "RR12345678CN"),
        ];
        for (carrier, text) in rejected {
            assert_eq!(carrier.recognise(text), None, "{carrier:?} {text:?}");
        }
        assert_eq!(
            Dhl.recognise("JVGL0999999990").as_deref(),
            Some("JVGL0999999990")
        );
        for carrier in Carrier::ALL {
            #[rustfmt::skip]
            let odd = ["", "1Z", "1Zé5R8939035756712", "420", "420é", "42010282\u{1d}", "JJD", "RRé23456785CN", "ÉÉÉÉÉÉÉÉÉÉÉÉ"];
            for text in odd {
                assert_eq!(carrier.recognise(text), None, "{carrier:?} {text:?}");
            }
        }
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for carrier in Carrier::ALL {
            assert_eq!(Carrier::from_name(carrier.name()), Some(carrier));
            let json = serde_json::to_string(&carrier).unwrap();
            assert_eq!(json, format!("\"{}\"", carrier.name()));
        }
        assert_eq!(Carrier::from_name("FedEx"), Some(FedEx));
        assert_eq!(Carrier::from_name("royal-mail"), None);
    }
}
