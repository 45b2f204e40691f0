//! Connection limits over real sockets: idle and header deadlines, the connection cap, and
//! the casing of response header names.

use std::time::{Duration, Instant};
use switchboard_testkit::{spawn_app_with, Options, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app_with_limits(idle: u64, header: u64, max_connections: usize) -> TestApp {
    spawn_app_with(Options {
        configure: Some(Box::new(move |c| {
            c.http.idle_timeout_secs = idle;
            c.http.header_read_timeout_secs = header;
            c.http.max_connections = max_connections;
        })),
        ..Options::default()
    })
    .await
}

/// Reads until the server closes the connection (EOF or reset), or `limit` passes; returns
/// when it closed, measured from `since`, or None if it is still open.
async fn closed_after(s: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let deadline = since + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// One request on a new connection; its latency.
async fn timed_request(app: &TestApp) -> Duration {
    let t = Instant::now();
    let r = app
        .http
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("a normal request is answered");
    assert_eq!(r.status(), 200);
    t.elapsed()
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_off_while_normal_requests_keep_their_latency() {
    let app = app_with_limits(3, 1, 10_000).await;

    // Clients that trickle a request's headers, one byte every 100 ms.
    let start = Instant::now();
    let trickle: Vec<_> = (0..40)
        .map(|_| {
            let addr = app.addr;
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                let first = Instant::now();
                let req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".repeat(4);
                for b in req {
                    if s.write_all(&[b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                closed_after(&mut s, first, Duration::from_secs(10)).await
            })
        })
        .collect();
    // Clients that connect and say nothing.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }

    // Meanwhile, normal requests keep their latency.
    let mut worst = Duration::ZERO;
    while start.elapsed() < Duration::from_millis(2500) {
        worst = worst.max(timed_request(&app).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        worst < Duration::from_millis(500),
        "normal requests slowed to {worst:?}"
    );

    for t in trickle {
        let closed = t.await.unwrap().expect("a trickling client is cut off");
        // header_read_timeout (1 s) counts from the request's first byte.
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(4),
            "cut off after {closed:?}"
        );
    }
    for mut s in idle {
        let closed = closed_after(&mut s, start, Duration::from_secs(10))
            .await
            .expect("an idle client is cut off");
        // idle_timeout (3 s), not the header timeout, applies before the first byte.
        assert!(
            closed >= Duration::from_millis(2500) && closed < Duration::from_secs(7),
            "idle connection closed after {closed:?}"
        );
    }
}

#[tokio::test]
async fn a_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_header_timeout() {
    let app = app_with_limits(2, 1, 10_000).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "answered on keep-alive"
        );
        // Longer than the header timeout: still open, because no request has begun.
        tokio::time::sleep(Duration::from_millis(1400)).await;
    }
    let since = Instant::now();
    let closed = closed_after(&mut s, since, Duration::from_secs(5))
        .await
        .expect("closed after the idle timeout");
    assert!(closed < Duration::from_secs(2), "{closed:?}");
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_for_a_free_slot_instead_of_failing() {
    let app = app_with_limits(2, 1, 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Let the server accept all four.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waited = timed_request(&app).await;
    // Served once the idle connections time out (2 s after they were accepted).
    assert!(
        waited >= Duration::from_millis(1200),
        "a fifth connection was served at once ({waited:?}): the cap is not enforced"
    );
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    drop(held);
}

#[tokio::test]
async fn response_header_names_go_out_in_the_vendors_casing() {
    let app = app_with_limits(75, 10, 10_000).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(
        b"POST /open-apis/auth/v3/tenant_access_token/internal HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let head = String::from_utf8_lossy(&raw);
    let head = head.split("\r\n\r\n").next().unwrap();
    let names: Vec<&str> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .collect();
    for want in ["Content-Type", "X-Tt-Logid", "X-Request-Id"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
}
