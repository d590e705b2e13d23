//! The socket: bound root-only without touching directories beluga did not make, connections
//! bounded by the open-files limit, accept errors survived; one hyper connection each.

use super::*;

/// Binds the socket root-only (0600) without touching the mode of a directory beluga did not
/// make (`--socket /tmp/x.sock` once turned `/tmp` 0700, attack report 4.0): missing parents are
/// made 0700, and the socket is bound in a private directory beside it and renamed into place,
/// so it is never reachable before its mode is set.
pub(super) fn bind_private(sock: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = sock.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(std::path::Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let private = tempfile::Builder::new()
        .prefix(".beluga-sock-")
        .tempdir_in(dir)?;
    let staged = private.path().join("s");
    let listener = tokio::net::UnixListener::bind(&staged)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    let _ = std::fs::remove_file(sock);
    std::fs::rename(&staged, sock)?;
    Ok(listener)
}

/// How many connections are served at once: half the open-files limit (the rest is for pods,
/// logs and the runtime), at least 16.
pub(super) fn connection_bound() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
}

/// Serves the API on the unix socket and, with `--api-listen`, over TLS (`tls`); an accept
/// error never ends it. The socket is root-only (0600 in a 0700 directory). Both listeners
/// share one bound on connections.
pub async fn serve(d: Arc<Daemon>) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(connection_bound()));
    let tls = match d.config().api_listen {
        Some(addr) => Some(super::tls::bind(&d, addr).await?),
        None => None,
    };
    let unix = serve_unix(d.clone(), slots.clone());
    match tls {
        Some((listeners, acceptor)) => {
            tokio::try_join!(unix, super::tls::serve(d, listeners, acceptor, slots)).map(|_| ())
        }
        None => unix.await,
    }
}

/// Accepts connections and hands each to `handle` on a task of its own, holding one of
/// `slots` while it lives: past the bound, clients wait in the listen backlog instead of
/// taking the daemon's last descriptors (attack report 4.6). An accept error (EMFILE and the
/// like) never ends it.
pub(super) async fn accept_each<S, Fut>(
    slots: Arc<tokio::sync::Semaphore>,
    mut accept: impl AsyncFnMut() -> std::io::Result<S>,
    handle: impl Fn(S) -> Fut,
) -> std::io::Result<()>
where
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let stream = match accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let task = handle(stream);
        tokio::spawn(async move {
            let _slot = slot;
            task.await;
        });
    }
}

/// One connection served by hyper, each request answered by `answer`, upgrades allowed; a
/// half-sent request is dropped after 30 s instead of holding its task forever.
pub(super) async fn serve_connection<I, Fut>(
    io: I,
    answer: impl Fn(Request<Incoming>) -> Fut + Send + 'static,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    Fut: std::future::Future<Output = Response<ResBody>> + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(io);
    let svc = hyper::service::service_fn(move |req| {
        let reply = answer(req);
        async move { Ok::<_, Infallible>(reply.await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(30))
        .serve_connection(io, svc)
        .with_upgrades()
        .await;
}

async fn serve_unix(d: Arc<Daemon>, slots: Arc<tokio::sync::Semaphore>) -> std::io::Result<()> {
    let sock = d.config().socket.clone();
    if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("another daemon is serving {}", sock.display()),
        ));
    }
    let listener = bind_private(&sock)?;
    tracing::info!(socket = %sock.display(), "serving the API");
    let accept = async || listener.accept().await.map(|(s, _)| s);
    accept_each(slots, accept, |stream| {
        let d = d.clone();
        serve_connection(stream, move |req| route(d.clone(), req))
    })
    .await
}

/// A request on the unix socket: root's own, so trusted.
pub(super) async fn route(d: Arc<Daemon>, req: Request<Incoming>) -> Response<ResBody> {
    route_as(d, super::auth::Caller::Local, req).await
}

pub(super) async fn route_as(
    d: Arc<Daemon>,
    caller: super::auth::Caller,
    req: Request<Incoming>,
) -> Response<ResBody> {
    match route_inner(d, &caller, req).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}
