//! The pod changes of the recent past, by resourceVersion, for API watches that start at a
//! version (kubectl-api §3.5): `get pods -w` lists at a version and watches from it, a
//! reconnecting client resumes where it stopped. A bounded ring (the apiserver's watch cache);
//! a watch from a version older than the ring holds gets 410 Expired and re-lists.
//!
//! Versions are given out under the ring's lock, so the ring is in version order and a list
//! read under the same lock (`Daemon::snapshot`) shows exactly the changes up to its version.

use crate::PodEvent;
use beluga_api::Pod;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many changes are kept: with a pod's few events a start, a client that lists and then
/// watches (milliseconds later) never misses its window, and the ring stays a few MB.
pub const CAPACITY: usize = 1024;

/// One change: the pod as published, and as it was published before (a selector watch turns a
/// pod that stops or starts matching into DELETED or ADDED, as the apiserver's cacher does).
#[derive(Debug, Clone)]
pub struct Change {
    pub rv: u64,
    pub kind: &'static str,
    pub pod: Arc<Pod>,
    pub prev: Option<Arc<Pod>>,
}

/// A watch from `rv` cannot be served: changes after it were dropped from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

pub struct History {
    ring: Mutex<Ring>,
    /// The newest change's version: watchers wait on it, then read the ring.
    latest: tokio::sync::watch::Sender<u64>,
}

pub struct Ring {
    changes: VecDeque<Change>,
    /// The newest version dropped from the ring (0: none).
    evicted: u64,
    /// Each pod's last published state, the next change's `prev`.
    last: HashMap<(String, String), Arc<Pod>>,
    capacity: usize,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            ring: Mutex::new(Ring {
                changes: VecDeque::with_capacity(capacity.min(CAPACITY)),
                evicted: 0,
                last: HashMap::new(),
                capacity: capacity.max(1),
            }),
            latest: tokio::sync::watch::channel(0).0,
        }
    }

    /// The ring, locked: versions given out and changes recorded while it is held are in order,
    /// and what is read meanwhile is consistent with them.
    pub fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Told the newest version after each change.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Records `ev` (its pod carries version `rv`) and tells the watchers.
    pub fn record(&self, ring: &mut Ring, rv: u64, ev: &PodEvent) {
        ring.push(rv, ev);
        self.latest.send_replace(rv);
    }

    /// The changes after `rv`, oldest first.
    pub fn since(&self, rv: u64) -> Result<Vec<Change>, Expired> {
        self.lock().since(rv)
    }
}

impl Ring {
    fn push(&mut self, rv: u64, ev: &PodEvent) {
        let key = (
            beluga_api::podutil::namespace(&ev.pod).to_string(),
            beluga_api::podutil::name(&ev.pod).to_string(),
        );
        let pod = Arc::new(ev.pod.clone());
        let prev = if ev.kind == "DELETED" {
            self.last.remove(&key)
        } else {
            self.last.insert(key, pod.clone())
        };
        if self.changes.len() == self.capacity {
            if let Some(old) = self.changes.pop_front() {
                self.evicted = old.rv;
            }
        }
        self.changes.push_back(Change {
            rv,
            kind: ev.kind,
            pod,
            prev,
        });
    }

    fn since(&self, rv: u64) -> Result<Vec<Change>, Expired> {
        if rv < self.evicted {
            let oldest = self.changes.front().map_or(self.evicted, |c| c.rv);
            return Err(Expired {
                requested: rv,
                oldest,
            });
        }
        let from = self.changes.partition_point(|c| c.rv <= rv);
        Ok(self.changes.range(from..).cloned().collect())
    }
}

/// What a watch with selectors sends for a change (apiserver cacher `convertToWatchEvent`):
/// a pod that starts matching is ADDED, one that stops matching is DELETED, a deleted pod is
/// DELETED when it matched before; nothing when it matches neither before nor now.
pub fn as_seen(
    kind: &str,
    now_matches: bool,
    before_matches: Option<bool>,
) -> Option<&'static str> {
    let before = before_matches.unwrap_or(false);
    match (kind, now_matches, before) {
        ("DELETED", _, true) => Some("DELETED"),
        // A deletion with no earlier state here (the ring began after it): its own state decides.
        ("DELETED", true, false) if before_matches.is_none() => Some("DELETED"),
        ("DELETED", _, _) => None,
        (_, true, false) => Some("ADDED"),
        (_, true, true) => Some("MODIFIED"),
        (_, false, true) => Some("DELETED"),
        (_, false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, rv: u64) -> PodEvent {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("default".into());
        p.metadata.resource_version = Some(rv.to_string());
        PodEvent {
            kind: "MODIFIED",
            pod: p,
        }
    }

    fn record(h: &History, rv: u64, kind: &'static str, name: &str) {
        let mut ev = pod(name, rv);
        ev.kind = kind;
        let mut ring = h.lock();
        h.record(&mut ring, rv, &ev);
    }

    // kubectl-api §3.5: a specific resourceVersion replays what happened after it, in order.
    #[test]
    fn a_watch_from_a_version_gets_the_changes_after_it() {
        let h = History::new(8);
        record(&h, 10, "ADDED", "a");
        record(&h, 11, "MODIFIED", "a");
        record(&h, 12, "ADDED", "b");
        let rvs = |v: Vec<Change>| v.iter().map(|c| c.rv).collect::<Vec<_>>();
        assert_eq!(rvs(h.since(0).expect("all")), [10, 11, 12]);
        assert_eq!(rvs(h.since(10).expect("after 10")), [11, 12]);
        assert_eq!(rvs(h.since(12).expect("none")), Vec::<u64>::new());
        // A version between changes (another kind's) is as good as the one before it.
        assert_eq!(rvs(h.since(11).expect("after 11")), [12]);
        assert_eq!(*h.changes().borrow(), 12);
    }

    // The previous state rides with each change; a deletion ends the pod's chain.
    #[test]
    fn each_change_carries_the_state_before_it() {
        let h = History::new(8);
        record(&h, 1, "ADDED", "a");
        record(&h, 2, "MODIFIED", "a");
        record(&h, 3, "DELETED", "a");
        record(&h, 4, "ADDED", "a");
        let c = h.since(0).expect("all");
        let prev_rv = |c: &Change| {
            c.prev
                .as_ref()
                .and_then(|p| p.metadata.resource_version.clone())
        };
        assert_eq!(prev_rv(&c[0]), None);
        assert_eq!(prev_rv(&c[1]).as_deref(), Some("1"));
        assert_eq!(prev_rv(&c[2]).as_deref(), Some("2"));
        assert_eq!(
            prev_rv(&c[3]),
            None,
            "a new pod of the same name starts afresh"
        );
    }

    // kubectl-api §3.5: "an RV older than the buffer gets … 410" — never a silent gap.
    #[test]
    fn a_version_older_than_the_ring_has_expired() {
        let h = History::new(2);
        for rv in 1..=4 {
            record(&h, rv, "MODIFIED", "a");
        }
        assert_eq!(
            h.since(1).map(|v| v.len()),
            Err(Expired {
                requested: 1,
                oldest: 3
            })
        );
        // Change 2 was dropped, but a watch from 2 needs only 3 and 4.
        assert_eq!(h.since(2).expect("kept").len(), 2);
    }

    // apiserver cacher convertToWatchEvent, every combination.
    #[test]
    fn selector_watches_see_pods_enter_and_leave() {
        let cases: &[(&str, bool, Option<bool>, Option<&str>)] = &[
            ("ADDED", true, None, Some("ADDED")),
            ("ADDED", false, None, None),
            ("MODIFIED", true, Some(true), Some("MODIFIED")),
            ("MODIFIED", true, Some(false), Some("ADDED")),
            ("MODIFIED", false, Some(true), Some("DELETED")),
            ("MODIFIED", false, Some(false), None),
            ("DELETED", false, Some(true), Some("DELETED")),
            ("DELETED", true, Some(true), Some("DELETED")),
            ("DELETED", true, Some(false), None),
            ("DELETED", false, Some(false), None),
            ("DELETED", true, None, Some("DELETED")),
            ("DELETED", false, None, None),
        ];
        for &(kind, now, before, want) in cases {
            assert_eq!(as_seen(kind, now, before), want, "{kind} {now} {before:?}");
        }
    }
}
