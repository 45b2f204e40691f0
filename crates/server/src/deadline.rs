//! Two deadlines on a connection waiting for a request: an idle one until the request's first
//! byte arrives, then a shorter one for the rest of its headers.
//!
//! hyper has one knob for this, `header_read_timeout`, and arms it whenever the connection is
//! ready for a request: when it opens, and again after every answer. Set short, it closes
//! pooled keep-alive connections that clients expect to reuse; set long, a client that
//! trickles its headers a byte at a time holds a connection (and a file descriptor) for that
//! long. So hyper is given a [`PhaseTimer`] for its header timer: each connection's timer
//! shares a [`Phase`] with the connection's I/O ([`Timed`]), which notes when the first byte
//! of a request is read, and the timer's deadline moves from "armed + idle" to "first byte +
//! header" at that moment. The timer costs what hyper's own Tokio timer costs: one timer
//! registration per request that has to wait for its bytes.

use hyper::rt::{Sleep, Timer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The runtime's clock (a paused test clock included), as hyper's `Instant`.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How long a connection may wait for a request, in its two phases.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the connection's opening, or the end of the previous answer, to the first byte
    /// of the next request.
    pub idle: Duration,
    /// From a request's first byte to the end of its headers.
    pub header: Duration,
}

/// One connection's phase. Times are nanoseconds since `base`; `first_byte` is 0 while the
/// request awaited has sent nothing.
#[derive(Debug)]
pub struct Phase {
    base: Instant,
    armed: AtomicU64,
    first_byte: AtomicU64,
}

impl Phase {
    pub fn new() -> Arc<Phase> {
        Arc::new(Phase {
            base: now(),
            armed: AtomicU64::new(0),
            first_byte: AtomicU64::new(0),
        })
    }

    fn since_base(&self, t: Instant) -> u64 {
        // At least 1, so that 0 keeps meaning "not yet".
        (t.saturating_duration_since(self.base).as_nanos() as u64).max(1)
    }

    fn arm(&self, now: Instant) {
        self.armed.store(self.since_base(now), Ordering::Relaxed);
        self.first_byte.store(0, Ordering::Relaxed);
    }

    fn bytes_read(&self) {
        if self.first_byte.load(Ordering::Relaxed) == 0 {
            self.first_byte
                .store(self.since_base(now()), Ordering::Relaxed);
        }
    }

    fn deadline(&self, limits: Limits) -> Instant {
        let first = self.first_byte.load(Ordering::Relaxed);
        if first != 0 {
            self.base + Duration::from_nanos(first) + limits.header
        } else {
            self.base + Duration::from_nanos(self.armed.load(Ordering::Relaxed)) + limits.idle
        }
    }
}

/// hyper's header timer for one connection (hyper asks for no other timer on HTTP/1.1).
#[derive(Clone)]
pub struct PhaseTimer {
    pub phase: Arc<Phase>,
    pub limits: Limits,
}

impl Timer for PhaseTimer {
    fn now(&self) -> Instant {
        now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(now() + duration)
    }

    /// hyper asks for "now + header_read_timeout"; the phase decides instead.
    fn sleep_until(&self, _: Instant) -> Pin<Box<dyn Sleep>> {
        self.phase.arm(now());
        let deadline = self.phase.deadline(self.limits);
        Box::pin(PhaseSleep {
            phase: self.phase.clone(),
            limits: self.limits,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, _: Instant) {
        match sleep.as_mut().downcast_mut_pin::<PhaseSleep>() {
            Some(mut s) => {
                self.phase.arm(now());
                let deadline = self.phase.deadline(self.limits);
                s.as_mut().get_mut().move_to(deadline);
            }
            None => *sleep = self.sleep_until(now()),
        }
    }
}

struct PhaseSleep {
    phase: Arc<Phase>,
    limits: Limits,
    deadline: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl PhaseSleep {
    fn move_to(&mut self, deadline: Instant) {
        if deadline != self.deadline {
            self.deadline = deadline;
            self.sleep.as_mut().reset(deadline.into());
        }
    }
}

impl Future for PhaseSleep {
    type Output = ();

    // hyper polls this every time its header parse comes back pending, so after every read:
    // the deadline follows the phase without the I/O having to wake anyone.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = this.phase.deadline(this.limits);
        this.move_to(deadline);
        this.sleep.as_mut().poll(cx)
    }
}

impl Sleep for PhaseSleep {}

/// A connection's I/O that tells its [`Phase`] when a request's bytes start arriving.
pub struct Timed<IO> {
    io: IO,
    phase: Arc<Phase>,
}

impl<IO> Timed<IO> {
    pub fn new(io: IO, phase: Arc<Phase>) -> Self {
        Timed { io, phase }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Timed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.phase.bytes_read();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Timed<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        idle: Duration::from_secs(60),
        header: Duration::from_secs(5),
    };

    #[test]
    fn the_deadline_is_idle_until_the_first_byte_then_header() {
        let phase = Phase::new();
        let armed = Instant::now();
        phase.arm(armed);
        let idle = phase.deadline(LIMITS);
        assert!(idle >= armed + LIMITS.idle && idle < armed + LIMITS.idle + Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(5));
        phase.bytes_read();
        let header = phase.deadline(LIMITS);
        assert!(header < idle);
        assert!(header >= armed + LIMITS.header + Duration::from_millis(5));
        // Later bytes of the same request do not extend it.
        std::thread::sleep(Duration::from_millis(5));
        phase.bytes_read();
        assert_eq!(phase.deadline(LIMITS), header);
        // The next request starts idle again.
        phase.arm(Instant::now());
        assert!(phase.deadline(LIMITS) > header + Duration::from_secs(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_fires_at_the_phase_deadline() {
        let timer = PhaseTimer {
            phase: Phase::new(),
            limits: LIMITS,
        };
        let mut sleep = timer.sleep_until(Instant::now());
        let woke = tokio::time::timeout(Duration::from_secs(59), sleep.as_mut()).await;
        assert!(woke.is_err(), "still idle after 59 s");
        timer.phase.bytes_read();
        let woke = tokio::time::timeout(Duration::from_secs(6), sleep.as_mut()).await;
        assert!(woke.is_ok(), "the header deadline fired");
        // A reset re-arms the same sleep for the next request's idle phase.
        timer.reset(&mut sleep, Instant::now());
        let woke = tokio::time::timeout(Duration::from_secs(30), sleep.as_mut()).await;
        assert!(woke.is_err());
    }
}
