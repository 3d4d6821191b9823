//! Timestamp converter: Unix seconds or milliseconds to dates, and dates back to Unix time.

use super::Tool;

pub const TOOL: Tool = Tool {
    slug: "timestamp",
    title: "Timestamp converter",
    description: "Turn Unix time (seconds or milliseconds) into a date, or an RFC 3339 date into Unix time. Empty: now.",
    input_label: "Unix time or date",
    placeholder: "1764000000 or 2026-11-24T10:00:00Z",
    multiline: false,
    option_label: "",
    options: &[],
    #[cfg(feature = "ssr")]
    run,
};

#[cfg(feature = "ssr")]
fn run(input: &str, _option: &str) -> Result<String, String> {
    use chrono::{DateTime, Utc};
    let s = input.trim();
    let t: DateTime<Utc> = if s.is_empty() {
        Utc::now()
    } else if let Ok(n) = s.parse::<i64>() {
        // More than 11 digits: milliseconds (seconds reach 11 digits in the year 5138).
        let parsed = match s.trim_start_matches('-').len() > 11 {
            true => DateTime::from_timestamp_millis(n),
            false => DateTime::from_timestamp(n, 0),
        };
        parsed.ok_or_else(|| format!("{n} is out of range"))?
    } else {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.to_utc())
            .map_err(|e| format!("expected Unix time or an RFC 3339 date like 2026-11-24T10:00:00Z: {e}"))?
    };
    Ok(format!(
        "UTC:          {}\nUnix seconds: {}\nUnix ms:      {}",
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        t.timestamp(),
        t.timestamp_millis()
    ))
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn converts_both_ways() {
        let out = super::run("1764000000", "").unwrap();
        assert!(out.contains("2025-11-24T16:00:00.000Z"), "{out}");
        let ms = super::run("1764000000123", "").unwrap();
        assert!(ms.contains(".123Z"), "{ms}");
        let back = super::run("2025-11-24T16:00:00Z", "").unwrap();
        assert!(back.contains("Unix seconds: 1764000000"), "{back}");
        assert!(super::run("yesterday", "").is_err());
    }
}
