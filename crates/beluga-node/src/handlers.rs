//! The actions probes and hooks run (spec §6.2, §7.1): HTTP GET and TCP connect inside the pod's
//! network namespace, gRPC health checks (exec goes through the executor's container runtime).

use crate::podstate::PodHandle;
use beluga_api::k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use beluga_api::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use beluga_runtime::netns;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub use crate::executor::Done;

/// A named or numbered port of the container.
pub fn resolve_port(c: &Container, port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("couldn't find port {name:?} in {}", c.name)),
    }
}

/// Where a probe or hook connects, as kubelet's prober and handlers do: the `host` given, else
/// the pod's IP, dialled from the node (so an app listening on 127.0.0.1 only fails an httpGet
/// probe, as on a cluster). A pod without an address is reached at its own loopback.
fn dial_host(h: &PodHandle, host: Option<&str>) -> Option<String> {
    host.filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| h.lock().pod_ips.first().cloned())
}

/// The host kubelet's URL names: the one dialled, `localhost` for a pod without an address.
fn url_target(h: &PodHandle, host: Option<&str>) -> String {
    dial_host(h, host).unwrap_or_else(|| "localhost".into())
}

/// `host:port` as net.JoinHostPort writes it (brackets for IPv6): the URL's and Host header's.
fn join_host_port(target: &str, port: u16) -> String {
    match target.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{target}:{port}"),
    }
}

fn connect(
    h: &PodHandle,
    host: Option<&str>,
    port: u16,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let Some(host) = dial_host(h, host) else {
        return netns::connect(
            &h.dir.ns("net"),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            timeout,
        );
    };
    let addr = match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?,
    };
    TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1)))
}

pub async fn tcp(
    h: &std::sync::Arc<PodHandle>,
    host: Option<String>,
    port: u16,
    timeout: Duration,
) -> Done {
    let h = h.clone();
    let target = join_host_port(&url_target(&h, host.as_deref()), port);
    match tokio::task::spawn_blocking(move || connect(&h, host.as_deref(), port, timeout)).await {
        Ok(Ok(_)) => Done::Success(String::new()),
        Ok(Err(e)) => Done::Failure(format!("dial tcp {target}: {e}")),
        Err(e) => Done::Error(e.to_string()),
    }
}

/// kubelet does not verify the certificates of HTTPS probes and hooks.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
                .with_no_client_auth();
            Ok(Arc::new(cfg))
        })
        .clone()
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One HTTP/1.1 GET (over TLS when `https`): (status, Location, body ≤ 10 KiB).
fn get_once(
    h: &PodHandle,
    host: Option<&str>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
    https: bool,
) -> std::io::Result<(u16, Option<String>, String)> {
    let tcp = connect(h, host, port, timeout)?;
    let target = url_target(h, host);
    tcp.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    tcp.set_write_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    let mut s: Box<dyn ReadWrite> = if https {
        let name = rustls::pki_types::ServerName::try_from(target.clone())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let conn =
            rustls::ClientConnection::new(tls_config().map_err(std::io::Error::other)?, name)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        Box::new(rustls::StreamOwned::new(conn, tcp))
    } else {
        Box::new(tcp)
    };
    let host_header = join_host_port(&target, port);
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 16 * 1024 {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if buf.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let location = head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, v)| v.trim().to_string())
    });
    Ok((status, location, body.chars().take(10 * 1024).collect()))
}

/// An HTTP GET probe (spec §6.2): 200–399 succeeds; redirects to the same host are followed; a
/// redirect elsewhere is a success with a warning. `status_matters` is false for hooks.
pub async fn http(
    h: &std::sync::Arc<PodHandle>,
    c: &Container,
    g: &HTTPGetAction,
    timeout: Duration,
    status_matters: bool,
) -> Done {
    let https = g.scheme.as_deref() == Some("HTTPS");
    let port = match resolve_port(c, &g.port) {
        Ok(p) => p,
        Err(e) => return Done::Error(e),
    };
    let host = g.host.clone();
    let headers: Vec<(String, String)> = g
        .http_headers
        .iter()
        .flatten()
        .map(|hh| (hh.name.clone(), hh.value.clone()))
        .collect();
    let mut path = g.path.clone().unwrap_or_else(|| "/".into());
    let h = h.clone();
    tokio::task::spawn_blocking(move || {
        let target = join_host_port(&url_target(&h, host.as_deref()), port);
        for _ in 0..10 {
            let (code, location, body) =
                match get_once(&h, host.as_deref(), port, &path, &headers, timeout, https) {
                    Ok(r) => r,
                    Err(e) => {
                        let scheme = if https { "https" } else { "http" };
                        return Done::Failure(format!("Get \"{scheme}://{target}{path}\": {e}"));
                    }
                };
            if !status_matters {
                return Done::Success(String::new());
            }
            if (300..400).contains(&code) {
                if let Some(loc) = location {
                    let same_host = loc.starts_with('/')
                        || loc.starts_with(&format!("http://{target}"))
                        || loc.starts_with(&format!("https://{target}"));
                    if same_host {
                        path = if loc.starts_with('/') {
                            loc
                        } else {
                            loc.splitn(4, '/')
                                .nth(3)
                                .map(|p| format!("/{p}"))
                                .unwrap_or_else(|| "/".into())
                        };
                        continue;
                    }
                    return Done::Warning(format!(
                        "Probe terminated redirects, Response body: {body}"
                    ));
                }
            }
            return if (200..400).contains(&code) {
                Done::Success(body)
            } else {
                Done::Failure(format!("HTTP probe failed with statuscode: {code}"))
            };
        }
        Done::Failure("stopped after 10 redirects".into())
    })
    .await
    .unwrap_or_else(|e| Done::Error(e.to_string()))
}

/// The standard `grpc.health.v1.Health/Check` over HTTP/2 (spec §6.2): SERVING succeeds.
pub async fn grpc(
    h: &std::sync::Arc<PodHandle>,
    port: u16,
    service: &str,
    timeout: Duration,
) -> Done {
    let hh = h.clone();
    let fut = async move {
        let stream = tokio::task::spawn_blocking(move || connect(&hh, None, port, timeout))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("dial :{port}: {e}"))?;
        stream.set_nonblocking(true).map_err(|e| e.to_string())?;
        let stream = tokio::net::TcpStream::from_std(stream).map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .map_err(|e| format!("http2: {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!(
                "http://localhost:{port}/grpc.health.v1.Health/Check"
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                beluga_runtime::grpc_health::request(service),
            )))
            .map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("rpc error: {e}"))?;
        let headers = resp.headers().clone();
        let collected = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .map_err(|e| e.to_string())?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let grpc_status = trailers
            .get("grpc-status")
            .or_else(|| headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_string();
        if grpc_status != "0" {
            return Err(format!("rpc error: code = {grpc_status}"));
        }
        Ok::<_, String>(beluga_runtime::grpc_health::status(&collected.to_bytes()))
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Done::Failure(format!(
            "timeout: health rpc did not complete within {timeout:?}"
        )),
        Ok(Err(e)) => Done::Failure(e),
        Ok(Ok(Some(1))) => Done::Success(String::new()),
        Ok(Ok(Some(s))) => Done::Failure(format!("service unhealthy (responded with {s})")),
        Ok(Ok(None)) => Done::Failure("malformed health response".into()),
    }
}
