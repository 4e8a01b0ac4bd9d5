//! Values of HCL expressions: HCL's conversions (numbers and bools to strings and back),
//! indexing, operators and arithmetic, as the evaluator and the functions need them.

use hcl::edit::expr::BinaryOperator;
use hcl::{Number, Value};

pub fn iterate(collection: Value) -> std::result::Result<Vec<(Value, Value)>, String> {
    match collection {
        Value::Array(items) => Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Value::from(i as u64), v))
            .collect()),
        Value::Object(map) => Ok(map
            .into_iter()
            .map(|(k, v)| (Value::String(k), v))
            .collect()),
        other => Err(format!("cannot iterate over a {}", kind(&other))),
    }
}

pub fn index(value: Value, key: &Value) -> std::result::Result<Value, String> {
    match value {
        Value::Array(mut items) => {
            let i = as_f64(key)
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .ok_or_else(|| format!("list index must be a whole number, got {}", kind(key)))?
                as usize;
            if i < items.len() {
                Ok(items.swap_remove(i))
            } else {
                Err(format!(
                    "index {i} out of range for a list of {} elements",
                    items.len()
                ))
            }
        }
        Value::Object(mut map) => {
            let k = scalar_string(key).ok_or_else(|| "object keys must be strings".to_string())?;
            map.swap_remove(&k)
                .ok_or_else(|| format!("object has no element {k:?}"))
        }
        other => Err(format!("cannot index a {}", kind(&other))),
    }
}

/// A value as HCL's type system names it, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Strings, numbers and bools as strings (HCL's automatic conversion).
pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn template_string(value: &Value) -> std::result::Result<String, String> {
    scalar_string(value)
        .ok_or_else(|| format!("cannot include a {} in a string template", kind(value)))
}

pub fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A float result as an HCL number: whole values become integers.
pub fn number(f: f64) -> std::result::Result<Value, String> {
    if !f.is_finite() {
        return Err("arithmetic result is not a finite number".into());
    }
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "arithmetic result is not a finite number".into())
}

pub fn arithmetic(
    lhs: Value,
    rhs: Value,
    op: BinaryOperator,
) -> std::result::Result<Value, String> {
    let symbol = op.as_str();
    if let (Some(a), Some(b)) = (as_i64(&lhs), as_i64(&rhs)) {
        let exact = match op {
            BinaryOperator::Plus => a.checked_add(b),
            BinaryOperator::Minus => a.checked_sub(b),
            BinaryOperator::Mul => a.checked_mul(b),
            BinaryOperator::Mod if b != 0 => a.checked_rem(b),
            _ => None,
        };
        if let Some(n) = exact {
            return Ok(Value::from(n));
        }
    }
    let (a, b) = match (as_f64(&lhs), as_f64(&rhs)) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(format!(
                "operands of {symbol} must be numbers, got {} and {}",
                kind(&lhs),
                kind(&rhs)
            ))
        }
    };
    match op {
        BinaryOperator::Plus => number(a + b),
        BinaryOperator::Minus => number(a - b),
        BinaryOperator::Mul => number(a * b),
        BinaryOperator::Div | BinaryOperator::Mod if b == 0.0 => Err("division by zero".into()),
        BinaryOperator::Div => number(a / b),
        _ => number(a % b),
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

pub fn binary(lhs: Value, op: BinaryOperator, rhs: Value) -> std::result::Result<Value, String> {
    use BinaryOperator::*;
    match op {
        Eq => Ok(Value::Bool(equal(&lhs, &rhs))),
        NotEq => Ok(Value::Bool(!equal(&lhs, &rhs))),
        And | Or => match (as_bool(&lhs), as_bool(&rhs)) {
            (Some(a), Some(b)) => Ok(Value::Bool(if op == And { a && b } else { a || b })),
            _ => Err(format!("operands of {} must be bools", op.as_str())),
        },
        Less | LessEq | Greater | GreaterEq => match (as_f64(&lhs), as_f64(&rhs)) {
            (Some(a), Some(b)) => Ok(Value::Bool(match op {
                Less => a < b,
                LessEq => a <= b,
                Greater => a > b,
                _ => a >= b,
            })),
            _ => Err(format!("operands of {} must be numbers", op.as_str())),
        },
        Plus | Minus | Mul | Div | Mod => arithmetic(lhs, rhs, op),
    }
}
