//! Times as Nomad's JSON writes them: RFC 3339 strings, Go's zero time for "never".

use chrono::{DateTime, SecondsFormat, Utc};

/// Go's `time.Time{}` in JSON.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_nanos() as i64
}

/// Unix nanoseconds as RFC 3339 with nanoseconds (`2026-11-25T16:03:37.123456789Z`).
pub fn rfc3339(unix_ns: i64) -> String {
    if unix_ns == 0 {
        return ZERO_TIME.into();
    }
    DateTime::<Utc>::from_timestamp_nanos(unix_ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// RFC 3339 to unix nanoseconds; `None` for Go's zero time and unparsable text.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    if text.is_empty() || text == ZERO_TIME {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(rfc3339(0), ZERO_TIME);
        let t = 1_764_086_617_123_456_789;
        assert_eq!(rfc3339(t), "2025-11-25T16:03:37.123456789Z");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(parse_rfc3339(ZERO_TIME), None);
    }
}
