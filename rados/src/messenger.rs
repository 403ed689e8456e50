//! The messenger: QUIC between daemons and clients. One connection per peer, reused; one
//! bidirectional stream per request; request timeouts; reconnection with backoff. A thin
//! shell over quinn (which keeps its own protocol logic pure) plus [`crate::frame`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::error::{CallError, MessengerError};
use crate::faults::{Faults, Verdict};
use crate::frame::{self, Header, MAX_FRAME};
use crate::keyring::Keyring;
use crate::proto::debug::SetFaults;
use crate::rpc::{Context, Router, Rpc, WireError};
use crate::tls;

/// A reply's body: the typed reply, encoded, or why there is none.
type ReplyBody = Result<serde_bytes::ByteBuf, WireError>;

/// QUIC application close code for a protocol violation by the peer.
const CLOSE_BAD_FRAME: u32 = 1;

/// Timing knobs of a messenger.
#[derive(Debug, Clone)]
pub struct MessengerConfig {
    /// How long a call waits for its reply.
    pub request_timeout: Duration,
    /// A connection with no traffic for this long is considered dead.
    pub idle_timeout: Duration,
    /// Keep-alive ping interval (below `idle_timeout`).
    pub keep_alive: Duration,
    /// First wait before reconnecting to a peer that failed; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait before reconnecting.
    pub backoff_max: Duration,
}

impl Default for MessengerConfig {
    fn default() -> Self {
        MessengerConfig {
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(6),
            keep_alive: Duration::from_secs(1),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
        }
    }
}

/// The socket buffers a messenger asks for. The kernel's defaults (208 KiB on Linux) overflow
/// while a peer streams megabytes: a 1 MiB GET through the gateway lost 3% of its datagrams
/// to a full receive buffer, and each loss halves QUIC's congestion window. The kernel caps
/// the request at `net.core.rmem_max` / `wmem_max`.
const SOCKET_BUFFER: usize = 4 << 20;

/// A UDP socket bound to `addr` with [`SOCKET_BUFFER`]-sized buffers (or the most the kernel
/// allows; logged when less).
fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // As quinn binds: an IPv6 socket also reaches IPv4 peers.
        let _ = socket.set_only_v6(false);
    }
    for (what, set, get) in [
        (
            "receive",
            Socket::set_recv_buffer_size as fn(&Socket, usize) -> std::io::Result<()>,
            Socket::recv_buffer_size as fn(&Socket) -> std::io::Result<usize>,
        ),
        (
            "send",
            Socket::set_send_buffer_size,
            Socket::send_buffer_size,
        ),
    ] {
        if let Err(e) = set(&socket, SOCKET_BUFFER) {
            warn!(%addr, error = %e, "cannot size the messenger's {what} buffer");
        }
        // Linux reports twice what it grants (bookkeeping included).
        let granted = get(&socket).map(|n| if cfg!(target_os = "linux") { n / 2 } else { n });
        match granted {
            Ok(n) if n < SOCKET_BUFFER => warn!(
                %addr,
                granted = n,
                "messenger {what} buffer below {SOCKET_BUFFER} bytes: raise \
                 net.core.rmem_max and net.core.wmem_max to 4194304 or more, or bulk \
                 transfers lose datagrams and slow down"
            ),
            _ => {}
        }
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Reads a whole stream (one frame, at most [`MAX_FRAME`] bytes). Unlike quinn's
/// `read_to_end`, which zeroes a buffer of the full size before copying into it, this keeps
/// a single-chunk frame as it arrived and copies a larger one once into an unzeroed buffer:
/// zeroing was 5% of an OSD's CPU under 64 MiB PUTs.
async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Bytes, quinn::ReadToEndError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = recv.read_chunk(usize::MAX, true).await? {
        total += chunk.bytes.len();
        if total > MAX_FRAME {
            return Err(quinn::ReadToEndError::TooLong);
        }
        chunks.push(chunk.bytes);
    }
    if chunks.len() <= 1 {
        return Ok(chunks.pop().unwrap_or_default());
    }
    let mut whole = bytes::BytesMut::with_capacity(total);
    for chunk in chunks {
        whole.extend_from_slice(&chunk);
    }
    Ok(whole.freeze())
}

#[derive(Default)]
struct Peer {
    conn: Option<quinn::Connection>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// A QUIC endpoint that calls peers and, if given a [`Router`], serves them.
pub struct Messenger {
    endpoint: quinn::Endpoint,
    listen: Option<SocketAddr>,
    config: MessengerConfig,
    peers: Mutex<HashMap<SocketAddr, Peer>>,
    faults: Faults,
    epoch: AtomicU64,
}

impl Messenger {
    /// A daemon's messenger listening on `addr` (port 0 picks a free port).
    pub fn bind(
        addr: SocketAddr,
        keyring: &Keyring,
        config: MessengerConfig,
    ) -> Result<Arc<Messenger>, MessengerError> {
        Messenger::new(addr, keyring, config, true)
    }

    /// A client's messenger: it calls but does not announce a listening address.
    pub fn client(
        keyring: &Keyring,
        config: MessengerConfig,
    ) -> Result<Arc<Messenger>, MessengerError> {
        let any: SocketAddr = ([0, 0, 0, 0], 0).into();
        Messenger::new(any, keyring, config, false)
    }

    fn new(
        addr: SocketAddr,
        keyring: &Keyring,
        config: MessengerConfig,
        listens: bool,
    ) -> Result<Arc<Messenger>, MessengerError> {
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(
                config
                    .idle_timeout
                    .try_into()
                    .map_err(|e| MessengerError::Quic(format!("idle timeout: {e}")))?,
            ))
            .keep_alive_interval(Some(config.keep_alive));
        let transport = Arc::new(transport);

        let server_tls = QuicServerConfig::try_from(tls::server_config(keyring)?)
            .map_err(|e| MessengerError::Quic(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(transport.clone());
        let client_tls = QuicClientConfig::try_from(tls::client_config(keyring)?)
            .map_err(|e| MessengerError::Quic(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_tls));
        client.transport_config(transport);

        let bind_err = |source| MessengerError::Bind { addr, source };
        let socket = udp_socket(addr).map_err(bind_err)?;
        let runtime = Arc::new(quinn::TokioRuntime);
        let server = listens.then_some(server);
        let mut endpoint =
            quinn::Endpoint::new(quinn::EndpointConfig::default(), server, socket, runtime)
                .map_err(bind_err)?;
        endpoint.set_default_client_config(client);
        let listen = if listens {
            Some(
                endpoint
                    .local_addr()
                    .map_err(|source| MessengerError::Bind { addr, source })?,
            )
        } else {
            None
        };
        Ok(Arc::new(Messenger {
            endpoint,
            listen,
            config,
            peers: Mutex::new(HashMap::new()),
            faults: Faults::default(),
            epoch: AtomicU64::new(0),
        }))
    }

    /// Where this messenger listens (daemons only).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen
    }

    /// The fault rules of this messenger (switch them at run time).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Sets the map epoch stamped on every outgoing message.
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// The request timeout calls use.
    pub fn request_timeout(&self) -> Duration {
        self.config.request_timeout
    }

    /// Calls `peer` with `req` and waits for the reply (or the request timeout).
    pub async fn call<R: Rpc>(&self, peer: SocketAddr, req: &R) -> Result<R::Reply, CallError> {
        self.call_with_payload(peer, req, Bytes::new())
            .await
            .map(|(reply, _)| reply)
    }

    /// Like [`call`](Self::call), with raw payload bytes each way.
    pub async fn call_with_payload<R: Rpc>(
        &self,
        peer: SocketAddr,
        req: &R,
        payload: Bytes,
    ) -> Result<(R::Reply, Bytes), CallError> {
        let body = rmp_serde::to_vec(req).map_err(|e| CallError::Encode(e.to_string()))?;
        let header = Header {
            method: R::METHOD,
            epoch: self.epoch.load(Ordering::Relaxed),
            from: self.listen,
            body,
        };
        let frame =
            frame::encode(&header, payload).map_err(|e| CallError::Encode(e.to_string()))?;
        let after = self.config.request_timeout;
        let (reply, payload) = tokio::time::timeout(after, self.exchange(peer, frame))
            .await
            .map_err(|_| CallError::Timeout { peer, after })??;
        let bad = |e: rmp_serde::decode::Error| CallError::BadFrame {
            peer,
            error: frame::FrameError::Header(e.to_string()),
        };
        let body: ReplyBody = rmp_serde::from_slice(&reply.body).map_err(bad)?;
        let body = body.map_err(|error| CallError::Remote { peer, error })?;
        Ok((rmp_serde::from_slice(&body).map_err(bad)?, payload))
    }

    async fn exchange(
        &self,
        peer: SocketAddr,
        mut frame: [Bytes; 3],
    ) -> Result<(Header, Bytes), CallError> {
        match self.faults.verdict(Some(peer)) {
            Verdict::Pass => {}
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Drop => std::future::pending().await,
        }
        let conn = self.connection(peer).await?;
        let lost = |e: &dyn std::fmt::Display| CallError::ConnectionLost {
            peer,
            reason: e.to_string(),
        };
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| lost(&e))?;
        send.write_all_chunks(&mut frame)
            .await
            .map_err(|e| lost(&e))?;
        send.finish().map_err(|e| lost(&e))?;
        let data = read_frame(&mut recv).await.map_err(|e| lost(&e))?;
        frame::decode(data).map_err(|error| match error {
            // A reply that ends early was cut short by a peer going away (a stream is
            // finished when its task is dropped): the call is lost, not malformed.
            frame::FrameError::Length { got, want } if got < want => lost(&error),
            error => {
                warn!(%peer, %error, "bad frame from peer; closing the connection");
                conn.close(CLOSE_BAD_FRAME.into(), b"bad frame");
                CallError::BadFrame { peer, error }
            }
        })
    }

    /// The live connection to `peer`, connecting if needed (not while backing off).
    async fn connection(&self, peer: SocketAddr) -> Result<quinn::Connection, CallError> {
        {
            let mut peers = self.peers.lock().expect("peers lock");
            let state = peers.entry(peer).or_default();
            if let Some(conn) = &state.conn {
                if conn.close_reason().is_none() {
                    return Ok(conn.clone());
                }
                state.conn = None;
            }
            if let Some(at) = state.retry_at
                && Instant::now() < at
            {
                return Err(CallError::Unreachable {
                    peer,
                    reason: format!("backing off after {} failed attempts", state.failures),
                });
            }
        }
        let result = match self.endpoint.connect(peer, tls::SERVER_NAME) {
            Ok(connecting) => connecting.await.map_err(|e| classify(peer, e)),
            Err(e) => Err(CallError::Unreachable {
                peer,
                reason: e.to_string(),
            }),
        };
        let mut peers = self.peers.lock().expect("peers lock");
        let state = peers.entry(peer).or_default();
        match result {
            Ok(conn) => {
                state.failures = 0;
                state.retry_at = None;
                // Another caller may have connected meanwhile; keep one connection per peer.
                let conn = match &state.conn {
                    Some(existing) if existing.close_reason().is_none() => existing.clone(),
                    _ => conn,
                };
                state.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                state.failures += 1;
                let backoff = self
                    .config
                    .backoff_min
                    .saturating_mul(1 << state.failures.min(16))
                    .min(self.config.backoff_max);
                state.retry_at = Some(Instant::now() + backoff);
                Err(e)
            }
        }
    }

    /// Serves incoming requests with `router` until the endpoint closes.
    pub fn serve(self: &Arc<Self>, router: Arc<Router>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(incoming) = this.endpoint.accept().await {
                let this = this.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let remote = incoming.remote_address();
                    match incoming.await {
                        Ok(conn) => this.serve_connection(conn, router).await,
                        Err(e) => debug!(%remote, error = %e, "refused an incoming connection"),
                    }
                });
            }
        })
    }

    async fn serve_connection(self: Arc<Self>, conn: quinn::Connection, router: Arc<Router>) {
        let remote = conn.remote_address();
        loop {
            let (send, recv) = match conn.accept_bi().await {
                Ok(streams) => streams,
                Err(e) => {
                    debug!(%remote, error = %e, "connection ended");
                    return;
                }
            };
            let this = self.clone();
            let router = router.clone();
            let conn = conn.clone();
            tokio::spawn(async move { this.serve_stream(conn, send, recv, router).await });
        }
    }

    async fn serve_stream(
        &self,
        conn: quinn::Connection,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
        router: Arc<Router>,
    ) {
        let remote = conn.remote_address();
        let data = match read_frame(&mut recv).await {
            Ok(data) => data,
            Err(e) => {
                warn!(%remote, error = %e, "unreadable request; closing the connection");
                conn.close(CLOSE_BAD_FRAME.into(), b"bad frame");
                return;
            }
        };
        let (header, payload) = match frame::decode(data) {
            Ok(decoded) => decoded,
            Err(error) => {
                warn!(%remote, %error, "bad frame; closing the connection");
                conn.close(CLOSE_BAD_FRAME.into(), b"bad frame");
                return;
            }
        };
        // Fault switching is answered here, past the rules it changes: an isolated daemon
        // must stay healable.
        let verdict = if header.method == SetFaults::METHOD {
            Verdict::Pass
        } else {
            self.faults.verdict(header.from)
        };
        match verdict {
            Verdict::Pass => {}
            Verdict::Delay(d) => tokio::time::sleep(d).await,
            Verdict::Drop => {
                // Never answered: hold the stream until the caller gives up (dropping it
                // would finish it, which reads as an empty reply, not as silence).
                let _ = send.stopped().await;
                return;
            }
        }
        let ctx = Context {
            from: header.from,
            remote,
            epoch: header.epoch,
            payload,
        };
        let dispatched = if header.method == SetFaults::METHOD {
            self.set_faults(&header.body)
        } else {
            router.dispatch(header.method, &header.body, ctx).await
        };
        let (body, payload) = match dispatched {
            Ok((reply, payload)) => (Ok(serde_bytes::ByteBuf::from(reply)), payload),
            Err(e) => (Err(e), Bytes::new()),
        };
        let body: ReplyBody = body;
        let body = rmp_serde::to_vec(&body).expect("a reply body always encodes");
        let reply = Header {
            method: header.method,
            epoch: self.epoch.load(Ordering::Relaxed),
            from: self.listen,
            body,
        };
        match frame::encode(&reply, payload) {
            Ok(mut frame) => {
                if send.write_all_chunks(&mut frame).await.is_ok() {
                    let _ = send.finish();
                }
            }
            Err(error) => warn!(%remote, %error, "cannot encode reply"),
        }
    }

    /// Serves [`SetFaults`]: replaces the rules and answers with those now in force.
    fn set_faults(&self, body: &[u8]) -> Result<(Vec<u8>, Bytes), WireError> {
        let req: SetFaults = rmp_serde::from_slice(body).map_err(|_| WireError::BadRequest)?;
        warn!(rules = ?req.rules, "fault injection rules replaced");
        self.faults.set(req.rules);
        let reply = rmp_serde::to_vec(&self.faults.get()).expect("fault rules always encode");
        Ok((reply, Bytes::new()))
    }

    /// Closes every connection and stops serving.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"shutdown");
    }
}

fn classify(peer: SocketAddr, e: quinn::ConnectionError) -> CallError {
    let code = match &e {
        quinn::ConnectionError::ConnectionClosed(close) => Some(u64::from(close.error_code)),
        quinn::ConnectionError::TransportError(t) => Some(u64::from(t.code)),
        _ => None,
    };
    // TLS alerts travel as QUIC crypto errors, 0x100-0x1ff.
    if code.is_some_and(|c| (0x100..0x200).contains(&c)) {
        CallError::Refused {
            peer,
            reason: e.to_string(),
        }
    } else {
        CallError::Unreachable {
            peer,
            reason: e.to_string(),
        }
    }
}
