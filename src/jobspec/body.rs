//! Reading one block's body: typed attribute values, sub-blocks, and a diagnostic for
//! anything the block does not take.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl::edit::structure::{Attribute, Block, Body};
use hcl::edit::Span;
use hcl::Value;

use super::diag::Diagnostic;
use super::duration::parse_duration;
use super::eval::{evaluate, Scope};
use super::value::{as_bool, kind, scalar_string};

/// Nomad features drover does not implement: named in errors as such, not as typos.
const NOT_SUPPORTED: &[&str] = &[
    "vault",
    "consul",
    "connect",
    "csi_plugin",
    "multiregion",
    "secret",
    "action",
    "schedule",
    "numa",
    "mount_options",
    "sidecar_service",
    "sidecar_task",
    "gateway",
];

/// The evaluation scope and the diagnostics collected so far.
pub struct Ctx<'a> {
    pub scope: Scope<'a>,
    pub diags: Vec<Diagnostic>,
}

/// A block body being read: what was taken from it is marked used.
pub struct Fields<'b> {
    pub path: String,
    attrs: Vec<(&'b Attribute, bool)>,
    blocks: Vec<(&'b Block, bool)>,
}

impl<'b> Fields<'b> {
    pub fn new(body: &'b Body, path: impl Into<String>) -> Self {
        Fields {
            path: path.into(),
            attrs: body.attributes().map(|a| (a, false)).collect(),
            blocks: body.blocks().map(|b| (b, false)).collect(),
        }
    }

    pub fn attr(&mut self, name: &str) -> Option<&'b Attribute> {
        let (attr, used) = self
            .attrs
            .iter_mut()
            .find(|(a, _)| a.key.as_str() == name)?;
        *used = true;
        Some(*attr)
    }

    pub fn blocks(&mut self, name: &str) -> Vec<&'b Block> {
        self.blocks
            .iter_mut()
            .filter(|(b, _)| b.ident.as_str() == name)
            .map(|(b, used)| {
                *used = true;
                *b
            })
            .collect()
    }
}

pub fn block_span(block: &Block) -> Option<Range<usize>> {
    block.ident.span().or_else(|| block.span())
}

fn attr_span(attr: &Attribute) -> Option<Range<usize>> {
    attr.value.span().or_else(|| attr.key.span())
}

impl Ctx<'_> {
    pub fn error(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let d = self.scope.src.diag(span, message);
        self.diags.push(d);
    }

    /// The attribute's value; `None` if absent, null, or not evaluable (diagnosed).
    pub fn value(&mut self, f: &mut Fields, name: &str) -> Option<(Value, Option<Range<usize>>)> {
        let attr = f.attr(name)?;
        let span = attr_span(attr);
        match evaluate(&attr.value, &self.scope) {
            Ok(Value::Null) => None,
            Ok(v) => Some((v, span)),
            Err(e) => {
                let d = e.into_diag(self.scope.src, span);
                self.diags.push(d);
                None
            }
        }
    }

    fn wrong_type(
        &mut self,
        f: &Fields,
        name: &str,
        want: &str,
        got: &Value,
        span: Option<Range<usize>>,
    ) {
        let shown = match got {
            Value::String(s) => format!("string {s:?}"),
            other => kind(other).to_string(),
        };
        self.error(
            span,
            format!("{}: {name} must be {want}, got {shown}", f.path),
        );
    }

    pub fn string(&mut self, f: &mut Fields, name: &str) -> Option<String> {
        let (v, span) = self.value(f, name)?;
        match scalar_string(&v) {
            Some(s) => Some(s),
            None => {
                self.wrong_type(f, name, "a string", &v, span);
                None
            }
        }
    }

    pub fn int(&mut self, f: &mut Fields, name: &str) -> Option<i64> {
        let (v, span) = self.value(f, name)?;
        let n = match &v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if n.is_none() {
            self.wrong_type(f, name, "a whole number", &v, span);
        }
        n
    }

    pub fn bool(&mut self, f: &mut Fields, name: &str) -> Option<bool> {
        let (v, span) = self.value(f, name)?;
        let b = as_bool(&v);
        if b.is_none() {
            self.wrong_type(f, name, "a bool", &v, span);
        }
        b
    }

    /// A Go duration string (`"10s"`) or a number of nanoseconds, as Nomad takes them.
    pub fn duration(&mut self, f: &mut Fields, name: &str) -> Option<i64> {
        let (v, span) = self.value(f, name)?;
        match &v {
            Value::String(s) => match parse_duration(s) {
                Ok(ns) => Some(ns),
                Err(e) => {
                    self.error(span, format!("{}: {name}: {e}", f.path));
                    None
                }
            },
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            _ => {
                self.wrong_type(f, name, "a duration like \"10s\"", &v, span);
                None
            }
        }
    }

    pub fn strings(&mut self, f: &mut Fields, name: &str) -> Option<Vec<String>> {
        let (v, span) = self.value(f, name)?;
        let list = match &v {
            Value::Array(items) => items.iter().map(scalar_string).collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if list.is_none() {
            self.wrong_type(f, name, "a list of strings", &v, span);
        }
        list
    }

    fn object_as_strings(
        &mut self,
        path: &str,
        name: &str,
        v: &Value,
        span: Option<Range<usize>>,
    ) -> Option<BTreeMap<String, String>> {
        let Value::Object(map) = v else {
            self.error(
                span,
                format!("{path}: {name} must be a map of strings, got {}", kind(v)),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, item) in map {
            match scalar_string(item) {
                Some(s) => {
                    out.insert(k.clone(), s);
                }
                None => self.error(
                    span.clone(),
                    format!("{path}: {name}.{k} must be a string, got {}", kind(item)),
                ),
            }
        }
        Some(out)
    }

    /// `meta`/`env`-style maps, as an attribute (`env = { "A.B" = "x" }`) or a block.
    pub fn string_map(&mut self, f: &mut Fields, name: &str) -> Option<BTreeMap<String, String>> {
        let blocks = f.blocks(name);
        if let Some((v, span)) = self.value(f, name) {
            if let Some(block) = blocks.first() {
                self.error(
                    block_span(block),
                    format!(
                        "{}: {name} is set both as an argument and as a block",
                        f.path
                    ),
                );
            }
            return self.object_as_strings(&f.path.clone(), name, &v, span);
        }
        if blocks.is_empty() {
            return None;
        }
        let mut out = BTreeMap::new();
        for block in blocks {
            self.no_labels(block, &f.path);
            let path = format!("{} > {name}", f.path);
            let mut inner = Fields::new(&block.body, path.clone());
            for (attr, _) in inner.attrs.clone() {
                let key = attr.key.as_str();
                if let Some((v, span)) = self.value(&mut inner, key) {
                    match scalar_string(&v) {
                        Some(s) => {
                            out.insert(key.to_string(), s);
                        }
                        None => self.error(
                            span,
                            format!("{path}: {key} must be a string, got {}", kind(&v)),
                        ),
                    }
                }
            }
            self.finish(inner);
        }
        Some(out)
    }

    /// A free-form value as JSON (driver `config`, scaling `policy`).
    pub fn json(&mut self, f: &mut Fields, name: &str) -> Option<serde_json::Value> {
        let (v, _) = self.value(f, name)?;
        serde_json::to_value(&v).ok()
    }

    /// A free-form block as Nomad reads it: attributes evaluated; nested blocks, by type,
    /// become lists of objects (labels ignored).
    pub fn free_form(
        &mut self,
        body: &Body,
        path: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        let mut fields = Fields::new(body, path);
        for (attr, _) in fields.attrs.clone() {
            let key = attr.key.as_str();
            if let Some(v) = self.json(&mut fields, key) {
                out.insert(key.to_string(), v);
            }
        }
        let mut seen = Vec::new();
        for block in body.blocks() {
            let ident = block.ident.as_str();
            if seen.contains(&ident) {
                continue;
            }
            seen.push(ident);
            let items: Vec<serde_json::Value> = body
                .blocks()
                .filter(|b| b.ident.as_str() == ident)
                .map(|b| {
                    serde_json::Value::Object(self.free_form(&b.body, &format!("{path} > {ident}")))
                })
                .collect();
            out.insert(ident.to_string(), serde_json::Value::Array(items));
        }
        out
    }

    /// At most one block `name`.
    pub fn single<'b>(&mut self, f: &mut Fields<'b>, name: &str) -> Option<&'b Block> {
        let blocks = f.blocks(name);
        for extra in blocks.iter().skip(1) {
            self.error(
                block_span(extra),
                format!("{}: only one {name} block is allowed", f.path),
            );
        }
        let block = blocks.first().copied()?;
        self.no_labels(block, &f.path);
        Some(block)
    }

    /// The one label of a `group "name"`-style block.
    pub fn label(&mut self, block: &Block, path: &str) -> Option<String> {
        match block.labels.as_slice() {
            [one] => Some(one.as_str().to_string()),
            labels => {
                self.error(
                    block_span(block),
                    format!(
                        "{path}: a {} block needs exactly one label, got {}",
                        block.ident.as_str(),
                        labels.len()
                    ),
                );
                None
            }
        }
    }

    pub fn no_labels(&mut self, block: &Block, path: &str) {
        if !block.labels.is_empty() {
            self.error(
                block_span(block),
                format!("{path}: a {} block takes no labels", block.ident.as_str()),
            );
        }
    }

    /// Diagnoses every attribute and block of `f` nothing took.
    pub fn finish(&mut self, f: Fields) {
        for (attr, used) in &f.attrs {
            if !used {
                let name = attr.key.as_str();
                self.error(
                    attr.key.span(),
                    format!("{}: unsupported argument {name:?}: an argument named {name:?} is not expected here", f.path),
                );
            }
        }
        for (block, used) in &f.blocks {
            if !used {
                let name = block.ident.as_str();
                let message = if name == "dynamic" {
                    format!("{}: dynamic blocks are not supported by drover", f.path)
                } else if NOT_SUPPORTED.contains(&name) {
                    format!("{}: {name} blocks are not supported by drover", f.path)
                } else {
                    format!("{}: unsupported block type {name:?}: blocks of type {name:?} are not expected here", f.path)
                };
                self.error(block_span(block), message);
            }
        }
    }
}
