//! Variable type constraints (`type = list(string)`) and HCL's conversions to them.

use hcl::edit::expr::Expression;
use hcl::{Map, Value};

use super::value::{as_bool, as_f64, kind, number, scalar_string};

/// A variable's type constraint (`type = list(string)`).
#[derive(Debug, Clone, PartialEq)]
pub enum VarType {
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Set(Box<VarType>),
    Map(Box<VarType>),
    Object(Vec<(String, VarType)>),
    Tuple(Vec<VarType>),
}

pub fn infer(value: &Value) -> VarType {
    match value {
        Value::String(_) => VarType::String,
        Value::Number(_) => VarType::Number,
        Value::Bool(_) => VarType::Bool,
        Value::Array(_) => VarType::List(Box::new(VarType::Any)),
        Value::Object(_) => VarType::Map(Box::new(VarType::Any)),
        Value::Null => VarType::Any,
    }
}

/// A type expression: `string`, `number`, `bool`, `any`, `list(T)`, `set(T)`, `map(T)`,
/// `object({a = T})`, `tuple([T, …])` (with `optional(T)` inside objects).
pub fn parse_type(expr: &Expression) -> Result<VarType, String> {
    match expr {
        Expression::Variable(v) => match v.as_str() {
            "string" => Ok(VarType::String),
            "number" => Ok(VarType::Number),
            "bool" => Ok(VarType::Bool),
            "any" => Ok(VarType::Any),
            other => Err(format!("unknown type {other:?}")),
        },
        Expression::FuncCall(call) => {
            let name = call.name.name.as_str();
            let args: Vec<&Expression> = call.args.iter().collect();
            let [arg] = args[..] else {
                return Err(format!("{name}() takes one argument"));
            };
            match name {
                "list" => Ok(VarType::List(Box::new(parse_type(arg)?))),
                "set" => Ok(VarType::Set(Box::new(parse_type(arg)?))),
                "map" => Ok(VarType::Map(Box::new(parse_type(arg)?))),
                "optional" => parse_type(arg),
                "object" => match arg {
                    Expression::Object(fields) => fields
                        .iter()
                        .map(|(k, v)| {
                            let key = match k {
                                hcl::edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                                hcl::edit::expr::ObjectKey::Expression(Expression::String(s)) => {
                                    s.value().clone()
                                }
                                _ => {
                                    return Err("object type attribute names must be identifiers"
                                        .to_string())
                                }
                            };
                            Ok((key, parse_type(v.expr())?))
                        })
                        .collect::<Result<_, _>>()
                        .map(VarType::Object),
                    _ => Err("object() takes an object of attribute types".into()),
                },
                "tuple" => match arg {
                    Expression::Array(items) => items
                        .iter()
                        .map(parse_type)
                        .collect::<Result<_, _>>()
                        .map(VarType::Tuple),
                    _ => Err("tuple() takes a list of element types".into()),
                },
                other => Err(format!("unknown type constructor {other:?}")),
            }
        }
        _ => Err("a type is expected here (string, number, bool, list(...), map(...), ...)".into()),
    }
}

/// HCL's conversion of a value to a type: numbers and bools to strings and back, lists
/// element by element, and so on.
pub fn convert(value: Value, ty: &VarType) -> Result<Value, String> {
    let mismatch = |want: &str, v: &Value| format!("{want} required, got {}", kind(v));
    match ty {
        VarType::Any => Ok(value),
        _ if matches!(value, Value::Null) => Ok(Value::Null),
        VarType::String => scalar_string(&value)
            .map(Value::from)
            .ok_or_else(|| mismatch("string", &value)),
        VarType::Number => match &value {
            Value::Number(_) => Ok(value),
            Value::String(_) => as_f64(&value)
                .ok_or_else(|| {
                    format!(
                        "a number is required, got {:?}",
                        value.as_str().unwrap_or_default()
                    )
                })
                .and_then(number),
            other => Err(mismatch("number", other)),
        },
        VarType::Bool => as_bool(&value)
            .map(Value::Bool)
            .ok_or_else(|| mismatch("bool", &value)),
        VarType::List(elem) | VarType::Set(elem) => match value {
            Value::Array(items) => {
                let mut out: Vec<Value> = Vec::new();
                for item in items {
                    let item = convert(item, elem)?;
                    if !matches!(ty, VarType::Set(_)) || !out.contains(&item) {
                        out.push(item);
                    }
                }
                Ok(Value::Array(out))
            }
            other => Err(mismatch("list", &other)),
        },
        VarType::Tuple(elems) => match value {
            Value::Array(items) if items.len() == elems.len() => items
                .into_iter()
                .zip(elems)
                .map(|(v, t)| convert(v, t))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Err(mismatch(
                &format!("tuple of {} elements", elems.len()),
                &other,
            )),
        },
        VarType::Map(elem) => match value {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| convert(v, elem).map(|v| (k, v)))
                .collect::<Result<Map<_, _>, _>>()
                .map(Value::Object),
            other => Err(mismatch("map", &other)),
        },
        VarType::Object(fields) => match value {
            Value::Object(mut map) => {
                let mut out = Map::new();
                for (name, t) in fields {
                    let v = map.swap_remove(name).unwrap_or(Value::Null);
                    out.insert(
                        name.clone(),
                        convert(v, t).map_err(|e| format!("attribute {name:?}: {e}"))?,
                    );
                }
                Ok(Value::Object(out))
            }
            other => Err(mismatch("object", &other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str) -> VarType {
        parse_type(&hcl::edit::parser::parse_expr(src).unwrap()).unwrap()
    }

    #[test]
    fn types_parse_and_convert() {
        assert_eq!(ty("list(string)"), VarType::List(Box::new(VarType::String)));
        assert_eq!(
            ty("object({ a = number, b = optional(bool) })"),
            VarType::Object(vec![
                ("a".into(), VarType::Number),
                ("b".into(), VarType::Bool)
            ])
        );
        assert_eq!(
            convert(Value::from("3"), &VarType::Number),
            Ok(Value::from(3))
        );
        assert_eq!(
            convert(Value::from(3), &VarType::String),
            Ok(Value::from("3"))
        );
        assert_eq!(
            convert(Value::from("true"), &VarType::Bool),
            Ok(Value::Bool(true))
        );
        assert!(convert(Value::from("x"), &VarType::Number).is_err());
        assert_eq!(
            convert(Value::from(vec!["a", "a", "b"]), &ty("set(string)")),
            Ok(Value::from(vec!["a", "b"]))
        );
    }
}
