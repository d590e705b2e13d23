//! `beluga exec POD [-c C] [-i] [-t] -- CMD…`: the command's exit code is passed through.

use crate::client::{encode, pods_path, Client};
use anyhow::{bail, Result};
use beluga_api::wire::exec;
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(clap::Args)]
pub struct Args {
    /// The pod (`NAME` or `pod/NAME`).
    pod: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    stdin: bool,
    /// Allocate a terminal.
    #[arg(short = 't', long)]
    tty: bool,
    #[command(flatten)]
    socket: crate::SocketArg,
}

/// Puts the terminal in raw mode for the session; restores it on drop.
struct RawMode(Option<rustix::termios::Termios>);

impl RawMode {
    fn enable() -> RawMode {
        use rustix::termios::{isatty, tcgetattr, tcsetattr, OptionalActions};
        let stdin = std::io::stdin();
        if !isatty(&stdin) {
            return RawMode(None);
        }
        let Ok(saved) = tcgetattr(&stdin) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = tcsetattr(&stdin, OptionalActions::Now, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

fn window() -> (u16, u16) {
    match rustix::termios::tcgetwinsize(std::io::stdout()) {
        Ok(ws) if ws.ws_col > 0 => (ws.ws_col, ws.ws_row),
        _ => (80, 24),
    }
}

pub async fn run(a: Args) -> Result<i32> {
    let pod = a.pod.strip_prefix("pod/").unwrap_or(&a.pod).to_string();
    let mut q: Vec<String> = a
        .command
        .iter()
        .map(|c| format!("command={}", encode(c)))
        .collect();
    if let Some(c) = &a.container {
        q.push(format!("container={}", encode(c)));
    }
    if a.stdin {
        q.push("stdin=true".into());
    }
    let tty = a.tty && a.stdin;
    if a.tty && !a.stdin {
        eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
    }
    if tty {
        let (c, r) = window();
        q.push(format!("tty=true&cols={c}&rows={r}"));
    }
    let path = format!(
        "{}/exec?{}",
        pods_path(Some(&a.namespace), Some(&pod)),
        q.join("&")
    );
    let client = Client::new(&a.socket.socket);
    let upgraded = client.upgrade(&path).await?;
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let (mut rd, mut wr) = tokio::io::split(io);
    let _raw = if tty {
        RawMode::enable()
    } else {
        RawMode(None)
    };
    if a.stdin {
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = stdin.read(&mut buf).await {
                if n == 0 || wr.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                let _ = wr.flush().await;
            }
            let _ = wr.shutdown().await;
        });
    } else {
        let _ = wr.shutdown().await;
    }
    let mut code = None;
    loop {
        let mut head = [0u8; exec::HEADER];
        if rd.read_exact(&mut head).await.is_err() {
            break;
        }
        let (stream, len) = exec::header(head);
        let mut data = vec![0u8; len];
        if rd.read_exact(&mut data).await.is_err() {
            break;
        }
        match stream {
            exec::STDOUT => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(&data);
                let _ = o.flush();
            }
            exec::STDERR => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(&data);
                let _ = e.flush();
            }
            exec::EXIT => {
                code = exec::exit_code(&data);
                break;
            }
            _ => {}
        }
    }
    drop(_raw);
    match code {
        Some(0) => Ok(0),
        Some(c) => {
            eprintln!("command terminated with exit code {c}");
            Ok(c)
        }
        None => bail!("exec: the connection to the daemon ended before the command finished"),
    }
}
