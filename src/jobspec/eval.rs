//! Evaluating HCL expressions of a job file, as Nomad's HCL2 parser does.
//!
//! `var.*`, `local.*`, functions, operators, conditionals, `for` expressions and string
//! templates (with `%{if}`/`%{for}` directives) are evaluated. A reference whose root is
//! none of those — `${NOMAD_PORT_db}`, `${node.unique.name}`, `${attr.kernel.name}`,
//! `${meta.x}`, `${env["X"]}` — is a runtime interpolation for the client: it evaluates
//! to its own source text (wrapped in `${…}`), exactly where Nomad keeps it.

use std::ops::Range;
use std::path::Path;

use hcl::edit::expr::{BinaryOperator, Expression, ForExpr, FuncCall, ObjectKey};
use hcl::edit::expr::{TraversalOperator, UnaryOperator};
use hcl::edit::template::{Directive, Element, Template};
use hcl::edit::{Decorated, Span};
use hcl::{Map, Value};

use super::diag::{Diagnostic, Source};
use super::funcs;
use super::value::{
    arithmetic, as_bool, as_f64, binary, index, iterate, kind, scalar_string, template_string,
};

/// What names and functions an expression may use.
pub struct Scope<'a> {
    pub src: &'a Source,
    /// `var.*`; `None` where variables may not be used (defaults, var files).
    pub vars: Option<&'a Map<String, Value>>,
    /// `local.*`.
    pub locals: Option<&'a Map<String, Value>>,
    pub functions: bool,
    /// Keep references with unknown roots as `${…}` text (job bodies and locals).
    pub runtime: bool,
    /// Where `file()` paths start: the job file's directory.
    pub base_dir: &'a Path,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub span: Option<Range<usize>>,
    pub message: String,
    /// A `local.x` not evaluated (yet): locals are retried in dependency order.
    pub missing_local: bool,
}

impl EvalError {
    fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        EvalError {
            span,
            message: message.into(),
            missing_local: false,
        }
    }

    pub fn into_diag(self, src: &Source, fallback: Option<Range<usize>>) -> Diagnostic {
        src.diag(self.span.or(fallback), self.message)
    }
}

type Result<T> = std::result::Result<T, EvalError>;

pub fn evaluate(expr: &Expression, scope: &Scope) -> Result<Value> {
    Evaluator {
        scope,
        bound: Vec::new(),
    }
    .eval(expr)
}

struct Evaluator<'s, 'a> {
    scope: &'s Scope<'a>,
    /// Names bound by enclosing `for` expressions and directives, innermost last.
    bound: Vec<(String, Value)>,
}

impl Evaluator<'_, '_> {
    fn eval(&mut self, expr: &Expression) -> Result<Value> {
        match expr {
            Expression::Null(_) => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b.value())),
            Expression::Number(n) => Ok(Value::Number(*n.value())),
            Expression::String(s) => Ok(Value::String(s.value().clone())),
            Expression::Array(items) => items
                .iter()
                .map(|e| self.eval(e))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            Expression::Object(object) => {
                let mut out = Map::new();
                for (key, value) in object.iter() {
                    let name = match key {
                        ObjectKey::Ident(ident) => ident.as_str().to_string(),
                        ObjectKey::Expression(e) => {
                            let key_value = self.eval(e)?;
                            scalar_string(&key_value).ok_or_else(|| {
                                EvalError::new(e.span(), "object keys must be strings")
                            })?
                        }
                    };
                    out.insert(name, self.eval(value.expr())?);
                }
                Ok(Value::Object(out))
            }
            Expression::StringTemplate(t) => self.template(t, t.span()),
            Expression::HeredocTemplate(h) => self.template(&h.template, h.span()),
            Expression::Parenthesis(p) => self.eval(p.inner()),
            Expression::Variable(v) => self.variable(v, &[], v.span()),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(v) => self.variable(v, &t.operators, t.span()),
                base => {
                    let value = self.eval(base)?;
                    self.apply(value, &t.operators)
                }
            },
            Expression::Conditional(c) => {
                if self.boolean(&c.cond_expr)? {
                    self.eval(&c.true_expr)
                } else {
                    self.eval(&c.false_expr)
                }
            }
            Expression::FuncCall(call) => self.call(call),
            Expression::UnaryOp(op) => {
                let value = self.eval(&op.expr)?;
                match op.operator.value() {
                    UnaryOperator::Not => match as_bool(&value) {
                        Some(b) => Ok(Value::Bool(!b)),
                        None => Err(EvalError::new(op.span(), "operand of ! must be a bool")),
                    },
                    UnaryOperator::Neg => match as_f64(&value) {
                        Some(_) => arithmetic(Value::from(0), value, BinaryOperator::Minus)
                            .map_err(|m| EvalError::new(op.span(), m)),
                        None => Err(EvalError::new(op.span(), "operand of - must be a number")),
                    },
                }
            }
            Expression::BinaryOp(op) => {
                let lhs = self.eval(&op.lhs_expr)?;
                let rhs = self.eval(&op.rhs_expr)?;
                binary(lhs, *op.operator.value(), rhs).map_err(|m| EvalError::new(op.span(), m))
            }
            Expression::ForExpr(f) => self.for_expr(f),
        }
    }

    fn boolean(&mut self, expr: &Expression) -> Result<bool> {
        let value = self.eval(expr)?;
        as_bool(&value).ok_or_else(|| {
            EvalError::new(
                expr.span(),
                format!("condition must be a bool, got {}", kind(&value)),
            )
        })
    }

    /// A reference: a `for` variable, `var.x`, `local.x`, or a runtime interpolation.
    fn variable(
        &mut self,
        root: &Decorated<hcl::edit::Ident>,
        ops: &[Decorated<TraversalOperator>],
        span: Option<Range<usize>>,
    ) -> Result<Value> {
        let name = root.as_str();
        if let Some((_, value)) = self.bound.iter().rev().find(|(n, _)| n == name) {
            let value = value.clone();
            return self.apply(value, ops);
        }
        let first_attr = match ops.first().map(|o| o.value()) {
            Some(TraversalOperator::GetAttr(attr)) => Some(attr.as_str()),
            _ => None,
        };
        match (name, self.scope.vars, self.scope.locals) {
            ("var", Some(vars), _) => match first_attr {
                Some(attr) => match vars.get(attr) {
                    Some(value) => self.apply(value.clone(), &ops[1..]),
                    None => Err(EvalError::new(
                        span,
                        format!("unknown variable var.{attr}: no variable \"{attr}\" is declared"),
                    )),
                },
                None => self.apply(Value::Object(vars.clone()), ops),
            },
            ("local", _, Some(locals)) => match first_attr {
                Some(attr) => match locals.get(attr) {
                    Some(value) => self.apply(value.clone(), &ops[1..]),
                    None => Err(EvalError {
                        span,
                        message: format!("unknown local value local.{attr}"),
                        missing_local: true,
                    }),
                },
                None => self.apply(Value::Object(locals.clone()), ops),
            },
            _ if self.scope.runtime => {
                // Keep the reference (and the static part of its traversal) as text.
                let literal_ops = ops
                    .iter()
                    .take_while(|o| match o.value() {
                        TraversalOperator::GetAttr(_) | TraversalOperator::LegacyIndex(_) => true,
                        TraversalOperator::Index(e) => {
                            matches!(e, Expression::String(_) | Expression::Number(_))
                        }
                        _ => false,
                    })
                    .count();
                let end = match literal_ops {
                    0 => root.span(),
                    n => ops[n - 1].span(),
                };
                let text = match (root.span(), end) {
                    (Some(start), Some(end)) => self.runtime_text(start.start..end.end),
                    _ => format!("${{{name}}}"),
                };
                self.apply(Value::String(text), &ops[literal_ops..])
            }
            _ => Err(EvalError::new(
                span,
                format!("variables may not be used here (found {name:?})"),
            )),
        }
    }

    /// Nomad's rendering of an unknown reference: the enclosing `${ … }` when the
    /// reference is all the interpolation holds, else the reference wrapped in `${}`.
    fn runtime_text(&self, span: Range<usize>) -> String {
        let text = &self.scope.src.text;
        let bytes = text.as_bytes();
        let mut start = span.start;
        while start > 0 && bytes[start - 1] == b' ' {
            start -= 1;
        }
        if start >= 2 && &bytes[start - 2..start] == b"${" {
            let mut end = span.end;
            while end < bytes.len() && bytes[end] == b' ' {
                end += 1;
            }
            if end < bytes.len() && bytes[end] == b'}' {
                return text[start - 2..=end].to_string();
            }
            return format!("{}}}", &text[start - 2..span.end]);
        }
        format!("${{{}}}", &text[span])
    }

    fn apply(&mut self, mut value: Value, ops: &[Decorated<TraversalOperator>]) -> Result<Value> {
        for (i, op) in ops.iter().enumerate() {
            value = match op.value() {
                TraversalOperator::GetAttr(attr) => match value {
                    Value::Object(mut map) => map.swap_remove(attr.as_str()).ok_or_else(|| {
                        EvalError::new(
                            op.span(),
                            format!("object has no attribute {:?}", attr.as_str()),
                        )
                    })?,
                    other => {
                        return Err(EvalError::new(
                            op.span(),
                            format!(
                                "cannot read attribute {:?} of a {}",
                                attr.as_str(),
                                kind(&other)
                            ),
                        ))
                    }
                },
                TraversalOperator::Index(expr) => {
                    let key = self.eval(expr)?;
                    index(value, &key).map_err(|m| EvalError::new(op.span(), m))?
                }
                TraversalOperator::LegacyIndex(n) => index(value, &Value::from(*n.value()))
                    .map_err(|m| EvalError::new(op.span(), m))?,
                TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                    let items = match value {
                        Value::Array(items) => items,
                        Value::Null => Vec::new(),
                        other => vec![other],
                    };
                    let rest = &ops[i + 1..];
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.apply(item, rest)?);
                    }
                    return Ok(Value::Array(out));
                }
            };
        }
        Ok(value)
    }

    fn call(&mut self, call: &FuncCall) -> Result<Value> {
        let name = call.name.name.as_str();
        let span = call.span();
        if call.name.is_namespaced() {
            let full: Vec<&str> = call
                .name
                .namespace
                .iter()
                .map(|n| n.as_str())
                .chain([name])
                .collect();
            return Err(EvalError::new(
                span,
                format!("function {:?} is not supported", full.join("::")),
            ));
        }
        // try() and can() see their arguments' errors, so they evaluate lazily.
        if name == "try" || name == "can" {
            if !self.scope.functions {
                return Err(EvalError::new(span, "functions may not be called here"));
            }
            let args: Vec<&Expression> = call.args.iter().collect();
            if name == "can" {
                if args.len() != 1 {
                    return Err(EvalError::new(span, "can() takes exactly one argument"));
                }
                return Ok(Value::Bool(self.eval(args[0]).is_ok()));
            }
            let mut last = None;
            for arg in &args {
                match self.eval(arg) {
                    Ok(v) => return Ok(v),
                    Err(e) => last = Some(e),
                }
            }
            return Err(
                last.unwrap_or_else(|| EvalError::new(span, "try() needs at least one argument"))
            );
        }
        let mut args = Vec::new();
        for arg in call.args.iter() {
            args.push(self.eval(arg)?);
        }
        if call.args.expand_final() {
            match args.pop() {
                Some(Value::Array(items)) => args.extend(items),
                _ => {
                    return Err(EvalError::new(
                        span,
                        "the final argument before ... must be a list",
                    ))
                }
            }
        }
        if !self.scope.functions {
            return Err(EvalError::new(span, "functions may not be called here"));
        }
        funcs::call(name, args, self.scope.base_dir).map_err(|m| EvalError::new(span, m))
    }

    fn for_expr(&mut self, f: &ForExpr) -> Result<Value> {
        let collection = self.eval(&f.intro.collection_expr)?;
        let items =
            iterate(collection).map_err(|m| EvalError::new(f.intro.collection_expr.span(), m))?;
        let key_var = f.intro.key_var.as_ref().map(|k| k.as_str().to_string());
        let value_var = f.intro.value_var.as_str().to_string();
        let mut list = Vec::new();
        let mut object = Map::new();
        for (key, value) in items {
            let depth = self.bound.len();
            if let Some(k) = &key_var {
                self.bound.push((k.clone(), key));
            }
            self.bound.push((value_var.clone(), value));
            let result = self.for_item(f, &mut list, &mut object);
            self.bound.truncate(depth);
            result?;
        }
        Ok(if f.key_expr.is_some() {
            Value::Object(object)
        } else {
            Value::Array(list)
        })
    }

    fn for_item(
        &mut self,
        f: &ForExpr,
        list: &mut Vec<Value>,
        object: &mut Map<String, Value>,
    ) -> Result<()> {
        if let Some(cond) = &f.cond {
            if !self.boolean(&cond.expr)? {
                return Ok(());
            }
        }
        let value = self.eval(&f.value_expr)?;
        match &f.key_expr {
            None => list.push(value),
            Some(key_expr) => {
                let key = self.eval(key_expr)?;
                let key = scalar_string(&key).ok_or_else(|| {
                    EvalError::new(key_expr.span(), "for expression keys must be strings")
                })?;
                if f.grouping {
                    match object
                        .entry(key)
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        Value::Array(group) => group.push(value),
                        _ => unreachable!("grouped values are lists"),
                    }
                } else if object.insert(key.clone(), value).is_some() {
                    return Err(EvalError::new(
                        key_expr.span(),
                        format!("duplicate key {key:?} in for expression (use ... to group)"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A template's value: its text, or the value itself when it is one interpolation
    /// (`"${var.count}"` is a number, as in HCL).
    fn template(&mut self, template: &Template, span: Option<Range<usize>>) -> Result<Value> {
        let elements: Vec<&Element> = template.iter().collect();
        if let [Element::Interpolation(only)] = elements[..] {
            return self.eval(&only.expr);
        }
        let mut out = String::new();
        self.render(template, &mut out, span)?;
        Ok(Value::String(out))
    }

    fn render(
        &mut self,
        template: &Template,
        out: &mut String,
        span: Option<Range<usize>>,
    ) -> Result<()> {
        let mut strip_next = false;
        for element in template.iter() {
            match element {
                Element::Literal(text) => {
                    let text = text.value().as_str();
                    out.push_str(if strip_next { text.trim_start() } else { text });
                    strip_next = false;
                }
                Element::Interpolation(interp) => {
                    if interp.strip.strip_start() {
                        trim_end(out);
                    }
                    let value = self.eval(&interp.expr)?;
                    out.push_str(
                        &template_string(&value)
                            .map_err(|m| EvalError::new(interp.expr.span().or(span.clone()), m))?,
                    );
                    strip_next = interp.strip.strip_end();
                }
                Element::Directive(directive) => match directive.as_ref() {
                    Directive::If(d) => {
                        if d.if_expr.strip.strip_start() {
                            trim_end(out);
                        }
                        let branch = if self.boolean(&d.if_expr.cond_expr)? {
                            Some(&d.if_expr.template)
                        } else {
                            d.else_expr.as_ref().map(|e| &e.template)
                        };
                        if let Some(branch) = branch {
                            let mut part = String::new();
                            self.render(branch, &mut part, span.clone())?;
                            out.push_str(if d.if_expr.strip.strip_end() {
                                part.trim_start()
                            } else {
                                &part
                            });
                        }
                        strip_next = d.endif_expr.strip.strip_end();
                    }
                    Directive::For(d) => {
                        let f = &d.for_expr;
                        if f.strip.strip_start() {
                            trim_end(out);
                        }
                        let collection = self.eval(&f.collection_expr)?;
                        let items = iterate(collection)
                            .map_err(|m| EvalError::new(f.collection_expr.span(), m))?;
                        for (key, value) in items {
                            let depth = self.bound.len();
                            if let Some(k) = &f.key_var {
                                self.bound.push((k.as_str().to_string(), key));
                            }
                            self.bound.push((f.value_var.as_str().to_string(), value));
                            let mut part = String::new();
                            let result = self.render(&f.template, &mut part, span.clone());
                            self.bound.truncate(depth);
                            result?;
                            out.push_str(if f.strip.strip_end() {
                                part.trim_start()
                            } else {
                                &part
                            });
                        }
                        strip_next = d.endfor_expr.strip.strip_end();
                    }
                },
            }
        }
        Ok(())
    }
}

fn trim_end(s: &mut String) {
    let len = s.trim_end().len();
    s.truncate(len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::Number;

    fn eval_in(src_text: &str, vars: &Map<String, Value>) -> Result<Value> {
        let src = Source::new("t.hcl", src_text);
        let body = hcl::edit::parser::parse_body(src_text).unwrap();
        let attr = body.attributes().next().unwrap();
        let locals = Map::new();
        let scope = Scope {
            src: &src,
            vars: Some(vars),
            locals: Some(&locals),
            functions: true,
            runtime: true,
            base_dir: Path::new("."),
        };
        evaluate(&attr.value, &scope)
    }

    fn eval(src_text: &str) -> Value {
        let mut vars = Map::new();
        vars.insert("name".into(), Value::from("web"));
        vars.insert("n".into(), Value::from(3));
        vars.insert("list".into(), Value::from(vec!["a", "b"]));
        eval_in(src_text, &vars).unwrap_or_else(|e| panic!("{src_text}: {e:?}"))
    }

    #[test]
    fn runtime_interpolations_stay_text() {
        let cases = [
            (r#"x = "${NOMAD_PORT_db}""#, "${NOMAD_PORT_db}"),
            (r#"x = "${ node.unique.name }""#, "${ node.unique.name }"),
            (
                r#"x = "http://${attr.unique.network.ip-address}:80""#,
                "http://${attr.unique.network.ip-address}:80",
            ),
            (r#"x = "${meta.rack}-${var.name}""#, "${meta.rack}-web"),
            (r#"x = "${env["HOME"]}/x""#, r#"${env["HOME"]}/x"#),
            ("x = node.class", "${node.class}"),
            (
                "x = <<EOT\nport ${NOMAD_PORT_http} for ${var.name}\nEOT\n",
                "port ${NOMAD_PORT_http} for web\n",
            ),
            (
                "x = <<-EOT\n    a ${NOMAD_TASK_DIR}\n    EOT\n",
                "a ${NOMAD_TASK_DIR}\n",
            ),
            (r#"x = "$${literal} %%{x}""#, "${literal} %{x}"),
            (
                r#"x = "{{ env \"NOMAD_ALLOC_ID\" }}""#,
                r#"{{ env "NOMAD_ALLOC_ID" }}"#,
            ),
        ];
        for (src, want) in cases {
            assert_eq!(eval(src), Value::from(want), "{src}");
        }
    }

    #[test]
    fn expressions() {
        let cases: Vec<(&str, Value)> = vec![
            ("x = var.n * 2 + 1", Value::from(7)),
            (
                "x = var.n / 2",
                Value::Number(Number::from_f64(1.5).unwrap()),
            ),
            ("x = \"${var.n}\"", Value::from(3)),
            ("x = var.n > 2 ? \"big\" : \"small\"", Value::from("big")),
            (
                "x = [for s in var.list : upper(s)]",
                Value::from(vec!["A", "B"]),
            ),
            ("x = {for i, s in var.list : s => i}", {
                let mut m = Map::new();
                m.insert("a".into(), Value::from(0));
                m.insert("b".into(), Value::from(1));
                Value::Object(m)
            }),
            (
                "x = \"%{ for s in var.list }${s};%{ endfor }\"",
                Value::from("a;b;"),
            ),
            (
                "x = \"%{ if var.n == 3 }three%{ else }other%{ endif }\"",
                Value::from("three"),
            ),
            ("x = var.list[1]", Value::from("b")),
            (
                "x = join(\",\", concat(var.list, [\"c\"]))",
                Value::from("a,b,c"),
            ),
            (
                "x = format(\"%s-%03d\", var.name, var.n)",
                Value::from("web-003"),
            ),
            ("x = try(var.list[5], \"none\")", Value::from("none")),
            ("x = can(var.list[5])", Value::Bool(false)),
            ("x = !true || false", Value::Bool(false)),
            ("x = -var.n", Value::from(-3)),
            ("x = [{a = 1}, {a = 2}][*].a", Value::from(vec![1, 2])),
        ];
        for (src, want) in cases {
            assert_eq!(eval(src), want, "{src}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let vars = Map::new();
        let err = eval_in("x = var.missing", &vars).unwrap_err();
        assert_eq!(
            err.message,
            "unknown variable var.missing: no variable \"missing\" is declared"
        );
        assert_eq!(err.span, Some(4..15));
        let err = eval_in("x = nosuch(1)", &vars).unwrap_err();
        assert_eq!(err.message, "function \"nosuch\" is not supported");
        let err = eval_in("x = local.later", &vars).unwrap_err();
        assert!(err.missing_local);
        let err = eval_in("x = \"a${[1]}\"", &vars).unwrap_err();
        assert_eq!(err.message, "cannot include a list in a string template");
    }
}
