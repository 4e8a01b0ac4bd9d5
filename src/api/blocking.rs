//! Blocking queries and the query parameters every read takes (§2.1 of the reference).
//!
//! With `?index=N` a read waits until its data's index passes N (or `?wait` runs out,
//! default and maximum 300s plus up to wait/16 of jitter) and then answers with whatever
//! is current; `index=0` never waits. The query is re-run on every new state index, so
//! each endpoint decides which tables its answer depends on by the index it returns.

use std::ops::Bound;
use std::time::Duration;

use imbl::OrdMap;

use super::error::ApiError;
use super::request::Req;
use crate::server::state::{StateStore, Tables};

pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Nomad adds up to wait/16 so that many watchers do not all come back at once.
const JITTER_FRACTION: u32 = 16;

/// The common read parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    /// `default` unless given; `*` means every namespace.
    pub namespace: String,
    pub prefix: String,
    pub min_index: u64,
    pub wait: Duration,
    /// 0: no paging.
    pub per_page: usize,
    pub next_token: String,
    pub reverse: bool,
}

impl QueryOptions {
    pub fn parse(req: &Req) -> Result<Self, ApiError> {
        // As Nomad: no wait (or zero) is the default, more than the maximum is clamped.
        let wait = match req.param("wait") {
            None | Some("") => MAX_WAIT,
            Some(w) => match parse_go_duration(w) {
                Some(d) if d.is_zero() => MAX_WAIT,
                Some(d) => d.min(MAX_WAIT),
                None => return Err(ApiError::bad_request("Invalid wait time")),
            },
        };
        let min_index = match req.param("index") {
            None | Some("") => 0,
            Some(i) => i
                .parse()
                .map_err(|_| ApiError::bad_request("Invalid index"))?,
        };
        if req.param("filter").is_some_and(|f| !f.trim().is_empty()) {
            return Err(ApiError::bad_request(
                "filter expressions are not supported by drover yet",
            ));
        }
        let per_page = match req.param("per_page") {
            None | Some("") => 0,
            Some(n) => n
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("Invalid per_page: {n:?}")))?
                .max(0) as usize,
        };
        Ok(QueryOptions {
            namespace: req.namespace(),
            prefix: req.param_or_empty("prefix").to_string(),
            min_index,
            wait: if min_index == 0 { Duration::ZERO } else { wait },
            per_page,
            next_token: req.param_or_empty("next_token").to_string(),
            reverse: req.flag("reverse")?,
        })
    }

    /// Does an object in `namespace` belong to this query?
    pub fn in_namespace(&self, namespace: &str) -> bool {
        self.namespace == "*" || self.namespace == namespace
    }
}

/// Runs `query` against the current state; with a min index, again on each change until
/// the index it returns passes the min index or the wait (plus jitter) is over.
pub async fn blocking<T>(
    state: &StateStore,
    opts: &QueryOptions,
    mut query: impl FnMut(&Tables) -> (T, u64),
) -> (T, u64) {
    let snapshot = state.snapshot();
    let first = query(&snapshot);
    if opts.min_index == 0 || first.1 > opts.min_index {
        return first;
    }
    let deadline = tokio::time::Instant::now() + opts.wait + jitter(opts.wait);
    let mut seen = snapshot.index;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return query(&state.snapshot());
        }
        let snapshot = state.wait_for(seen, left).await;
        let out = query(&snapshot);
        if out.1 > opts.min_index || snapshot.index == seen {
            // Changed as asked, or timed out: answer with what there is.
            return out;
        }
        seen = snapshot.index;
    }
}

fn jitter(wait: Duration) -> Duration {
    let max = (wait / JITTER_FRACTION).as_millis() as u64;
    if max == 0 {
        return Duration::ZERO;
    }
    let random = uuid::Uuid::new_v4().as_u64_pair().0;
    Duration::from_millis(random % max)
}

/// Go's `time.ParseDuration`: `300ms`, `5s`, `1m30s`, `1.5h`; a bare `0` is zero.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * nanos;
    }
    Some(Duration::from_nanos(total as u64))
}

/// One page of a sorted list: items from `next_token` on (by `key`), at most `per_page`,
/// and the key of the item after the page when there is one.
pub fn paginate<T>(
    mut items: Vec<T>,
    opts: &QueryOptions,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if opts.reverse {
        items.reverse();
    }
    if !opts.next_token.is_empty() {
        let token = opts.next_token.as_str();
        items.retain(|i| {
            let k = key(i);
            if opts.reverse {
                k.as_str() <= token
            } else {
                k.as_str() >= token
            }
        });
    }
    if opts.per_page == 0 || items.len() <= opts.per_page {
        return (items, None);
    }
    let next = key(&items[opts.per_page]);
    items.truncate(opts.per_page);
    (items, Some(next))
}

/// An object by its full ID or, when none has it, by a prefix only one ID starts with
/// (Nomad's CLI looks objects up by short IDs).
pub fn by_id_or_prefix<'a, K, V>(map: &'a OrdMap<K, V>, id: &str) -> Option<&'a V>
where
    K: Ord + Clone + std::borrow::Borrow<str>,
    V: Clone,
{
    if let Some(v) = map.get(id) {
        return Some(v);
    }
    if id.is_empty() {
        return None;
    }
    let mut matches = map
        .range::<_, str>((Bound::Included(id), Bound::Unbounded))
        .take_while(|(k, _)| k.borrow().starts_with(id));
    match (matches.next(), matches.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

/// The values whose keys start with `prefix`, in key order.
pub fn with_prefix<'a, K, V>(
    map: &'a OrdMap<K, V>,
    prefix: &'a str,
) -> impl Iterator<Item = &'a V> + 'a
where
    K: Ord + Clone + std::borrow::Borrow<str>,
    V: Clone,
{
    map.range::<_, str>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(k, _)| k.borrow().starts_with(prefix))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    #[test]
    fn go_durations() {
        let cases = [
            ("5s", Some(Duration::from_secs(5))),
            ("300ms", Some(Duration::from_millis(300))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("1.5h", Some(Duration::from_secs(5400))),
            ("0", Some(Duration::ZERO)),
            ("10", None),
            ("-1s", None),
            ("5x", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), want, "{text}");
        }
    }

    #[test]
    fn options_clamp_the_wait_and_reject_bad_values() {
        let req = |params: &[(&str, &str)]| Req::new(Method::GET, "/", params, "");
        let opts = QueryOptions::parse(&req(&[("index", "5"), ("wait", "10m")])).unwrap();
        assert_eq!((opts.min_index, opts.wait), (5, MAX_WAIT));
        let opts = QueryOptions::parse(&req(&[("index", "5"), ("wait", "1s")])).unwrap();
        assert_eq!(opts.wait, Duration::from_secs(1));
        let opts = QueryOptions::parse(&req(&[("index", "5"), ("wait", "0s")])).unwrap();
        assert_eq!(opts.wait, MAX_WAIT, "zero is the default");
        let opts = QueryOptions::parse(&req(&[("wait", "1s")])).unwrap();
        assert_eq!(opts.wait, Duration::ZERO, "index=0 never blocks");
        let err = QueryOptions::parse(&req(&[("index", "x")])).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, "Invalid index"));
        let err = QueryOptions::parse(&req(&[("index", "1"), ("wait", "soon")])).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, "Invalid wait time"));
    }

    #[test]
    fn pages_follow_the_token() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let opts = |per_page, token: &str, reverse| QueryOptions {
            per_page,
            next_token: token.into(),
            reverse,
            ..Default::default()
        };
        let cases = [
            (opts(2, "", false), vec!["a", "b"], Some("c")),
            (opts(2, "c", false), vec!["c", "d"], Some("e")),
            (opts(2, "e", false), vec!["e"], None),
            (opts(0, "b", false), vec!["b", "c", "d", "e"], None),
            (opts(2, "", true), vec!["e", "d"], Some("c")),
            (opts(2, "c", true), vec!["c", "b"], Some("a")),
        ];
        for (o, want, next) in cases {
            let (page, token) = paginate(items.clone(), &o, |s| s.clone());
            assert_eq!(page, want, "{o:?}");
            assert_eq!(token.as_deref(), next, "{o:?}");
        }
    }

    #[test]
    fn ids_resolve_by_unique_prefix() {
        let mut map = OrdMap::new();
        for id in ["8ba85cef", "8ba9aaaa", "c0ffee00"] {
            map.insert(id.to_string(), id);
        }
        assert_eq!(by_id_or_prefix(&map, "c0ffee00"), Some(&"c0ffee00"));
        assert_eq!(by_id_or_prefix(&map, "c0"), Some(&"c0ffee00"));
        assert_eq!(by_id_or_prefix(&map, "8ba8"), Some(&"8ba85cef"));
        assert_eq!(by_id_or_prefix(&map, "8b"), None, "ambiguous");
        assert_eq!(by_id_or_prefix(&map, "ff"), None);
        assert_eq!(by_id_or_prefix(&map, ""), None);
        assert_eq!(with_prefix(&map, "8ba").count(), 2);
    }

    #[tokio::test]
    async fn blocking_returns_on_change_or_timeout() {
        use crate::server::state::Command;
        use crate::structs::Evaluation;
        let state = std::sync::Arc::new(StateStore::in_memory());
        let upsert = |state: &StateStore, id: &str| {
            let evals = vec![Evaluation {
                id: id.into(),
                ..Default::default()
            }];
            state.apply(Command::EvalUpsert { evals }).unwrap()
        };
        upsert(&state, "e1");
        let opts = |min_index, wait| QueryOptions {
            min_index,
            wait,
            ..Default::default()
        };
        let evals = |t: &Tables| (t.evals.len(), t.table_index.evals);
        // No index: answers at once.
        assert_eq!(blocking(&state, &opts(0, MAX_WAIT), evals).await, (1, 1));
        // Nothing changes: the same answer when the wait is over.
        let short = Duration::from_millis(50);
        assert_eq!(blocking(&state, &opts(1, short), evals).await, (1, 1));
        // A write wakes it.
        let writer = state.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            upsert(&writer, "e2");
        });
        assert_eq!(blocking(&state, &opts(1, MAX_WAIT), evals).await, (2, 2));
        task.await.unwrap();
    }
}
