//! Lifecycle hooks (spec §7.1–§7.3): postStart runs right after the container starts and blocks
//! the next container; preStop runs at the start of a kill, inside the grace period.

use crate::events::EventType;
use crate::handlers::{self, Done};
use crate::podstate::PodHandle;
use crate::Daemon;
use beluga_api::k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use beluga_api::podutil;
use std::sync::Arc;
use std::time::Duration;

/// Runs a hook handler; `limit` bounds it (preStop: what is left of the grace period).
/// The error text is kubelet's.
pub async fn run(
    d: &Daemon,
    h: &Arc<PodHandle>,
    c: &Container,
    id: &str,
    handler: &LifecycleHandler,
    limit: Option<Duration>,
) -> Result<(), String> {
    let pod = podutil::name(&h.lock().pod).to_string();
    if let Some(e) = &handler.exec {
        let cmd: Vec<String> = e.command.clone().unwrap_or_default();
        return match d.exec().runtime.exec(&h.dir, id, &cmd, limit).await {
            Done::Success(_) | Done::Warning(_) => Ok(()),
            Done::Failure(out) | Done::Error(out) => Err(format!(
                "Exec lifecycle hook ({cmd:?}) for Container {:?} in Pod {pod:?} failed - error: {out}, message: {:?}",
                c.name,
                out.rsplit(": ").next().unwrap_or("")
            )),
        };
    }
    if let Some(g) = &handler.http_get {
        // Only transport errors fail an HTTP hook; the status code is not looked at. A failed
        // HTTPS request is retried over HTTP, with a LifecycleHTTPFallback event (§7.1).
        let timeout = limit.unwrap_or(Duration::from_secs(30));
        let mut outcome = handlers::http(h, c, g, timeout, false).await;
        if g.scheme.as_deref() == Some("HTTPS")
            && matches!(outcome, Done::Failure(_) | Done::Error(_))
        {
            let mut plain = g.clone();
            plain.scheme = Some("HTTP".into());
            {
                let mut st = h.lock();
                let p = st.pod.clone();
                st.events.record(
                    &p,
                    Some(&c.name),
                    EventType::Warning,
                    "LifecycleHTTPFallback",
                    format!(
                        "Lifecycle hook for container {:?} in pod {pod:?} fell back to HTTP",
                        c.name
                    ),
                );
            }
            outcome = handlers::http(h, c, &plain, timeout, false).await;
        }
        return match outcome {
            Done::Success(_) | Done::Warning(_) => Ok(()),
            Done::Failure(e) | Done::Error(e) => Err(format!(
                "HTTP lifecycle hook ({}) for Container {:?} in Pod {pod:?} failed - error: {e}",
                g.path.as_deref().unwrap_or("/"),
                c.name
            )),
        };
    }
    if let Some(s) = &handler.sleep {
        let want = Duration::from_secs(s.seconds.max(0) as u64);
        return match limit {
            Some(l) if l < want => {
                tokio::time::sleep(l).await;
                Err("container terminated before sleep hook finished".into())
            }
            _ => {
                tokio::time::sleep(want).await;
                Ok(())
            }
        };
    }
    if handler.tcp_socket.is_some() {
        return Err("tcpSocket is not supported for lifecycle hooks".into());
    }
    Err("lifecycle hook has no handler".into())
}
