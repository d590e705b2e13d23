//! `GET|POST …/pods/{name}/portforward` (spec §4.4): a SPDY/3.1 session, inside a WebSocket
//! (`SPDY/3.1+portforward.k8s.io`, the payloads a byte stream) or on the upgraded connection
//! itself (`Upgrade: SPDY/3.1`). Each forwarded connection is a pair of streams, `error` and
//! `data`, with one `requestid`; the data stream is copied both ways to a TCP connection made to
//! `localhost:port` inside the pod's network namespace (kubelet's and containerd's behaviour).

use super::body::ResBody;
use super::spdy::{self, Decoder, Encoder, Frame};
use crate::podstate::PodHandle;
use crate::ApiError;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;

/// The WebSocket subprotocol of SPDY tunnelled port-forwarding (client-go's
/// `WebsocketsSPDYTunnelingPrefix` + `PortForwardV1Name`).
const TUNNELED: &str = "SPDY/3.1+portforward.k8s.io";
const PROTOCOL: &str = "portforward.k8s.io";

/// Where a forwarded port is dialled: inside the pod's network namespace, or (host network)
/// on the node itself.
#[derive(Clone, Debug)]
pub enum Target {
    Netns(PathBuf),
    Host,
}

pub async fn serve(
    h: Arc<PodHandle>,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let (target, sandbox) = {
        let st = h.lock();
        let target = if beluga_api::podutil::host_network(&st.pod) {
            Target::Host
        } else {
            Target::Netns(h.dir.ns("net"))
        };
        (target, beluga_api::podutil::uid(&st.pod).to_string())
    };
    let forwarder = Forwarder { target, sandbox };
    if super::websocket::offered_of(&req, &[TUNNELED]).is_some() {
        tracing::debug!(pod = %forwarder.sandbox, "port-forward: SPDY in a WebSocket");
        let resp = super::websocket::accept(&req, TUNNELED);
        let upgrade = hyper::upgrade::on(req);
        tokio::spawn(over_websocket(upgrade, forwarder));
        return Ok(resp);
    }
    let spdy = req
        .headers()
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    if !spdy {
        return Err(ApiError::new(400, "BadRequest", "Upgrade request required"));
    }
    tracing::debug!(pod = %forwarder.sandbox, "port-forward: SPDY");
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(over_spdy(upgrade, forwarder));
    Ok(super::body::switching_protocols(
        "SPDY/3.1",
        &[("x-stream-protocol-version", PROTOCOL)],
    ))
}

/// The WebSocket's binary payloads in, the session's bytes out as binary messages.
async fn over_websocket(upgrade: hyper::upgrade::OnUpgrade, forwarder: Forwarder) {
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut stream) = ws.split();
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if sink.send(Message::Binary(b.into())).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if in_tx.send(b.to_vec()).await.is_err() => return,
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    forwarder.session(in_rx, out_tx).await;
    reader.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// The upgraded connection's bytes in and out as they are.
async fn over_spdy(upgrade: hyper::upgrade::OnUpgrade, forwarder: Forwarder) {
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    let (mut rd, mut wr) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    let writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n @ 1..) = rd.read(&mut buf).await {
            if in_tx.send(buf[..n].to_vec()).await.is_err() {
                return;
            }
        }
    });
    forwarder.session(in_rx, out_tx).await;
    reader.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// One port-forward session's setting: where ports are dialled, and the name its errors give.
#[derive(Clone)]
pub struct Forwarder {
    pub target: Target,
    pub sandbox: String,
}

/// A forwarded connection's streams seen so far, by `requestid`.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<(u32, u16)>,
}

/// The session's live state: half-made pairs, and each forwarded data stream's input.
#[derive(Default)]
struct Streams {
    pairs: HashMap<String, Pair>,
    inputs: HashMap<u32, mpsc::Sender<Vec<u8>>>,
    tasks: HashMap<u32, tokio::task::JoinHandle<()>>,
    last: u32,
}

impl Forwarder {
    /// Reads the client's frames from `incoming` until it ends or says GOAWAY; frames to the
    /// client go to `out`, in order.
    pub async fn session(&self, mut incoming: mpsc::Receiver<Vec<u8>>, out: mpsc::Sender<Vec<u8>>) {
        let (mut dec, mut enc) = (Decoder::default(), Encoder::default());
        let mut streams = Streams::default();
        'read: while let Some(chunk) = incoming.recv().await {
            dec.push(&chunk);
            loop {
                match dec.next_frame() {
                    Ok(Some(Frame::GoAway)) => break 'read,
                    Ok(Some(f)) => self.frame(f, &mut enc, &mut streams, &out).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "port-forward: a bad SPDY frame ends the session");
                        let _ = out.send(spdy::goaway(streams.last)).await;
                        break 'read;
                    }
                }
            }
        }
        for (_, t) in streams.tasks.drain() {
            t.abort();
        }
    }

    async fn frame(
        &self,
        f: Frame,
        enc: &mut Encoder,
        s: &mut Streams,
        out: &mpsc::Sender<Vec<u8>>,
    ) {
        match f {
            Frame::SynStream {
                stream, headers, ..
            } => {
                s.last = s.last.max(stream);
                match stream_kind(&headers) {
                    Ok(kind) => {
                        let _ = out.send(enc.syn_reply(stream, &[])).await;
                        self.add(stream, kind, s, out);
                    }
                    Err(message) => {
                        tracing::info!(%message, "port-forward: stream refused");
                        let _ = out.send(spdy::rst_stream(stream, spdy::CANCEL)).await;
                    }
                }
            }
            Frame::Data { stream, fin, data } => {
                if let Some(input) = s.inputs.get(&stream) {
                    if !data.is_empty() && input.send(data).await.is_err() {
                        s.inputs.remove(&stream);
                    }
                }
                if fin {
                    // The client sends no more: the pod's side is half-closed.
                    s.inputs.remove(&stream);
                }
            }
            Frame::RstStream { stream, .. } => {
                s.inputs.remove(&stream);
                if let Some(t) = s.tasks.remove(&stream) {
                    t.abort();
                }
            }
            Frame::Ping(id) => {
                let _ = out.send(spdy::ping(id)).await;
            }
            _ => {}
        }
    }

    /// A stream of a pair; once both are there, the forwarding starts.
    fn add(&self, stream: u32, kind: Kind, s: &mut Streams, out: &mpsc::Sender<Vec<u8>>) {
        let (request, pair) = match kind {
            Kind::Error { request } => {
                let pair = s.pairs.entry(request.clone()).or_default();
                pair.error = Some(stream);
                (request, pair)
            }
            Kind::Data { request, port } => {
                let pair = s.pairs.entry(request.clone()).or_default();
                pair.data = Some((stream, port));
                (request, pair)
            }
        };
        let (Some(error), Some((data, port))) = (pair.error, pair.data) else {
            return;
        };
        s.pairs.remove(&request);
        let (tx, rx) = mpsc::channel(16);
        s.inputs.insert(data, tx);
        let me = self.clone();
        let out = out.clone();
        let task = tokio::spawn(async move { me.forward(port, data, error, rx, out).await });
        s.tasks.insert(data, task);
    }

    /// One forwarded connection: dial, copy both ways until the pod's side ends, then end both
    /// streams; a failed dial is told on the error stream.
    async fn forward(
        &self,
        port: u16,
        data: u32,
        error: u32,
        mut input: mpsc::Receiver<Vec<u8>>,
        out: mpsc::Sender<Vec<u8>>,
    ) {
        match self.dial(port).await {
            Err(message) => {
                let _ = out.send(spdy::data(error, false, message.as_bytes())).await;
            }
            Ok(conn) => {
                let (mut r, mut w) = conn.into_split();
                let up = tokio::spawn(async move {
                    while let Some(b) = input.recv().await {
                        if w.write_all(&b).await.is_err() {
                            break;
                        }
                    }
                    let _ = w.shutdown().await;
                });
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n @ 1..) = r.read(&mut buf).await {
                    if out.send(spdy::data(data, false, &buf[..n])).await.is_err() {
                        break;
                    }
                }
                up.abort();
            }
        }
        let _ = out.send(spdy::data(error, true, &[])).await;
        let _ = out.send(spdy::data(data, true, &[])).await;
    }

    /// `localhost:port` where the pod listens: IPv4 first, then IPv6, as containerd dials; the
    /// error in its words.
    async fn dial(&self, port: u16) -> Result<tokio::net::TcpStream, String> {
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port);
        let e4 = match self.connect(v4).await {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        let e6 = match self.connect(v6).await {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        Err(dial_error(port, &self.sandbox, &e4, &e6))
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
        let target = self.target.clone();
        let std = tokio::task::spawn_blocking(move || match target {
            Target::Netns(ns) => beluga_runtime::netns::connect(&ns, addr, Duration::from_secs(10)),
            Target::Host => std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10)),
        })
        .await
        .map_err(std::io::Error::other)??;
        std.set_nonblocking(true)?;
        tokio::net::TcpStream::from_std(std)
    }
}

/// What a SYN_STREAM's headers make of it (kubelet's `httpStreamReceived` checks, in its words).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Error { request: String },
    Data { request: String, port: u16 },
}

fn stream_kind(headers: &[(String, String)]) -> Result<Kind, String> {
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let port = get("port").ok_or("\"port\" header is required")?;
    let number: i64 = port
        .parse()
        .map_err(|e| format!("unable to parse {port:?} as a port: {e}"))?;
    let port = u16::try_from(number)
        .ok()
        .filter(|p| *p > 0)
        .ok_or(format!("port {port:?} must be > 0"))?;
    let request = get("requestid").unwrap_or_default().to_string();
    match get("streamtype") {
        Some("error") => Ok(Kind::Error { request }),
        Some("data") => Ok(Kind::Data { request, port }),
        other => Err(format!(
            "invalid stream type {:?}",
            other.unwrap_or_default()
        )),
    }
}

/// kubelet's message for a failed dial, around containerd's (`error forwarding port … to pod …,
/// uid : failed to connect to localhost:… inside namespace …, IPv4: … IPv6 … `).
fn dial_error(port: u16, sandbox: &str, v4: &std::io::Error, v6: &std::io::Error) -> String {
    format!(
        "error forwarding port {port} to pod {sandbox}, uid : failed to connect to localhost:{port} inside namespace {sandbox:?}, IPv4: dial tcp4 127.0.0.1:{port}: connect: {} IPv6 dial tcp6 [::1]:{port}: connect: {} ",
        go_errno(v4),
        go_errno(v6)
    )
}

/// An OS error as Go's syscall package words it (`connection refused`).
fn go_errno(e: &std::io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(n) => std::io::Error::from_raw_os_error(n).to_string(),
        None => e.to_string(),
    };
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut c = text.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
