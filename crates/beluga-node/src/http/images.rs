//! The image store's verbs: import a rootfs or load an archive, pull from a registry (streamed as
//! progress lines), remove an image no pod uses.

use super::*;
use beluga_api::wire::{PullLine, PullProgress};

/// `image pull`: one `beluga_api::wire::PullLine` per progress event, then the image or the
/// error; the pull goes on to its end even if the client leaves.
pub(super) fn pull_image(d: Arc<Daemon>, reference: String) -> Response<ResBody> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let line = |l: PullLine| {
            let mut b = serde_json::to_vec(&l).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        let progress_tx = tx.clone();
        let turn = d.pull_turn().await;
        let res = d
            .pull(&turn, &reference, |ev| {
                let progress = match ev {
                    PullEvent::Resolved { digest, layers } => PullProgress::Manifest {
                        manifest: digest,
                        layers,
                    },
                    PullEvent::Layer {
                        digest,
                        done,
                        total,
                    } => PullProgress::Layer {
                        layer: digest,
                        done,
                        total,
                    },
                    PullEvent::Present { digest } => PullProgress::Present {
                        layer: digest,
                        present: true,
                    },
                };
                // Progress is best effort: a slow reader misses some, never the result.
                let _ = progress_tx.try_send(line(PullLine {
                    progress: Some(progress),
                    ..Default::default()
                }));
            })
            .await;
        let last = match res {
            Ok(rec) => PullLine {
                image: serde_json::to_value(&rec).ok(),
                ..Default::default()
            },
            Err(e) => PullLine {
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        let _ = tx.send(line(last)).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json-seq")
        .body(ChannelBody(rx).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

pub(super) async fn import_image(
    d: &Arc<Daemon>,
    verb: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let body = body_bytes(req).await?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?;
    let path = std::path::PathBuf::from(v["path"].as_str().unwrap_or_default());
    let tag = v["tag"].as_str().map(String::from);
    let (d2, import) = (d.clone(), verb == "import");
    let res = tokio::task::spawn_blocking(move || {
        if import {
            d2.images
                .import_rootfs(&path, tag.as_deref().unwrap_or_default())
                .map(|r| vec![r])
        } else {
            beluga_image::archive::load(&d2.images, &path, tag.as_deref())
        }
    })
    .await
    .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    match res {
        Ok(recs) => Ok(json(StatusCode::CREATED, &recs)),
        Err(e) => Err(ApiError::new(400, "BadRequest", e.to_string())),
    }
}

/// `image rm`: refused while a pod names the image.
pub(super) fn remove_image(
    d: &Arc<Daemon>,
    reference: &str,
) -> Result<Response<ResBody>, ApiError> {
    let users = |rec: &beluga_image::ImageRecord| -> Option<String> {
        d.list(None).iter().find_map(|h| {
            let st = h.lock();
            let uses = podutil::all_containers(&st.pod).any(|c| {
                c.image
                    .as_deref()
                    .and_then(|i| beluga_image::reference::normalize(i).ok())
                    .as_deref()
                    == Some(rec.reference.as_str())
            });
            let pod = &st.pod;
            uses.then(|| format!("pod {}/{}", podutil::namespace(pod), podutil::name(pod)))
        })
    };
    match d.store().remove(reference, users) {
        Ok(rec) => Ok(json(StatusCode::OK, &rec)),
        Err(beluga_image::ImageError::NotFound(r)) => Err(ApiError::new(
            404,
            "NotFound",
            format!("image {r:?} not found"),
        )),
        Err(e) => Err(ApiError::new(409, "Conflict", e.to_string())),
    }
}
