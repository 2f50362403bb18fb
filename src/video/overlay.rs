//! What is burned into the picture: order number, station, wall-clock time, live weight.
//!
//! Three overlay elements sit in every pipeline we encode: `order` (top left, large),
//! `info` (bottom right: station and live weight) and `clock` (bottom left: date and time
//! with microseconds, computed per frame from its running time, see [`super::clock`]). Font
//! sizes are relative to a 640-pixel-wide picture (`textoverlay` scales them), so the boxes
//! do not overlap at any camera resolution. The text
//! boxes are shaded fully black, so what is burned in does not depend on the scene behind it:
//! a test can render the same text on a black frame and compare pixels.
//!
//! [`Overlay`] is shared by the station loop (which changes the text the moment the order or
//! the weight changes) and the recorders (which register their elements whenever they build
//! a pipeline, and get the current text at once).

use std::sync::{Arc, Mutex, PoisonError};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::core::weight::ScaleReading;

/// The element names the pipeline description uses.
pub const ORDER: &str = "overlay_order";
pub const INFO: &str = "overlay_info";
pub const CLOCK: &str = "overlay_clock";

/// The launch-description fragment for the three overlays (properties fixed at build time).
pub fn description() -> String {
    let common = "shaded-background=true shading-value=255 draw-shadow=false draw-outline=false";
    format!(
        "textoverlay name={ORDER} {common} valignment=top halignment=left font-desc=\"Sans Bold 22\" \
         ! textoverlay name={INFO} {common} valignment=bottom halignment=right font-desc=\"Sans 13\" \
         ! timeoverlay name={CLOCK} {common} valignment=bottom halignment=left font-desc=\"Sans 13\" \
           time-mode=running-time show-times-as-dates=true datetime-format=\"%Y-%m-%d %H:%M:%S.%f\""
    )
}

/// The text of the order box.
pub fn order_text(order: Option<&str>) -> String {
    match order {
        // Scanned text can be anything: keep it to one line of printable characters.
        Some(order) => format!(
            "ORDER {}",
            order
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        ),
        None => "waiting for scan".to_string(),
    }
}

/// The text of the info box.
pub fn info_text(station: &str, weight: Option<&ScaleReading>) -> String {
    let weight = match weight {
        Some(ScaleReading::Weight { grams, stable, .. }) => {
            format!("{grams:.0} g {}", if *stable { "stable" } else { "moving" })
        }
        Some(ScaleReading::Overload) => "scale overload".to_string(),
        Some(ScaleReading::Underload) => "scale underload".to_string(),
        None => "no weight".to_string(),
    };
    format!("{station}  {weight}")
}

/// One pipeline's overlay elements.
#[derive(Clone)]
pub struct Elements {
    pub order: gst::Element,
    pub info: gst::Element,
    pub clock: gst::Element,
}

impl Elements {
    /// Finds the overlays in a pipeline built from [`description`].
    pub fn find(bin: &gst::Bin) -> Option<Elements> {
        Some(Elements {
            order: bin.by_name(ORDER)?,
            info: bin.by_name(INFO)?,
            clock: bin.by_name(CLOCK)?,
        })
    }

    /// Sets the clock overlay's time of running time zero.
    pub fn set_epoch(&self, epoch: &gst::glib::DateTime) {
        self.clock.set_property("datetime-epoch", epoch);
    }

    fn show(&self, text: &Text) {
        self.order.set_property("text", &text.order);
        self.info.set_property("text", &text.info);
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Text {
    order: String,
    info: String,
}

#[derive(Default)]
struct Shared {
    station: String,
    order: Option<String>,
    weight: Option<ScaleReading>,
    /// Registered pipelines, by camera.
    elements: Vec<(String, Elements)>,
}

impl Shared {
    fn text(&self) -> Text {
        Text {
            order: order_text(self.order.as_deref()),
            info: info_text(&self.station, self.weight.as_ref()),
        }
    }
}

/// The overlay text of all cameras of a station.
#[derive(Clone, Default)]
pub struct Overlay {
    shared: Arc<Mutex<Shared>>,
}

impl Overlay {
    pub fn new(station: &str) -> Overlay {
        let overlay = Overlay::default();
        overlay.lock().station = station.to_string();
        overlay
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // The data is plain text: a panic elsewhere cannot leave it half-written.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Shows `order` (or "waiting") on every camera, if it changed.
    pub fn set_order(&self, order: Option<&str>) {
        let mut shared = self.lock();
        if shared.order.as_deref() != order {
            shared.order = order.map(str::to_string);
            Self::push(&shared);
        }
    }

    /// Shows the scale's latest reading on every camera.
    pub fn set_weight(&self, reading: Option<ScaleReading>) {
        let mut shared = self.lock();
        let before = shared.text();
        shared.weight = reading;
        if shared.text() != before {
            Self::push(&shared);
        }
    }

    /// Registers `camera`'s new pipeline (replacing its last one) and shows the current text.
    pub fn register(&self, camera: &str, elements: Elements) {
        let mut shared = self.lock();
        elements.show(&shared.text());
        shared.elements.retain(|(c, _)| c != camera);
        shared.elements.push((camera.to_string(), elements));
    }

    /// Forgets `camera`'s pipeline (it stopped).
    pub fn unregister(&self, camera: &str) {
        self.lock().elements.retain(|(c, _)| c != camera);
    }

    fn push(shared: &Shared) {
        let text = shared.text();
        for (_, e) in &shared.elements {
            e.show(&text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::weight::Unit;

    #[test]
    fn texts_are_one_printable_line() {
        assert_eq!(order_text(None), "waiting for scan");
        assert_eq!(order_text(Some("1Z\r\n99\u{1b}")), "ORDER 1Z99");
        assert_eq!(order_text(Some(&"9".repeat(500))).len(), 6 + 64);
        let r = ScaleReading::weight(1.25, Unit::Kg, true);
        assert_eq!(info_text("pack-07", Some(&r)), "pack-07  1250 g stable");
        assert_eq!(info_text("pack-07", None), "pack-07  no weight");
    }

    #[test]
    fn registered_pipelines_get_the_text_at_once_and_on_change() {
        gst::init().expect("gstreamer");
        let bin = gst::parse::bin_from_description(&description(), false).expect("overlays");
        let elements = Elements::find(&bin).expect("named overlays");
        let overlay = Overlay::new("st-1");
        overlay.set_order(Some("A1"));
        overlay.register("cam", elements.clone());
        assert_eq!(elements.order.property::<String>("text"), "ORDER A1");
        overlay.set_order(Some("B2"));
        assert_eq!(elements.order.property::<String>("text"), "ORDER B2");
        assert_eq!(elements.info.property::<String>("text"), "st-1  no weight");
        overlay.unregister("cam");
        overlay.set_order(None);
        assert_eq!(elements.order.property::<String>("text"), "ORDER B2");
    }
}
