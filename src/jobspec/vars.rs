//! Input variables (`variable` blocks, `-var`, `-var-file`, `NOMAD_VAR_*`) and `locals`.

use std::ops::Range;
use std::path::Path;

use hcl::edit::expr::Expression;
use hcl::edit::structure::{Block, Body};
use hcl::edit::Span;
use hcl::{Map, Value};

use super::body::{block_span, Ctx, Fields};
use super::diag::{Diagnostic, Source};
use super::eval::{evaluate, Scope};
use super::types::{convert, infer, parse_type, VarType};
use super::value::{as_bool, scalar_string};

#[derive(Debug)]
pub struct Variable {
    pub name: String,
    /// Declared, or inferred from the default (as Nomad does).
    ty: Option<VarType>,
    value: Option<Value>,
    span: Option<Range<usize>>,
    validations: Vec<(Expression, Expression, Option<Range<usize>>)>,
}

/// Where variable values come from besides the defaults, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `NOMAD_VAR_<name>=<value>` from the environment.
    pub env: Vec<(String, String)>,
    /// `-var-file` paths, in order.
    pub files: Vec<std::path::PathBuf>,
    /// `-var name=value`, in order.
    pub args: Vec<String>,
    /// Undefined variables given values are errors (Nomad's `-hcl2-strict`, default on).
    pub strict: bool,
}

/// `variable "name" {}` and `variables {}` blocks of the file.
pub fn declare(ctx: &mut Ctx, body: &Body) -> Vec<Variable> {
    let mut vars: Vec<Variable> = Vec::new();
    let defaults_scope = Scope {
        vars: None,
        locals: None,
        functions: false,
        runtime: false,
        ..ctx.scope
    };
    let mut push = |ctx: &mut Ctx, var: Variable| {
        if vars.iter().any(|v| v.name == var.name) {
            let message = format!(
                "Duplicate variable {:?}: a variable can be declared only once",
                var.name
            );
            ctx.error(var.span.clone(), message);
        } else {
            vars.push(var);
        }
    };
    for block in body.blocks() {
        match block.ident.as_str() {
            "variable" => {
                if let Some(var) = declare_block(ctx, block, &defaults_scope) {
                    push(ctx, var);
                }
            }
            "variables" => {
                ctx.no_labels(block, "variables");
                for attr in block.body.attributes() {
                    let value = match evaluate(&attr.value, &defaults_scope) {
                        Ok(v) => Some(v),
                        Err(e) => {
                            let d = e.into_diag(ctx.scope.src, attr.value.span());
                            ctx.diags.push(d);
                            None
                        }
                    };
                    let var = Variable {
                        name: attr.key.as_str().to_string(),
                        ty: value.as_ref().map(infer),
                        value,
                        span: attr.key.span(),
                        validations: Vec::new(),
                    };
                    push(ctx, var);
                }
                if let Some(b) = block.body.blocks().next() {
                    ctx.error(block_span(b), "variables: blocks are not allowed here");
                }
            }
            _ => {}
        }
    }
    vars
}

fn declare_block(ctx: &mut Ctx, block: &Block, defaults: &Scope) -> Option<Variable> {
    let name = ctx.label(block, "variable")?;
    if !valid_identifier(&name) {
        ctx.error(
            block_span(block),
            format!("Invalid variable name {name:?}: a name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes"),
        );
    }
    let path = format!("variable {name:?}");
    let mut f = Fields::new(&block.body, path.clone());
    let ty = f
        .attr("type")
        .and_then(|attr| match parse_type(&attr.value) {
            Ok(t) => Some(t),
            Err(m) => {
                ctx.error(attr.value.span(), format!("{path}: {m}"));
                None
            }
        });
    let default = f.attr("default").and_then(|attr| {
        let value = match evaluate(&attr.value, defaults) {
            Ok(v) => v,
            Err(e) => {
                let d = e.into_diag(ctx.scope.src, attr.value.span());
                ctx.diags.push(d);
                return None;
            }
        };
        match &ty {
            Some(t) => match convert(value, t) {
                Ok(v) => Some(v),
                Err(m) => {
                    ctx.error(
                        attr.value.span(),
                        format!(
                            "{path}: the default value does not match the variable's type: {m}"
                        ),
                    );
                    None
                }
            },
            None => Some(value),
        }
    });
    f.attr("description");
    f.attr("sensitive");
    f.attr("nullable");
    let mut validations = Vec::new();
    for v in f.blocks("validation") {
        ctx.no_labels(v, &path);
        let vpath = format!("{path} > validation");
        let mut vf = Fields::new(&v.body, vpath.clone());
        match (vf.attr("condition"), vf.attr("error_message")) {
            (Some(c), Some(m)) => {
                validations.push((c.value.clone(), m.value.clone(), block_span(v)))
            }
            _ => ctx.error(
                block_span(v),
                format!("{vpath}: needs both condition and error_message"),
            ),
        }
        ctx.finish(vf);
    }
    ctx.finish(f);
    Some(Variable {
        ty: ty.or_else(|| default.as_ref().map(infer)),
        name,
        value: default,
        span: block_span(block),
        validations,
    })
}

fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// A `-var`/`NOMAD_VAR_` string for a variable: taken literally for strings, numbers
/// and untyped variables, parsed as an HCL expression for the rest (Nomad's rule).
fn from_text(text: &str, ty: Option<&VarType>, origin: &str) -> Result<Value, String> {
    let literal = matches!(
        ty,
        None | Some(VarType::Any | VarType::String | VarType::Number)
    );
    let value = if literal {
        Value::from(text)
    } else {
        let expr = hcl::edit::parser::parse_expr(text)
            .map_err(|e| format!("{origin}: {}", e.message()))?;
        let src = Source::new(origin, text);
        let scope = Scope {
            src: &src,
            vars: None,
            locals: None,
            functions: false,
            runtime: false,
            base_dir: Path::new("."),
        };
        evaluate(&expr, &scope).map_err(|e| format!("{origin}: {}", e.message))?
    };
    match ty {
        Some(t) => convert(value, t).map_err(|e| format!("{origin}: {e}")),
        None => Ok(value),
    }
}

/// Applies the environment, var files and `-var` flags (in that order of precedence),
/// then checks every variable has a value and passes its validations.
pub fn assign(ctx: &mut Ctx, vars: &mut [Variable], inputs: &VarInputs) -> Map<String, Value> {
    let file = ctx.scope.src.name.clone();
    for (name, text) in &inputs.env {
        if let Some(var) = vars.iter_mut().find(|v| &v.name == name) {
            match from_text(text, var.ty.as_ref(), &format!("NOMAD_VAR_{name}")) {
                Ok(v) => var.value = Some(v),
                Err(m) => ctx.diags.push(Diagnostic::file(
                    &file,
                    format!("invalid value for variable {name:?}: {m}"),
                )),
            }
        }
    }
    for path in &inputs.files {
        read_var_file(ctx, vars, path, inputs.strict);
    }
    for arg in &inputs.args {
        let (name, text) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        match vars.iter_mut().find(|v| v.name == name) {
            Some(var) => match from_text(text, var.ty.as_ref(), &format!("-var {name}")) {
                Ok(v) => var.value = Some(v),
                Err(m) => ctx.diags.push(Diagnostic::file(&file, format!("invalid value for variable {name:?}: {m}"))),
            },
            None if inputs.strict => ctx.diags.push(Diagnostic::file(
                &file,
                format!("Undefined -var variable: a {name:?} variable was passed in the command line but was not found in known variables; to declare it, add a variable {name:?} block to the job file"),
            )),
            None => {}
        }
    }
    let mut values = Map::new();
    for var in vars.iter() {
        match &var.value {
            Some(v) => {
                values.insert(var.name.clone(), v.clone());
            }
            None => ctx.error(
                var.span.clone(),
                format!(
                    "Unset variable {:?}: a used variable must be set or have a default value",
                    var.name
                ),
            ),
        }
    }
    let scope = Scope {
        vars: Some(&values),
        locals: None,
        functions: true,
        runtime: false,
        ..ctx.scope
    };
    for var in vars.iter().filter(|v| v.value.is_some()) {
        for (condition, message, span) in &var.validations {
            let passed = evaluate(condition, &scope).map(|v| as_bool(&v));
            let message = evaluate(message, &scope)
                .ok()
                .and_then(|m| scalar_string(&m))
                .unwrap_or_default();
            match passed {
                Ok(Some(true)) => {}
                Ok(Some(false)) => {
                    let d = ctx.scope.src.diag(
                        span.clone(),
                        format!("Invalid value for variable {:?}: {message}", var.name),
                    );
                    ctx.diags.push(d);
                }
                Ok(None) => {
                    let d = ctx.scope.src.diag(
                        condition.span(),
                        "Invalid variable validation condition: it must be true or false",
                    );
                    ctx.diags.push(d);
                }
                Err(e) => {
                    let d = e.into_diag(ctx.scope.src, span.clone());
                    ctx.diags.push(d);
                }
            }
        }
    }
    values
}

/// A `-var-file`: `name = value` lines in HCL (or a JSON object), values only.
fn read_var_file(ctx: &mut Ctx, vars: &mut [Variable], path: &Path, strict: bool) {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            ctx.diags
                .push(Diagnostic::file(&name, format!("reading var file: {e}")));
            return;
        }
    };
    let src = Source::new(name.clone(), text);
    let mut assign_one = |ctx: &mut Ctx,
                          key: &str,
                          value: Result<Value, String>,
                          span: Option<Range<usize>>| {
        let Some(var) = vars.iter_mut().find(|v| v.name == key) else {
            if strict {
                ctx.diags.push(src.diag(span, format!("Undefined variable: a {key:?} variable was set but was not found in known variables; to declare it, add a variable {key:?} block to the job file")));
            }
            return;
        };
        match value.and_then(|v| match &var.ty {
            Some(t) => convert(v, t),
            None => Ok(v),
        }) {
            Ok(v) => var.value = Some(v),
            Err(m) => ctx
                .diags
                .push(src.diag(span, format!("invalid value for variable {key:?}: {m}"))),
        }
    };
    if src.text.trim_start().starts_with('{') {
        match serde_json::from_str::<Map<String, Value>>(&src.text) {
            Ok(map) => {
                for (key, value) in map {
                    assign_one(ctx, &key, Ok(value), None);
                }
            }
            Err(e) => ctx.diags.push(Diagnostic::file(
                &name,
                format!("parsing var file as JSON: {e}"),
            )),
        }
        return;
    }
    let body = match hcl::edit::parser::parse_body(&src.text) {
        Ok(b) => b,
        Err(e) => {
            ctx.diags.push(src.diag(
                Some(e.location().offset()..e.location().offset()),
                e.message().to_string(),
            ));
            return;
        }
    };
    for block in body.blocks() {
        let message = if block.ident.as_str() == "variable" {
            "Variable declaration in a var file: a var file assigns values (name = value) to variables the job file declares"
        } else {
            "blocks are not allowed in a var file"
        };
        ctx.diags.push(src.diag(block_span(block), message));
    }
    let scope = Scope {
        src: &src,
        vars: None,
        locals: None,
        functions: false,
        runtime: false,
        base_dir: ctx.scope.base_dir,
    };
    for attr in body.attributes() {
        let value = evaluate(&attr.value, &scope).map_err(|e| e.message);
        assign_one(ctx, attr.key.as_str(), value, attr.key.span());
    }
}

/// `locals {}` blocks, evaluated in dependency order (a local may use later ones).
pub fn locals(ctx: &mut Ctx, body: &Body, vars: &Map<String, Value>) -> Map<String, Value> {
    let mut pending: Vec<(String, &Expression, Option<Range<usize>>)> = Vec::new();
    for block in body.blocks().filter(|b| b.ident.as_str() == "locals") {
        ctx.no_labels(block, "locals");
        for attr in block.body.attributes() {
            let name = attr.key.as_str().to_string();
            if pending.iter().any(|(n, _, _)| *n == name) {
                ctx.error(
                    attr.key.span(),
                    format!(
                        "Duplicate local value {name:?}: a local value can be defined only once"
                    ),
                );
                continue;
            }
            pending.push((name, &attr.value, attr.value.span()));
        }
        if let Some(b) = block.body.blocks().next() {
            ctx.error(block_span(b), "locals: blocks are not allowed here");
        }
    }
    let mut values = Map::new();
    while !pending.is_empty() {
        let mut progress = false;
        let mut waiting = Vec::new();
        let mut last_errors = Vec::new();
        for (name, expr, span) in pending {
            let scope = Scope {
                vars: Some(vars),
                locals: Some(&values),
                functions: true,
                runtime: true,
                ..ctx.scope
            };
            match evaluate(expr, &scope) {
                Ok(v) => {
                    values.insert(name, v);
                    progress = true;
                }
                Err(e) if e.missing_local => {
                    last_errors.push(e.into_diag(ctx.scope.src, span.clone()));
                    waiting.push((name, expr, span));
                }
                Err(e) => {
                    let d = e.into_diag(ctx.scope.src, span);
                    ctx.diags.push(d);
                }
            }
        }
        if !progress && !waiting.is_empty() {
            // What is left refers to locals that do not exist or to each other.
            ctx.diags.extend(last_errors);
            break;
        }
        pending = waiting;
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str) -> VarType {
        parse_type(&hcl::edit::parser::parse_expr(src).unwrap()).unwrap()
    }

    #[test]
    fn var_text_follows_the_type() {
        assert_eq!(
            from_text("5", Some(&VarType::Number), "-var n"),
            Ok(Value::from(5))
        );
        assert_eq!(
            from_text("[1, 2]", None, "-var n"),
            Ok(Value::from("[1, 2]"))
        );
        assert_eq!(
            from_text("[\"a\", \"b\"]", Some(&ty("list(string)")), "-var l"),
            Ok(Value::from(vec!["a", "b"]))
        );
        assert_eq!(
            from_text("false", Some(&VarType::Bool), "-var b"),
            Ok(Value::Bool(false))
        );
        assert!(from_text("[1", Some(&ty("list(number)")), "-var l").is_err());
    }
}
