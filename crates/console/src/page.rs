//! What every page shares: the layout's data, the CSRF-checked form, errors as pages, and
//! sign-in and sign-out.

use crate::api::ApiError;
use crate::session::{self, Signed, COOKIE, PRE_COOKIE};
use crate::Console;
use askama::Template;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The layout's data: the CSRF token (forms and scripts), which link is current, and a
/// notice or error carried over a redirect.
pub struct Layout {
    pub csrf: String,
    pub nav: &'static str,
    pub notice: String,
    pub error: String,
}

impl Layout {
    pub fn new(signed: &Signed, nav: &'static str, flash: &Flash) -> Self {
        Layout {
            csrf: signed.0.csrf.clone(),
            nav,
            notice: flash.notice.clone().unwrap_or_default(),
            error: flash.error.clone().unwrap_or_default(),
        }
    }
}

/// `?notice=` and `?error=`: what the last action did, shown once.
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// Renders a template as a page.
pub fn html<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// `back` with a notice or an error appended to its query.
pub fn back_with(back: &str, key: &str, text: &str) -> Response {
    let sep = if back.contains('?') { '&' } else { '?' };
    let text = percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC);
    Redirect::to(&format!("{back}{sep}{key}={text}")).into_response()
}

/// A page that could not be built: the admin API's refusal, shown with its status.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = if self.status.is_client_error() || self.status.is_server_error() {
            self.status
        } else {
            StatusCode::BAD_GATEWAY
        };
        let page = ErrorPage {
            status: status.as_u16(),
            code: &self.code,
            message: &self.message,
        };
        (status, html(&page)).into_response()
    }
}

pub async fn not_found() -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found".into(),
        message: "no such console page".into(),
    }
    .into_response()
}

/// A form whose `csrf` field (or `x-csrf-token` header) is the session's token; anything
/// else is refused with 403 before the handler runs, so nothing is written.
pub struct CsrfForm<T>(pub T, pub Vec<(String, String)>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let Some(signed) = req.extensions().get::<Signed>().cloned() else {
            return Err(StatusCode::UNAUTHORIZED.into_response());
        };
        let header_token = req
            .headers()
            .get(session::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| refuse("the form is malformed"))?;
        let field_token = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.clone());
        let given = header_token.or(field_token).unwrap_or_default();
        if !session::csrf_matches(&signed.0, &given) {
            return Err(refuse(
                "the form's CSRF token is missing or wrong: reload the page and try again",
            ));
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(|t| CsrfForm(t, fields))
            .map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the form is incomplete: {e}"),
                )
                    .into_response()
            })
    }
}

fn refuse(why: &str) -> Response {
    (StatusCode::FORBIDDEN, why.to_string()).into_response()
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignIn {
    pre: String,
    next: String,
    error: &'static str,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn sign_in_page(status: StatusCode, next: String, error: &'static str, https: bool) -> Response {
    let pre = session::random_token();
    let cookie = session::set_cookie(PRE_COOKIE, &pre, Duration::from_secs(3600), https);
    let page = SignIn { pre, next, error };
    (
        status,
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".parse().expect("static")),
        ],
        html(&page),
    )
        .into_response()
}

pub async fn sign_in_form(headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    sign_in_page(
        StatusCode::OK,
        session::safe_next(q.next.as_deref()),
        "",
        session::is_https(&headers),
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    pre: String,
    next: Option<String>,
}

/// The admin token for a session cookie. The form's `pre` must match the cookie set with
/// the form (a page elsewhere cannot sign a browser in with its own token).
pub async fn sign_in(
    State(c): State<Console>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SignInForm>,
) -> Response {
    let https = session::is_https(&headers);
    let next = session::safe_next(f.next.as_deref());
    let pre_ok = session::cookie(&headers, PRE_COOKIE)
        .is_some_and(|p| !p.is_empty() && bool::from(p.as_bytes().ct_eq(f.pre.as_bytes())));
    if !pre_ok {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            next,
            "The sign-in form expired. Please try again.",
            https,
        );
    }
    if !bool::from(f.token.trim().as_bytes().ct_eq(c.admin_token.as_bytes())) {
        tracing::info!("console sign-in refused: wrong admin token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            next,
            "That is not the admin token.",
            https,
        );
    }
    let (cookie, _) = c.sessions.start();
    let set = session::set_cookie(COOKIE, &cookie, session::LIFETIME, https);
    let clear_pre = session::set_cookie(PRE_COOKIE, "", Duration::ZERO, https);
    let mut res = Redirect::to(&next).into_response();
    res.headers_mut().append(header::SET_COOKIE, set);
    res.headers_mut().append(header::SET_COOKIE, clear_pre);
    res
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(
    State(c): State<Console>,
    headers: HeaderMap,
    CsrfForm(_, _): CsrfForm<Empty>,
) -> Response {
    if let Some(cookie) = session::cookie(&headers, COOKIE) {
        c.sessions.end(cookie);
    }
    let clear = session::set_cookie(COOKIE, "", Duration::ZERO, session::is_https(&headers));
    let mut res = Redirect::to("/console/sign-in").into_response();
    res.headers_mut().append(header::SET_COOKIE, clear);
    res
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_utc_dates() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00");
        assert_eq!(super::time(1_764_979_200_000), "2025-12-06 00:00:00");
        assert_eq!(super::time(951_825_600_000), "2000-02-29 12:00:00");
    }
}
