//! Job files → [`Job`]: Nomad's HCL2 job specification (with variables, locals and
//! functions) and the API's JSON form (`{"Job": {...}}` or a bare job object).
//!
//! The parser returns the job as written; `Job::canonicalize` adds Nomad's defaults.
//! Every error names the file, line and column, and the block it is in.

mod blocks;
mod body;
mod diag;
mod duration;
mod eval;
mod format;
mod funcs;
mod job;
mod task;
mod types;
mod value;
mod vars;

use std::path::{Path, PathBuf};

use hcl::Map;

use crate::structs::{job_from_api_json, Job};

use diag::Source;
pub use diag::{Diagnostic, JobspecError};

/// How to read a job file: variable values, strictness, format.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// `-var name=value`, in order (later wins).
    pub vars: Vec<String>,
    /// `-var-file` paths, in order.
    pub var_files: Vec<PathBuf>,
    /// `NOMAD_VAR_<name>` values (see [`ParseOptions::env_vars`]).
    pub env: Vec<(String, String)>,
    /// Values for undeclared variables are errors (`-hcl2-strict`, default true).
    pub strict: bool,
    /// Read the file as JSON whatever it looks like (`-json`).
    pub json: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            vars: Vec::new(),
            var_files: Vec::new(),
            env: Vec::new(),
            strict: true,
            json: false,
        }
    }
}

impl ParseOptions {
    /// The process environment's `NOMAD_VAR_<name>=<value>` pairs.
    pub fn env_vars() -> Vec<(String, String)> {
        std::env::vars()
            .filter_map(|(k, v)| {
                k.strip_prefix("NOMAD_VAR_")
                    .filter(|name| !name.is_empty())
                    .map(|name| (name.to_string(), v))
            })
            .collect()
    }
}

/// Reads and parses a job file; `-` reads standard input.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<Job, JobspecError> {
    let name = path.display().to_string();
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| Diagnostic::file("<stdin>", format!("reading: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::file(&name, format!("reading the job file: {e}")))?
    };
    let base_dir = path.parent().unwrap_or(Path::new("."));
    parse_str(&name, &text, base_dir, opts)
}

/// Parses job file text; `name` is used in errors, `base_dir` by `file()`.
pub fn parse_str(
    name: &str,
    text: &str,
    base_dir: &Path,
    opts: &ParseOptions,
) -> Result<Job, JobspecError> {
    if opts.json || text.trim_start().starts_with('{') {
        parse_json(name, text)
    } else {
        parse_hcl(Source::new(name, text), base_dir, opts)
    }
}

/// The API's JSON: `{"Job": {...}}`, or the job object alone.
fn parse_json(name: &str, text: &str) -> Result<Job, JobspecError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let at = offset_of(text, e.line(), e.column());
        Source::new(name, text).diag(Some(at..at), format!("invalid JSON: {e}"))
    })?;
    let serde_json::Value::Object(mut top) = value else {
        return Err(
            Diagnostic::file(name, "a JSON job must be an object: {\"Job\": {...}}").into(),
        );
    };
    let (job, prefix) = match top.remove("Job") {
        Some(job) => (job, "Job."),
        None if top.contains_key("job") => {
            return Err(Diagnostic::file(
                name,
                "HCL's JSON syntax ({\"job\": {\"name\": {...}}}) is not supported; use HCL or the API's JSON ({\"Job\": {...}})",
            )
            .into())
        }
        None => (serde_json::Value::Object(top), ""),
    };
    job_from_api_json(job).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{prefix}{path}: ")
        };
        Diagnostic::file(name, format!("{at}{}", e.inner())).into()
    })
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

fn parse_hcl(src: Source, base_dir: &Path, opts: &ParseOptions) -> Result<Job, JobspecError> {
    let body = hcl::edit::parser::parse_body(&src.text).map_err(|e| {
        let at = e.location().offset();
        src.diag(Some(at..at), e.message().to_string())
    })?;
    let scope = eval::Scope {
        src: &src,
        vars: None,
        locals: None,
        functions: false,
        runtime: false,
        base_dir,
    };
    let mut ctx = body::Ctx {
        scope,
        diags: Vec::new(),
    };
    for attr in body.attributes() {
        ctx.error(
            hcl::edit::Span::span(&attr.key),
            format!("unsupported argument {:?}: only variable, variables, locals and job blocks may appear at the top of a job file", attr.key.as_str()),
        );
    }
    let mut jobs = Vec::new();
    for block in body.blocks() {
        match block.ident.as_str() {
            "variable" | "variables" | "locals" => {}
            "job" => jobs.push(block),
            other => ctx.error(
                body::block_span(block),
                format!("unsupported block type {other:?}: only variable, variables, locals and job blocks may appear at the top of a job file"),
            ),
        }
    }
    let mut declared = vars::declare(&mut ctx, &body);
    let inputs = vars::VarInputs {
        env: opts.env.clone(),
        files: opts.var_files.clone(),
        args: opts.vars.clone(),
        strict: opts.strict,
    };
    let values: Map<String, hcl::Value> = vars::assign(&mut ctx, &mut declared, &inputs);
    // As Nomad does: problems with variables or locals would only cascade into the job.
    if !ctx.diags.is_empty() {
        return Err(sorted(ctx.diags));
    }
    let locals = vars::locals(&mut ctx, &body, &values);
    if !ctx.diags.is_empty() {
        return Err(sorted(ctx.diags));
    }
    let mut ctx = body::Ctx {
        scope: eval::Scope {
            vars: Some(&values),
            locals: Some(&locals),
            functions: true,
            runtime: true,
            ..ctx.scope
        },
        diags: ctx.diags,
    };
    let job = match jobs.as_slice() {
        [] => {
            ctx.diags.push(Diagnostic::file(
                &src.name,
                "Missing job block: a job block is required",
            ));
            None
        }
        [first, rest @ ..] => {
            for extra in rest {
                ctx.error(
                    body::block_span(extra),
                    "Duplicate job block: only one job block is allowed in a file",
                );
            }
            Some(job::job(&mut ctx, first))
        }
    };
    match job {
        Some(job) if ctx.diags.is_empty() => Ok(job),
        _ => Err(sorted(ctx.diags)),
    }
}

/// Problems in file order (those without a position first).
fn sorted(mut diagnostics: Vec<Diagnostic>) -> JobspecError {
    diagnostics.sort_by_key(|d| (d.line, d.column));
    JobspecError { diagnostics }
}

#[cfg(test)]
mod tests;
