//! Objects the daemon keeps as they are given (issue 16: ConfigMaps, Secrets, Namespaces and
//! ServiceAccounts): defaulted and
//! validated as the apiserver does (`beluga_api::config`), one file each under
//! `<root>/<resource>` (0700, so a Secret at rest is readable by root only), reloaded at start.

use crate::history::{History, Versions};
use crate::ApiError;
use beluga_api::field::FieldError;
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::{ConfigMap, ObjectMeta, Secret};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::warn;

/// A kind kept as plain objects: its names, and how the apiserver defaults and validates it.
pub trait Kind: Serialize + DeserializeOwned + Clone + Default + Send + Sync + 'static {
    /// `ConfigMap`.
    const KIND: &'static str;
    /// Whether objects of the kind live in a namespace (a Namespace does not).
    const NAMESPACED: bool = true;
    /// `configmaps`.
    const RESOURCE: &'static str;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    fn apply_defaults(&mut self) {}
    fn validate(&self) -> Vec<FieldError>;
    fn validate_update(&self, old: &Self) -> Vec<FieldError>;
    /// What a replace keeps of the old object besides its identity (the server's fields).
    fn keep_server_fields(&mut self, _old: &Self) {}
}

impl Kind for ConfigMap {
    const KIND: &'static str = "ConfigMap";
    const RESOURCE: &'static str = "configmaps";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn validate(&self) -> Vec<FieldError> {
        beluga_api::config::validation::validate_config_map(self)
    }
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        beluga_api::config::validation::validate_config_map_update(self, old)
    }
}

impl Kind for Secret {
    const KIND: &'static str = "Secret";
    const RESOURCE: &'static str = "secrets";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn apply_defaults(&mut self) {
        beluga_api::config::apply_secret_defaults(self);
    }
    fn validate(&self) -> Vec<FieldError> {
        beluga_api::config::validation::validate_secret(self)
    }
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        beluga_api::config::validation::validate_secret_update(self, old)
    }
}

impl Kind for beluga_api::Namespace {
    const KIND: &'static str = "Namespace";
    const RESOURCE: &'static str = "namespaces";
    const NAMESPACED: bool = false;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn apply_defaults(&mut self) {
        beluga_api::namespace::apply_defaults(self);
    }
    fn validate(&self) -> Vec<FieldError> {
        beluga_api::namespace::validate(self)
    }
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        beluga_api::namespace::validate_update(self, old)
    }
    fn keep_server_fields(&mut self, old: &Self) {
        self.status = old.status.clone();
        self.spec = old.spec.clone();
        self.metadata.deletion_timestamp = old.metadata.deletion_timestamp.clone();
    }
}

impl Kind for beluga_api::ServiceAccount {
    const KIND: &'static str = "ServiceAccount";
    const RESOURCE: &'static str = "serviceaccounts";
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn validate(&self) -> Vec<FieldError> {
        beluga_api::serviceaccount::validate(self)
    }
    fn validate_update(&self, old: &Self) -> Vec<FieldError> {
        beluga_api::serviceaccount::validate_update(self, old)
    }
}

type Key = (String, String);

pub struct Store<T: Kind> {
    dir: PathBuf,
    objects: Mutex<BTreeMap<Key, T>>,
    /// The daemon's counter: a write takes its version under `objects`' lock, and records the
    /// change in `history` under it too, so the kind's history is in version order and a list
    /// read under the lock (`snapshot`) agrees with it.
    versions: Arc<Versions>,
    history: History<T>,
}

fn key_of<T: Kind>(o: &T) -> Key {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

/// How many changes of a kept kind a watch can resume from: fewer than the pods' (a ConfigMap or
/// Secret may be large, each change holds a copy), as the apiserver's watch cache held 100.
pub const KEPT_CHANGES: usize = 100;

/// The objects of `ns` (all without one).
fn in_namespace<T: Clone>(objects: &BTreeMap<Key, T>, ns: Option<&str>) -> Vec<T> {
    objects
        .iter()
        .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
        .map(|(_, o)| o.clone())
        .collect()
}

fn file_name(ns: &str, name: &str) -> String {
    // A namespace is a DNS label (no `_`); a name a DNS subdomain (no `_` either).
    format!("{ns}_{name}.json")
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(500, "InternalError", e.to_string())
}

impl<T: Kind> Store<T> {
    /// The objects kept under `dir` (made 0700 if missing); a file that does not parse is
    /// logged and left where it is.
    pub fn open(dir: &Path, versions: &Arc<Versions>) -> std::io::Result<Store<T>> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let mut objects = BTreeMap::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path).map(|b| serde_json::from_slice::<T>(&b)) {
                Ok(Ok(o)) => {
                    objects.insert(key_of(&o), o);
                }
                Ok(Err(e)) => warn!(path = %path.display(), "a damaged {} record: {e}", T::KIND),
                Err(e) => warn!(path = %path.display(), "an unreadable {} record: {e}", T::KIND),
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            objects: Mutex::new(objects),
            versions: versions.clone(),
            history: History::new(KEPT_CHANGES),
        })
    }

    /// The kind's recent changes, for watches.
    pub fn history(&self) -> &History<T> {
        &self.history
    }

    /// The objects of `ns` (all without one) and the version the list shows.
    pub fn snapshot(&self, ns: Option<&str>) -> (Vec<T>, u64) {
        let objects = self.objects();
        (in_namespace(&objects, ns), self.versions.current())
    }

    /// A new version on `o` (with `objects`' lock held).
    fn stamp_next(&self, o: &mut T) -> u64 {
        let rv = self.versions.next();
        o.meta_mut().resource_version = Some(rv.to_string());
        rv
    }

    /// The change recorded for watches (with `objects`' lock held: in version order).
    fn remember(&self, kind: &'static str, rv: u64, (ns, name): &Key, o: &T) {
        let mut ring = self.history.lock();
        self.history
            .record(&mut ring, rv, kind, format!("{ns}/{name}"), o.clone());
    }

    fn objects(&self) -> MutexGuard<'_, BTreeMap<Key, T>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The highest resourceVersion kept (so the daemon never issues one again).
    pub fn max_resource_version(&self) -> Option<u64> {
        self.objects()
            .values()
            .filter_map(|o| o.meta().resource_version.as_deref()?.parse().ok())
            .max()
    }

    pub fn list(&self, ns: Option<&str>) -> Vec<T> {
        in_namespace(&self.objects(), ns)
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<T> {
        self.objects()
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    fn persist(&self, o: &T) -> Result<(), ApiError> {
        let (ns, name) = key_of(o);
        let bytes = serde_json::to_vec(o).map_err(internal)?;
        beluga_fsutil::write_atomic(&self.dir.join(file_name(&ns, &name)), &bytes)
            .map_err(|e| internal(format!("persisting {}: {e}", T::RESOURCE)))
    }

    /// The object of a request for `ns`, defaulted and validated; its namespace checked.
    fn admitted(&self, mut o: T, ns: &str) -> Result<(T, String), ApiError> {
        if !T::NAMESPACED {
            o.apply_defaults();
            let name = o.meta().name.clone().unwrap_or_default();
            return Ok((o, name));
        }
        if let Some(given) = o.meta().namespace.as_deref().filter(|n| !n.is_empty()) {
            if given != ns {
                return Err(ApiError::new(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
            }
        }
        o.meta_mut().namespace = Some(ns.to_string());
        o.apply_defaults();
        let name = o.meta().name.clone().unwrap_or_default();
        Ok((o, name))
    }

    /// `POST`: defaults, validation, then the record. Nothing is kept on error.
    pub fn create(&self, o: T, ns: &str, now: Timestamp) -> Result<T, ApiError> {
        let (mut o, name) = self.admitted(o, ns)?;
        let errs = o.validate();
        if !errs.is_empty() {
            return Err(ApiError::invalid_kind(T::KIND, &name, errs));
        }
        let mut objects = self.objects();
        let key = (ns.to_string(), name.clone());
        if objects.contains_key(&key) {
            return Err(ApiError::already_exists(T::RESOURCE, &name));
        }
        let m = o.meta_mut();
        m.uid = Some(uuid::Uuid::new_v4().to_string());
        m.creation_timestamp = Some(Time(now));
        if crate::dry_run::active() {
            return Ok(o);
        }
        self.commit("ADDED", &mut objects, key, &mut o)?;
        Ok(o)
    }

    /// A write made: its version, the record on disk, the object kept, the change recorded.
    fn commit(
        &self,
        kind: &'static str,
        objects: &mut BTreeMap<Key, T>,
        key: Key,
        o: &mut T,
    ) -> Result<(), ApiError> {
        let rv = self.stamp_next(o);
        self.persist(o)?;
        self.remember(kind, rv, &key, o);
        objects.insert(key, o.clone());
        Ok(())
    }

    /// `PUT`: the whole object replaced (what the server set is kept), as the update rules
    /// allow.
    pub fn update(&self, o: T, ns: &str, name: &str) -> Result<T, ApiError> {
        let (mut o, _) = self.admitted(o, ns)?;
        let mut objects = self.objects();
        let key = (ns.to_string(), name.to_string());
        let old = objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found_in(T::RESOURCE, name))?;
        ApiError::check_version(
            T::RESOURCE,
            name,
            o.meta().resource_version.as_deref(),
            old.meta().resource_version.as_deref(),
        )?;
        let errs = o.validate_update(&old);
        if !errs.is_empty() {
            return Err(ApiError::invalid_kind(T::KIND, name, errs));
        }
        o.keep_server_fields(&old);
        let m = o.meta_mut();
        m.uid = old.meta().uid.clone();
        m.creation_timestamp = old.meta().creation_timestamp.clone();
        if crate::dry_run::active() {
            m.resource_version = old.meta().resource_version.clone();
            return Ok(o);
        }
        self.commit("MODIFIED", &mut objects, key, &mut o)?;
        Ok(o)
    }

    /// The server's own change of a kept object (a namespace's deletion mark): written as
    /// given, no admission.
    pub fn replace_as_server(&self, mut o: T) -> Result<T, ApiError> {
        let mut objects = self.objects();
        let key = key_of(&o);
        self.commit("MODIFIED", &mut objects, key, &mut o)?;
        Ok(o)
    }

    /// `DELETE`: the record goes.
    pub fn delete(&self, ns: &str, name: &str) -> Result<T, ApiError> {
        let mut objects = self.objects();
        let key = (ns.to_string(), name.to_string());
        if !objects.contains_key(&key) {
            return Err(ApiError::not_found_in(T::RESOURCE, name));
        }
        if crate::dry_run::active() {
            return Ok(objects.get(&key).cloned().unwrap_or_default());
        }
        match std::fs::remove_file(self.dir.join(file_name(ns, name))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal(format!("removing {}: {e}", T::RESOURCE))),
        }
        let mut gone = objects.remove(&key).unwrap_or_default();
        let rv = self.stamp_next(&mut gone);
        self.remember("DELETED", rv, &key, &gone);
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter at 7: the first write's version.
    fn versions() -> Arc<Versions> {
        let v = Arc::new(Versions::default());
        v.past(6);
        v
    }

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().expect("time")
    }

    fn secret(name: &str, value: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some([("password".to_string(), value.to_string())].into()),
            ..Default::default()
        }
    }

    #[test]
    fn objects_are_defaulted_kept_across_a_reopen_and_refused_when_invalid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().join("secrets");
        let store = Store::<Secret>::open(&at, &versions()).expect("open");
        let made = store.create(secret("db", "x"), "default", now());
        let made = made.expect("created");
        assert_eq!(made.type_.as_deref(), Some("Opaque"));
        assert_eq!(
            made.data.as_ref().map(|d| d["password"].0.clone()),
            Some(b"x".to_vec())
        );
        assert!(made.string_data.is_none());
        let again = store.create(secret("db", "y"), "default", now());
        assert_eq!(again.err().map(|e| e.code), Some(409));
        let bad = store.create(secret("Bad_Name", "y"), "default", now());
        assert_eq!(bad.err().map(|e| e.code), Some(422));
        let wrong_ns = Secret {
            metadata: ObjectMeta {
                name: Some("x".into()),
                namespace: Some("other".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let refused = store.create(wrong_ns, "default", now());
        assert_eq!(refused.err().map(|e| e.code), Some(400));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&at).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        let reopened = Store::<Secret>::open(&at, &versions()).expect("reopen");
        let kept = reopened.get("default", "db").expect("kept");
        assert_eq!(kept.metadata.uid, made.metadata.uid);
        assert_eq!(reopened.max_resource_version(), Some(7));
        assert_eq!(reopened.list(Some("default")).len(), 1);
        assert!(reopened.list(Some("other")).is_empty());
    }

    #[test]
    fn updates_keep_what_the_server_set_and_follow_immutability() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::<ConfigMap>::open(&dir.path().join("cm"), &versions()).expect("open");
        let cm = |v: &str, immutable: Option<bool>| ConfigMap {
            metadata: ObjectMeta {
                name: Some("c".into()),
                ..Default::default()
            },
            data: Some([("k".to_string(), v.to_string())].into()),
            immutable,
            ..Default::default()
        };
        let made = store.create(cm("1", Some(true)), "default", now());
        let made = made.expect("created");
        let changed = store.update(cm("2", Some(true)), "default", "c");
        assert_eq!(changed.err().map(|e| e.code), Some(422));
        assert_eq!(store.get("default", "c").and_then(|c| c.data), made.data);
        let mut relabelled = cm("1", Some(true));
        relabelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        let kept = store.update(relabelled, "default", "c").expect("labels");
        assert_eq!(kept.metadata.uid, made.metadata.uid);
        assert_eq!(kept.metadata.resource_version.as_deref(), Some("8"));
        let missing = store.update(cm("1", None), "default", "nope");
        assert_eq!(missing.err().map(|e| e.code), Some(404));
        assert!(store.delete("default", "c").is_ok());
        assert_eq!(
            store.delete("default", "c").err().map(|e| e.code),
            Some(404)
        );
    }

    // kubectl-api §3.5: each write of a kept kind is a change at its own version, in order,
    // the deletion included; a list shows the version its objects are at.
    #[test]
    fn writes_are_recorded_in_version_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::<ConfigMap>::open(&dir.path().join("cm"), &versions()).expect("open");
        let cm = |v: &str| ConfigMap {
            metadata: ObjectMeta {
                name: Some("c".into()),
                ..Default::default()
            },
            data: Some([("k".to_string(), v.to_string())].into()),
            ..Default::default()
        };
        store.create(cm("1"), "default", now()).expect("created");
        let (items, at) = store.snapshot(None);
        assert_eq!((items.len(), at), (1, 7));
        store.update(cm("2"), "default", "c").expect("updated");
        let gone = store.delete("default", "c").expect("deleted");
        assert_eq!(gone.metadata.resource_version.as_deref(), Some("9"));
        let seen: Vec<(u64, &str)> = store
            .history()
            .since(0)
            .expect("all")
            .iter()
            .map(|c| (c.rv, c.kind))
            .collect();
        assert_eq!(seen, [(7, "ADDED"), (8, "MODIFIED"), (9, "DELETED")]);
        let after = store.history().since(7).expect("after the list");
        assert_eq!(after.len(), 2);
        assert_eq!(
            after[1].prev.as_ref().and_then(|p| p.data.clone()),
            cm("2").data
        );
    }
}
