//! The Kubernetes API over TLS for the real kubectl (issue 17 item 1; kubectl-api spec §1):
//! the same router as the unix socket, at `--api-listen`, with a serving certificate the
//! cluster CA signs; a client certificate is asked for but not required (a bearer token does
//! as well), and each request is authenticated and authorized (`auth`) before it is routed.

use super::auth;
use super::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What may go wrong setting up the listener.
fn setup_error(what: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("the API's TLS: {what}: {e}"))
}

/// The server's TLS configuration: its certificate for `names`, clients verified against the
/// cluster CA when they present a certificate, HTTP/1.1 (what kubectl's WebSocket
/// connections speak too, spec §1.1).
fn server_config(d: &Daemon, names: Vec<String>) -> std::io::Result<rustls::ServerConfig> {
    let pki = d.pki();
    let (cert_pem, key_pem) =
        crate::credentials::serving(pki, names).map_err(|e| setup_error("certificate", e))?;
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| setup_error("certificate", e))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| setup_error("key", e))?;
    let ca =
        CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).map_err(|e| setup_error("CA", e))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(|e| setup_error("CA", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| setup_error("client verifier", e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup_error("versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert], key)
        .map_err(|e| setup_error("certificate", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The API's TCP listeners: `--api-listen`, and where pods reach it.
pub(super) struct Listeners {
    main: tokio::net::TcpListener,
    pods: Option<tokio::net::TcpListener>,
}

/// Binds `--api-listen` and records the address bound (port 0: one the kernel chose), so that
/// the kubeconfig names it; and, with a pod network, the address pods reach it at.
pub(super) async fn bind(
    d: &Daemon,
    addr: std::net::SocketAddr,
) -> std::io::Result<(Listeners, tokio_rustls::TlsAcceptor)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("--api-listen {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let pods = for_pods(d, bound);
    let mut extra = vec![bound.ip()];
    extra.extend(d.kubernetes_service_ip());
    extra.extend(d.pod_gateway().map(std::net::IpAddr::V4));
    let names = crate::credentials::serving_names(&extra, &d.config().cluster_domain);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(d, names)?));
    d.set_api_addr(bound);
    tracing::info!(address = %bound, for_pods = ?d.api_for_pods(), "serving the Kubernetes API over TLS");
    Ok((
        Listeners {
            main: listener,
            pods,
        },
        acceptor,
    ))
}

/// Where pods reach the API, the `kubernetes` Service's endpoint (issue 16 item 5): the node's
/// address on the pod network, as a cluster's pods reach the apiserver's host address. That is
/// `--api-listen` itself when it listens on every address; otherwise a second listener there,
/// on the same port when it is free (bound before the bridge exists: the first ADD makes the
/// address). None without a pod network whose Services are routed.
fn for_pods(d: &Daemon, bound: std::net::SocketAddr) -> Option<tokio::net::TcpListener> {
    let gateway = d.pod_gateway()?;
    if bound.ip().is_unspecified() || bound.ip() == std::net::IpAddr::V4(gateway) {
        d.set_api_for_pods(std::net::SocketAddrV4::new(gateway, bound.port()));
        return None;
    }
    let listen = |port| {
        let fd = crate::dns::bind_free(
            std::net::SocketAddrV4::new(gateway, port),
            rustix::net::SocketType::STREAM,
        )?;
        rustix::net::listen(&fd, 128)?;
        let l = std::net::TcpListener::from(fd);
        l.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(l)
    };
    match listen(bound.port()).or_else(|_| listen(0)) {
        Ok(l) => {
            if let Ok(std::net::SocketAddr::V4(at)) = l.local_addr() {
                d.set_api_for_pods(at);
            }
            Some(l)
        }
        Err(e) => {
            tracing::warn!(error = %e, gateway = %gateway, "pods cannot reach the Kubernetes API: binding on the pod network's gateway failed");
            None
        }
    }
}

/// Serves TLS connections on every listener; an accept or handshake error never ends it.
pub(super) async fn serve(
    d: Arc<Daemon>,
    listeners: Listeners,
    acceptor: tokio_rustls::TlsAcceptor,
    slots: Arc<tokio::sync::Semaphore>,
) -> std::io::Result<()> {
    let main = serve_on(d.clone(), listeners.main, acceptor.clone(), slots.clone());
    match listeners.pods {
        Some(pods) => tokio::try_join!(main, serve_on(d, pods, acceptor, slots)).map(|_| ()),
        None => main.await,
    }
}

async fn serve_on(
    d: Arc<Daemon>,
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    slots: Arc<tokio::sync::Semaphore>,
) -> std::io::Result<()> {
    let accept = async || listener.accept().await.map(|(s, _)| s);
    listen::accept_each(slots, accept, |stream| {
        let (d, acceptor) = (d.clone(), acceptor.clone());
        async move {
            // A handshake that never ends holds nothing for long.
            let handshake = tokio::time::timeout(BODY_TIMEOUT, acceptor.accept(stream));
            let Ok(Ok(tls)) = handshake.await else {
                return;
            };
            let client_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            listen::serve_connection(tls, move |req| {
                let d = d.clone();
                async move {
                    match auth::authenticate(&d, req.headers(), client_cert) {
                        Ok(caller) => route_as(d, caller, req).await,
                        Err(e) => error(&e),
                    }
                }
            })
            .await;
        }
    })
    .await
}
