//! The HCL functions of Nomad's job files that drover provides (the common ones from
//! Nomad's list). Any other is an error naming the function.

use std::path::Path;

use base64::Engine;
use hcl::{Map, Value};

use super::format::{format, formatlist};
use super::value::{as_f64, kind, number, scalar_string};

type Args = Vec<Value>;
type FnResult = Result<Value, String>;

/// Names of the supported functions (`try` and `can` live in the evaluator).
#[cfg(test)]
const SUPPORTED: &[&str] = &[
    "abs",
    "base64decode",
    "base64encode",
    "basename",
    "can",
    "ceil",
    "chomp",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "dirname",
    "distinct",
    "element",
    "file",
    "fileexists",
    "flatten",
    "floor",
    "format",
    "formatlist",
    "indent",
    "index",
    "join",
    "jsondecode",
    "jsonencode",
    "keys",
    "length",
    "lookup",
    "lower",
    "max",
    "merge",
    "min",
    "parseint",
    "pow",
    "range",
    "replace",
    "reverse",
    "signum",
    "slice",
    "sort",
    "split",
    "strlen",
    "strrev",
    "substr",
    "title",
    "trim",
    "trimprefix",
    "trimspace",
    "trimsuffix",
    "try",
    "upper",
    "urlencode",
    "values",
    "zipmap",
];

pub fn call(name: &str, args: Args, base_dir: &Path) -> FnResult {
    let n = args.len();
    let arity = |min: usize, max: usize| -> Result<(), String> {
        if n < min || n > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            Err(format!("{name}() takes {want} argument(s), got {n}"))
        } else {
            Ok(())
        }
    };
    let s = |i: usize| -> Result<String, String> { string_arg(name, &args, i) };
    match name {
        "upper" => arity(1, 1).and_then(|_| Ok(s(0)?.to_uppercase().into())),
        "lower" => arity(1, 1).and_then(|_| Ok(s(0)?.to_lowercase().into())),
        "title" => arity(1, 1).and_then(|_| Ok(title(&s(0)?).into())),
        "strrev" => arity(1, 1).and_then(|_| Ok(s(0)?.chars().rev().collect::<String>().into())),
        "strlen" => arity(1, 1).and_then(|_| Ok(Value::from(s(0)?.chars().count() as u64))),
        "trimspace" => arity(1, 1).and_then(|_| Ok(s(0)?.trim().to_string().into())),
        "chomp" => {
            arity(1, 1).and_then(|_| Ok(s(0)?.trim_end_matches(['\n', '\r']).to_string().into()))
        }
        "trim" => arity(2, 2).and_then(|_| {
            let cutset: Vec<char> = s(1)?.chars().collect();
            Ok(s(0)?.trim_matches(&cutset[..]).to_string().into())
        }),
        "trimprefix" => arity(2, 2).and_then(|_| {
            let (text, prefix) = (s(0)?, s(1)?);
            Ok(text
                .strip_prefix(&prefix)
                .unwrap_or(&text)
                .to_string()
                .into())
        }),
        "trimsuffix" => arity(2, 2).and_then(|_| {
            let (text, suffix) = (s(0)?, s(1)?);
            Ok(text
                .strip_suffix(&suffix)
                .unwrap_or(&text)
                .to_string()
                .into())
        }),
        "indent" => arity(2, 2).and_then(|_| {
            let pad = " ".repeat(int_arg(name, &args, 0)?.max(0) as usize);
            Ok(s(1)?.replace('\n', &format!("\n{pad}")).into())
        }),
        "substr" => arity(3, 3).and_then(|_| {
            let chars: Vec<char> = s(0)?.chars().collect();
            let len = chars.len() as i64;
            let mut offset = int_arg(name, &args, 1)?;
            if offset < 0 {
                offset += len;
            }
            let offset = offset.clamp(0, len) as usize;
            let length = int_arg(name, &args, 2)?;
            let end = if length < 0 {
                chars.len()
            } else {
                (offset + length as usize).min(chars.len())
            };
            Ok(chars[offset..end].iter().collect::<String>().into())
        }),
        "replace" => arity(3, 3).and_then(|_| {
            let search = s(1)?;
            if search.len() > 1 && search.starts_with('/') && search.ends_with('/') {
                return Err("replace() with a regular expression is not supported".into());
            }
            Ok(s(0)?.replace(&search, &s(2)?).into())
        }),
        "split" => arity(2, 2).and_then(|_| {
            let (sep, text) = (s(0)?, s(1)?);
            Ok(Value::Array(
                text.split(sep.as_str()).map(Value::from).collect(),
            ))
        }),
        "join" => arity(2, usize::MAX).and_then(|_| {
            let sep = s(0)?;
            let mut parts = Vec::new();
            for (i, list) in args.iter().enumerate().skip(1) {
                for item in list_arg(name, list, i)? {
                    parts.push(scalar_string(item).ok_or_else(|| {
                        format!(
                            "{name}(): list elements must be strings, got a {}",
                            kind(item)
                        )
                    })?);
                }
            }
            Ok(parts.join(&sep).into())
        }),
        "format" => arity(1, usize::MAX).and_then(|_| format(&s(0)?, &args[1..]).map(Value::from)),
        "formatlist" => arity(1, usize::MAX).and_then(|_| formatlist(&s(0)?, &args[1..])),
        "concat" => {
            let mut out = Vec::new();
            for (i, list) in args.iter().enumerate() {
                out.extend(list_arg(name, list, i)?.iter().cloned());
            }
            Ok(Value::Array(out))
        }
        "length" => arity(1, 1).and_then(|_| match &args[0] {
            Value::Array(a) => Ok(Value::from(a.len() as u64)),
            Value::Object(o) => Ok(Value::from(o.len() as u64)),
            Value::String(s) => Ok(Value::from(s.chars().count() as u64)),
            other => Err(format!("length() of a {} is not defined", kind(other))),
        }),
        "contains" => arity(2, 2)
            .and_then(|_| Ok(Value::Bool(list_arg(name, &args[0], 0)?.contains(&args[1])))),
        "index" => arity(2, 2).and_then(|_| {
            list_arg(name, &args[0], 0)?
                .iter()
                .position(|v| v == &args[1])
                .map(|i| Value::from(i as u64))
                .ok_or_else(|| "index(): item not found".into())
        }),
        "element" => arity(2, 2).and_then(|_| {
            let list = list_arg(name, &args[0], 0)?;
            if list.is_empty() {
                return Err("element() of an empty list".into());
            }
            let i = int_arg(name, &args, 1)?;
            if i < 0 {
                return Err("element() index must not be negative".into());
            }
            Ok(list[i as usize % list.len()].clone())
        }),
        "slice" => arity(3, 3).and_then(|_| {
            let list = list_arg(name, &args[0], 0)?;
            let (start, end) = (int_arg(name, &args, 1)?, int_arg(name, &args, 2)?);
            if start < 0 || end < start || end as usize > list.len() {
                return Err(format!(
                    "slice(): invalid range {start}..{end} of {} elements",
                    list.len()
                ));
            }
            Ok(Value::Array(list[start as usize..end as usize].to_vec()))
        }),
        "reverse" => arity(1, 1).and_then(|_| {
            Ok(Value::Array(
                list_arg(name, &args[0], 0)?.iter().rev().cloned().collect(),
            ))
        }),
        "distinct" => arity(1, 1).and_then(|_| {
            let mut out: Vec<Value> = Vec::new();
            for v in list_arg(name, &args[0], 0)? {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }),
        "compact" => arity(1, 1).and_then(|_| {
            Ok(Value::Array(
                list_arg(name, &args[0], 0)?
                    .iter()
                    .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
                    .cloned()
                    .collect(),
            ))
        }),
        "flatten" => arity(1, 1).map(|_| {
            fn flat(v: &Value, out: &mut Vec<Value>) {
                match v {
                    Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
                    other => out.push(other.clone()),
                }
            }
            let mut out = Vec::new();
            flat(&args[0], &mut out);
            Value::Array(out)
        }),
        "sort" => arity(1, 1).and_then(|_| {
            let mut items = list_arg(name, &args[0], 0)?
                .iter()
                .map(|v| {
                    scalar_string(v).ok_or_else(|| "sort() needs a list of strings".to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            items.sort();
            Ok(Value::Array(items.into_iter().map(Value::from).collect()))
        }),
        "range" => arity(1, 3).and_then(|_| {
            let nums: Vec<f64> = (0..n)
                .map(|i| num_arg(name, &args, i))
                .collect::<Result<_, _>>()?;
            let (start, end, step) = match nums[..] {
                [end] => (0.0, end, 1.0),
                [start, end] => (start, end, if end >= start { 1.0 } else { -1.0 }),
                [start, end, step] => (start, end, step),
                _ => unreachable!(),
            };
            if step == 0.0 {
                return Err("range() step must not be zero".into());
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
                out.push(number(x)?);
                x += step;
                if out.len() > 1024 {
                    return Err("range() would produce more than 1024 elements".into());
                }
            }
            Ok(Value::Array(out))
        }),
        "coalesce" => args
            .iter()
            .find(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
            .cloned()
            .ok_or_else(|| "coalesce(): no non-null, non-empty argument".into()),
        "coalescelist" => args
            .iter()
            .find(|v| matches!(v, Value::Array(a) if !a.is_empty()))
            .cloned()
            .ok_or_else(|| "coalescelist(): no non-empty list".into()),
        "keys" => arity(1, 1).and_then(|_| {
            Ok(Value::Array(
                map_arg(name, &args[0])?
                    .keys()
                    .map(|k| Value::from(k.as_str()))
                    .collect(),
            ))
        }),
        "values" => arity(1, 1).and_then(|_| {
            Ok(Value::Array(
                map_arg(name, &args[0])?.values().cloned().collect(),
            ))
        }),
        "lookup" => arity(2, 3).and_then(|_| {
            let map = map_arg(name, &args[0])?;
            let key = s(1)?;
            match (map.get(&key), args.get(2)) {
                (Some(v), _) => Ok(v.clone()),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => Err(format!("lookup(): no key {key:?} and no default")),
            }
        }),
        "merge" => {
            let mut out = Map::new();
            for arg in &args {
                match arg {
                    Value::Null => {}
                    other => out.extend(map_arg(name, other)?.clone()),
                }
            }
            Ok(Value::Object(out))
        }
        "zipmap" => arity(2, 2).and_then(|_| {
            let keys = list_arg(name, &args[0], 0)?;
            let values = list_arg(name, &args[1], 1)?;
            if keys.len() != values.len() {
                return Err("zipmap(): lists must have the same length".into());
            }
            let mut out = Map::new();
            for (k, v) in keys.iter().zip(values) {
                out.insert(
                    scalar_string(k).ok_or("zipmap(): keys must be strings")?,
                    v.clone(),
                );
            }
            Ok(Value::Object(out))
        }),
        "abs" => arity(1, 1).and_then(|_| number(num_arg(name, &args, 0)?.abs())),
        "ceil" => arity(1, 1).and_then(|_| number(num_arg(name, &args, 0)?.ceil())),
        "floor" => arity(1, 1).and_then(|_| number(num_arg(name, &args, 0)?.floor())),
        "signum" => arity(1, 1).and_then(|_| {
            let x = num_arg(name, &args, 0)?;
            number(if x == 0.0 { 0.0 } else { x.signum() })
        }),
        "pow" => arity(2, 2)
            .and_then(|_| number(num_arg(name, &args, 0)?.powf(num_arg(name, &args, 1)?))),
        "min" | "max" => arity(1, usize::MAX).and_then(|_| {
            let nums: Vec<f64> = (0..n)
                .map(|i| num_arg(name, &args, i))
                .collect::<Result<_, _>>()?;
            let pick = nums
                .into_iter()
                .reduce(|a, b| if (name == "min") == (b < a) { b } else { a });
            number(pick.unwrap_or_default())
        }),
        "parseint" => arity(2, 2).and_then(|_| {
            let base = int_arg(name, &args, 1)?;
            if !(2..=36).contains(&base) {
                return Err("parseint(): base must be between 2 and 36".into());
            }
            i64::from_str_radix(&s(0)?, base as u32)
                .map(Value::from)
                .map_err(|e| format!("parseint(): {e}"))
        }),
        "jsonencode" => arity(1, 1).and_then(|_| {
            serde_json::to_string(&args[0])
                .map(Value::from)
                .map_err(|e| e.to_string())
        }),
        "jsondecode" => arity(1, 1).and_then(|_| {
            serde_json::from_str::<Value>(&s(0)?).map_err(|e| format!("jsondecode(): {e}"))
        }),
        "base64encode" => arity(1, 1).and_then(|_| {
            Ok(base64::engine::general_purpose::STANDARD
                .encode(s(0)?)
                .into())
        }),
        "base64decode" => arity(1, 1).and_then(|_| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s(0)?)
                .map_err(|e| format!("base64decode(): {e}"))?;
            String::from_utf8(bytes)
                .map(Value::from)
                .map_err(|_| "base64decode(): the result is not UTF-8".into())
        }),
        "urlencode" => arity(1, 1).and_then(|_| {
            let mut out = String::new();
            for b in s(0)?.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            Ok(out.into())
        }),
        "file" => arity(1, 1).and_then(|_| {
            let path = base_dir.join(s(0)?);
            std::fs::read_to_string(&path)
                .map(Value::from)
                .map_err(|e| format!("file(): reading {}: {e}", path.display()))
        }),
        "fileexists" => arity(1, 1).and_then(|_| Ok(Value::Bool(base_dir.join(s(0)?).is_file()))),
        "basename" => arity(1, 1).and_then(|_| {
            let p = s(0)?;
            Ok(p.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
                .into())
        }),
        "dirname" => arity(1, 1).and_then(|_| {
            let p = s(0)?;
            Ok(match p.trim_end_matches('/').rsplit_once('/') {
                Some(("", _)) => "/".to_string(),
                Some((dir, _)) => dir.to_string(),
                None => ".".to_string(),
            }
            .into())
        }),
        _ => Err(format!("function {name:?} is not supported")),
    }
}

fn string_arg(name: &str, args: &[Value], i: usize) -> Result<String, String> {
    scalar_string(&args[i]).ok_or_else(|| {
        format!(
            "{name}(): argument {} must be a string, got a {}",
            i + 1,
            kind(&args[i])
        )
    })
}

fn num_arg(name: &str, args: &[Value], i: usize) -> Result<f64, String> {
    as_f64(&args[i]).ok_or_else(|| {
        format!(
            "{name}(): argument {} must be a number, got a {}",
            i + 1,
            kind(&args[i])
        )
    })
}

fn int_arg(name: &str, args: &[Value], i: usize) -> Result<i64, String> {
    let f = num_arg(name, args, i)?;
    if f.fract() != 0.0 {
        return Err(format!(
            "{name}(): argument {} must be a whole number",
            i + 1
        ));
    }
    Ok(f as i64)
}

fn list_arg<'v>(name: &str, value: &'v Value, i: usize) -> Result<&'v Vec<Value>, String> {
    value.as_array().ok_or_else(|| {
        format!(
            "{name}(): argument {} must be a list, got a {}",
            i + 1,
            kind(value)
        )
    })
}

fn map_arg<'v>(name: &str, value: &'v Value) -> Result<&'v Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{name}(): expected a map, got a {}", kind(value)))
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: Vec<Value>) -> FnResult {
        call(name, args, Path::new("."))
    }

    #[test]
    fn string_functions() {
        let v = |s: &str| Value::from(s);
        assert_eq!(run("upper", vec![v("redis")]), Ok(v("REDIS")));
        assert_eq!(
            run("title", vec![v("hello big world")]),
            Ok(v("Hello Big World"))
        );
        assert_eq!(run("trimprefix", vec![v("v1.2"), v("v")]), Ok(v("1.2")));
        assert_eq!(
            run("substr", vec![v("hello"), Value::from(1), Value::from(3)]),
            Ok(v("ell"))
        );
        assert_eq!(
            run("replace", vec![v("a-b-c"), v("-"), v("_")]),
            Ok(v("a_b_c"))
        );
        assert_eq!(
            run("split", vec![v(","), v("a,b")]),
            Ok(Value::from(vec!["a", "b"]))
        );
        assert_eq!(run("strlen", vec![v("héllo")]), Ok(Value::from(5)));
        assert_eq!(
            run("upper", vec![]),
            Err("upper() takes 1 argument(s), got 0".into())
        );
        assert_eq!(
            run("regex_replace", vec![]),
            Err("function \"regex_replace\" is not supported".into())
        );
    }

    #[test]
    fn every_listed_function_exists() {
        for name in SUPPORTED.iter().filter(|n| !["try", "can"].contains(n)) {
            let err = run(name, vec![]).err().unwrap_or_default();
            assert!(!err.contains("not supported"), "{name}: {err}");
        }
    }

    #[test]
    fn collections() {
        let mut m = Map::new();
        m.insert("a".to_string(), Value::from(1));
        assert_eq!(
            run("lookup", vec![Value::Object(m.clone()), "a".into()]),
            Ok(1.into())
        );
        assert_eq!(
            run(
                "lookup",
                vec![Value::Object(m.clone()), "b".into(), 2.into()]
            ),
            Ok(2.into())
        );
        assert_eq!(
            run("keys", vec![Value::Object(m)]),
            Ok(Value::from(vec!["a"]))
        );
        assert_eq!(run("range", vec![3.into()]), Ok(Value::from(vec![0, 1, 2])));
        assert_eq!(run("max", vec![3.into(), 7.into(), 5.into()]), Ok(7.into()));
        assert_eq!(run("min", vec![3.into(), 7.into(), 5.into()]), Ok(3.into()));
        assert_eq!(
            run(
                "flatten",
                vec![Value::from(vec![Value::from(vec![1]), Value::from(2)])]
            ),
            Ok(Value::from(vec![1, 2]))
        );
        assert_eq!(
            run("jsonencode", vec![Value::from(vec!["a"])]),
            Ok("[\"a\"]".into())
        );
        assert_eq!(run("base64decode", vec!["aGk=".into()]), Ok("hi".into()));
        assert_eq!(
            run("urlencode", vec!["a b/c".into()]),
            Ok("a%20b%2Fc".into())
        );
    }
}
