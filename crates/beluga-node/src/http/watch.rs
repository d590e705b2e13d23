//! Lists and watches with the apiserver's resourceVersion semantics (kubectl-api §3.5), for pods
//! and for each kept kind (`Source`): a list carries the version it shows; a watch from a
//! version replays the changes after it (`Daemon::history`, `objects::Store::history`), a
//! watch from none or "0" first sends every match as ADDED; selectors
//! turn a pod leaving or entering them into DELETED or ADDED; with a Table `Accept` each event
//! is a one-row Table, the first with the columns.

use super::*;
use crate::history::{as_seen, Change, Expired};
use beluga_api::table::IncludeObject;

pub(super) async fn list_or_watch(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    q: &HashMap<String, Vec<String>>,
    table: Option<IncludeObject>,
) -> Result<Response<ResBody>, ApiError> {
    let sel = selectors(q, beluga_api::selector::POD_FIELDS)?;
    let filter = Filter {
        ns: ns.map(String::from),
        name: None,
        sel,
    };
    if q_bool(q, "watch") {
        return watch(pods(d), filter, q, table);
    }
    let (pods, rv) = d.snapshot(ns);
    let pods: Vec<beluga_api::Pod> = pods
        .into_iter()
        .filter(|p| filter.picks(&p.metadata, p))
        .collect();
    let rv = rv.to_string();
    match table {
        Some(include) => Ok(json(
            StatusCode::OK,
            &beluga_api::table::pods(&pods, d.exec().clock.now(), include, &rv),
        )),
        None => Ok(json(StatusCode::OK, &pod_list(pods, &rv))),
    }
}

/// A list of a namespace (all without one) and the version it shows.
type Snapshot<T> = Box<dyn Fn(Option<&str>) -> (Vec<T>, u64) + Send + Sync>;
/// The changes after a version.
type Since<T> = Box<dyn Fn(u64) -> Result<Vec<Change<T>>, Expired> + Send + Sync>;
/// One object's one-row Table at a version.
type Row<T> = Box<dyn Fn(&T, IncludeObject, &str) -> beluga_api::table::Table + Send + Sync>;

/// A kind a watch follows: its list at a version, its changes since one, how a change is
/// told, and its one-row Table.
pub(super) struct Source<T> {
    pub kind: &'static str,
    pub snapshot: Snapshot<T>,
    pub since: Since<T>,
    pub changes: tokio::sync::watch::Receiver<u64>,
    pub meta: fn(&T) -> &beluga_api::ObjectMeta,
    pub meta_mut: fn(&mut T) -> &mut beluga_api::ObjectMeta,
    pub table: Row<T>,
}

/// The pods' source: the daemon's snapshot and pod history.
pub(super) fn pods(d: &Arc<Daemon>) -> Source<beluga_api::Pod> {
    let (d1, d2, d3) = (d.clone(), d.clone(), d.clone());
    Source {
        kind: "Pod",
        snapshot: Box::new(move |ns| d1.snapshot(ns)),
        since: Box::new(move |rv| d2.history().since(rv)),
        changes: d.history().changes(),
        meta: |p| &p.metadata,
        meta_mut: |p| &mut p.metadata,
        table: Box::new(move |p, include, rv| {
            beluga_api::table::pods(std::slice::from_ref(p), d3.exec().clock.now(), include, rv)
        }),
    }
}

/// Which objects a list or watch is about.
pub(super) struct Filter {
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sel: beluga_api::selector::Selectors,
}

impl Filter {
    pub fn picks(&self, m: &beluga_api::ObjectMeta, o: &impl serde::Serialize) -> bool {
        self.ns
            .as_deref()
            .is_none_or(|n| Some(n) == m.namespace.as_deref().or(Some("")))
            && self
                .name
                .as_deref()
                .is_none_or(|n| Some(n) == m.name.as_deref())
            && ((self.sel.labels.is_empty() && self.sel.fields.is_empty())
                || self
                    .sel
                    .matches(&serde_json::to_value(o).unwrap_or_default()))
    }

    /// What this watch sends for a change, if anything (`history::as_seen`).
    fn sees<T: Clone + serde::Serialize>(
        &self,
        source: &Source<T>,
        c: &Change<T>,
    ) -> Option<(&'static str, T)> {
        let meta = source.meta;
        let before = c.prev.as_deref().map(|p| self.picks(meta(p), p));
        let kind = as_seen(c.kind, self.picks(meta(&c.object), &*c.object), before)?;
        match (kind, c.kind, &c.prev) {
            // Leaving the selection: the state it was picked in, at this change's version.
            ("DELETED", k, Some(prev)) if k != "DELETED" => {
                let mut o = (**prev).clone();
                (source.meta_mut)(&mut o).resource_version = Some(c.rv.to_string());
                Some((kind, o))
            }
            _ => Some((kind, (*c.object).clone())),
        }
    }
}

/// Where a watch starts (`resourceVersion`, `sendInitialEvents`).
#[derive(Debug, PartialEq, Eq)]
enum Start {
    /// Every match now as ADDED, then the changes; with the initial-events-end bookmark.
    Now { bookmark: bool },
    /// The changes after this version.
    After(u64),
}

fn start_of(q: &HashMap<String, Vec<String>>) -> Result<Start, ApiError> {
    let bookmark = q_bool(q, "sendInitialEvents");
    match q1(q, "resourceVersion").unwrap_or("") {
        "" | "0" => Ok(Start::Now { bookmark }),
        _ if bookmark => Ok(Start::Now { bookmark }),
        v => v.parse().map(Start::After).map_err(|_| {
            ApiError::new(
                400,
                "BadRequest",
                format!("resourceVersion: Invalid value: \"{v}\": must be a number"),
            )
        }),
    }
}

/// A watch of the objects `filter` picks, one JSON event per line, until the client goes or
/// `timeoutSeconds` pass.
pub(super) fn watch<T>(
    source: Source<T>,
    filter: Filter,
    q: &HashMap<String, Vec<String>>,
    table: Option<IncludeObject>,
) -> Result<Response<ResBody>, ApiError>
where
    T: Clone + serde::Serialize + Send + Sync + 'static,
{
    let start = start_of(q)?;
    let timeout = q1(q, "timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    // Told of changes before the snapshot (the source subscribed when made): none made in
    // between is missed.
    let (initial, from, bookmark) = match start {
        Start::Now { bookmark } => {
            let (items, rv) = (source.snapshot)(filter.ns.as_deref());
            let items: Vec<T> = items
                .into_iter()
                .filter(|o| filter.picks((source.meta)(o), o))
                .collect();
            (items, rv, bookmark)
        }
        Start::After(rv) => (Vec::new(), rv, false),
    };
    let (tx, resp) = streaming("application/json");
    tokio::spawn(async move {
        let mut out = Encoder {
            table,
            columns_sent: false,
        };
        let stream = async {
            for o in initial {
                tx.send(out.event(&source, "ADDED", &o)).await.ok()?;
            }
            if bookmark {
                tx.send(bookmark_event(source.kind, from)).await.ok()?;
            }
            follow(&source, &filter, from, &tx, &mut out).await
        };
        match timeout {
            Some(t) => drop(tokio::time::timeout(t, stream).await),
            None => drop(stream.await),
        }
    });
    Ok(resp)
}

/// Sends the changes after `from` as they come; `None` when the client went or the ring no
/// longer holds what it would need (after a 410 ERROR event: the client re-lists).
async fn follow<T>(
    source: &Source<T>,
    filter: &Filter,
    mut from: u64,
    tx: &mpsc::Sender<Bytes>,
    out: &mut Encoder,
) -> Option<()>
where
    T: Clone + serde::Serialize,
{
    let mut changes = source.changes.clone();
    loop {
        match (source.since)(from) {
            Ok(list) => {
                for c in list {
                    from = c.rv;
                    if let Some((kind, o)) = filter.sees(source, &c) {
                        tx.send(out.event(source, kind, &o)).await.ok()?;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(expired_event(e)).await;
                return None;
            }
        }
        tokio::select! {
            r = changes.changed() => r.ok()?,
            _ = tx.closed() => return None,
        }
    }
}

/// Encodes watch events: the object, or a one-row Table whose columns only the first carries
/// (apiserver `watchEmbeddedEncoder`; kubectl keeps the last columns).
struct Encoder {
    table: Option<IncludeObject>,
    columns_sent: bool,
}

impl Encoder {
    fn event<T: serde::Serialize>(&mut self, source: &Source<T>, kind: &str, o: &T) -> Bytes {
        let object = match self.table {
            Some(include) => {
                let rv = (source.meta)(o)
                    .resource_version
                    .clone()
                    .unwrap_or_default();
                let mut t = (source.table)(o, include, &rv);
                if self.columns_sent {
                    t.column_definitions.clear();
                }
                self.columns_sent = true;
                serde_json::to_value(t).unwrap_or_default()
            }
            None => serde_json::to_value(o).unwrap_or_default(),
        };
        line(&serde_json::json!({"type": kind, "object": object}))
    }
}

fn line(v: &serde_json::Value) -> Bytes {
    let mut v = serde_json::to_vec(v).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// The end of the initial events (`sendInitialEvents=true`, kubectl-api §3.5).
fn bookmark_event(kind: &str, rv: u64) -> Bytes {
    line(&serde_json::json!({"type": "BOOKMARK", "object": {
        "kind": kind, "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string(),
                     "annotations": {"k8s.io/initial-events-end": "true"}}}}))
}

/// The apiserver's answer to a watch from a version it no longer holds (kubectl-api §3.5).
fn expired_event(e: Expired) -> Bytes {
    let message = format!("too old resource version: {} ({})", e.requested, e.oldest);
    let status = beluga_api::wire::failure(410, "Expired", &message, None, "", Vec::new());
    let mut object = serde_json::to_value(status).unwrap_or_default();
    object["kind"] = "Status".into();
    object["apiVersion"] = "v1".into();
    object["metadata"] = serde_json::json!({});
    line(&serde_json::json!({"type": "ERROR", "object": object}))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::query::from_pairs as q;

    // kubectl-api §3.5: unset or "0" starts with the current state, a number after it;
    // sendInitialEvents asks for the state and the bookmark whatever the version.
    #[test]
    fn where_a_watch_starts() {
        let cases: &[(&[(&str, &str)], Start)] = &[
            (&[], Start::Now { bookmark: false }),
            (&[("resourceVersion", "0")], Start::Now { bookmark: false }),
            (&[("resourceVersion", "")], Start::Now { bookmark: false }),
            (&[("resourceVersion", "42")], Start::After(42)),
            (
                &[("resourceVersion", "42"), ("sendInitialEvents", "true")],
                Start::Now { bookmark: true },
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(&start_of(&q(pairs)).expect("start"), want, "{pairs:?}");
        }
        let bad = start_of(&q(&[("resourceVersion", "x1")])).expect_err("bad");
        assert_eq!(bad.code, 400);
    }

    #[test]
    fn the_expired_event_is_the_apiservers() {
        let ev: serde_json::Value = serde_json::from_slice(&expired_event(Expired {
            requested: 5,
            oldest: 1200,
        }))
        .expect("json");
        assert_eq!(ev["type"], "ERROR");
        assert_eq!(ev["object"]["kind"], "Status");
        assert_eq!(ev["object"]["code"], 410);
        assert_eq!(ev["object"]["reason"], "Expired");
        assert_eq!(
            ev["object"]["message"],
            "too old resource version: 5 (1200)"
        );
    }
}
