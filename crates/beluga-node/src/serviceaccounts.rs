//! ServiceAccounts (issue 16 item 5), as the control plane keeps them: every namespace gets its
//! `default` account (the service-account controller) and its `kube-root-ca.crt` ConfigMap
//! with the cluster CA (the root-CA publisher); a new pod passes the ServiceAccount admission
//! (its account must exist; the token volume is added); a pod's `serviceAccountToken`
//! projection gets a token bound to it, issued by this node (`tokens`).

use crate::tokens::{self, Issued, Subject};
use crate::{ApiError, Daemon};
use beluga_api::k8s_openapi::api::core::v1::ServiceAccountTokenProjection;
use beluga_api::serviceaccount::{self as sa, DEFAULT, ROOT_CA_CONFIG_MAP};
use beluga_api::{podutil, Pod, ServiceAccount};

impl Daemon {
    /// The ServiceAccounts.
    pub fn service_accounts(&self) -> &crate::objects::Store<ServiceAccount> {
        &self.service_accounts
    }

    /// The cluster CA's certificate (PEM), as `kube-root-ca.crt` holds it.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// What the controllers put in a namespace: its `default` account and `kube-root-ca.crt`
    /// (made again with this node's CA when it holds another certificate).
    pub(crate) fn populate_namespace(&self, ns: &str) -> Result<(), ApiError> {
        if self.service_accounts.get(ns, DEFAULT).is_none() {
            let now = self.exec.clock.now();
            self.service_accounts
                .create(sa::default_account(ns), ns, now)?;
        }
        let want = sa::root_ca_config_map(ns, &self.pki.ca_pem);
        match self.config_maps.get(ns, ROOT_CA_CONFIG_MAP) {
            Some(cm) if cm.data == want.data => {}
            Some(_) => {
                self.config_maps.update(want, ns, ROOT_CA_CONFIG_MAP)?;
                self.config_changed(ns);
            }
            None => {
                self.config_maps.create(want, ns, self.exec.clock.now())?;
                self.config_changed(ns);
            }
        }
        Ok(())
    }

    /// After a ConfigMap or ServiceAccount of `ns` was deleted or replaced: its controllers
    /// (the root-CA publisher, the service-account controller) make `kube-root-ca.crt` and
    /// `default` again as they were, unless the namespace is being deleted.
    pub fn restore_controlled(&self, ns: &str) {
        let active = self.namespaces().get("", ns).is_some_and(|n| {
            beluga_api::namespace::phase(&n) != beluga_api::namespace::TERMINATING
        });
        if active {
            if let Err(e) = self.populate_namespace(ns) {
                tracing::warn!(namespace = %ns, error = %e.message, "restoring the namespace's default account and kube-root-ca.crt");
            }
        }
    }

    /// The ServiceAccount admission of a new pod in `ns`: its account named and found (a
    /// missing `default` is made, as its controller would), the token volume added.
    pub fn admit_service_account(&self, pod: &mut Pod, ns: &str) -> Result<(), ApiError> {
        let name = sa::account_of(pod).to_string();
        if name == DEFAULT && self.service_accounts.get(ns, DEFAULT).is_none() {
            self.populate_namespace(ns)?;
        }
        let Some(account) = self.service_accounts.get(ns, &name) else {
            let message = sa::missing_account_message(podutil::name(pod), ns, &name);
            return Err(ApiError::forbidden("pods", podutil::name(pod), message));
        };
        sa::admit(
            pod,
            &account,
            &sa::name_suffix(uuid::Uuid::new_v4().as_u64_pair().0),
        );
        Ok(())
    }

    /// A token for the pod's `serviceAccountToken` projection `p` (kubelet's TokenRequest).
    pub fn issue_token(
        &self,
        pod: &Pod,
        p: &ServiceAccountTokenProjection,
    ) -> Result<Issued, String> {
        let ns = podutil::namespace(pod);
        let name = sa::account_of(pod);
        let account = self
            .service_accounts
            .get(ns, name)
            .ok_or_else(|| format!("serviceaccounts {name:?} not found"))?;
        let node = crate::node::name();
        let who = Subject {
            namespace: ns,
            account: name,
            account_uid: account.metadata.uid.as_deref().unwrap_or(""),
            pod: podutil::name(pod),
            pod_uid: podutil::uid(pod),
            node: &node,
        };
        let issuer = tokens::issuer(&self.cfg.cluster_domain);
        let audiences: Vec<String> = p.audience.iter().cloned().collect();
        let seconds = p.expiration_seconds.unwrap_or(3600);
        tokens::issue(
            &self.pki,
            &who,
            &issuer,
            &audiences,
            seconds,
            self.exec.clock.now(),
        )
    }

    /// The service account a bearer token speaks for: one this node signed, unexpired, whose
    /// account exists and whose pod (if it is bound to one) still exists with that uid, as the
    /// apiserver's service-account authenticator checks (pkg/serviceaccount/claims.go).
    pub fn verify_token(&self, token: &str) -> Result<tokens::Verified, String> {
        let issuer = tokens::issuer(&self.cfg.cluster_domain);
        let v = tokens::verify(&self.pki, token, &issuer, self.exec.clock.now())?;
        if self
            .service_accounts
            .get(&v.namespace, &v.account)
            .is_none()
        {
            return Err(format!(
                "service account {}/{} not found",
                v.namespace, v.account
            ));
        }
        if let Some(uid) = &v.pod_uid {
            let bound = self
                .list(Some(&v.namespace))
                .into_iter()
                .any(|h| beluga_api::podutil::uid(&h.lock().pod) == uid);
            if !bound {
                return Err("the pod the token is bound to no longer exists".into());
            }
        }
        Ok(v)
    }
}
