//! One HTTP request as the handlers see it (method, decoded path, query parameters,
//! body) and one reply (JSON in Nomad's shape, with its index headers).
//!
//! Handlers dispatch on the method themselves, as Nomad's do, so every route answers a
//! wrong method with Nomad's `405 Invalid method`.

use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;

/// Nomad's namespace when none is named.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Request bodies larger than this are refused (a job with thousands of groups fits).
const MAX_BODY: usize = 32 << 20;

#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    /// The URL path, percent-decoded (job IDs of dispatched children contain `/`).
    pub path: String,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Req {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        let params = parts
            .uri
            .query()
            .map(|q| {
                axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
                    .map(|q| q.0)
                    .map_err(|e| ApiError::bad_request(format!("invalid query {q:?}: {e}")))
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Req {
            method: parts.method,
            path: percent_decode(parts.uri.path()),
            params,
            headers: parts.headers,
            body,
        })
    }
}

impl Req {
    /// A request for tests and internal callers.
    pub fn new(method: Method, path: &str, params: &[(&str, &str)], body: &str) -> Req {
        Req {
            method,
            path: path.to_string(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A non-empty query parameter, or "".
    pub fn param_or_empty(&self, name: &str) -> &str {
        self.param(name).unwrap_or("")
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it; absent or empty is `None`.
    pub fn bool_param(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.param(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_go_bool(v).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Failed to parse value of {name:?} ({v}) as a bool: strconv.ParseBool: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }

    /// `?name` true when given as true (or bare, for flags like `?pretty`).
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.bool_param(name)?.unwrap_or(false))
    }

    pub fn u64_param(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.param(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "Failed to parse value of {name:?} ({v}) as a uint64"
                ))
            }),
        }
    }

    pub fn i64_param(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.param(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("Failed to parse value of {name:?} ({v}) as an int"))
            }),
        }
    }

    /// `?namespace=`, default `default`.
    pub fn namespace(&self) -> String {
        match self.param("namespace") {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => DEFAULT_NAMESPACE.to_string(),
        }
    }

    /// `?pretty` (any value but `0`).
    pub fn pretty(&self) -> bool {
        self.param("pretty").is_some_and(|v| v != "0")
    }

    pub fn is_get(&self) -> bool {
        self.method == Method::GET
    }

    /// PUT or POST: Nomad takes either for every write.
    pub fn is_write(&self) -> bool {
        self.method == Method::PUT || self.method == Method::POST
    }

    pub fn require_get(&self) -> Result<(), ApiError> {
        if self.is_get() {
            Ok(())
        } else {
            Err(ApiError::invalid_method())
        }
    }

    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.is_write() {
            Ok(())
        } else {
            Err(ApiError::invalid_method())
        }
    }

    /// The JSON body, decoded leniently: unknown fields are ignored and `null`s (Go's
    /// unset pointers) take the field's default. Errors name the field.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        decode_value(self.json_value()?)
    }

    /// The JSON body with its `null`s dropped, for handlers that check what was sent.
    pub fn json_value(&self) -> Result<serde_json::Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("Request body is empty"));
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        strip_nulls(&mut value);
        Ok(value)
    }

    /// As [`json_body`](Self::json_body), but an empty body is the default value (Nomad's
    /// "COMPAT: allow this endpoint without a payload").
    pub fn json_body_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.json_body()
    }
}

/// Decodes a (null-stripped) JSON value; errors name the field that did not decode.
pub fn decode_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            ApiError::bad_request(e.inner().to_string())
        } else {
            ApiError::bad_request(format!("{path}: {}", e.inner()))
        }
    })
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Drops `null`s from objects so each field takes its default.
pub fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A successful reply: the encoded body and the headers Nomad sets.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
    index: Option<u64>,
    /// Reads carry `X-Nomad-KnownLeader` and `X-Nomad-LastContact` too.
    read_meta: bool,
    next_token: Option<String>,
}

impl Reply {
    /// `value` as JSON; `?pretty` indents by 4 and ends with a newline, as Nomad does.
    pub fn json<T: Serialize + ?Sized>(req: &Req, value: &T) -> Result<Reply, ApiError> {
        let body = if req.pretty() {
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            value
                .serialize(&mut ser)
                .map_err(|e| ApiError::internal(format!("encoding the reply: {e}")))?;
            out.push(b'\n');
            out
        } else {
            serde_json::to_vec(value)
                .map_err(|e| ApiError::internal(format!("encoding the reply: {e}")))?
        };
        Ok(Reply {
            status: StatusCode::OK,
            content_type: "application/json",
            body,
            index: None,
            read_meta: false,
            next_token: None,
        })
    }

    pub fn text(content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
            index: None,
            read_meta: false,
            next_token: None,
        }
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A write's `X-Nomad-Index`.
    pub fn index(mut self, index: u64) -> Self {
        self.index = Some(index.max(1));
        self
    }

    /// A read's headers: the data's index (at least 1), a known leader, no lag.
    pub fn read(mut self, index: u64) -> Self {
        self.index = Some(index.max(1));
        self.read_meta = true;
        self
    }

    pub fn next_token(mut self, token: Option<String>) -> Self {
        self.next_token = token;
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Some(index) = self.index {
            headers.insert("X-Nomad-Index", HeaderValue::from(index));
        }
        if self.read_meta {
            headers.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
            headers.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
        }
        if let Some(token) = self.next_token.and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert("X-Nomad-NextToken", token);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_decoded() {
        let cases = [
            ("/v1/job/example", "/v1/job/example"),
            (
                "/v1/job/batch%2Fdispatch-1/allocations",
                "/v1/job/batch/dispatch-1/allocations",
            ),
            ("/v1/job/a%20b", "/v1/job/a b"),
            ("/v1/job/100%", "/v1/job/100%"),
            ("/v1/job/%zz", "/v1/job/%zz"),
        ];
        for (raw, want) in cases {
            assert_eq!(percent_decode(raw), want, "{raw}");
        }
    }

    #[test]
    fn bodies_ignore_unknown_fields_and_nulls() {
        #[derive(serde::Deserialize, Default, Debug)]
        #[serde(rename_all = "PascalCase", default)]
        struct Body {
            name: String,
            count: i64,
        }
        let req = Req::new(
            Method::PUT,
            "/",
            &[],
            r#"{"Name": "x", "Count": null, "Unknown": {"A": 1}}"#,
        );
        let body: Body = req.json_body().unwrap();
        assert_eq!((body.name.as_str(), body.count), ("x", 0));
        let req = Req::new(Method::PUT, "/", &[], r#"{"Count": "three"}"#);
        let err = req.json_body::<Body>().unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.starts_with("Count: invalid type"),
            "{}",
            err.message
        );
        let req = Req::new(Method::PUT, "/", &[], "");
        assert_eq!(
            req.json_body::<Body>().unwrap_err().message,
            "Request body is empty"
        );
        assert_eq!(req.json_body_or_default::<Body>().unwrap().count, 0);
        let req = Req::new(Method::PUT, "/", &[], "{not json");
        assert_eq!(req.json_body::<Body>().unwrap_err().code, 400);
    }

    #[test]
    fn params_read_like_nomad() {
        let req = Req::new(
            Method::GET,
            "/",
            &[
                ("pretty", ""),
                ("all", "true"),
                ("purge", "yes"),
                ("index", "7"),
            ],
            "",
        );
        assert!(req.pretty());
        assert_eq!(req.bool_param("all").unwrap(), Some(true));
        assert_eq!(req.bool_param("missing").unwrap(), None);
        assert_eq!(req.bool_param("purge").unwrap_err().code, 400);
        assert_eq!(req.u64_param("index").unwrap(), Some(7));
        assert_eq!(req.namespace(), "default");
        assert!(!Req::new(Method::GET, "/", &[("pretty", "0")], "").pretty());
    }
}
