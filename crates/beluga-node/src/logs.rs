//! `GET …/pods/{name}/log`: reads the CRI log files (spec §2.3.7) with kubectl's options
//! (`container`, `previous`, `tailLines`, `timestamps`, `follow`). Follow wakes on inotify events,
//! reads across rotations (`logfollow`), and ends when the container instance exits.

use crate::api::{full, q1, q_bool, streaming, ResBody};
use crate::podstate::PodHandle;
use crate::ApiError;
use beluga_api::podutil;
use beluga_lifecycle::observed::{Instance, State};
use beluga_runtime::crilog::{read_lines, render, LogParser};
use beluga_runtime::logfollow::Follower;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::collections::HashMap;

/// Which instance to read, with kubelet's messages when there is none.
pub fn pick(h: &PodHandle, container: Option<&str>, previous: bool) -> Result<Instance, ApiError> {
    let st = h.lock();
    let pod = &st.pod;
    let name = podutil::name(pod);
    let regular: Vec<&str> = podutil::containers(pod)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let inits: Vec<&str> = podutil::init_containers(pod)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let c = match container {
        Some(c) => {
            if !regular.contains(&c) && !inits.contains(&c) {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("container {c} is not valid for pod {name}"),
                ));
            }
            c.to_string()
        }
        None if regular.len() == 1 => regular[0].to_string(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                regular.join(" ")
            );
            if !inits.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    inits.join(" ")
                ));
            }
            return Err(ApiError::new(400, "BadRequest", msg));
        }
    };
    let found = if previous {
        st.observed.previous(&c)
    } else {
        st.observed.newest(&c)
    };
    match found {
        Some(i) => Ok(i.clone()),
        None if previous => Err(ApiError::new(
            400,
            "BadRequest",
            format!("previous terminated container {c:?} in pod {name:?} not found"),
        )),
        None => {
            let reason = st
                .waiting
                .get(&c)
                .map(|w| w.reason.clone())
                .unwrap_or_else(|| {
                    if inits.is_empty() {
                        "ContainerCreating".into()
                    } else {
                        "PodInitializing".into()
                    }
                });
            Err(ApiError::new(
                400,
                "BadRequest",
                format!("container {c:?} in pod {name:?} is waiting to start: {reason}"),
            ))
        }
    }
}

pub async fn serve(
    h: &std::sync::Arc<PodHandle>,
    q: &HashMap<String, Vec<String>>,
) -> Result<Response<ResBody>, ApiError> {
    let inst = pick(h, q1(q, "container"), q_bool(q, "previous"))?;
    let timestamps = q_bool(q, "timestamps");
    let tail = q1(q, "tailLines")
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|t| *t >= 0);
    let path = h.dir.log(&inst.name, inst.attempt);
    // Off the executor: a log file may be large.
    let data = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(path).unwrap_or_default())
            .await
            .unwrap_or_default()
    };
    // Only whole records now; a trailing partial record is re-read by follow.
    let complete = data
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let follow = q_bool(q, "follow");
    let upto = if follow { complete } else { data.len() };
    let lines = read_lines(&data[..upto]);
    let skip = tail
        .map(|t| lines.len().saturating_sub(t as usize))
        .unwrap_or(0);
    let mut out = Vec::new();
    for l in &lines[skip..] {
        out.extend(render(l, timestamps, None));
    }
    if !follow {
        return Ok(full(StatusCode::OK, "text/plain", out));
    }
    let (tx, resp) = streaming("text/plain");
    let h = h.clone();
    tokio::spawn(async move {
        if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
            return;
        }
        let Some(dir) = path.parent().map(|p| p.to_path_buf()) else {
            return;
        };
        let Ok(watch) = crate::inotify::Watch::dir(&dir) else {
            return;
        };
        let mut follower = Some(Follower::new(&path, upto as u64));
        let mut parser = LogParser::default();
        let mut carry: Vec<u8> = Vec::new();
        loop {
            let exited = {
                let st = h.lock();
                st.observed
                    .instances
                    .iter()
                    .find(|i| i.id == inst.id)
                    .is_none_or(|i| i.state == State::Exited)
                    || !st.observed.sandbox_ready
            } || h.dir.exit_file(&inst.name, inst.attempt).exists();
            // What was written since, across rotations, read off the executor.
            let Some(mut f) = follower.take() else { return };
            let Ok((f, chunk)) = tokio::task::spawn_blocking(move || {
                let chunk = f.read_new();
                (f, chunk)
            })
            .await
            else {
                return;
            };
            follower = Some(f);
            carry.extend_from_slice(&chunk);
            let mut out = Vec::new();
            while let Some(p) = carry.iter().position(|b| *b == b'\n') {
                let rec: Vec<u8> = carry.drain(..=p).collect();
                if let Some(line) = parser.feed(&rec[..rec.len() - 1]) {
                    out.extend(render(&line, timestamps, None));
                }
            }
            if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
            if exited {
                return;
            }
            tokio::select! {
                _ = watch.changed() => {}
                _ = h.exited.notified() => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}
