//! `GET …/pods/{name}/log`: reads the CRI log files (spec §2.3.7) with kubectl's options
//! (`container`, `previous`, `tailLines`, `timestamps`, `sinceSeconds`/`sinceTime`,
//! `limitBytes`, `follow`; kubectl-api §4.1). Follow wakes on inotify events,
//! reads across rotations (`logfollow`), and ends when the container instance exits.

use super::body::{full, streaming, ResBody};
use super::query::{q1, q_bool};
use crate::podstate::PodHandle;
use crate::ApiError;
use beluga_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use beluga_lifecycle::observed::State;
use beluga_runtime::crilog::{read_lines, render, LogLine, LogParser};
use beluga_runtime::logfollow::Follower;
use bytes::Bytes;
use hyper::{Response, StatusCode};
use std::collections::HashMap;

/// From when lines are shown (`sinceSeconds` before `now`, or `sinceTime`; not both, as the
/// apiserver's PodLogOptions validation says).
fn since_of(
    q: &HashMap<String, Vec<String>>,
    now: Timestamp,
) -> Result<Option<Timestamp>, ApiError> {
    let invalid = |m: String| ApiError::new(422, "Invalid", m);
    match (q1(q, "sinceSeconds"), q1(q, "sinceTime")) {
        (Some(_), Some(_)) => Err(invalid(
            "at most one of `sinceTime` or `sinceSeconds` may be specified".into(),
        )),
        (Some(s), None) => {
            let secs = s.parse::<i64>().ok().filter(|s| *s >= 1).ok_or_else(|| {
                invalid(format!(
                    "sinceSeconds: Invalid value: {s}: must be greater than 0"
                ))
            })?;
            Ok(now.checked_sub(SignedDuration::from_secs(secs)).ok())
        }
        (None, Some(t)) => t
            .parse::<Timestamp>()
            .map(Some)
            .map_err(|e| invalid(format!("sinceTime: Invalid value: {t:?}: {e}"))),
        (None, None) => Ok(None),
    }
}

/// Whether a line was written at or after `since`.
fn after(line: &LogLine, since: Option<Timestamp>) -> bool {
    since.is_none_or(|s| line.timestamp.parse::<Timestamp>().is_ok_and(|t| t >= s))
}

/// `limitBytes`: what is left to send; the output stops once it is spent (kubelet's
/// `LimitedWriter`, which cuts the last line short).
struct Limit(Option<u64>);

impl Limit {
    fn take(&mut self, mut out: Vec<u8>) -> Vec<u8> {
        if let Some(left) = self.0.as_mut() {
            let n = (out.len() as u64).min(*left);
            out.truncate(n as usize);
            *left -= n;
        }
        out
    }

    fn spent(&self) -> bool {
        self.0 == Some(0)
    }
}

pub async fn serve(
    h: &std::sync::Arc<PodHandle>,
    q: &HashMap<String, Vec<String>>,
    now: Timestamp,
) -> Result<Response<ResBody>, ApiError> {
    let inst = h.pick(q1(q, "container"), q_bool(q, "previous"))?;
    let timestamps = q_bool(q, "timestamps");
    let since = since_of(q, now)?;
    let mut limit = Limit(q1(q, "limitBytes").and_then(|b| b.parse::<u64>().ok()));
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
    for l in lines[skip..].iter().filter(|l| after(l, since)) {
        out.extend(render(l, timestamps, None));
    }
    let out = limit.take(out);
    if !follow || limit.spent() {
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
            let out = limit.take(out);
            if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
            if exited || limit.spent() {
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::query::from_pairs as q;

    // kubectl-api §4.1: `--since=10s` is sinceSeconds, `--since-time` sinceTime; not both.
    #[test]
    fn since() {
        let now: Timestamp = "2026-12-03T12:00:10Z".parse().expect("now");
        let at = |s: &str| Some(s.parse::<Timestamp>().expect("time"));
        assert_eq!(since_of(&q(&[]), now).ok(), Some(None));
        assert_eq!(
            since_of(&q(&[("sinceSeconds", "10")]), now).ok(),
            Some(at("2026-12-03T12:00:00Z"))
        );
        assert_eq!(
            since_of(&q(&[("sinceTime", "2026-12-03T11:00:00Z")]), now).ok(),
            Some(at("2026-12-03T11:00:00Z"))
        );
        assert_eq!(
            since_of(&q(&[("sinceSeconds", "0")]), now)
                .err()
                .map(|e| e.code),
            Some(422)
        );
        let both = q(&[("sinceSeconds", "1"), ("sinceTime", "2026-12-03T11:00:00Z")]);
        assert_eq!(since_of(&both, now).err().map(|e| e.code), Some(422));
        let line = |t: &str| LogLine {
            timestamp: t.into(),
            stream: "stdout".into(),
            content: vec![],
        };
        assert!(after(
            &line("2026-12-03T12:00:00.5Z"),
            at("2026-12-03T12:00:00Z")
        ));
        assert!(!after(
            &line("2026-12-03T11:59:59.9Z"),
            at("2026-12-03T12:00:00Z")
        ));
    }

    #[test]
    fn limit_bytes_cuts_and_ends() {
        let mut l = Limit(Some(5));
        assert_eq!(l.take(b"abc\n".to_vec()), b"abc\n");
        assert!(!l.spent());
        assert_eq!(l.take(b"def\n".to_vec()), b"d");
        assert!(l.spent());
        assert_eq!(Limit(None).take(b"xyz".to_vec()), b"xyz");
    }
}
