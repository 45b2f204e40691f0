//! The client against raw sockets: the bytes on the wire, framings, reuse, retries.

use super::*;
use crate::events::Webhook;
use switchboard_core::events::route::Outgoing;
use switchboard_core::events::ErrorClass;
use tokio::net::TcpListener;

const MAX: usize = 64 * 1024;

async fn listen() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    (l, base)
}

/// One request off `sock`, raw (head and Content-Length body); None at EOF.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map(|v| v.parse().unwrap())
                .unwrap_or(0);
            let total = end + 4 + len;
            if buf.len() >= total {
                return Some(buf.drain(..total).collect());
            }
        }
        let mut chunk = [0u8; 4096];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A server answering each request on each connection with `answer`, counting the
/// connections it accepted.
async fn serve(answer: &'static [u8]) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let (l, base) = listen().await;
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while read_request(&mut sock, &mut buf).await.is_some() {
                    if sock.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, accepted)
}

#[tokio::test]
async fn writes_the_header_bytes_exactly() {
    let (l, base) = listen().await;
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let req = read_request(&mut sock, &mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        req
    });
    let c = Client::new(Duration::from_secs(5));
    let headers = h(&[
        ("Content-Type", "application/json;charset=utf-8"),
        ("AppKey", "k"),
        ("CurTime", "1700000000"),
        ("MD5", "abc"),
        ("CheckSum", "def"),
        ("X-Lark-Request-Timestamp", "1700000000"),
    ]);
    let res = c
        .post(
            &format!("{base}/yx/copy?a=1&b=%20"),
            &headers,
            b"{\"x\":1}",
            MAX,
        )
        .await
        .unwrap();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"ok"[..]));
    let want = format!(
        "POST /yx/copy?a=1&b=%20 HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         Content-Type: application/json;charset=utf-8\r\n\
         AppKey: k\r\n\
         CurTime: 1700000000\r\n\
         MD5: abc\r\n\
         CheckSum: def\r\n\
         X-Lark-Request-Timestamp: 1700000000\r\n\
         Content-Length: 7\r\n\
         User-Agent: {USER_AGENT}\r\n\
         Connection: keep-alive\r\n\
         \r\n\
         {{\"x\":1}}"
    );
    assert_eq!(String::from_utf8(server.await.unwrap()).unwrap(), want);
}

#[tokio::test]
async fn reads_chunked_answers_and_reuses_the_connection() {
    let (base, accepted) = serve(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
    )
    .await;
    let c = Client::new(Duration::from_secs(5));
    for _ in 0..3 {
        let res = c.post(&format!("{base}/c"), &[], b"", MAX).await.unwrap();
        assert_eq!(
            (res.status, res.body.as_slice()),
            (200, &b"hello, world"[..])
        );
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(c.idle_count(), 1);
}

#[tokio::test]
async fn two_requests_on_one_accepted_socket() {
    let (l, base) = listen().await;
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        for i in 0..2 {
            read_request(&mut sock, &mut buf).await.unwrap();
            let body = format!("n{i}");
            let ans = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(ans.as_bytes()).await.unwrap();
        }
        // No second connection.
        tokio::time::timeout(Duration::from_millis(200), l.accept())
            .await
            .is_err()
    });
    let c = Client::new(Duration::from_secs(5));
    for i in 0..2 {
        let res = c.post(&format!("{base}/r"), &[], b"x", MAX).await.unwrap();
        assert_eq!(res.body, format!("n{i}").into_bytes());
    }
    assert!(server.await.unwrap(), "a second connection was opened");
}

#[tokio::test]
async fn reads_close_delimited_answers_and_does_not_pool_them() {
    let (l, base) = listen().await;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let mut buf = Vec::new();
            read_request(&mut sock, &mut buf).await.unwrap();
            sock.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil ")
                .await
                .unwrap();
            sock.write_all(b"close").await.unwrap();
        }
    });
    let c = Client::new(Duration::from_secs(5));
    let res = c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
    assert_eq!(
        (res.status, res.body.as_slice()),
        (200, &b"until close"[..])
    );
    assert_eq!(c.idle_count(), 0);
}

#[tokio::test]
async fn connection_close_and_http10_are_not_reused() {
    for answer in [
        &b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"[..],
        &b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"[..],
    ] {
        let (base, accepted) = serve(answer).await;
        let c = Client::new(Duration::from_secs(5));
        for _ in 0..2 {
            c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
        }
        assert_eq!(c.idle_count(), 0);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn keeps_at_most_max_body_bytes() {
    let (base, _) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789").await;
    let c = Client::new(Duration::from_secs(5));
    let res = c.post(&format!("{base}/"), &[], b"", 4).await.unwrap();
    assert_eq!(res.body, b"0123");
    assert_eq!(
        c.idle_count(),
        0,
        "an answer not read to its end is not reused"
    );
}

#[tokio::test]
async fn skips_interim_answers() {
    let (base, _) =
        serve(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx")
            .await;
    let c = Client::new(Duration::from_secs(5));
    let res = c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
    assert_eq!((res.status, res.body.as_slice()), (201, &b"x"[..]));
}

#[tokio::test]
async fn a_redirect_is_an_answer_not_followed() {
    let (l, base) = listen().await;
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = accepted.clone();
    let target = format!("{base}/elsewhere");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = Vec::new();
            let target = target.clone();
            tokio::spawn(async move {
                while let Some(req) = read_request(&mut sock, &mut buf).await {
                    assert!(req.starts_with(b"POST /start "), "followed a redirect");
                    let ans = format!(
                        "HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
                    );
                    sock.write_all(ans.as_bytes()).await.unwrap();
                }
            });
        }
    });
    let w = Webhook::new(Duration::from_secs(5));
    let out = Outgoing {
        headers: h(&[("Content-Type", "application/json")]),
        body: b"{}".to_vec(),
    };
    let a = w
        .post_within(&format!("{base}/start"), out, 7, Duration::from_secs(5))
        .await;
    assert_eq!(a.attempt.status, Some(302));
    assert_eq!(a.attempt.error, Some(ErrorClass::Redirect));
    assert_eq!(a.attempt.at, 7);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn statuses_are_classed() {
    for (answer, status, error) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
            200,
            None,
        ),
        (
            &b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"[..],
            500,
            Some(ErrorClass::Status),
        ),
        (
            &b"HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n"[..],
            404,
            Some(ErrorClass::Status),
        ),
    ] {
        let (base, _) = serve(answer).await;
        let w = Webhook::new(Duration::from_secs(5));
        let out = Outgoing {
            headers: vec![],
            body: vec![],
        };
        let a = w.post_within(&base, out, 0, Duration::from_secs(5)).await;
        assert_eq!((a.attempt.status, a.attempt.error), (Some(status), error));
        if status == 200 {
            assert_eq!(a.body, b"ok");
        }
    }
}

#[tokio::test]
async fn a_silent_server_times_out_within_the_deadline() {
    let (l, base) = listen().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    let w = Webhook::new(Duration::from_secs(5));
    let start = Instant::now();
    let out = Outgoing {
        headers: vec![],
        body: b"x".to_vec(),
    };
    let a = w
        .post_within(&format!("{base}/"), out, 0, Duration::from_millis(300))
        .await;
    let took = start.elapsed();
    assert_eq!(
        (a.attempt.status, a.attempt.error),
        (None, Some(ErrorClass::Timeout))
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let (l, base) = listen().await;
    drop(l);
    let w = Webhook::new(Duration::from_secs(5));
    let out = Outgoing {
        headers: vec![],
        body: vec![],
    };
    let a = w.post_within(&base, out, 0, Duration::from_secs(5)).await;
    assert_eq!(
        (a.attempt.status, a.attempt.error),
        (None, Some(ErrorClass::Connect))
    );
}

/// The receiver closes a kept-alive connection as the next request arrives, unread
/// (the keep-alive race: its kernel resets the connection): the request goes again
/// on a new one, once.
#[tokio::test]
async fn a_pooled_connection_reset_by_the_receiver_is_retried_once() {
    let (l, base) = listen().await;
    let server = tokio::spawn(async move {
        let (mut first, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        read_request(&mut first, &mut buf).await.unwrap();
        first
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
            .await
            .unwrap();
        first.readable().await.unwrap();
        first.set_zero_linger().unwrap();
        drop(first);
        let (mut fresh, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let again = read_request(&mut fresh, &mut buf).await.unwrap();
        fresh
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
            .await
            .unwrap();
        assert!(again.ends_with(b"\r\n\r\nb"));
        let third = tokio::time::timeout(Duration::from_millis(200), l.accept()).await;
        assert!(third.is_err(), "retried more than once");
    });
    let c = Client::new(Duration::from_secs(5));
    let url = format!("{base}/");
    assert_eq!(c.post(&url, &[], b"a", MAX).await.unwrap().body, b"1");
    assert_eq!(c.post(&url, &[], b"b", MAX).await.unwrap().body, b"2");
    server.await.unwrap();
}

/// A receiver that reads the request on a pooled connection and hangs up has
/// answered: no retry (it would see the request twice in one attempt).
#[tokio::test]
async fn a_pooled_connection_closed_after_the_request_is_not_retried() {
    let (l, base) = listen().await;
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        read_request(&mut sock, &mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        read_request(&mut sock, &mut buf).await.unwrap();
        drop(sock);
        tokio::time::timeout(Duration::from_millis(200), l.accept())
            .await
            .is_err()
    });
    let c = Client::new(Duration::from_secs(5));
    c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
    let e = c
        .post(&format!("{base}/"), &[], b"", MAX)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
    assert!(server.await.unwrap(), "retried after a clean close");
}

/// The receiver closes an idle pooled connection before the next request: it is
/// noticed (or fails on use) and the request goes on a new connection.
#[tokio::test]
async fn an_idle_connection_the_receiver_closed_is_replaced() {
    let (l, base) = listen().await;
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            a.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                read_request(&mut sock, &mut buf).await.unwrap();
                sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .unwrap();
                // Then closes, keep-alive notwithstanding.
            });
        }
    });
    let c = Client::new(Duration::from_secs(5));
    c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A receiver that started answering and then closed is not retried: the request
/// was processed, or may have been.
#[tokio::test]
async fn a_partial_answer_on_a_pooled_connection_is_not_retried() {
    let (l, base) = listen().await;
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        read_request(&mut sock, &mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        read_request(&mut sock, &mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 O").await.unwrap();
        drop(sock);
        tokio::time::timeout(Duration::from_millis(200), l.accept())
            .await
            .is_err()
    });
    let c = Client::new(Duration::from_secs(5));
    c.post(&format!("{base}/"), &[], b"", MAX).await.unwrap();
    let e = c
        .post(&format!("{base}/"), &[], b"", MAX)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
    assert!(server.await.unwrap(), "retried after part of an answer");
}

#[tokio::test]
async fn refuses_cr_lf_and_nul_without_sending() {
    let (l, base) = listen().await;
    let c = Client::new(Duration::from_secs(5));
    for bad in [
        h(&[("X-A", "1\r\nX-Injected: 2")]),
        h(&[("X-A", "1\n")]),
        h(&[("X-A", "1\0")]),
        h(&[("X-A\r\nX-B", "1")]),
        h(&[("X A", "1")]),
        h(&[("", "1")]),
        h(&[("Content-Length", "1")]),
    ] {
        let e = c
            .post(&format!("{base}/"), &bad, b"", MAX)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{bad:?}: {e}");
    }
    let w = Webhook::new(Duration::from_secs(5));
    let out = Outgoing {
        headers: h(&[("MD5", "a\r\nb")]),
        body: vec![],
    };
    let a = w.post_within(&base, out, 0, Duration::from_secs(5)).await;
    assert_eq!(
        (a.attempt.status, a.attempt.error),
        (None, Some(ErrorClass::Connect))
    );
    let none = tokio::time::timeout(Duration::from_millis(100), l.accept()).await;
    assert!(none.is_err(), "something was sent");
}

#[test]
fn urls() {
    let t = target("http://Example.COM/a/b?c=d#frag").unwrap();
    assert_eq!(
        (t.host_header.as_str(), t.path.as_str()),
        ("example.com", "/a/b?c=d")
    );
    assert_eq!(
        t.key,
        Key {
            https: false,
            host: "example.com".into(),
            port: 80
        }
    );
    let t = target("https://example.com:8443").unwrap();
    assert_eq!(
        (t.host_header.as_str(), t.path.as_str()),
        ("example.com:8443", "/")
    );
    assert_eq!(t.key.port, 8443);
    assert!(t.key.https);
    let t = target("https://example.com:443/x").unwrap();
    assert_eq!((t.host_header.as_str(), t.key.port), ("example.com", 443));
    let t = target("http://[::1]:9000/e").unwrap();
    assert_eq!(t.host_header, "[::1]:9000");
    assert!(matches!(t.addr, Addr::Ip(ip) if ip == IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])));
    for bad in ["ftp://example.com/", "not a url", "http://", "unix:/tmp/x"] {
        assert!(matches!(target(bad), Err(Error::Invalid(_))), "{bad}");
    }
}

#[tokio::test]
async fn ipv6_literals() {
    let Ok(l) = TcpListener::bind("[::1]:0").await else {
        return; // no IPv6 loopback here
    };
    let port = l.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        let mut buf = Vec::new();
        let req = read_request(&mut sock, &mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        req
    });
    let c = Client::new(Duration::from_secs(5));
    let res = c
        .post(&format!("http://[::1]:{port}/v6"), &[], b"", MAX)
        .await
        .unwrap();
    assert_eq!(res.status, 200);
    let req = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(
        req.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
        "{req}"
    );
}

#[tokio::test]
async fn idle_connections_expire_and_are_capped() {
    let (base, accepted) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
    let c = Client::with_pool(Duration::from_secs(5), Duration::from_millis(100), 2);
    let url = format!("{base}/");
    let posts: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let url = url.clone();
            tokio::spawn(async move { c.post(&url, &[], b"", MAX).await.unwrap() })
        })
        .collect();
    for p in posts {
        p.await.unwrap();
    }
    assert!(c.idle_count() <= 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
    c.post(&url, &[], b"", MAX).await.unwrap();
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
    assert_eq!(c.idle_count(), 1);
}

#[tokio::test]
async fn https_to_a_plain_server_is_a_connect_error() {
    let (l, base) = listen().await;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let _ = sock
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let c = Client::new(Duration::from_secs(5));
    let url = base.replace("http://", "https://");
    let e = c.post(&url, &[], b"", MAX).await.unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
}
