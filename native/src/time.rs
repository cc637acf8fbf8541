//! The common shape of a CloudEvents `ce_time`, `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)` in ASCII,
//! as microseconds since the Unix epoch, computed as `services.audit.sealing.event_us_of` does:
//! `int(datetime.fromisoformat(text).timestamp() * 1_000_000)` (the float product truncated toward zero).
//!
//! Only values this parser is sure of are answered: a field out of range, any other shape, or an instant
//! whose microsecond count is not exact in a double (beyond ~285 years from 1970) gives None, and the
//! caller asks the Python rule instead.

fn digits(b: &[u8]) -> Option<i64> {
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MAX_EXACT: i64 = 1 << 53;

/// Microseconds since the epoch of a common-shape RFC 3339 time, or None (see the module rule).
pub fn common_event_us(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros = 0;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=6).contains(&n) {
            return None;
        }
        micros = digits(&rest[1..=n])? * 10_i64.pow(6 - n as u32);
        rest = &rest[1 + n..];
    }
    let offset_s = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (oh, om) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let seconds = oh * 3600 + om * 60;
            if *sign == b'-' {
                -seconds
            } else {
                seconds
            }
        }
        _ => return None,
    };
    let seconds =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    let total_us = seconds * 1_000_000 + micros;
    if total_us.abs() >= MAX_EXACT {
        return None;
    }
    // timedelta.total_seconds() (an exactly rounded division), then * 1e6 and int() as Python does
    Some(((total_us as f64 / 1e6) * 1e6) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(common_event_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            common_event_us("2026-01-01T00:00:00Z"),
            Some(1_767_225_600_000_000)
        );
        assert_eq!(
            common_event_us("2026-01-01T01:00:00.5+01:00"),
            Some(1_767_225_600_500_000)
        );
        assert_eq!(common_event_us("1969-12-31T23:59:59.999999Z"), Some(-1));
        assert_eq!(
            common_event_us("2024-02-29T12:00:00-00:30"),
            Some(1_709_209_800_000_000)
        );
    }

    #[test]
    fn leaves_the_rest_to_python() {
        for text in [
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.1234567Z",
            "2026-01-01T00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+24:00",
            "0000-01-01T00:00:00Z",
            "9999-01-01T00:00:00Z",
        ] {
            assert_eq!(common_event_us(text), None, "{text}");
        }
    }
}
