//! Answers written at the end of the worker's turn, not the moment each is ready.
//!
//! A busy worker thread handles a few dozen ready connections per turn of its event loop.
//! Written one by one as each request finishes, the answers reach a client that has already
//! gone back to sleep, and every one of them wakes it again: on a shared machine (a proxy,
//! a load generator or another service on the same host) each wakeup is an interrupt to the
//! other CPU and a preemption of whatever runs there, and it is charged to the writer. A
//! connection wrapped here instead yields once before its first write: the worker goes on
//! with every other task that is ready, and the deferred writes run together when it next
//! polls for I/O (tokio wakes yielded tasks then), so a client finds several answers per
//! wakeup. An idle worker polls for I/O at once, so an answer waits only when others are
//! being computed. Reads, and writes after the first of an answer, go straight through.

use std::cell::Cell;
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

type Yield = Pin<Box<dyn Future<Output = ()> + Send>>;

thread_local! {
    /// Answers this thread has started writing since it last woke from sleep.
    static SINCE_UNPARK: Cell<u32> = const { Cell::new(0) };
}

/// Answers a worker writes at once after waking. A worker that sleeps between a few
/// requests is not holding anyone up; deferring its answers would only cost it another
/// poll of each connection and of the I/O driver.
pub const EAGER_ANSWERS: u32 = 4;

/// For the runtime's `on_thread_unpark`: a worker that just woke up is not busy, and its
/// first [`EAGER_ANSWERS`] answers go out at once. On a runtime without this hook every
/// answer after the first few of each thread is deferred.
pub fn worker_unparked() {
    SINCE_UNPARK.with(|n| n.set(0));
}

/// Whether this thread has been busy long enough that deferring an answer pays.
fn busy() -> bool {
    SINCE_UNPARK.with(|n| {
        let v = n.get();
        n.set(v.saturating_add(1));
        v >= EAGER_ANSWERS
    })
}

enum State {
    /// Nothing written since the last flush: the next write yields first if the worker is busy.
    Idle,
    /// Yielded; the write goes out when the worker wakes this task again.
    Yielding(Yield),
    /// Writing an answer: further writes and the flush go straight to the socket.
    Writing,
}

pub struct Coalesced<IO> {
    io: IO,
    state: State,
}

impl<IO> Coalesced<IO> {
    pub fn new(io: IO) -> Self {
        Self {
            io,
            state: State::Idle,
        }
    }

    /// `Ready` once this answer may be written.
    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match &mut self.state {
                State::Writing => return Poll::Ready(()),
                State::Idle if !busy() => self.state = State::Writing,
                State::Idle => self.state = State::Yielding(Box::pin(tokio::task::yield_now())),
                State::Yielding(y) => {
                    std::task::ready!(y.as_mut().poll(cx));
                    self.state = State::Writing;
                }
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Coalesced<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Coalesced<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.poll_turn(cx));
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        std::task::ready!(self.poll_turn(cx));
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.state = State::Idle;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Polls one write once, as hyper would, and reports whether it went through.
    async fn try_write(w: &mut Coalesced<tokio::io::DuplexStream>, buf: &[u8]) -> Poll<usize> {
        poll_fn(|cx| {
            Poll::Ready(
                Pin::new(&mut *w)
                    .poll_write(cx, buf)
                    .map(|r| r.expect("write")),
            )
        })
        .await
    }

    #[tokio::test]
    async fn a_rested_worker_writes_at_once_and_a_busy_one_waits_for_its_next_turn() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut w = Coalesced::new(a);
        worker_unparked();
        for i in 0..EAGER_ANSWERS {
            let answer = format!("answer {i}\n");
            assert_eq!(
                try_write(&mut w, answer.as_bytes()).await,
                Poll::Ready(answer.len()),
                "answer {i} after waking is written at once"
            );
            w.flush().await.unwrap();
        }
        // Busy now: the first write of the next answer yields instead of writing.
        assert_eq!(try_write(&mut w, b"late ").await, Poll::Pending);
        // Once the task runs again, the answer and its continuation go straight through.
        assert_eq!(try_write(&mut w, b"late ").await, Poll::Ready(5));
        assert_eq!(try_write(&mut w, b"too\n").await, Poll::Ready(4));
        w.flush().await.unwrap();
        // The next answer starts a new deferral.
        assert_eq!(try_write(&mut w, b"next\n").await, Poll::Pending);
        w.write_all(b"next\n").await.unwrap();
        w.flush().await.unwrap();
        drop(w);
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        assert_eq!(
            got,
            "answer 0\nanswer 1\nanswer 2\nanswer 3\nlate too\nnext\n"
        );
    }

    /// Real HTTP/1.1 over loopback on a two-worker runtime with no unpark hook (so nearly
    /// every answer is deferred): keep-alive connections in parallel, answers larger than a
    /// socket buffer (partial writes), and a graceful shutdown.
    #[test]
    fn answers_over_keep_alive_connections_arrive_whole_and_in_order() {
        use axum::routing::get;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let big: &'static str =
                Box::leak("0123456789abcdef".repeat(256 * 1024).into_boxed_str());
            let app =
                axum::Router::new()
                    .route(
                        "/small/{n}",
                        get(
                            |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                                n.to_string()
                            },
                        ),
                    )
                    .route("/big", get(move || async move { big }));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let http = crate::config::HttpConfig::default();
            assert!(http.coalesce_writes, "on by default");
            let server = tokio::spawn(async move {
                crate::serve(listener, app, &http, async {
                    let _ = stopped.await;
                })
                .await
            });
            let clients: Vec<_> = (0..16u32)
                .map(|c| {
                    tokio::spawn(async move {
                        let mut s = TcpStream::connect(addr).await.unwrap();
                        for i in 0..40u32 {
                            let n = c * 1000 + i;
                            let (path, want) = if i % 10 == 9 {
                                ("/big".to_string(), big.to_string())
                            } else {
                                (format!("/small/{n}"), n.to_string())
                            };
                            let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
                            s.write_all(req.as_bytes()).await.unwrap();
                            assert_eq!(read_body(&mut s).await, want, "client {c}, request {i}");
                        }
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            stop.send(()).unwrap();
            server.await.unwrap().unwrap();
        });
    }

    /// Reads one response with a Content-Length body from a keep-alive connection.
    async fn read_body(s: &mut TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("content-length");
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.unwrap();
        String::from_utf8(body).unwrap()
    }
}
