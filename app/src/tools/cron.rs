//! Cron explainer: the next five times a cron expression fires, in a time zone, with the
//! same rules as the schedulers (5 fields or `@daily`-style shorthands, DST-aware).

use super::Tool;

pub const TOOL: Tool = Tool {
    slug: "cron",
    title: "Cron explainer",
    description: "See the next five times a cron expression fires, as the schedulers compute them.",
    input_label: "Cron expression",
    placeholder: "*/15 9-17 * * mon-fri",
    multiline: false,
    option_label: "Time zone",
    options: &[
        ("UTC", "UTC"),
        ("Europe/London", "Europe/London"),
        ("Europe/Berlin", "Europe/Berlin"),
        ("America/New_York", "America/New_York"),
        ("America/Los_Angeles", "America/Los_Angeles"),
        ("Asia/Tokyo", "Asia/Tokyo"),
    ],
    #[cfg(feature = "ssr")]
    run,
};

#[cfg(feature = "ssr")]
fn run(input: &str, option: &str) -> Result<String, String> {
    next_runs(input, option, chrono::Utc::now())
}

/// The next five runs of `expr` in `tz` after `from`, one per line (also the schedulers
/// form's preview).
#[cfg(feature = "ssr")]
pub fn next_runs(expr: &str, tz: &str, from: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
    use vcore_domain::jobs::schedule::Trigger;
    let trigger = Trigger::parse("cron", None, Some(expr.trim()), Some(tz)).map_err(|e| match e {
        vcore_domain::DomainError::Invalid { message, .. } => message,
        other => other.to_string(),
    })?;
    let zone: chrono_tz::Tz = tz.parse().map_err(|_| format!("unknown time zone {tz:?}"))?;
    let mut at = from;
    let mut lines = Vec::new();
    for _ in 0..5 {
        let Some(next) = trigger.next_after(at) else { break };
        lines.push(format!(
            "{}  ({})",
            next.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z"),
            next.format("%Y-%m-%d %H:%M UTC")
        ));
        at = next;
    }
    match lines.is_empty() {
        true => Err("never fires".into()),
        false => Ok(lines.join("\n")),
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn lists_the_next_runs_in_the_zone() {
        let from = chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .to_utc();
        let out = super::next_runs("0 9 * * *", "Europe/Berlin", from).unwrap();
        let first = out.lines().next().unwrap();
        assert!(first.starts_with("Wed 2026-11-25 09:00 CET"), "{out}");
        assert!(first.contains("08:00 UTC"), "{out}");
        assert_eq!(out.lines().count(), 5);
        assert!(super::next_runs("61 * * * *", "UTC", from).is_err());
    }
}
