//! A pod's files written behind its worker. What the runtime can tell again after a crash (a
//! status, a container seen running or exited) need not hold up a start or a restart for two
//! fsyncs: such writes are queued and written on a blocking thread, in the order asked, the
//! newest content of each file only. A write that must be on disk before the caller goes on (a
//! container's Created record, before the runtime creates it) writes everything queued before
//! it first, so the files never show a later state before an earlier one. Once closed (the pod's
//! directory is going), nothing more is written.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

/// One file's write.
pub struct Job {
    /// The file: a newer job for it replaces an older one still queued.
    pub path: PathBuf,
    /// What it is, for a failure's message.
    pub what: String,
    pub write: Box<dyn FnOnce() -> std::io::Result<()> + Send>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// A blocking task is draining the queue.
    draining: bool,
    closed: bool,
}

/// A write that failed: what it was, and why.
pub type Failure = (String, std::io::Error);

#[derive(Default)]
pub struct Writes {
    queue: Mutex<Queue>,
    /// Held while a job is written: one write at a time, in queue order.
    io: Mutex<()>,
}

impl Writes {
    /// Queues `job`; true when the caller is to start a drain (none runs). Dropped once closed.
    pub fn push(&self, job: Job) -> bool {
        let mut q = self.queue();
        if q.closed {
            return false;
        }
        q.jobs.retain(|j| j.path != job.path);
        q.jobs.push_back(job);
        !std::mem::replace(&mut q.draining, true)
    }

    /// The started drain: writes until the queue is empty, then lets the next push start one.
    pub fn drain_queued(&self) -> Vec<Failure> {
        self.drain(true)
    }

    /// Writes everything queued now, in the caller (a write that must be on disk next).
    pub fn flush(&self) -> Vec<Failure> {
        self.drain(false)
    }

    /// Nothing more is written; what is queued is written first (and one being written
    /// finishes) before this returns.
    pub fn close(&self) -> Vec<Failure> {
        let failures = self.flush();
        self.queue().closed = true;
        failures
    }

    fn drain(&self, started: bool) -> Vec<Failure> {
        let _io = self.io.lock().unwrap_or_else(|p| p.into_inner());
        let mut failures = Vec::new();
        loop {
            let job = {
                let mut q = self.queue();
                match q.jobs.pop_front() {
                    Some(j) => j,
                    None => {
                        if started {
                            q.draining = false;
                        }
                        return failures;
                    }
                }
            };
            if let Err(e) = (job.write)() {
                failures.push((job.what, e));
            }
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn job(log: &Arc<Mutex<Vec<String>>>, path: &str, content: &str) -> Job {
        let (log, c) = (log.clone(), format!("{path}={content}"));
        Job {
            path: path.into(),
            what: path.into(),
            write: Box::new(move || {
                log.lock().unwrap().push(c);
                Ok(())
            }),
        }
    }

    #[test]
    fn the_newest_of_a_file_is_written_in_the_order_of_the_last_asks() {
        let (w, log) = (Writes::default(), Arc::new(Mutex::new(Vec::new())));
        assert!(w.push(job(&log, "a", "1")));
        assert!(!w.push(job(&log, "b", "1")), "one drain at a time");
        assert!(!w.push(job(&log, "a", "2")));
        assert!(w.drain_queued().is_empty());
        assert_eq!(*log.lock().unwrap(), ["b=1", "a=2"]);
        assert!(
            w.push(job(&log, "c", "1")),
            "a finished drain lets the next start"
        );
    }

    #[test]
    fn a_flush_writes_what_was_queued_before_it() {
        let (w, log) = (Writes::default(), Arc::new(Mutex::new(Vec::new())));
        w.push(job(&log, "a", "1"));
        w.push(job(&log, "b", "1"));
        w.flush();
        assert_eq!(*log.lock().unwrap(), ["a=1", "b=1"]);
        // The started drain still runs, finds nothing, and lets the next push start one.
        assert!(w.drain_queued().is_empty());
        assert!(w.push(job(&log, "c", "1")));
    }

    #[test]
    fn nothing_is_written_after_close_and_failures_are_returned() {
        let (w, log) = (Writes::default(), Arc::new(Mutex::new(Vec::new())));
        w.push(Job {
            path: "bad".into(),
            what: "the bad one".into(),
            write: Box::new(|| Err(std::io::Error::other("disk full"))),
        });
        let failures = w.close();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "the bad one");
        assert!(!w.push(job(&log, "a", "1")));
        assert!(w.flush().is_empty());
        assert!(log.lock().unwrap().is_empty());
    }
}
