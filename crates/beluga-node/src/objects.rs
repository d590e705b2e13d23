//! Objects the daemon keeps as they are given (issue 16: ConfigMaps, Secrets, Namespaces and
//! ServiceAccounts): defaulted and
//! validated as the apiserver does (`beluga_api::config`), one file each under
//! `<root>/<resource>` (0700, so a Secret at rest is readable by root only), reloaded at start.

use crate::ApiError;
use beluga_api::field::FieldError;
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::{ConfigMap, ObjectMeta, Secret};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tracing::warn;

/// A kind kept as plain objects: its names, and how the apiserver defaults and validates it.
pub trait Kind: Serialize + DeserializeOwned + Clone + Default + Send + 'static {
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
}

fn key_of<T: Kind>(o: &T) -> Key {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
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
    pub fn open(dir: &Path) -> std::io::Result<Store<T>> {
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
        })
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
        self.objects()
            .iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, o)| o.clone())
            .collect()
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
    pub fn create(&self, o: T, ns: &str, rv: String, now: Timestamp) -> Result<T, ApiError> {
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
        o.meta_mut().resource_version = Some(rv);
        self.persist(&o)?;
        objects.insert(key, o.clone());
        Ok(o)
    }

    /// `PUT`: the whole object replaced (what the server set is kept), as the update rules
    /// allow.
    pub fn update(&self, o: T, ns: &str, name: &str, rv: String) -> Result<T, ApiError> {
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
        m.resource_version = Some(rv);
        self.persist(&o)?;
        objects.insert(key, o.clone());
        Ok(o)
    }

    /// The server's own change of a kept object (a namespace's deletion mark): written as
    /// given, no admission.
    pub fn replace_as_server(&self, mut o: T, rv: String) -> Result<T, ApiError> {
        let mut objects = self.objects();
        o.meta_mut().resource_version = Some(rv);
        self.persist(&o)?;
        objects.insert(key_of(&o), o.clone());
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
        Ok(objects.remove(&key).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let store = Store::<Secret>::open(&at).expect("open");
        let made = store.create(secret("db", "x"), "default", "7".into(), now());
        let made = made.expect("created");
        assert_eq!(made.type_.as_deref(), Some("Opaque"));
        assert_eq!(
            made.data.as_ref().map(|d| d["password"].0.clone()),
            Some(b"x".to_vec())
        );
        assert!(made.string_data.is_none());
        let again = store.create(secret("db", "y"), "default", "8".into(), now());
        assert_eq!(again.err().map(|e| e.code), Some(409));
        let bad = store.create(secret("Bad_Name", "y"), "default", "9".into(), now());
        assert_eq!(bad.err().map(|e| e.code), Some(422));
        let wrong_ns = Secret {
            metadata: ObjectMeta {
                name: Some("x".into()),
                namespace: Some("other".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let refused = store.create(wrong_ns, "default", "9".into(), now());
        assert_eq!(refused.err().map(|e| e.code), Some(400));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&at).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        let reopened = Store::<Secret>::open(&at).expect("reopen");
        let kept = reopened.get("default", "db").expect("kept");
        assert_eq!(kept.metadata.uid, made.metadata.uid);
        assert_eq!(reopened.max_resource_version(), Some(7));
        assert_eq!(reopened.list(Some("default")).len(), 1);
        assert!(reopened.list(Some("other")).is_empty());
    }

    #[test]
    fn updates_keep_what_the_server_set_and_follow_immutability() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::<ConfigMap>::open(&dir.path().join("cm")).expect("open");
        let cm = |v: &str, immutable: Option<bool>| ConfigMap {
            metadata: ObjectMeta {
                name: Some("c".into()),
                ..Default::default()
            },
            data: Some([("k".to_string(), v.to_string())].into()),
            immutable,
            ..Default::default()
        };
        let made = store.create(cm("1", Some(true)), "default", "1".into(), now());
        let made = made.expect("created");
        let changed = store.update(cm("2", Some(true)), "default", "c", "2".into());
        assert_eq!(changed.err().map(|e| e.code), Some(422));
        assert_eq!(store.get("default", "c").and_then(|c| c.data), made.data);
        let mut relabelled = cm("1", Some(true));
        relabelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        let kept = store
            .update(relabelled, "default", "c", "3".into())
            .expect("labels");
        assert_eq!(kept.metadata.uid, made.metadata.uid);
        assert_eq!(kept.metadata.resource_version.as_deref(), Some("3"));
        let missing = store.update(cm("1", None), "default", "nope", "4".into());
        assert_eq!(missing.err().map(|e| e.code), Some(404));
        assert!(store.delete("default", "c").is_ok());
        assert_eq!(
            store.delete("default", "c").err().map(|e| e.code),
            Some(404)
        );
    }
}
