//! Helpers shared by the schedulers (filled in with the reconciler).
