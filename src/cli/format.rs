//! Nomad's output primitives: key/value blocks, tables, timestamps, relative times.

use serde_json::Value;

/// `Key|Value` rows: keys padded to the longest, ` = ` glue, empty values `<none>`.
pub fn kv(rows: &[String]) -> String {
    let split: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| r.split_once('|').unwrap_or((r.as_str(), "")))
        .collect();
    let width = split
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in split {
        let v = if v.is_empty() { "<none>" } else { v };
        out.push_str(&format!("{k:<width$} = {v}\n"));
    }
    out
}

/// `a|b|c` rows: columns padded to the widest cell, two-space glue, empty cells `<none>`.
pub fn table(rows: &[String]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.split('|')
                .map(|c| {
                    if c.is_empty() {
                        "<none>".to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(&format!("{c:<w$}", w = widths[i]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// RFC 3339 in the local zone, second precision; `Z` for UTC.
pub fn time_now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A Unix-nanoseconds timestamp as `formatTime` prints it; 0 is empty.
pub fn time_ns(ns: i64) -> String {
    if ns <= 0 {
        return String::new();
    }
    let utc = chrono::DateTime::from_timestamp(ns / 1_000_000_000, (ns % 1_000_000_000) as u32);
    match utc {
        Some(t) => t
            .with_timezone(&chrono::Local)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => String::new(),
    }
}

/// An RFC 3339 string (as Go marshals time.Time) reformatted; zero times are empty.
pub fn time_str(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) if t.timestamp() > 0 => t
            .with_timezone(&chrono::Local)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        _ => String::new(),
    }
}

/// `prettyTimeDiff` of a Unix-nanoseconds time against now: `4m12s ago`.
pub fn ago_ns(ns: i64) -> String {
    if ns <= 0 {
        return String::new();
    }
    let now = chrono::Utc::now().timestamp();
    let then = (ns as f64 / 1e9).round() as i64;
    let (mut d, suffix) = if now >= then {
        (now - then, "ago")
    } else {
        (then - now, "from now")
    };
    if d == 0 {
        return "0s ago".to_string();
    }
    let units: [(&str, i64); 6] = [
        ("y", 12 * 30 * 86400),
        ("mo", 30 * 86400),
        ("d", 86400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ];
    let mut parts = Vec::new();
    for (name, secs) in units {
        if d >= secs || !parts.is_empty() {
            parts.push(format!("{}{name}", d / secs));
            d %= secs;
        }
        if parts.len() == 2 {
            break;
        }
    }
    format!("{} {suffix}", parts.join(""))
}

/// The first 8 characters of an ID, or all of them with `verbose`.
pub fn short(id: &str, verbose: bool) -> String {
    if verbose {
        id.to_string()
    } else {
        id.chars().take(8).collect()
    }
}

/// A JSON field as text (`""` for null/missing; numbers and bools as they print).
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub fn n(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_and_table_align() {
        assert_eq!(
            kv(&["ID|x".into(), "Submit Date|".into()]),
            "ID          = x\nSubmit Date = <none>\n"
        );
        assert_eq!(
            table(&["A|Bee".into(), "ccc|".into()]),
            "A    Bee\nccc  <none>\n"
        );
    }
}
