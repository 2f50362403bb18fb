//! Weights as scales report them, normalised to grams.
//!
//! Every scale protocol (MT-SICS, Toledo 8217, continuous ASCII, HID POS) is parsed into a
//! [`ScaleReading`]. The core only ever looks at grams and the stable flag; the device's own
//! value and unit travel beside them so events and evidence show what the scale said.

use serde::Serialize;

/// A unit a scale can report in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Mg,
    G,
    Kg,
    Lb,
    Oz,
}

impl Unit {
    /// Parses a unit as scales print it (`g`, `kg`, `mg`, `lb`, `oz`; case-insensitive).
    pub fn parse(s: &str) -> Option<Unit> {
        match s.to_ascii_lowercase().as_str() {
            "mg" => Some(Unit::Mg),
            "g" => Some(Unit::G),
            "kg" => Some(Unit::Kg),
            "lb" | "lbs" => Some(Unit::Lb),
            "oz" => Some(Unit::Oz),
            _ => None,
        }
    }

    /// Grams in one of this unit.
    pub fn grams_per_unit(self) -> f64 {
        match self {
            Unit::Mg => 0.001,
            Unit::G => 1.0,
            Unit::Kg => 1000.0,
            Unit::Lb => 453.592_37,
            Unit::Oz => 28.349_523_125,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Mg => "mg",
            Unit::G => "g",
            Unit::Kg => "kg",
            Unit::Lb => "lb",
            Unit::Oz => "oz",
        }
    }
}

/// One reading from a scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScaleReading {
    /// A weight on the pan; `value` and `unit` are what the device sent.
    Weight {
        grams: f64,
        stable: bool,
        value: f64,
        unit: Unit,
    },
    /// Above the scale's capacity.
    Overload,
    /// Below zero (pan missing, or tare larger than the load).
    Underload,
}

impl ScaleReading {
    /// A weight reading from a device value and unit.
    pub fn weight(value: f64, unit: Unit, stable: bool) -> ScaleReading {
        ScaleReading::Weight {
            grams: value * unit.grams_per_unit(),
            stable,
            value,
            unit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_normalise_to_grams() {
        let r = ScaleReading::weight(1.5, Unit::Kg, true);
        assert_eq!(
            r,
            ScaleReading::Weight {
                grams: 1500.0,
                stable: true,
                value: 1.5,
                unit: Unit::Kg
            }
        );
        let ScaleReading::Weight { grams, .. } = ScaleReading::weight(1.0, Unit::Lb, false) else {
            panic!("a weight reading");
        };
        assert!((grams - 453.592_37).abs() < 1e-9);
        assert_eq!(Unit::parse("KG"), Some(Unit::Kg));
        assert_eq!(Unit::parse("stone"), None);
    }
}
