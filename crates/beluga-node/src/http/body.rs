//! Response and request bodies: whole, JSON, errors as `Status`, streamed through a channel
//! (watches, `logs -f`); request bodies bounded in size and time.

use super::*;

pub type ResBody = BoxBody<Bytes, Infallible>;

/// Largest request body accepted (a Pod manifest is far smaller).
pub(super) const MAX_BODY: usize = 4 << 20;

/// A response body fed by a channel: watches, `logs -f`.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<ResBody> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

/// A `101 Switching Protocols` to `upgrade`, with `headers` beside `Connection` and `Upgrade`
/// (no content type: the connection is the upgraded protocol's from here).
pub fn switching_protocols(upgrade: &str, headers: &[(&str, &str)]) -> Response<ResBody> {
    let mut resp = full(StatusCode::SWITCHING_PROTOCOLS, "", "");
    let h = resp.headers_mut();
    h.remove(hyper::header::CONTENT_TYPE);
    for (k, v) in [("connection", "Upgrade"), ("upgrade", upgrade)]
        .iter()
        .chain(headers)
    {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    resp
}

pub fn json(status: StatusCode, v: &impl serde::Serialize) -> Response<ResBody> {
    full(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

pub fn error(e: &ApiError) -> Response<ResBody> {
    json(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status(),
    )
}

pub fn streaming(content_type: &str) -> (mpsc::Sender<Bytes>, Response<ResBody>) {
    let (tx, rx) = mpsc::channel(64);
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("transfer-encoding", "chunked")
        .body(ChannelBody(rx).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()));
    (tx, resp)
}

/// How long a request body may take to arrive (attack report 4.4: bodies that never ended held
/// a task and a descriptor each, forever); the apiserver's request timeout is a minute too.
pub(super) const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A request's body, as JSON when client-go's typed clients sent it as protobuf (`kubectl
/// create configmap`, `auth can-i`: `beluga_api::protobuf`); a protobuf kind not read here is
/// the apiserver's 415.
pub(super) async fn body_bytes(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let protobuf = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/vnd.kubernetes.protobuf"));
    let body = raw_body(req).await?;
    if !protobuf {
        return Ok(body);
    }
    let v = beluga_api::protobuf::to_json(&body).map_err(|e| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"),
        )
    })?;
    Ok(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

async fn raw_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let collect = Limited::new(req.into_body(), MAX_BODY).collect();
    tokio::time::timeout(BODY_TIMEOUT, collect)
        .await
        .map_err(|_| ApiError::new(408, "Timeout", "the request body did not arrive in time"))?
        .map(|c| c.to_bytes())
        .map_err(|e| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("reading request body: {e}"),
            )
        })
}
