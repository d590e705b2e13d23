//! What a `configMap`, `secret`, `downwardAPI` or `projected` volume holds (issue 16 item 2):
//! the files kubelet's `MakePayload` / `CollectData` / the projected plugin's `collectData`
//! make from the objects, as a path → (bytes, mode) map. Pure; the atomic writer puts it on
//! disk.

use beluga_api::downward::{self, Allocatable};
use beluga_api::k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, Secret, Volume,
};
use beluga_api::Pod;
use std::collections::BTreeMap;

/// One file of a volume: its content and permission bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// A volume's files by their path inside it.
pub type Payload = BTreeMap<String, FileProjection>;

/// The objects of the pod's namespace a pod's volumes name, by name; one absent is not found.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    /// The tokens issued for the volume's `serviceAccountToken` sources, by path (or why
    /// none could be).
    pub tokens: BTreeMap<String, Result<String, String>>,
}

/// Where a volume's files live: secrets (and projected volumes, which may hold them) only in
/// memory, as kubelet's wrapped `emptyDir` of medium `Memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Disk,
    Memory,
}

/// The medium of a volume made from objects, or None for any other volume.
pub fn medium(v: &Volume) -> Option<Medium> {
    if v.secret.is_some() || v.projected.is_some() {
        Some(Medium::Memory)
    } else if v.config_map.is_some() || v.downward_api.is_some() {
        Some(Medium::Disk)
    } else {
        None
    }
}

/// The ConfigMaps and Secrets a volume names.
pub fn sources(v: &Volume) -> (Vec<String>, Vec<String>) {
    let (mut cms, mut secrets) = (Vec::new(), Vec::new());
    cms.extend(v.config_map.as_ref().map(|c| c.name.clone()));
    secrets.extend(v.secret.as_ref().and_then(|s| s.secret_name.clone()));
    for s in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
        cms.extend(s.config_map.as_ref().map(|c| c.name.clone()));
        secrets.extend(s.secret.as_ref().map(|c| c.name.clone()));
    }
    (cms, secrets)
}

/// The volume's files, or kubelet's message for why it cannot be set up (a missing object
/// or key; several, as Go's aggregate error prints them).
pub fn payload(
    v: &Volume,
    pod: &Pod,
    objects: &Objects,
    node: &Allocatable,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    if let Some(c) = v.config_map.as_ref() {
        let optional = c.optional == Some(true);
        let cm = objects.config_maps.get(&c.name);
        let cm = found(cm, "configmap", &c.name, optional)?;
        config_map_files(
            &mut out,
            c.items.as_deref(),
            cm,
            mode(c.default_mode),
            optional,
        )?;
    } else if let Some(s) = v.secret.as_ref() {
        let optional = s.optional == Some(true);
        let name = s.secret_name.clone().unwrap_or_default();
        let secret = found(objects.secrets.get(&name), "secret", &name, optional)?;
        secret_files(
            &mut out,
            s.items.as_deref(),
            secret,
            mode(s.default_mode),
            optional,
        )?;
    } else if let Some(d) = v.downward_api.as_ref() {
        downward_files(
            &mut out,
            d.items.as_deref().unwrap_or(&[]),
            pod,
            mode(d.default_mode),
            node,
        )?;
    } else if let Some(p) = v.projected.as_ref() {
        projected_files(&mut out, p, pod, objects, node)?;
    }
    Ok(out)
}

/// The apiserver defaults every `defaultMode` to 0644; a pod built without defaults gets it too.
fn mode(m: Option<i32>) -> u32 {
    m.map_or(0o644, |m| (m as u32) & 0o777)
}

/// The object, an empty one when it is missing and optional, or kubelet's not-found message.
fn found<T: Clone + Default>(
    obj: Option<&T>,
    kind: &str,
    name: &str,
    optional: bool,
) -> Result<T, String> {
    match (obj, optional) {
        (Some(o), _) => Ok(o.clone()),
        (None, true) => Ok(T::default()),
        (None, false) => Err(format!("{kind} {name:?} not found")),
    }
}

/// kubelet's `configmap.MakePayload`: every key (`data` and `binaryData`) or only the items.
fn config_map_files(
    out: &mut Payload,
    items: Option<&[KeyToPath]>,
    cm: ConfigMap,
    default_mode: u32,
    optional: bool,
) -> Result<(), String> {
    let mut all: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in cm.data.unwrap_or_default() {
        all.insert(k, v.into_bytes());
    }
    for (k, v) in cm.binary_data.unwrap_or_default() {
        all.entry(k).or_insert(v.0);
    }
    key_files(
        out,
        items,
        all,
        default_mode,
        optional,
        "configmap references non-existent config key",
    )
}

/// kubelet's `secret.MakePayload`.
fn secret_files(
    out: &mut Payload,
    items: Option<&[KeyToPath]>,
    secret: Secret,
    default_mode: u32,
    optional: bool,
) -> Result<(), String> {
    let all = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    key_files(
        out,
        items,
        all,
        default_mode,
        optional,
        "secret references non-existent secret key",
    )
}

fn key_files(
    out: &mut Payload,
    items: Option<&[KeyToPath]>,
    all: BTreeMap<String, Vec<u8>>,
    default_mode: u32,
    optional: bool,
    missing: &str,
) -> Result<(), String> {
    let items = items.unwrap_or(&[]);
    if items.is_empty() {
        for (k, data) in all {
            let mode = default_mode;
            out.insert(k, FileProjection { data, mode });
        }
        return Ok(());
    }
    for item in items {
        let Some(data) = all.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(format!("{missing}: {}", item.key));
        };
        let mode = item.mode.map_or(default_mode, |m| (m as u32) & 0o777);
        out.insert(
            clean(&item.path),
            FileProjection {
                data: data.clone(),
                mode,
            },
        );
    }
    Ok(())
}

/// kubelet's `downwardapi.CollectData`: each item's field or resource; every failure told.
fn downward_files(
    out: &mut Payload,
    items: &[DownwardAPIVolumeFile],
    pod: &Pod,
    default_mode: u32,
    node: &Allocatable,
) -> Result<(), String> {
    let mut errors = Vec::new();
    for item in items {
        let mode = item.mode.map_or(default_mode, |m| (m as u32) & 0o777);
        let value = if let Some(f) = item.field_ref.as_ref() {
            downward::metadata_field(pod, &f.field_path)
                .ok_or_else(|| format!("unsupported fieldPath: {}", f.field_path))
        } else if let Some(r) = item.resource_field_ref.as_ref() {
            let container = r.container_name.clone().unwrap_or_default();
            let divisor = r.divisor.as_ref().map(|d| d.0.as_str());
            downward::resource_value(pod, &container, &r.resource, divisor, node)
        } else {
            Ok(String::new())
        };
        match value {
            Ok(v) => {
                let data = v.into_bytes();
                out.insert(clean(&item.path), FileProjection { data, mode });
            }
            Err(e) => errors.push(e),
        }
    }
    aggregate(errors)
}

/// The projected plugin's `collectData`: each source in order under the volume's one
/// `defaultMode`, later paths over earlier ones; every failing source told.
fn projected_files(
    out: &mut Payload,
    p: &beluga_api::k8s_openapi::api::core::v1::ProjectedVolumeSource,
    pod: &Pod,
    objects: &Objects,
    node: &Allocatable,
) -> Result<(), String> {
    let default_mode = mode(p.default_mode);
    let mut errors = Vec::new();
    for s in p.sources.iter().flatten() {
        let done = if let Some(c) = s.config_map.as_ref() {
            let optional = c.optional == Some(true);
            found(
                objects.config_maps.get(&c.name),
                "configmap",
                &c.name,
                optional,
            )
            .and_then(|cm| config_map_files(out, c.items.as_deref(), cm, default_mode, optional))
        } else if let Some(c) = s.secret.as_ref() {
            let optional = c.optional == Some(true);
            found(objects.secrets.get(&c.name), "secret", &c.name, optional)
                .and_then(|sec| secret_files(out, c.items.as_deref(), sec, default_mode, optional))
        } else if let Some(d) = s.downward_api.as_ref() {
            downward_files(
                out,
                d.items.as_deref().unwrap_or(&[]),
                pod,
                default_mode,
                node,
            )
        } else if let Some(t) = s.service_account_token.as_ref() {
            // Never an empty file in a token's place: the volume waits, and says why.
            match objects.tokens.get(&t.path) {
                Some(Ok(token)) => {
                    let data = token.clone().into_bytes();
                    let mode = default_mode;
                    out.insert(clean(&t.path), FileProjection { data, mode });
                    Ok(())
                }
                Some(Err(e)) => Err(format!("failed to fetch token: {e}")),
                None => Err("failed to fetch token: none was issued".into()),
            }
        } else {
            Ok(())
        };
        if let Err(e) = done {
            errors.push(e);
        }
    }
    aggregate(errors)
}

/// Go's `utilerrors.NewAggregate(...).Error()`: one message as it is, several in brackets.
fn aggregate(errors: Vec<String>) -> Result<(), String> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().unwrap_or_default()),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

/// Go's `filepath.Clean` for a relative path the apiserver accepted: no empty or `.` segments.
fn clean(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests;
