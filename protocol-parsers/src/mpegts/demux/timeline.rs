//! One timeline for the whole program: 33-bit PTS/DTS unwrapped into an i64 that keeps
//! counting past the wrap (every 26.5 hours), then rebased so the first timestamp seen
//! on any track is 0. Sharing the base keeps audio and video in sync.

/// PTS and DTS are 33-bit fields.
const WRAP: i64 = 1 << 33;

#[derive(Debug, Default)]
pub(super) struct Timeline {
    /// The last DTS, unwrapped: the next timestamp is read as the value nearest to it.
    reference: Option<i64>,
    /// The first DTS seen, unwrapped.
    base: Option<i64>,
}

/// A PES's times on the shared timeline, in 90 kHz ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) dts: i64,
    pub(super) pts: i64,
}

impl Timeline {
    /// Places a PES's PTS and DTS (the DTS defaults to the PTS). Any jump smaller than
    /// half the 33-bit range (13 hours) in either direction is read as a jump, not a
    /// wrap, so B-frame reordering and audio/video interleaving never look like wraps.
    pub(super) fn stamp(&mut self, pts: u64, dts: Option<u64>) -> Stamp {
        let dts = match self.reference {
            None => to_i64(dts.unwrap_or(pts)),
            Some(reference) => nearest(dts.unwrap_or(pts), reference),
        };
        self.reference = Some(dts);
        let pts = nearest(pts, dts);
        let base = *self.base.get_or_insert(dts);
        Stamp {
            dts: dts.saturating_sub(base),
            pts: pts.saturating_sub(base),
        }
    }
}

/// The 33-bit value `raw` plus the multiple of 2^33 that brings it nearest `reference`.
fn nearest(raw: u64, reference: i64) -> i64 {
    // Modulo 2^33, which divides 2^64: wrapping keeps the remainder right.
    let delta = to_i64(raw).wrapping_sub(reference).rem_euclid(WRAP);
    let delta = if delta >= WRAP / 2 {
        delta - WRAP
    } else {
        delta
    };
    reference.saturating_add(delta)
}

/// The low 33 bits, which always fit.
fn to_i64(raw: u64) -> i64 {
    i64::try_from(raw & (WRAP as u64 - 1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_dts_is_zero_and_reordering_is_kept() {
        let mut t = Timeline::default();
        assert_eq!(t.stamp(9000, Some(6000)), Stamp { dts: 0, pts: 3000 });
        // Audio slightly ahead, then a B-frame whose PTS is below the previous one.
        assert_eq!(
            t.stamp(5000, None),
            Stamp {
                dts: -1000,
                pts: -1000
            }
        );
        assert_eq!(
            t.stamp(7000, Some(7000)),
            Stamp {
                dts: 1000,
                pts: 1000
            }
        );
    }

    #[test]
    fn wraps_forward_and_across_pts_dts() {
        let mut t = Timeline::default();
        let top = (1u64 << 33) - 3000;
        assert_eq!(t.stamp(top, Some(top - 3000)), Stamp { dts: 0, pts: 3000 });
        // PTS already wrapped, DTS not yet.
        assert_eq!(
            t.stamp(1000, Some(top + 1000)),
            Stamp {
                dts: 4000,
                pts: 7000
            }
        );
        assert_eq!(
            t.stamp(4000, Some(1000)),
            Stamp {
                dts: 7000,
                pts: 10000
            }
        );
        // A second wrap 2^33 ticks later still counts up.
        for step in 1..=8 {
            let raw = (1000 + step * (1u64 << 30)) % (1 << 33);
            let s = t.stamp(raw, None);
            assert_eq!(s.dts, 7000 + step as i64 * (1 << 30));
        }
    }
}
