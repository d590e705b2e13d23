//! The changes of the recent past of one kind, by resourceVersion, for API watches that start
//! at a version (kubectl-api §3.5): `get pods -w` lists at a version and watches from it, a
//! reconnecting client resumes where it stopped. A bounded ring (the apiserver's watch cache);
//! a watch from a version older than the ring holds gets 410 Expired and re-lists. Pods have one
//! (`Daemon::history`), each kept kind another (`objects::Store::history`).
//!
//! Versions are given out under a lock the recording holds too (the ring's for pods, the
//! store's for a kept kind), so the ring is in version order and a list read under the same
//! lock shows exactly the changes up to its version.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many changes are kept: with a pod's few events a start, a client that lists and then
/// watches (milliseconds later) never misses its window, and the ring stays a few MB.
pub const CAPACITY: usize = 1024;

/// One change: the object as published, and as it was published before (a selector watch
/// turns an object that stops or starts matching into DELETED or ADDED, as the apiserver's
/// cacher does).
#[derive(Debug)]
pub struct Change<T> {
    pub rv: u64,
    pub kind: &'static str,
    pub object: Arc<T>,
    pub prev: Option<Arc<T>>,
}

impl<T> Clone for Change<T> {
    fn clone(&self) -> Self {
        Change {
            rv: self.rv,
            kind: self.kind,
            object: self.object.clone(),
            prev: self.prev.clone(),
        }
    }
}

/// A watch from `rv` cannot be served: changes after it were dropped from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub requested: u64,
    pub oldest: u64,
}

/// The daemon's resourceVersion counter, one for every kind (as etcd's revision): shared by the
/// pods' history and each kept kind's store, which take versions under their own locks.
#[derive(Debug, Default)]
pub struct Versions(std::sync::atomic::AtomicU64);

impl Versions {
    /// A version never given before.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// The newest version given (a list's).
    pub fn current(&self) -> u64 {
        self.0
            .load(std::sync::atomic::Ordering::SeqCst)
            .saturating_sub(1)
    }

    /// Never gives `n` or an older version again.
    pub fn past(&self, n: u64) {
        self.0.fetch_max(n + 1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub struct History<T> {
    ring: Mutex<Ring<T>>,
    /// The newest change's version: watchers wait on it, then read the ring.
    latest: tokio::sync::watch::Sender<u64>,
}

pub struct Ring<T> {
    changes: VecDeque<Change<T>>,
    /// The newest version dropped from the ring (0: none).
    evicted: u64,
    /// Each object's last published state (by its key), the next change's `prev`.
    last: HashMap<String, Arc<T>>,
    capacity: usize,
}

impl<T> History<T> {
    pub fn new(capacity: usize) -> History<T> {
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
    pub fn lock(&self) -> MutexGuard<'_, Ring<T>> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Told the newest version after each change.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Records a change of the object `key` names (carrying version `rv`) and tells the
    /// watchers.
    pub fn record(&self, ring: &mut Ring<T>, rv: u64, kind: &'static str, key: String, object: T) {
        ring.push(rv, kind, key, object);
        self.latest.send_replace(rv);
    }

    /// The changes after `rv`, oldest first.
    pub fn since(&self, rv: u64) -> Result<Vec<Change<T>>, Expired> {
        self.lock().since(rv)
    }
}

impl<T> Ring<T> {
    fn push(&mut self, rv: u64, kind: &'static str, key: String, object: T) {
        let object = Arc::new(object);
        let prev = if kind == "DELETED" {
            self.last.remove(&key)
        } else {
            self.last.insert(key, object.clone())
        };
        if self.changes.len() == self.capacity {
            if let Some(old) = self.changes.pop_front() {
                self.evicted = old.rv;
            }
        }
        self.changes.push_back(Change {
            rv,
            kind,
            object,
            prev,
        });
    }

    fn since(&self, rv: u64) -> Result<Vec<Change<T>>, Expired> {
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
    use beluga_api::Pod;

    fn pod(name: &str, rv: u64) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some("default".into());
        p.metadata.resource_version = Some(rv.to_string());
        p
    }

    fn record(h: &History<Pod>, rv: u64, kind: &'static str, name: &str) {
        let mut ring = h.lock();
        h.record(
            &mut ring,
            rv,
            kind,
            format!("default/{name}"),
            pod(name, rv),
        );
    }

    // kubectl-api §3.5: a specific resourceVersion replays what happened after it, in order.
    #[test]
    fn a_watch_from_a_version_gets_the_changes_after_it() {
        let h = History::new(8);
        record(&h, 10, "ADDED", "a");
        record(&h, 11, "MODIFIED", "a");
        record(&h, 12, "ADDED", "b");
        let rvs = |v: Vec<Change<Pod>>| v.iter().map(|c| c.rv).collect::<Vec<_>>();
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
        let prev_rv = |c: &Change<Pod>| {
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
