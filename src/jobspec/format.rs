//! HCL's `format` and `formatlist`: Go's fmt verbs.

use hcl::Value;

use super::value::{as_bool, as_f64, kind, scalar_string};

type FnResult = Result<Value, String>;

/// Go's fmt verbs as HCL's `format` knows them: `%s %d %f %g %e %t %v %q %x %X %o %b
/// %%`, with flags `-+0 `, a width and a precision (`%-8s`, `%05d`, `%.2f`).
pub fn format(spec: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = spec.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+0 #".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let verb = chars.next().ok_or("format(): the format ends with %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args
            .get(next)
            .ok_or_else(|| format!("format(): not enough arguments for %{verb}"))?;
        next += 1;
        let text = match verb {
            's' => scalar_string(arg)
                .ok_or_else(|| format!("format(): %s needs a string, got a {}", kind(arg)))?,
            'v' => match arg {
                Value::String(s) => s.clone(),
                other => serde_json::to_string(other).map_err(|e| e.to_string())?,
            },
            'q' => serde_json::to_string(&scalar_string(arg).ok_or("format(): %q needs a string")?)
                .map_err(|e| e.to_string())?,
            't' => as_bool(arg).ok_or("format(): %t needs a bool")?.to_string(),
            'd' | 'x' | 'X' | 'o' | 'b' => {
                let f = as_f64(arg).ok_or_else(|| {
                    format!("format(): %{verb} needs a number, got a {}", kind(arg))
                })?;
                if f.fract() != 0.0 {
                    return Err(format!("format(): %{verb} needs a whole number"));
                }
                let i = f as i64;
                let (sign, mag) = (
                    if i < 0 {
                        "-"
                    } else if flags.contains('+') {
                        "+"
                    } else {
                        ""
                    },
                    i.unsigned_abs(),
                );
                let digits = match verb {
                    'd' => mag.to_string(),
                    'x' => format!("{mag:x}"),
                    'X' => format!("{mag:X}"),
                    'o' => format!("{mag:o}"),
                    _ => format!("{mag:b}"),
                };
                format!("{sign}{digits}")
            }
            'f' | 'e' | 'g' => {
                let f = as_f64(arg).ok_or_else(|| {
                    format!("format(): %{verb} needs a number, got a {}", kind(arg))
                })?;
                let sign = if f >= 0.0 && flags.contains('+') {
                    "+"
                } else {
                    ""
                };
                let body = match (verb, precision) {
                    ('f', p) => format!("{f:.*}", p.unwrap_or(6)),
                    ('e', p) => format!("{f:.*e}", p.unwrap_or(6)),
                    (_, Some(p)) => format!("{f:.*}", p),
                    _ => f.to_string(),
                };
                format!("{sign}{body}")
            }
            other => return Err(format!("format(): unsupported verb %{other}")),
        };
        let text = match (verb, precision) {
            ('s' | 'v', Some(p)) => text.chars().take(p).collect(),
            _ => text,
        };
        let width: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len >= width {
            out.push_str(&text);
        } else if flags.contains('-') {
            out.push_str(&text);
            out.push_str(&" ".repeat(width - len));
        } else if flags.contains('0') && "dfeg".contains(verb) {
            let (sign, digits) = match text.strip_prefix(['-', '+']) {
                Some(rest) => (&text[..1], rest),
                None => ("", text.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(width - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(width - len));
            out.push_str(&text);
        }
    }
    if next < args.len() {
        return Err(format!(
            "format(): too many arguments ({} unused)",
            args.len() - next
        ));
    }
    Ok(out)
}

pub fn formatlist(spec: &str, args: &[Value]) -> FnResult {
    let len = args.iter().filter_map(Value::as_array).map(Vec::len).max();
    let Some(len) = len else {
        return format(spec, args).map(|s| Value::Array(vec![s.into()]));
    };
    let mut out = Vec::new();
    for i in 0..len {
        let row: Vec<Value> = args
            .iter()
            .map(|a| match a {
                Value::Array(items) => items
                    .get(i)
                    .cloned()
                    .ok_or("formatlist(): lists must have the same length"),
                other => Ok(other.clone()),
            })
            .collect::<Result<_, _>>()?;
        out.push(Value::from(format(spec, &row)?));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_verbs() {
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%s:%d", vec!["a".into(), 5.into()], "a:5"),
            (
                "%05d|%-4s|%4s",
                vec![42.into(), "ab".into(), "cd".into()],
                "00042|ab  |  cd",
            ),
            ("%.2f", vec![Value::from(1.23456)], "1.23"),
            ("%q", vec!["x\"y".into()], "\"x\\\"y\""),
            ("%x %t %%", vec![255.into(), true.into()], "ff true %"),
            ("%v", vec![Value::from(vec![1, 2])], "[1,2]"),
        ];
        for (spec, args, want) in cases {
            assert_eq!(format(spec, &args), Ok(want.to_string()), "{spec}");
        }
        assert!(format("%s %s", &["a".into()]).is_err());
        assert!(format("%s", &["a".into(), "b".into()]).is_err());
    }
}
