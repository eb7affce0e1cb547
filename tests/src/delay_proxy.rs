//! A TCP proxy that adds a fixed one-way delay to every byte, in both directions, without
//! limiting throughput: each chunk read is stamped, and the writer sleeps until stamp + delay
//! before writing it, in order. Put between the functions' pool and PostgreSQL, a request's
//! latency grows by one round-trip delay per round trip it makes.
//!
//! Plain threads with blocking sockets, not tokio: tokio's timer rounds sleeps up to whole
//! milliseconds, which would blur a 1 ms delay; a thread sleeps to within tens of microseconds.

use anyhow::{Context as _, Result};
use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// A running proxy. It accepts connections for as long as the process runs (a bench binary).
pub struct DelayProxy {
    /// Where to connect instead of the upstream.
    pub addr: SocketAddr,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, each
    /// direction delayed by `one_way`.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the delay proxy")?;
        let addr = listener.local_addr()?;
        thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                for inbound in listener.incoming() {
                    let forwarded = inbound
                        .map_err(anyhow::Error::from)
                        .and_then(|inbound| connect(inbound, upstream, one_way));
                    if let Err(e) = forwarded {
                        eprintln!("delay proxy: {e:#}");
                    }
                }
            })?;
        Ok(DelayProxy { addr })
    }
}

fn connect(inbound: TcpStream, upstream: SocketAddr, one_way: Duration) -> Result<()> {
    let outbound = TcpStream::connect(upstream).context("connecting upstream")?;
    for stream in [&inbound, &outbound] {
        stream.set_nodelay(true)?;
    }
    pipe(inbound.try_clone()?, outbound.try_clone()?, one_way)?;
    pipe(outbound, inbound, one_way)
}

/// Copies `from` to `to`, each chunk `delay` later than it arrived.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) -> Result<()> {
    let (chunks, delayed) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::Builder::new()
        .name("delay-proxy-read".into())
        .spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            // Ends on EOF, a read error, or when the writer has gone.
            while let Ok(n @ 1..) = from.read(&mut buf) {
                if chunks
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        })?;
    thread::Builder::new()
        .name("delay-proxy-write".into())
        .spawn(move || {
            for (due, chunk) in delayed {
                thread::sleep(due.saturating_duration_since(Instant::now()));
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
            // The peer closed its side (or a write failed): pass the close on. A socket the
            // other direction already shut down may refuse, which changes nothing.
            to.shutdown(Shutdown::Write).unwrap_or(());
        })?;
    Ok(())
}
