//! `GET …/pods/{name}/log`: reads the CRI log files (spec §2.3.7) with kubectl's options
//! (`container`, `previous`, `tailLines`, `timestamps`, `follow`). Follow wakes on inotify events,
//! reads across rotations (`logfollow`), and ends when the container instance exits.

use super::body::{full, streaming, ResBody};
use super::query::{q1, q_bool};
use crate::podstate::PodHandle;
use crate::ApiError;
use beluga_lifecycle::observed::State;
use beluga_runtime::crilog::{read_lines, render, LogParser};
use beluga_runtime::logfollow::Follower;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::collections::HashMap;

pub async fn serve(
    h: &std::sync::Arc<PodHandle>,
    q: &HashMap<String, Vec<String>>,
) -> Result<Response<ResBody>, ApiError> {
    let inst = h.pick(q1(q, "container"), q_bool(q, "previous"))?;
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
