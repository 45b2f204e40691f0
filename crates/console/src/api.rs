//! The console's only way to the data: in-process requests to the admin API and the
//! dialects, through the same router a network client reaches. The console holds no
//! second copy of anything and bypasses no check.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

/// The largest answer the console reads (a page of messages is far smaller).
const MAX_ANSWER: usize = 16 << 20;

/// The routes the console calls, and the admin token it calls the admin API with.
#[derive(Clone)]
pub struct Api {
    routes: Router,
    admin_token: String,
}

/// An answer other than 2xx, in the admin API's `{code, message}` terms.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// A raw answer, as a dialect wrote it.
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl Api {
    pub fn new(routes: Router, admin_token: String) -> Self {
        Api {
            routes,
            admin_token,
        }
    }

    /// Any request, exactly as given, to any route.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Raw {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = match req.body(Body::from(body)) {
            Ok(r) => r,
            Err(e) => {
                return Raw {
                    status: StatusCode::BAD_REQUEST,
                    headers: Vec::new(),
                    body: format!("the request could not be built: {e}").into_bytes(),
                }
            }
        };
        let res = match self.routes.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        let body = axum::body::to_bytes(res.into_body(), MAX_ANSWER)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Raw {
            status,
            headers,
            body,
        }
    }

    /// An admin API call: `path` is relative to `/admin/v1`.
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> ApiResult<Value> {
        let mut headers = vec![(
            header::AUTHORIZATION.to_string(),
            format!("Bearer {}", self.admin_token),
        )];
        let bytes = match body {
            Some(b) => {
                headers.push((header::CONTENT_TYPE.to_string(), "application/json".into()));
                serde_json::to_vec(b).unwrap_or_default()
            }
            None => Vec::new(),
        };
        let raw = self
            .raw(method, &format!("/admin/v1{path}"), &headers, bytes)
            .await;
        let v = raw.json();
        if raw.status.is_success() {
            return Ok(v);
        }
        Err(ApiError {
            status: raw.status,
            code: v["code"].as_str().unwrap_or("error").to_string(),
            message: v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&raw.body).into_owned()),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> ApiResult<T> {
        let v = self.admin(Method::GET, path, None).await?;
        decode(v)
    }

    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> ApiResult<T> {
        let v = self.admin(method, path, Some(body)).await?;
        decode(v)
    }
}

fn decode<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "unexpected_answer".into(),
        message: format!("the admin API answered an unexpected shape: {e}"),
    })
}

/// A path segment, percent-encoded (ids may hold `|`).
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
