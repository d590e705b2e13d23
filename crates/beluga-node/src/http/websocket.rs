//! kubectl's remote command protocol over WebSocket (`v5.channel.k8s.io`, and v4; spec §4.2):
//! every message binary, its first byte the channel — 0 stdin, 1 stdout, 2 stderr, 3 the final
//! `Status`, 4 a terminal resize, 255 (v5) the close of a channel (`[255, 0]`: stdin's EOF).
//! The end: all output, the `Status` on channel 3, then a Close 1000 (kubectl waits for it).

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::os::fd::OwnedFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;

use super::body::ResBody;
use super::exec_process::{Exec, Started};
use super::pty::{set_size, Size};

/// The subprotocols spoken, the preferred first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// The subprotocol to answer a WebSocket upgrade with, when it offers one spoken here.
pub(super) fn offered(req: &Request<Incoming>) -> Option<&'static str> {
    offered_of(req, &PROTOCOLS)
}

/// The first of `spoken` that a WebSocket upgrade offers.
pub(super) fn offered_of(req: &Request<Incoming>, spoken: &[&'static str]) -> Option<&'static str> {
    let h = req.headers();
    let upgrade = h.get(hyper::header::UPGRADE)?.to_str().ok()?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    let asked: Vec<String> = h
        .get_all(hyper::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    spoken
        .iter()
        .copied()
        .find(|p| asked.iter().any(|a| a == p))
}

/// The `101` that accepts the upgrade with `protocol`.
pub(super) fn accept(req: &Request<Incoming>, protocol: &'static str) -> Response<ResBody> {
    let key = req
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes())
        .unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key);
    super::body::switching_protocols(
        "websocket",
        &[
            ("sec-websocket-accept", &accept),
            ("sec-websocket-protocol", protocol),
        ],
    )
}

/// The final `Status` (channel 3) for an exit code (kubelet's `remotecommand` wording).
pub(super) fn status(code: i32, command: &[String]) -> serde_json::Value {
    if code == 0 {
        return serde_json::json!({"metadata": {}, "status": "Success"});
    }
    serde_json::json!({
        "metadata": {}, "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn binary(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// Where the client's input goes: the process's stdin pipe, or the pty (which also resizes).
enum Input {
    Pipe(Option<tokio::process::ChildStdin>),
    Pty {
        writer: tokio::fs::File,
        master: OwnedFd,
    },
}

impl Input {
    async fn handle(&mut self, msg: &[u8]) {
        let Some((&channel, data)) = msg.split_first() else {
            return;
        };
        match (channel, self) {
            (STDIN, Input::Pipe(Some(stdin))) => {
                let _ = stdin.write_all(data).await;
            }
            (STDIN, Input::Pty { writer, .. }) => {
                let _ = writer.write_all(data).await;
            }
            (CLOSE, Input::Pipe(stdin)) if data.first() == Some(&STDIN) => {
                if let Some(mut s) = stdin.take() {
                    let _ = s.shutdown().await;
                }
            }
            (RESIZE, Input::Pty { master, .. }) => {
                if let Some(size) = parse_size(data) {
                    let _ = set_size(master, size);
                }
            }
            _ => {}
        }
    }
}

/// `{"Width":100,"Height":30}` as a size.
fn parse_size(data: &[u8]) -> Option<Size> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Wire {
        width: u16,
        height: u16,
    }
    let s = serde_json::from_slice::<Wire>(data).ok()?;
    Some(Size {
        cols: s.width,
        rows: s.height,
    })
}

/// Copies `from` to the client on `channel` until it ends.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    out: mpsc::Sender<Message>,
    channel: u8,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || out.send(binary(channel, &buf[..n])).await.is_err() {
            break;
        }
    }
}

type WsStream = futures_util::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
>;

/// The upgraded connection of an exec: input to the process, its output and then its exit as
/// channel messages, then the close. An exec on a terminal starts here, sized by the client's
/// first resize; one that cannot start ends with its error's `Status`.
pub(super) async fn relay(
    upgrade: hyper::upgrade::OnUpgrade,
    mut exec: Exec,
    started: Option<Started>,
) {
    // Without the upgrade a started process is dropped, and killed (`kill_on_drop`).
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut stream) = ws.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(m) = outgoing.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut early = Vec::new();
    let started = match started {
        Some(s) => Ok(s),
        None => {
            if let Some(size) = first_size(&mut stream, &mut early).await {
                exec.size = size;
            }
            exec.start().await
        }
    };
    let status = match started {
        Ok(s) => status(run(s, stream, early, &out).await, &exec.command),
        Err(e) => serde_json::to_value(e.status()).unwrap_or_default(),
    };
    let status = serde_json::to_vec(&status).unwrap_or_default();
    let _ = out.send(binary(STATUS, &status)).await;
    let close = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let _ = out.send(Message::Close(Some(close))).await;
    drop(out);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}

/// The size in the client's first resize message (kubectl sends one at once with a terminal),
/// waited for a second at most; other messages before it are kept in `early`.
async fn first_size(stream: &mut WsStream, early: &mut Vec<Vec<u8>>) -> Option<Size> {
    let wait = async {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if b.first() == Some(&RESIZE) => return parse_size(&b[1..]),
                Message::Binary(b) => early.push(b.to_vec()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    };
    tokio::time::timeout(std::time::Duration::from_secs(1), wait)
        .await
        .ok()
        .flatten()
}

/// A started exec's relay until the process ends: the client's messages (`early` first) to
/// its input, its output to `out`. Returns the exit code.
async fn run(
    started: Started,
    mut stream: WsStream,
    early: Vec<Vec<u8>>,
    out: &mpsc::Sender<Message>,
) -> i32 {
    let Started {
        mut child,
        pty,
        outer,
    } = started;
    let mut pumps = Vec::new();
    let mut input = match pty {
        Some(master) => {
            let (Ok(r), Ok(w)) = (master.try_clone(), master.try_clone()) else {
                let _ = child.start_kill();
                return 255;
            };
            let reader = tokio::fs::File::from_std(std::fs::File::from(r));
            pumps.push(tokio::spawn(pump(reader, out.clone(), STDOUT)));
            let writer = tokio::fs::File::from_std(std::fs::File::from(w));
            Input::Pty { writer, master }
        }
        None => {
            if let Some(o) = child.stdout.take() {
                pumps.push(tokio::spawn(pump(o, out.clone(), STDOUT)));
            }
            if let Some(e) = child.stderr.take() {
                pumps.push(tokio::spawn(pump(e, out.clone(), STDERR)));
            }
            Input::Pipe(child.stdin.take())
        }
    };
    // Read the client all along (its input, and its pings, which are answered while it is read).
    let reader = tokio::spawn(async move {
        for msg in early {
            input.handle(&msg).await;
        }
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) => input.handle(&b).await,
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    let code = exit_code(child.wait().await);
    for p in pumps {
        // A pty reader ends with EIO once the child and its descendants closed the slave.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), p).await;
    }
    drop(outer);
    reader.abort();
    code
}

/// The exit code as a shell reports it (128 + the signal for a killed process).
pub(super) fn exit_code(s: std::io::Result<std::process::ExitStatus>) -> i32 {
    s.ok()
        .and_then(|s| {
            s.code()
                .or_else(|| std::os::unix::process::ExitStatusExt::signal(&s).map(|s| 128 + s))
        })
        .unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec §4.2: the Status kubectl reads the exit code from (the cause parsed as uint8).
    #[test]
    fn exit_statuses_are_kubelets() {
        assert_eq!(
            status(0, &[]),
            serde_json::json!({"metadata": {}, "status": "Success"})
        );
        let cmd = ["sh", "-c", "exit 3"].map(String::from);
        let s = status(3, &cmd);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        assert_eq!(
            s["details"]["causes"][0],
            serde_json::json!({"reason": "ExitCode", "message": "3"})
        );
    }
}
