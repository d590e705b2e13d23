//! The API client: HTTP/1.1 over the daemon's unix socket, and kubectl's rendering of errors.

use anyhow::{anyhow, bail, Result};
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::path::{Path, PathBuf};

pub struct Client {
    socket: PathBuf,
}

/// A failure already in kubectl's words (the server's `Status`, or a validation message as
/// kubectl renders it): printed as it is, without the `error: ` prefix of other failures.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Verbatim(pub String);

/// kubectl's rendering of a `v1.Status` failure.
pub fn status_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    anyhow::Error::new(Verbatim(status_text(status, body)))
}

fn status_text(status: StatusCode, body: &[u8]) -> String {
    let st: Status = serde_json::from_slice(body).unwrap_or_default();
    let reason = st.reason.unwrap_or_default();
    let message = st
        .message
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    if reason == "Invalid" {
        let details = st.details.unwrap_or_default();
        let name = details.name.unwrap_or_default();
        let kind = details
            .kind
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "Pod".into());
        let causes: Vec<String> = details
            .causes
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                format!(
                    "{}: {}",
                    c.field.unwrap_or_default(),
                    c.message.unwrap_or_default()
                )
            })
            .collect();
        if causes.len() == 1 {
            return format!("The {kind} {name:?} is invalid: {}", causes[0]);
        }
        let mut s = format!("The {kind} {name:?} is invalid: \n");
        for c in &causes {
            s.push_str(&format!("* {c}\n"));
        }
        return s.trim_end_matches('\n').to_string();
    }
    let reason = if reason.is_empty() {
        status.canonical_reason().unwrap_or("Unknown").to_string()
    } else {
        reason
    };
    format!("Error from server ({reason}): {message}")
}

/// A watch line (`beluga_api::wire::WatchEvent`): whether it says the object went, and the object.
pub fn watch_event<T: for<'de> beluga_api::k8s_openapi::serde::Deserialize<'de>>(
    line: &[u8],
) -> Option<(bool, T)> {
    use beluga_api::wire::WatchEvent;
    match serde_json::from_slice::<WatchEvent<T>>(line).ok()? {
        WatchEvent::Added(o) | WatchEvent::Modified(o) => Some((false, o)),
        WatchEvent::Deleted(o) => Some((true, o)),
        _ => None,
    }
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Incoming>> {
        let stream = tokio::net::UnixStream::connect(&self.socket).await.map_err(|e| {
            anyhow!("cannot reach the beluga daemon at {} ({e}); start it with `beluga daemon` (as root), or point --socket / BELUGA_SOCKET at it", self.socket.display())
        })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender.send_request(req).await?)
    }

    fn build(method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Request<Full<Bytes>>> {
        Ok(Request::builder()
            .method(method)
            .uri(format!("http://beluga{path}"))
            .header("host", "beluga")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?)
    }

    /// A request whose whole answer is read; a non-2xx answer becomes kubectl's error text.
    pub async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes> {
        let resp = self.send(Self::build(method, path, body)?).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        Ok(bytes)
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value> {
        let b = self.call(method, path, body).await?;
        Ok(serde_json::from_slice(&b)?)
    }

    /// Like `call` but 404 is `None`.
    pub async fn get_opt(&self, path: &str) -> Result<Option<serde_json::Value>> {
        self.get_opt_as(path, "application/json").await
    }

    /// A GET for a server-side Table (kubectl's Accept); 404 is `None`.
    pub async fn get_table(&self, path: &str) -> Result<Option<beluga_api::table::Table>> {
        let v = self
            .get_opt_as(path, beluga_api::table::TABLE_ACCEPT)
            .await?;
        Ok(v.map(serde_json::from_value).transpose()?)
    }

    async fn get_opt_as(&self, path: &str, accept: &str) -> Result<Option<serde_json::Value>> {
        let mut req = Self::build(Method::GET, path, None)?;
        req.headers_mut().insert(
            hyper::header::ACCEPT,
            hyper::header::HeaderValue::from_str(accept)?,
        );
        let resp = self.send(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(status_error(status, &bytes));
        }
        Ok(Some(serde_json::from_slice(&bytes)?))
    }

    /// A streamed answer (watch, `logs -f`).
    pub async fn stream(&self, path: &str) -> Result<Incoming> {
        self.stream_with(Method::GET, path).await
    }

    /// A streamed answer to a request of any method (`image pull`'s progress).
    pub async fn stream_with(&self, method: Method, path: &str) -> Result<Incoming> {
        let resp = self.send(Self::build(method, path, None)?).await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(status_error(status, &bytes));
        }
        Ok(resp.into_body())
    }

    /// An upgraded connection (exec).
    pub async fn upgrade(&self, path: &str) -> Result<hyper::upgrade::Upgraded> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("http://beluga{path}"))
            .header("host", "beluga")
            .header("connection", "Upgrade")
            .header("upgrade", "beluga-exec")
            .body(Full::new(Bytes::new()))?;
        let resp = self.send(req).await?;
        let status = resp.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(status_error(status, &bytes));
        }
        match hyper::upgrade::on(resp).await {
            Ok(u) => Ok(u),
            Err(e) => bail!("exec: {e}"),
        }
    }
}

/// Reads newline-delimited chunks from a streamed body.
pub struct Lines {
    body: Incoming,
    buf: Vec<u8>,
}

impl Lines {
    pub fn new(body: Incoming) -> Lines {
        Lines {
            body,
            buf: Vec::new(),
        }
    }
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(p) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                return Some(line);
            }
            match self.body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
                _ => {
                    if self.buf.is_empty() {
                        return None;
                    }
                    return Some(std::mem::take(&mut self.buf));
                }
            }
        }
    }
}

/// `/api/v1/namespaces/{ns}/pods[/{name}]`.
pub fn pods_path(ns: Option<&str>, name: Option<&str>) -> String {
    resource_path("pods", ns, name)
}

pub fn services_path(ns: Option<&str>, name: Option<&str>) -> String {
    resource_path("services", ns, name)
}

/// `/api/v1/[namespaces/{ns}/]{resource}[/{name}]`.
pub fn resource_path(resource: &str, ns: Option<&str>, name: Option<&str>) -> String {
    // Namespaces live in no namespace.
    if resource == "namespaces" {
        return match name {
            Some(n) => format!("/api/v1/namespaces/{n}"),
            None => "/api/v1/namespaces".into(),
        };
    }
    match (ns, name) {
        (None, _) => format!("/api/v1/{resource}"),
        (Some(ns), None) => format!("/api/v1/namespaces/{ns}/{resource}"),
        (Some(ns), Some(n)) => format!("/api/v1/namespaces/{ns}/{resource}/{n}"),
    }
}

pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
