//! Binding a pod to the node, as kube-scheduler would for a one-node cluster (issue 14 item 4):
//! a pod whose hostPorts another bound pod holds waits, Pending and `Unschedulable`, with the
//! scheduler's `FailedScheduling` event, and is bound when a pod holding them ends or goes.

use crate::events::EventType;
use crate::podstate::PodHandle;
use crate::Daemon;
use beluga_lifecycle::scheduling::{conflicts, host_ports, NO_FREE_PORTS};
use std::sync::Arc;

impl Daemon {
    /// Binds the pod unless its hostPorts are taken by a bound pod that has not ended; true
    /// when bound. One decision at a time, so two pods asking for one port never both pass.
    pub fn bind(&self, h: &PodHandle) -> bool {
        let _one = self.binding.lock().unwrap_or_else(|p| p.into_inner());
        let want = host_ports(&h.lock().pod);
        let others: Vec<Arc<PodHandle>> = self.pods().values().cloned().collect();
        let held: Vec<_> = others
            .iter()
            .filter(|o| !std::ptr::eq(o.as_ref(), h))
            .filter_map(|o| {
                let st = o.lock();
                (st.scheduled && !st.terminal).then(|| host_ports(&st.pod))
            })
            .flatten()
            .collect();
        let mut st = h.lock();
        if !want.is_empty() && conflicts(&want, &held) {
            if st.unschedulable.is_none() {
                let pod = st.pod.clone();
                st.events.record_scheduler(
                    &pod,
                    EventType::Warning,
                    "FailedScheduling",
                    NO_FREE_PORTS.into(),
                );
            }
            st.unschedulable = Some(NO_FREE_PORTS.into());
            return false;
        }
        st.unschedulable = None;
        st.scheduled = true;
        true
    }

    /// A pod ended or went: those waiting for ports try again.
    pub fn wake_unschedulable(&self) {
        let waiting: Vec<Arc<PodHandle>> = self
            .pods()
            .values()
            .filter(|h| h.lock().unschedulable.is_some())
            .cloned()
            .collect();
        for h in waiting {
            h.wake.notify_one();
        }
    }
}
