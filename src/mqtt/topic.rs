//! The topic layout: `{prefix}/{site}/{station}/...`.
//!
//! Every level comes from the config, where it was checked to be a plain identifier
//! (no `/`, `+`, `#`, `$`), so no topic can be built that escapes the station's subtree.

/// The topics of one station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    pub fn new(prefix: &str, site: &str, station: &str) -> Topics {
        Topics {
            base: format!("{prefix}/{site}/{station}"),
        }
    }

    /// Where events of `event_type` are published (QoS 1, not retained).
    pub fn event(&self, event_type: &str) -> String {
        format!("{}/events/{event_type}", self.base)
    }

    /// All of the station's events, for subscribers.
    pub fn all_events(&self) -> String {
        format!("{}/events/#", self.base)
    }

    /// `online` / `offline`, retained; `offline` is also the last will.
    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_documented_layout() {
        let t = Topics::new("packwatch", "wh1", "pack-01");
        assert_eq!(
            t.event("session.started"),
            "packwatch/wh1/pack-01/events/session.started"
        );
        assert_eq!(t.all_events(), "packwatch/wh1/pack-01/events/#");
        assert_eq!(t.availability(), "packwatch/wh1/pack-01/availability");
    }
}
