//! Dates and times as the text sqlx writes into SQLite, so that rows the group writer inserts
//! compare and sort with rows written through sqlx.
//!
//! The writer formats about eight of them per request. chrono's formatter interprets a format
//! description each time and costs about 2% of the server's CPU under full load; these write
//! the digits directly and fall back to chrono only for years it writes with a sign.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};

/// A date as `%F` (`2026-12-01`), which is how sqlx writes a `NaiveDate`.
pub(super) fn date_text(day: NaiveDate) -> String {
    let mut text = String::with_capacity(10);
    if !push_date(&mut text, day) {
        return day.format("%F").to_string();
    }
    text
}

/// A timestamp as RFC 3339 with `+00:00` and as many fraction digits as it needs (none, 3, 6
/// or 9), which is how sqlx writes a `DateTime<Utc>`.
pub(super) fn timestamp_text(at: DateTime<Utc>) -> String {
    let mut text = String::with_capacity(35);
    let nanos = at.nanosecond();
    // Years chrono writes with a sign, and leap seconds, keep chrono's own formatting.
    if nanos >= 1_000_000_000 || !push_date(&mut text, at.date_naive()) {
        return at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
    }
    text.push('T');
    push_digits(&mut text, at.hour(), 2);
    text.push(':');
    push_digits(&mut text, at.minute(), 2);
    text.push(':');
    push_digits(&mut text, at.second(), 2);
    if nanos != 0 {
        text.push('.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(&mut text, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(&mut text, nanos / 1_000, 6);
        } else {
            push_digits(&mut text, nanos, 9);
        }
    }
    text.push_str("+00:00");
    text
}

/// Writes `YYYY-MM-DD`; false, with nothing written, for a year outside 0..=9999.
fn push_date(text: &mut String, day: NaiveDate) -> bool {
    let Ok(year) = u32::try_from(day.year()) else {
        return false;
    };
    if year > 9999 {
        return false;
    }
    push_digits(text, year, 4);
    text.push('-');
    push_digits(text, day.month(), 2);
    text.push('-');
    push_digits(text, day.day(), 2);
    true
}

/// Writes the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::{date_text, timestamp_text};
    use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Utc};

    #[test]
    fn dates_match_chrono_over_four_centuries_and_beyond_its_four_digit_years() {
        let mut day = NaiveDate::from_ymd_opt(1800, 1, 1).unwrap();
        while day.year() < 2200 {
            assert_eq!(date_text(day), day.format("%F").to_string());
            day += Duration::days(1);
        }
        for (y, m, d) in [
            (0, 1, 1),
            (999, 12, 31),
            (9999, 12, 31),
            (10_000, 1, 1),
            (-1, 6, 30),
        ] {
            let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(date_text(day), day.format("%F").to_string(), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn timestamps_match_chrono_with_every_kind_of_fraction() {
        let base = DateTime::parse_from_rfc3339("2026-11-27T03:08:09Z")
            .unwrap()
            .with_timezone(&Utc);
        let fractions = [
            0,
            1,
            999_999_999,
            120_000_000,
            5_000_000,
            123_456_000,
            1_000,
            123_456_789,
            100,
        ];
        for step in 0..2_000i64 {
            // Steps of a prime number of seconds reach every hour, minute and second.
            let whole = base + Duration::seconds(step * 7_919);
            for nanos in fractions {
                let at = whole + Duration::nanoseconds(nanos);
                assert_eq!(
                    timestamp_text(at),
                    at.to_rfc3339_opts(SecondsFormat::AutoSi, false),
                    "{at:?}"
                );
            }
        }
        let far = DateTime::parse_from_rfc3339("9999-12-31T23:59:59.5Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::days(1);
        assert_eq!(
            timestamp_text(far),
            far.to_rfc3339_opts(SecondsFormat::AutoSi, false)
        );
    }
}
