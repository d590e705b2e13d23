//! Namespaces (issue 16 item 1): the four every cluster has, made at start; the
//! NamespaceLifecycle admission (nothing is created in a namespace that does not exist or is
//! being deleted; `default`, `kube-system` and `kube-public` are never deleted); a deletion as
//! the namespace controller carries it out: the namespace `Terminating`, everything in it
//! deleted (pods gracefully), then the namespace itself — resumed after a restart.

use crate::{ApiError, Daemon};
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use beluga_api::namespace::{self, IMMORTAL, INITIAL, TERMINATING};
use beluga_api::Namespace;
use std::sync::Arc;
use tracing::{info, warn};

impl Daemon {
    /// The Namespaces.
    pub fn namespaces(&self) -> &crate::objects::Store<Namespace> {
        &self.namespaces
    }

    /// The namespaces every cluster has, made when missing; each namespace's account and CA.
    pub(crate) fn ensure_initial_namespaces(&self) -> Result<(), ApiError> {
        for name in INITIAL {
            if self.namespaces.get("", name).is_none() {
                let now = self.exec.clock.now();
                self.namespaces.create(namespace::initial(name), "", now)?;
            }
        }
        for ns in self.namespaces.list(None) {
            if ns.metadata.deletion_timestamp.is_none() {
                self.populate_namespace(ns.metadata.name.as_deref().unwrap_or(""))?;
            }
        }
        Ok(())
    }

    /// `POST /api/v1/namespaces`: the namespace, then what its controllers put in it.
    pub fn create_namespace(&self, ns: Namespace) -> Result<Namespace, ApiError> {
        let made = self.namespaces.create(ns, "", self.exec.clock.now())?;
        if crate::dry_run::active() {
            return Ok(made);
        }
        self.populate_namespace(made.metadata.name.as_deref().unwrap_or(""))?;
        Ok(made)
    }

    /// NamespaceLifecycle for a create of `resource` `name` in `ns`: the namespace must exist
    /// and not be terminating.
    pub fn admit_create(
        &self,
        ns: &str,
        resource: &'static str,
        name: &str,
    ) -> Result<(), ApiError> {
        let Some(found) = self.namespaces.get("", ns) else {
            return Err(ApiError::not_found_in("namespaces", ns));
        };
        if namespace::phase(&found) == TERMINATING {
            let message = namespace::terminating_message(resource, name, ns);
            return Err(ApiError::forbidden(resource, name, message));
        }
        Ok(())
    }

    /// `DELETE /api/v1/namespaces/{name}`: the namespace marked `Terminating` and answered so;
    /// its content goes behind the answer.
    pub fn delete_namespace(self: &Arc<Self>, name: &str) -> Result<Namespace, ApiError> {
        if IMMORTAL.contains(&name) {
            let message =
                format!("namespaces {name:?} is forbidden: this namespace may not be deleted");
            return Err(ApiError::forbidden("namespaces", name, message));
        }
        let mut ns = self
            .namespaces
            .get("", name)
            .ok_or_else(|| ApiError::not_found_in("namespaces", name))?;
        if ns.metadata.deletion_timestamp.is_none() {
            ns.metadata.deletion_timestamp = Some(Time(self.exec.clock.now()));
            ns.status.get_or_insert_with(Default::default).phase = Some(TERMINATING.into());
            if crate::dry_run::active() {
                return Ok(ns);
            }
            ns = self.namespaces.replace_as_server(ns)?;
            let d = self.clone();
            let owned = name.to_string();
            tokio::spawn(async move { d.empty_namespace(&owned).await });
        }
        Ok(ns)
    }

    /// Every namespace being deleted when the daemon stopped: its deletion carried on.
    pub fn resume_namespace_deletions(self: &Arc<Self>) {
        for ns in self.namespaces.list(None) {
            if ns.metadata.deletion_timestamp.is_some() {
                let d = self.clone();
                let name = ns.metadata.name.clone().unwrap_or_default();
                tokio::spawn(async move { d.empty_namespace(&name).await });
            }
        }
    }

    /// The namespace controller's work: the pods deleted (each with its own grace) and waited
    /// for, the other kinds deleted (its ServiceAccounts last: pods stopping still use them),
    /// then the namespace.
    async fn empty_namespace(self: Arc<Self>, name: &str) {
        let mut events = self.watch.subscribe();
        for h in self.list(Some(name)) {
            let pod = beluga_api::podutil::name(&h.lock().pod).to_string();
            if let Err(e) = self.delete(name, &pod, None) {
                warn!(
                    namespace = name,
                    pod, "deleting a pod of a terminating namespace: {}", e.message
                );
            }
        }
        while !self.list(Some(name)).is_empty() {
            // Each pod's removal is a watch event; the timeout covers one missed.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), events.recv()).await;
        }
        for s in self.services.list(Some(name)) {
            let _ = self.delete_service(name, s.metadata.name.as_deref().unwrap_or(""));
        }
        for c in self.config_maps.list(Some(name)) {
            let _ = self
                .config_maps
                .delete(name, c.metadata.name.as_deref().unwrap_or(""));
        }
        for s in self.secrets.list(Some(name)) {
            let _ = self
                .secrets
                .delete(name, s.metadata.name.as_deref().unwrap_or(""));
        }
        for a in self.service_accounts.list(Some(name)) {
            let _ = self
                .service_accounts
                .delete(name, a.metadata.name.as_deref().unwrap_or(""));
        }
        match self.namespaces.delete("", name) {
            Ok(_) => info!(namespace = name, "namespace deleted"),
            Err(e) => warn!(namespace = name, "removing the namespace: {}", e.message),
        }
    }
}
