//! xs:duration (XML Schema Part 2, 3.2.6) for the MPD's time attributes.

use std::fmt;

/// A non-negative number of seconds as `PT<seconds>S`, with at most millisecond
/// precision: `PT2S`, `PT1.5S`, `PT90S`. Seconds are not folded into minutes or hours,
/// which xs:duration allows and every DASH client reads. Negative and non-finite
/// values are written as `PT0S`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Duration(pub f64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PT{}S", crate::text::trimmed(self.0, 3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_only() {
        assert_eq!(Duration(2.0).to_string(), "PT2S");
        assert_eq!(Duration(1.5).to_string(), "PT1.5S");
        assert_eq!(Duration(0.0334).to_string(), "PT0.033S");
        assert_eq!(Duration(3600.0).to_string(), "PT3600S");
        assert_eq!(Duration(0.0).to_string(), "PT0S");
        assert_eq!(Duration(-4.0).to_string(), "PT0S");
        assert_eq!(Duration(f64::NAN).to_string(), "PT0S");
    }
}
