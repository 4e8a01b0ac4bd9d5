//! The server: state store, evaluation broker, schedulers, plan applier and the
//! deployment watcher, for one server (shaped so a replicated log can take over).
