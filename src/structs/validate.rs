//! Validation errors collected the way Nomad's multierror does, nested with the
//! context Nomad puts in front (`Task group cache validation failed: …`).

use std::fmt;

/// Every problem `Job::validate` found, in Nomad's order and wording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<String>);

impl ValidationErrors {
    pub(crate) fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// Adds `inner`'s errors, each behind `context: ` (Nomad's `… validation failed: `).
    pub(crate) fn nest(&mut self, context: &str, inner: ValidationErrors) {
        self.0
            .extend(inner.0.into_iter().map(|e| format!("{context}: {e}")));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// Nomad's list format: `2 errors occurred:` then one `\t* error` line each.
impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.len() {
            1 => writeln!(f, "1 error occurred:")?,
            n => writeln!(f, "{n} errors occurred:")?,
        }
        for e in &self.0 {
            writeln!(f, "\t* {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_multierror_with_context() {
        let mut inner = ValidationErrors::default();
        inner.push("Missing task driver");
        let mut errs = ValidationErrors::default();
        errs.push("Missing job ID");
        errs.nest("Task redis validation failed", inner);
        assert_eq!(
            errs.to_string(),
            "2 errors occurred:\n\t* Missing job ID\n\t* Task redis validation failed: Missing task driver\n"
        );
        assert!(errs.clone().into_result().is_err());
        assert!(ValidationErrors::default().into_result().is_ok());
    }
}
