//! Garbage storms: every parser and the state machine fed a large amount of deterministic
//! pseudo-random input (binary noise, near-miss protocol lines, random splits). Nothing may
//! panic, memory stays bounded, and what comes out is well-formed. A cheap, always-on
//! complement to coverage-guided fuzzing.

use packwatch::core::barcode::Barcode;
use packwatch::core::classify::{Classifier, ClassifierSpec, ScanKind};
use packwatch::core::machine::{Input, MachineConfig, PackMachine};
use packwatch::core::time::Timestamp;
use packwatch::core::weight::ScaleReading;
use packwatch::devices::framer::{Frame, LineFramer, Terminator};
use packwatch::devices::mtsics::{self, Reply};

/// A small deterministic generator.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Bytes biased towards what the protocols use, with plenty of pure noise.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"SDI+-AB0123456789. gkmlboz\r\n\x1d]C1E0TZ@\"ES";
        let len = self.below(max + 1);
        (0..len)
            .map(|_| match self.below(3) {
                0 => self.next() as u8,
                _ => ALPHABET[self.below(ALPHABET.len())],
            })
            .collect()
    }
}

#[test]
fn the_line_framer_stays_bounded_whatever_arrives() {
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    for terminator in [
        Terminator::Cr,
        Terminator::Lf,
        Terminator::CrLf,
        Terminator::Any,
    ] {
        let mut framer = LineFramer::new(terminator, 64);
        let mut frames = Vec::new();
        for _ in 0..20_000 {
            let chunk = noise.bytes(200);
            framer.push(&chunk, &mut frames);
            for frame in frames.drain(..) {
                if let Frame::Line(line) = frame {
                    assert!(
                        line.len() <= 64,
                        "a frame longer than max_len: {}",
                        line.len()
                    );
                    assert!(!line.is_empty(), "empty frames are skipped");
                }
            }
            if noise.below(50) == 0 {
                if let Some(Frame::Line(line)) = framer.flush() {
                    assert!(line.len() <= 64);
                }
                assert_eq!(framer.pending(), 0, "flush empties the framer");
            }
        }
    }
}

#[test]
fn the_mtsics_parser_never_panics_and_weights_are_finite() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut readings = 0;
    for _ in 0..200_000 {
        let mut line = if noise.below(2) == 0 {
            noise.bytes(40)
        } else {
            // A real reply, then a few random mutations (or none).
            let status = ["S S", "S D", "T S", "S", "SI"][noise.below(5)];
            let sign = ["", "-", "+"][noise.below(3)];
            let unit = ["g", "kg", "mg", "lb", "oz", "t", ""][noise.below(7)];
            let value = format!("{}.{:02}", noise.below(100_000), noise.below(100));
            let pad = " ".repeat(noise.below(8));
            format!("{status} {pad}{sign}{value} {unit}").into_bytes()
        };
        for _ in 0..noise.below(4) {
            if line.is_empty() {
                break;
            }
            let at = noise.below(line.len());
            match noise.below(3) {
                0 => line[at] = noise.next() as u8,
                1 => {
                    line.remove(at);
                }
                _ => line.insert(at, noise.next() as u8),
            }
        }
        if let Ok(Reply::Reading(ScaleReading::Weight { grams, value, .. })) =
            mtsics::parse_reply(&line)
        {
            assert!(grams.is_finite() && value.is_finite(), "{line:?}");
            readings += 1;
        }
    }
    assert!(readings > 0, "the near misses include real readings");
}

#[test]
fn classification_and_the_machine_survive_any_scan_text() {
    let classifier = Classifier::new(ClassifierSpec::default()).expect("spec");
    let mut machine = PackMachine::new(
        MachineConfig::default(),
        Classifier::new(ClassifierSpec::default()).expect("spec"),
    );
    let mut noise = Noise(0xD1B5_4A32_D192_ED03);
    let mut orders = 0;
    for i in 0..100_000i64 {
        let bytes = noise.bytes(300);
        let text = String::from_utf8_lossy(&bytes);
        let aim = noise.below(2) == 0;
        let barcode = Barcode::from_frame(&text, aim);
        if let ScanKind::Order { number, .. } = classifier.classify(&barcode) {
            // Order numbers end up in SQL rows and, later, file names: always safe text.
            assert!(
                (4..=64).contains(&number.len())
                    && number
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
                "unsafe order number {number:?}"
            );
            orders += 1;
        }
        let actions = machine.handle(Input::Scan {
            scanner: "scanner".into(),
            barcode,
            at: Timestamp(i * 10),
            new_session_id: format!("s{i}"),
        });
        assert!(actions.len() <= 8, "one scan, a bounded step: {actions:?}");
    }
    // Random text essentially never passes a carrier check digit; the count is reported, not required.
    println!("{orders} of 100000 random scans were taken as orders");
}
