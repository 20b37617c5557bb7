//! Non-negative decimal numbers as manifests want them: no exponent, no sign, a fixed
//! number of places or as few as the value needs.

/// Manifests carry durations, which are never negative; a NaN or an infinity would make
/// the whole document unparsable, so all of these are written as 0.
fn sanitize(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

/// `value` rounded to exactly `places` decimals: `fixed(2.0, 3)` is `"2.000"`.
pub(crate) fn fixed(value: f64, places: usize) -> String {
    format!("{:.*}", places, sanitize(value))
}

/// `value` rounded to at most `max_places` decimals, trailing zeros (and a bare point)
/// removed: `trimmed(1.5, 3)` is `"1.5"`, `trimmed(2.0, 3)` is `"2"`.
pub(crate) fn trimmed(value: f64, max_places: usize) -> String {
    let mut text = fixed(value, max_places);
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_places() {
        assert_eq!(fixed(2.0, 3), "2.000");
        assert_eq!(fixed(2.0021, 3), "2.002");
        assert_eq!(fixed(0.33333, 5), "0.33333");
        assert_eq!(fixed(30.0, 0), "30");
    }

    #[test]
    fn trimmed_places() {
        assert_eq!(trimmed(2.0, 3), "2");
        assert_eq!(trimmed(1.5, 3), "1.5");
        assert_eq!(trimmed(0.33334, 5), "0.33334");
        assert_eq!(trimmed(1.0004, 3), "1");
        assert_eq!(trimmed(120.0, 3), "120");
        assert_eq!(trimmed(0.0, 3), "0");
    }

    #[test]
    fn invalid_values_are_zero() {
        for bad in [-1.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(fixed(bad, 3), "0.000", "{bad}");
            assert_eq!(trimmed(bad, 3), "0", "{bad}");
        }
    }
}
