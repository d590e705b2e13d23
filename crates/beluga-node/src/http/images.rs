//! `POST /beluga/v1/images/pull`: a registry pull streamed as progress lines.

use super::*;

/// `image pull`: one JSON line per progress event (`{"progress": …}`), then `{"image": record}`
/// or `{"error": message}`; the pull goes on to its end even if the client leaves.
pub(super) fn pull_image(d: Arc<Daemon>, reference: String) -> Response<ResBody> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let line = |v: serde_json::Value| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        let progress_tx = tx.clone();
        let turn = d.pulls.lock().await;
        let res = d.pull(&turn, &reference, |ev| {
            let v = match ev {
                PullEvent::Resolved { digest, layers } => {
                    serde_json::json!({"progress": {"manifest": digest, "layers": layers}})
                }
                PullEvent::Layer {
                    digest,
                    done,
                    total,
                } => {
                    serde_json::json!({"progress": {"layer": digest, "done": done, "total": total}})
                }
                PullEvent::Present { digest } => {
                    serde_json::json!({"progress": {"layer": digest, "present": true}})
                }
            };
            // Progress is best effort: a slow reader misses some, never the result.
            let _ = progress_tx.try_send(line(v));
        })
        .await;
        let last = match res {
            Ok(rec) => serde_json::json!({ "image": rec }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let _ = tx.send(line(last)).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json-seq")
        .body(ChannelBody(rx).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}
