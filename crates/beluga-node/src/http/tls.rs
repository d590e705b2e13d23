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

/// Binds `--api-listen` and records the address bound (port 0: one the kernel chose), so that
/// the kubeconfig names it.
pub(super) async fn bind(
    d: &Daemon,
    addr: std::net::SocketAddr,
) -> std::io::Result<(tokio::net::TcpListener, tokio_rustls::TlsAcceptor)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("--api-listen {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let mut extra = vec![bound.ip()];
    extra.extend(d.kubernetes_service_ip());
    let names = crate::credentials::serving_names(&extra, &d.config().cluster_domain);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(d, names)?));
    d.set_api_addr(bound);
    tracing::info!(address = %bound, "serving the Kubernetes API over TLS");
    Ok((listener, acceptor))
}

/// Serves TLS connections; an accept or handshake error never ends it.
pub(super) async fn serve(
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
