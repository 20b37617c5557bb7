//! ISO 8601 / xs:dateTime in UTC from a Unix time in milliseconds, computed with the
//! proleptic Gregorian calendar (no clock is read and no date-time crate is needed).

use std::fmt::Write;

const MS_PER_DAY: i64 = 86_400_000;

/// `2026-11-25T08:30:15.250Z`: always milliseconds, always `Z`. Years outside 0..=9999
/// are written with more digits or a leading minus, as xs:dateTime allows.
pub(crate) fn iso8601_utc_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = unix_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    if year < 0 {
        out.push('-');
    }
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        year.unsigned_abs(),
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    out
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
/// Eras are 400-year cycles starting on March 1st, which puts the leap day at the end
/// of the computed year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // i64 milliseconds span ±1.07e11 days, far from overflowing these sums.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // The ranges above make these conversions lossless.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from GNU date, e.g. `date -u -d '2024-02-29T12:34:56.789Z' +%s%3N`.
    #[test]
    fn known_dates() {
        assert_eq!(iso8601_utc_ms(0), "1970-01-01T00:00:00.000Z");
        // A leap day.
        assert_eq!(
            iso8601_utc_ms(1_709_210_096_789),
            "2024-02-29T12:34:56.789Z"
        );
        assert_eq!(
            iso8601_utc_ms(1_795_595_415_250),
            "2026-11-25T08:30:15.250Z"
        );
        // 2000 is a leap year although divisible by 100 (it is divisible by 400).
        assert_eq!(iso8601_utc_ms(951_868_800_000), "2000-03-01T00:00:00.000Z");
        assert_eq!(
            iso8601_utc_ms(951_868_800_000 - MS_PER_DAY),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn before_the_epoch() {
        assert_eq!(iso8601_utc_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601_utc_ms(-14_182_940_000), "1969-07-20T20:17:40.000Z");
    }

    #[test]
    fn extremes_do_not_panic() {
        assert!(iso8601_utc_ms(i64::MAX).ends_with('Z'));
        assert!(iso8601_utc_ms(i64::MIN).starts_with('-'));
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_previous() {
        // Walk 1900-01-01 .. 2300-01-01 and check the calendar advances by one day.
        let start = -25_567; // 1900-01-01
        let mut prev = civil_from_days(start - 1);
        for days in start..start + 146_097 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = prev;
            let leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
            let february = if leap { 29 } else { 28 };
            let month_len = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            let expected = if pd < month_len[pm as usize - 1] {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), expected, "day {days}");
            prev = (y, m, d);
        }
    }
}
