//! In-process measurement: the same signed requests, handed straight to the router that
//! `switchboard serve` runs (`build_app`), with no socket and no load generator. What is
//! left is Switchboard's own work per request, which is what a profiler should look at:
//! run it under `valgrind --tool=callgrind` for instruction counts that do not depend on
//! what else the machine is doing.
//!
//! `switchboard-bench --inproc 20000 [--messages N]` prints µs per request per dialect.

use crate::requests::{Builder, Creds, Req, Workload};
use anyhow::ensure;
use axum::body::Body;
use std::time::Instant;
use tower::ServiceExt;

/// Mints the tokens the way the token endpoints do, without HTTP.
pub fn creds(world: &crate::dataset::World, now_secs: i64) -> Creds {
    use switchboard_core::auth::mint_token;
    let lark = switchboard_dialect_lark::token::mint(
        &world.app,
        switchboard_dialect_lark::token::TENANT_TOKEN,
        &switchboard_dialect_lark::Config::default(),
        now_secs,
    );
    Creds {
        wps_token: mint_token(
            &world.app,
            switchboard_dialect_wps::auth::ACCESS_TOKEN,
            now_secs,
        ),
        lark_token: lark.token,
    }
}

fn request(r: &Req) -> axum::http::Request<Body> {
    let mut b = axum::http::Request::builder()
        .method(r.method)
        .uri(&r.path)
        .header("host", "127.0.0.1");
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Body::from(r.body.clone())).expect("valid request")
}

/// Runs `n` requests of each GET workload through `app`; returns (workload, µs/request).
pub async fn run(
    app: axum::Router,
    builder: &mut Builder<'_>,
    n: usize,
    only: Option<&str>,
) -> anyhow::Result<Vec<(Workload, f64)>> {
    let mut out = Vec::new();
    for w in [Workload::Wps, Workload::Feishu, Workload::Yunxin] {
        if only.is_some_and(|o| o != w.name()) {
            continue;
        }
        let reqs: Vec<Req> = (0..n + n / 10).map(|_| builder.next(w)).collect();
        let (warm, timed) = reqs.split_at(n / 10);
        for r in warm {
            call(&app, r).await?;
        }
        let t = Instant::now();
        for r in timed {
            call(&app, r).await?;
        }
        out.push((w, t.elapsed().as_secs_f64() * 1e6 / n as f64));
    }
    Ok(out)
}

async fn call(app: &axum::Router, r: &Req) -> anyhow::Result<()> {
    let resp = app.clone().oneshot(request(r)).await?;
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
    ensure!(
        status.is_success(),
        "{} answered {status}: {}",
        r.path,
        String::from_utf8_lossy(&body)
    );
    let text = std::str::from_utf8(&body)?;
    ensure!(
        text.contains(&r.expect) && (text.contains("\"code\":0") || text.contains("\"code\":200")),
        "{} failed: {text}",
        r.path
    );
    Ok(())
}
