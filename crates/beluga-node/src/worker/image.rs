//! The image a container needs: kubelet's pull policy, Pulling/Pulled events and pull back-off.

use super::*;

/// The image is not in the store, or `always` (policy `Always`). `Never`: `ErrImageNeverPull`.
/// Otherwise it is pulled (spec §2.3 step 1), with kubelet's events; a failure is `ErrImagePull`
/// and kubelet's image back-off applies: `ImagePullBackOff` while waiting for the next attempt.
/// Pulls go one at a time; Ok is the image and whether this call pulled it (another pod's pull
/// may have brought it meanwhile); Err says why and when to look again.
pub(super) async fn pull_image(
    d: &Arc<Daemon>,
    h: &PodHandle,
    pod: &Pod,
    c: &Container,
    image: &str,
    always: bool,
    now: beluga_api::k8s_openapi::jiff::Timestamp,
) -> Result<(beluga_image::ImageRecord, bool), Retry> {
    if c.image_pull_policy.as_deref() == Some("Never") {
        let msg = format!("Container image {image:?} is not present with pull policy of Never");
        return Err(waiting(
            h,
            &c.name,
            "ErrImageNeverPull",
            msg.clone(),
            Some((EventType::Warning, "ErrImageNeverPull", msg)),
            RETRY,
        ));
    }
    let key = format!("{}_{image}", podutil::uid(pod));
    let turn = d.pull_turn().await;
    // Another pod may have pulled it while this one waited its turn.
    if !always {
        if let Some(rec) = d.exec().images.get(image) {
            return Ok((rec, false));
        }
    }
    let remaining = h.lock().pull_backoff.remaining_since_update(&key, now);
    if let Some(rem) = remaining {
        let msg = format!("Back-off pulling image {image:?}");
        return Err(waiting(
            h,
            &c.name,
            "ImagePullBackOff",
            msg.clone(),
            Some((EventType::Normal, "BackOff", msg)),
            rem,
        ));
    }
    h.lock().events.record(
        pod,
        Some(&c.name),
        EventType::Normal,
        "Pulling",
        format!("Pulling image {image:?}"),
    );
    let (secrets, missing) = d.pull_secrets(pod);
    if !missing.is_empty() {
        let msg = crate::pull_secrets::missing_message(&missing);
        let reason = "FailedToRetrieveImagePullSecret";
        h.lock()
            .events
            .record(pod, None, EventType::Warning, reason, msg);
    }
    let started = std::time::Instant::now();
    let pulled = d.exec().images.pull(image, &secrets).await;
    drop(turn);
    let err = match pulled {
        Ok(rec) => {
            let took = started.elapsed();
            h.lock().events.record(
                pod,
                Some(&c.name),
                EventType::Normal,
                "Pulled",
                format!(
                    "Successfully pulled image {image:?} in {took:.3?} ({took:.3?} including waiting). Image size: {} bytes.",
                    rec.size
                ),
            );
            return Ok((rec, true));
        }
        Err(e) => e,
    };
    {
        let mut st = h.lock();
        st.pull_backoff.next(&key, now, now);
        st.events.record(
            pod,
            Some(&c.name),
            EventType::Warning,
            "Failed",
            format!("Failed to pull image {image:?}: {err}"),
        );
    }
    // Look again within the back-off, so the status shows ImagePullBackOff as kubelet's does.
    let again = h
        .lock()
        .pull_backoff
        .current(&key)
        .map(|d| d / 2)
        .unwrap_or(RETRY);
    Err(waiting(
        h,
        &c.name,
        "ErrImagePull",
        err,
        Some((EventType::Warning, "Failed", "Error: ErrImagePull".into())),
        again,
    ))
}

/// The container's image: its name checked (`InvalidImageName`), kubelet's pull policy applied
/// (`Always` pulls at every start, except `localhost/…` images, which only exist here), pulled
/// when needed. Returns the record and whether it was pulled now.
pub(super) async fn ensure_image(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    pod: &Pod,
    c: &Container,
    now: beluga_api::k8s_openapi::jiff::Timestamp,
) -> Result<(beluga_image::ImageRecord, bool), Retry> {
    let image = c.image.clone().unwrap_or_default();
    let normalized = match beluga_image::reference::normalize(&image) {
        Ok(n) => n,
        Err(e) => {
            let msg = format!(
                "Failed to apply default image tag {image:?}: couldn't parse image name {image:?}: {e}"
            );
            return Err(waiting(
                h,
                &c.name,
                "InvalidImageName",
                msg.clone(),
                Some((EventType::Warning, "InspectFailed", msg)),
                RETRY,
            ));
        }
    };
    let always = c.image_pull_policy.as_deref() == Some("Always")
        && !beluga_image::registry::made_here(&normalized);
    match d.exec().images.get(&image) {
        Some(r) if !always => Ok((r, false)),
        _ => pull_image(d, h, pod, c, &image, always, now).await,
    }
}
