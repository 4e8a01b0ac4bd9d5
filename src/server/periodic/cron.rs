//! Cron expressions as Nomad reads them (gorhill/cronexpr): 5 fields (minute hour
//! day-of-month month day-of-week), 6 (… year) or 7 (second … year); `*`, `?`, lists,
//! ranges, steps, month and weekday names, `L` for the last day of the month, and the
//! `@yearly`-style shorthands. Times are wall-clock times of the job's time zone.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(pub String);

/// A parsed expression: the allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    last_day: bool,
    months: u64,
    weekdays: u64,
    /// Indexed by year - `FIRST_YEAR`.
    years: Vec<bool>,
    /// `*`/`?` in day-of-month or day-of-week: cron matches the other one alone.
    any_day: bool,
    any_weekday: bool,
}

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 2099;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    pub fn parse(spec: &str) -> Result<Cron, CronError> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 0 1 1 * *",
            "@monthly" => "0 0 0 1 * * *",
            "@weekly" => "0 0 0 * * 0 *",
            "@daily" | "@midnight" => "0 0 0 * * * *",
            "@hourly" => "0 0 * * * * *",
            other => other,
        };
        let mut fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            5 => {
                fields.insert(0, "0");
                fields.push("*");
            }
            6 => fields.insert(0, "0"),
            7 => {}
            n => {
                return Err(CronError(format!(
                    "{spec:?}: expected 5 to 7 fields, found {n}"
                )))
            }
        }
        let (day_field, last_day) = match fields[3] {
            "L" => ("*", true),
            other => (other, false),
        };
        let weekday_field = fields[5];
        let weekdays = field(weekday_field, 0, 7, &WEEKDAYS, 0, "day of week")?;
        // 7 is Sunday too.
        let weekdays = (weekdays & 0x7f) | ((weekdays >> 7) & 1);
        Ok(Cron {
            seconds: field(fields[0], 0, 59, &[], 0, "second")?,
            minutes: field(fields[1], 0, 59, &[], 0, "minute")?,
            hours: field(fields[2], 0, 23, &[], 0, "hour")?,
            days: field(day_field, 1, 31, &[], 0, "day of month")?,
            last_day,
            months: field(fields[4], 1, 12, &MONTHS, 1, "month")?,
            weekdays,
            years: year_field(fields[6])?,
            any_day: !last_day && matches!(day_field, "*" | "?"),
            any_weekday: matches!(weekday_field, "*" | "?"),
        })
    }

    /// The first matching time strictly after `after` (whole seconds), if any before
    /// the end of 2099.
    pub fn next_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut t = after.with_nanosecond(0)? + Duration::seconds(1);
        loop {
            if t.year() > LAST_YEAR {
                return None;
            }
            if !self.year_ok(t.year()) {
                t = start_of_day(NaiveDate::from_ymd_opt(t.year() + 1, 1, 1)?);
                continue;
            }
            if !bit(self.months, t.month()) {
                t = start_of_day(first_of_next_month(t.date())?);
                continue;
            }
            if !self.day_ok(t.date()) {
                t = start_of_day(t.date().succ_opt()?);
                continue;
            }
            if !bit(self.hours, t.hour()) {
                t = t.with_minute(0)?.with_second(0)? + Duration::hours(1);
                continue;
            }
            if !bit(self.minutes, t.minute()) {
                t = t.with_second(0)? + Duration::minutes(1);
                continue;
            }
            if !bit(self.seconds, t.second()) {
                t += Duration::seconds(1);
                continue;
            }
            return Some(t);
        }
    }

    fn year_ok(&self, year: i32) -> bool {
        usize::try_from(year - FIRST_YEAR)
            .ok()
            .and_then(|i| self.years.get(i).copied())
            .unwrap_or(false)
    }

    /// Day of month and day of week: both restricted means either may match.
    fn day_ok(&self, date: NaiveDate) -> bool {
        let dom = if self.last_day {
            first_of_next_month(date).and_then(|d| d.pred_opt()) == Some(date)
        } else {
            bit(self.days, date.day())
        };
        let dow = bit(self.weekdays, date.weekday().num_days_from_sunday());
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }
}

fn bit(set: u64, value: u32) -> bool {
    (set >> value) & 1 == 1
}

fn start_of_day(date: NaiveDate) -> NaiveDateTime {
    date.and_time(NaiveTime::MIN)
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    match date.month() {
        12 => NaiveDate::from_ymd_opt(date.year() + 1, 1, 1),
        m => NaiveDate::from_ymd_opt(date.year(), m + 1, 1),
    }
}

/// One field as a bit set over `min..=max`. `names[i]` stands for `name_base + i`.
fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
    what: &str,
) -> Result<u64, CronError> {
    let mut set = 0u64;
    for part in text.split(',') {
        for v in values(part, min, max, names, name_base, what)? {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn year_field(text: &str) -> Result<Vec<bool>, CronError> {
    let mut set = vec![false; (LAST_YEAR - FIRST_YEAR + 1) as usize];
    for part in text.split(',') {
        for v in values(part, FIRST_YEAR as u32, LAST_YEAR as u32, &[], 0, "year")? {
            set[(v - FIRST_YEAR as u32) as usize] = true;
        }
    }
    Ok(set)
}

/// `*`, `?`, `a`, `a-b`, each optionally `/step` (`a/step` runs to the maximum).
fn values(
    part: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
    what: &str,
) -> Result<Vec<u32>, CronError> {
    let bad = || CronError(format!("invalid {what} field {part:?}"));
    let (range, step) = match part.split_once('/') {
        Some((r, s)) => (r, Some(s.parse::<u32>().map_err(|_| bad())?)),
        None => (part, None),
    };
    let value = |s: &str| -> Result<u32, CronError> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(name_base + i as u32);
        }
        let v: u32 = s.parse().map_err(|_| bad())?;
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(CronError(format!(
                "{what} value {v} out of range [{min}, {max}]"
            )))
        }
    };
    let (lo, hi) = match range {
        "*" | "?" => (min, max),
        r => match r.split_once('-') {
            Some((a, b)) => (value(a)?, value(b)?),
            None => {
                let a = value(r)?;
                (a, if step.is_some() { max } else { a })
            }
        },
    };
    if lo > hi {
        return Err(bad());
    }
    let step = match step {
        Some(0) => return Err(bad()),
        Some(s) => s as usize,
        None => 1,
    };
    Ok((lo..=hi).step_by(step).collect())
}
