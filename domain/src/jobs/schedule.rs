//! When a scheduler's runs are due: its trigger, validated, and the maths of the next run.
//! Pure functions of the time they are given, so they are tested without clocks or sleeps.
//! It must not touch the database; `store` and the scheduler loop use it.
//!
//! - `on_start`: one run each time a runner process starts; no next run.
//! - `repeat`: every `repeat_every_seconds` (1 s … 366 days) after the previous due time.
//! - `cron`: a standard 5-field expression (minute hour day-of-month month day-of-week, with
//!   lists, ranges, steps and names) or a shorthand (`@hourly`, `@daily`, `@midnight`,
//!   `@weekly`, `@monthly`, `@yearly`, `@annually`), read in `timezone` (IANA name, default
//!   UTC). Daylight saving: a wall time skipped by the spring change runs at the jump (02:30
//!   → 03:00); a wall time that occurs twice in autumn runs once, at its first occurrence.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::error::DomainError;

/// Longest repeat interval accepted.
pub const MAX_REPEAT_SECS: i64 = 366 * 86_400;

#[derive(Debug, Clone)]
pub enum Trigger {
    OnStart,
    Repeat { every: Duration },
    Cron { cron: Box<Cron>, expr: String, tz: Tz },
}

impl Trigger {
    /// Validates a trigger as the API receives it; errors name the field.
    pub fn parse(
        trigger_type: &str,
        repeat_every_seconds: Option<i64>,
        cron: Option<&str>,
        timezone: Option<&str>,
    ) -> Result<Trigger, DomainError> {
        match trigger_type {
            "on_start" => Ok(Trigger::OnStart),
            "repeat" => {
                let secs = repeat_every_seconds.ok_or_else(|| {
                    DomainError::invalid("repeat_every_seconds", "required when trigger_type is repeat")
                })?;
                if !(1..=MAX_REPEAT_SECS).contains(&secs) {
                    return Err(DomainError::invalid(
                        "repeat_every_seconds",
                        format!("must be from 1 to {MAX_REPEAT_SECS} seconds, got {secs}"),
                    ));
                }
                Ok(Trigger::Repeat {
                    every: Duration::seconds(secs),
                })
            }
            "cron" => {
                let expr = cron
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| DomainError::invalid("cron", "required when trigger_type is cron"))?;
                let tz = parse_timezone(timezone)?;
                let parsed = parse_cron(expr)?;
                let trigger = Trigger::Cron {
                    cron: Box::new(parsed),
                    expr: expr.to_string(),
                    tz,
                };
                // "0 0 30 2 *" parses but never comes.
                if trigger.next_after(Utc::now()).is_none() {
                    return Err(DomainError::invalid(
                        "cron",
                        format!("{expr:?} never matches a date"),
                    ));
                }
                Ok(trigger)
            }
            other => Err(DomainError::invalid(
                "trigger_type",
                format!("expected on_start, repeat or cron, got {other:?}"),
            )),
        }
    }

    /// The first due time strictly after `after`; `None` for `on_start` (and for a cron
    /// expression with no date left).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Trigger::OnStart => None,
            Trigger::Repeat { every } => after.checked_add_signed(*every),
            Trigger::Cron { cron, tz, .. } => {
                let local = after.with_timezone(tz);
                let next = cron.find_next_occurrence(&local, false).ok()?;
                Some(next.with_timezone(&Utc))
            }
        }
    }
}

fn parse_timezone(timezone: Option<&str>) -> Result<Tz, DomainError> {
    match timezone.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(Tz::UTC),
        Some(name) => Tz::from_str(name).map_err(|_| {
            DomainError::invalid(
                "timezone",
                format!("unknown time zone {name:?}; use an IANA name like Europe/Berlin or UTC"),
            )
        }),
    }
}

const SHORTHANDS: [&str; 7] = [
    "@hourly",
    "@daily",
    "@midnight",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
];

fn parse_cron(expr: &str) -> Result<Cron, DomainError> {
    let invalid = |why: String| DomainError::invalid("cron", format!("{expr:?}: {why}"));
    if expr.starts_with('@') {
        if !SHORTHANDS.contains(&expr.to_ascii_lowercase().as_str()) {
            return Err(invalid(format!(
                "unknown shorthand; use one of {}",
                SHORTHANDS.join(", ")
            )));
        }
    } else {
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(invalid(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), got {fields}"
            )));
        }
    }
    Cron::from_str(&expr.to_ascii_lowercase()).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(expr: &str, tz: &str) -> Trigger {
        Trigger::parse("cron", None, Some(expr), Some(tz)).unwrap()
    }

    fn runs(t: &Trigger, from: DateTime<Utc>, n: usize) -> Vec<String> {
        let mut at = from;
        let mut out = Vec::new();
        for _ in 0..n {
            at = t.next_after(at).unwrap();
            let tz = match t {
                Trigger::Cron { tz, .. } => *tz,
                _ => Tz::UTC,
            };
            out.push(at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string());
        }
        out
    }

    #[test]
    fn repeat_adds_the_interval_to_the_previous_due_time() {
        let t = Trigger::parse("repeat", Some(90), None, None).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(t.next_after(at), Some(at + Duration::seconds(90)));
        assert!(Trigger::parse("on_start", None, None, None)
            .unwrap()
            .next_after(at)
            .is_none());
    }

    #[test]
    fn cron_in_a_time_zone_across_daylight_saving() {
        let ny = "America/New_York";
        // Spring forward (8 March 2026, 02:00 → 03:00): 02:30 does not exist; it runs at the jump.
        let spring = Utc.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        assert_eq!(
            runs(&cron("30 2 * * *", ny), spring, 3),
            [
                "2026-03-08 03:00 EDT",
                "2026-03-09 02:30 EDT",
                "2026-03-10 02:30 EDT"
            ]
        );
        // Fall back (1 November 2026, 02:00 → 01:00): 01:30 happens twice; it runs once.
        let autumn = Utc.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap();
        assert_eq!(
            runs(&cron("30 1 * * *", ny), autumn, 3),
            [
                "2026-11-01 01:30 EDT",
                "2026-11-02 01:30 EST",
                "2026-11-03 01:30 EST"
            ]
        );
        // Midnight stays local midnight on both sides of the change.
        assert_eq!(
            runs(
                &cron("@daily", "Europe/Berlin"),
                Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap(),
                2
            ),
            ["2026-03-29 00:00 CET", "2026-03-30 00:00 CEST"]
        );
        assert_eq!(
            runs(
                &cron("0 9 * * MON-FRI", "UTC"),
                Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
                2
            ),
            ["2026-11-30 09:00 UTC", "2026-12-01 09:00 UTC"]
        );
    }

    #[test]
    fn bad_triggers_name_their_field() {
        let field = |r: Result<Trigger, DomainError>| match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(field(Trigger::parse("hourly", None, None, None)), "trigger_type");
        for secs in [None, Some(0), Some(-5), Some(MAX_REPEAT_SECS + 1)] {
            assert_eq!(
                field(Trigger::parse("repeat", secs, None, None)),
                "repeat_every_seconds"
            );
        }
        for expr in [
            None,
            Some(""),
            Some("* * * *"),
            Some("0 0 * * * *"),
            Some("61 * * * *"),
            Some("@often"),
            Some("0 0 30 2 *"),
        ] {
            assert_eq!(
                field(Trigger::parse("cron", None, expr, None)),
                "cron",
                "{expr:?}"
            );
        }
        assert_eq!(
            field(Trigger::parse("cron", None, Some("@daily"), Some("Mars/Olympus"))),
            "timezone"
        );
    }
}
