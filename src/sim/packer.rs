//! A simulated packer: realistic orders driven through the simulated scanner and scale.
//!
//! Tracking numbers are valid for their carrier (check digits included), so they travel the
//! same classification path as real waybills; items are EAN-13s with valid check digits; each
//! parcel gets a weight. The packer scans the waybill, the items, puts the parcel on the
//! scale, waits for it to settle, scans `PW-DONE` and takes the parcel off.

use std::time::Duration;

use crate::core::barcode::{Barcode, gs1_check_digit_ok};
use crate::core::carrier::Carrier;
use crate::sim::scale::ScaleSim;
use crate::sim::scanner::ScannerSim;

/// One order as the packer will pack it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    pub tracking: String,
    pub items: Vec<String>,
    pub grams: f64,
}

/// A small deterministic generator (no randomness needed beyond variety).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.next(10) as u8))
            .collect()
    }
}

/// Completes `body` with the check digit `valid` accepts, trying each digit at `at`.
fn with_check_digit(body: &str, at: usize, valid: impl Fn(&str) -> bool) -> Option<String> {
    (0..10).find_map(|d| {
        let mut s = body.to_string();
        s.insert(at, char::from(b'0' + d));
        valid(&s).then_some(s)
    })
}

fn tracking_number(rng: &mut Lcg, i: usize) -> Option<String> {
    let carrier = [Carrier::Ups, Carrier::UpuS10, Carrier::Usps, Carrier::Dhl][i % 4];
    let body = match carrier {
        Carrier::Ups => format!("1Z5R8939{}", rng.digits(9)),
        Carrier::UpuS10 => format!("LX{}CN", rng.digits(8)),
        Carrier::Usps => format!("9400{}", rng.digits(17)),
        _ => rng.digits(9),
    };
    let at = match carrier {
        Carrier::UpuS10 => 10,
        _ => body.len(),
    };
    with_check_digit(&body, at, |s| carrier.recognise(s).is_some())
}

fn ean13(rng: &mut Lcg) -> Option<String> {
    let body = format!("400{}", rng.digits(9));
    with_check_digit(&body, 12, gs1_check_digit_ok)
}

/// `n` orders, the same for the same `seed`.
pub fn plan(n: usize, seed: u64) -> Vec<OrderPlan> {
    let mut rng = Lcg(seed ^ 0x5DEE_CE66_D1CE_4E5B);
    let mut orders = Vec::with_capacity(n);
    let mut i = 0;
    while orders.len() < n {
        let Some(tracking) = tracking_number(&mut rng, i) else {
            i += 1;
            continue;
        };
        let items = (0..1 + rng.next(4))
            .filter_map(|_| ean13(&mut rng))
            .collect();
        let grams = 150.0 + rng.next(4850) as f64 + 0.5 * rng.next(2) as f64;
        orders.push(OrderPlan {
            tracking,
            items,
            grams,
        });
        i += 1;
    }
    orders
}

/// How fast the packer works.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub between_scans: Duration,
    /// How long the parcel stays on the scale before `PW-DONE`.
    pub on_scale: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            between_scans: Duration::from_millis(300),
            on_scale: Duration::from_millis(1500),
        }
    }
}

/// Packs `order` through the simulators.
pub async fn pack(
    scanner: &ScannerSim,
    scale: &ScaleSim,
    order: &OrderPlan,
    pace: Pace,
) -> std::io::Result<()> {
    scanner.scan(&order.tracking).await?;
    for item in &order.items {
        tokio::time::sleep(pace.between_scans).await;
        scanner.scan(item).await?;
    }
    tokio::time::sleep(pace.between_scans).await;
    scale.place(order.grams);
    tokio::time::sleep(pace.on_scale).await;
    scanner.scan("PW-DONE").await?;
    scale.clear();
    tokio::time::sleep(pace.between_scans).await;
    Ok(())
}

/// Whether a generated order would be read as an order by the default classifier.
pub fn is_order(text: &str) -> bool {
    use crate::core::classify::{Classifier, ClassifierSpec, ScanKind};
    Classifier::new(ClassifierSpec::default())
        .map(|c| matches!(c.classify(&Barcode::plain(text)), ScanKind::Order { .. }))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_valid_orders_and_items() {
        let orders = plan(40, 7);
        assert_eq!(orders.len(), 40);
        assert_eq!(orders, plan(40, 7), "deterministic");
        for o in &orders {
            assert!(is_order(&o.tracking), "{} is an order", o.tracking);
            assert!(!o.items.is_empty() && o.items.len() <= 4);
            for item in &o.items {
                assert!(gs1_check_digit_ok(item) && !is_order(item), "{item}");
            }
            assert!((150.0..5001.0).contains(&o.grams));
        }
        let distinct: std::collections::HashSet<_> = orders.iter().map(|o| &o.tracking).collect();
        assert_eq!(distinct.len(), 40);
    }
}
