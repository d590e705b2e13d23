//! What the daemon and the CLI exchange besides Pods, defined once for both sides: `v1.Status`
//! failures and watch events (k8s-openapi's own types), exec frames, image-pull progress.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use serde::{Deserialize, Serialize};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::WatchEvent;

/// A `v1.Status` failure as the apiserver writes it: `details` only when there is a name or a
/// cause, each cause as `{reason, message, field}`.
pub fn failure(
    code: u16,
    reason: &str,
    message: &str,
    name: Option<&str>,
    kind: &str,
    causes: Vec<StatusCause>,
) -> Status {
    let details = (name.is_some() || !causes.is_empty()).then(|| StatusDetails {
        name: name.map(String::from),
        kind: Some(kind.into()),
        causes: Some(causes),
        ..Default::default()
    });
    Status {
        code: Some(code.into()),
        details,
        message: Some(message.into()),
        reason: Some(reason.into()),
        status: Some("Failure".into()),
        ..Default::default()
    }
}

/// The exec stream: after the upgrade the client sends raw stdin (a write shutdown is EOF) and
/// the server sends frames `[stream u8][len u32 BE][bytes]`; the last is the exit code.
pub mod exec {
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    /// Four bytes: the exit code, i32 big-endian.
    pub const EXIT: u8 = 3;
    /// The frame header's size.
    pub const HEADER: usize = 5;

    pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let mut v = Vec::with_capacity(data.len() + HEADER);
        v.push(stream);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&data[..len as usize]);
        v
    }

    /// A frame's stream and length, from its header.
    pub fn header(h: [u8; HEADER]) -> (u8, usize) {
        (h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize)
    }

    pub fn exit_frame(code: i32) -> Vec<u8> {
        frame(EXIT, &code.to_be_bytes())
    }

    /// The exit code an `EXIT` frame carries.
    pub fn exit_code(data: &[u8]) -> Option<i32> {
        Some(i32::from_be_bytes(data.try_into().ok()?))
    }
}

/// One line of an image pull's answer: progress, then the image or an error.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PullLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<PullProgress>,
    /// The image record, as `image ls -o json` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How far a pull is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PullProgress {
    /// The manifest is resolved: its digest and how many layers it has.
    Manifest { manifest: String, layers: usize },
    /// A layer already in the store.
    Present { layer: String, present: bool },
    /// Bytes of a layer downloaded so far.
    Layer {
        layer: String,
        done: u64,
        total: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_frames_round_trip() {
        let f = exec::frame(exec::STDERR, b"oops");
        let (stream, len) = exec::header(f[..exec::HEADER].try_into().unwrap());
        assert_eq!((stream, len), (exec::STDERR, 4));
        assert_eq!(&f[exec::HEADER..], b"oops");
        let e = exec::exit_frame(-2);
        assert_eq!(exec::exit_code(&e[exec::HEADER..]), Some(-2));
        assert_eq!(exec::exit_code(b"abc"), None);
    }

    #[test]
    fn pull_lines_keep_their_shape() {
        let lines = [
            r#"{"progress":{"manifest":"sha256:ab","layers":2}}"#,
            r#"{"progress":{"layer":"sha256:cd","present":true}}"#,
            r#"{"progress":{"layer":"sha256:cd","done":5,"total":9}}"#,
            r#"{"error":"not found"}"#,
            r#"{"image":{"id":"i","reference":"r"}}"#,
        ];
        for l in lines {
            let parsed: PullLine = serde_json::from_str(l).unwrap();
            assert_eq!(serde_json::to_string(&parsed).unwrap(), l);
        }
        let p: PullLine = serde_json::from_str(lines[1]).unwrap();
        assert!(matches!(p.progress, Some(PullProgress::Present { .. })));
    }

    // The apiserver's Status: kind and apiVersion, details only with a name or causes.
    #[test]
    fn failures_are_v1_status() {
        let s = failure(
            404,
            "NotFound",
            "pods \"x\" not found",
            Some("x"),
            "pods",
            vec![],
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["code"], 404);
        assert_eq!(v["details"]["name"], "x");
        let s = failure(400, "BadRequest", "no", None, "pods", vec![]);
        assert!(serde_json::to_value(&s).unwrap().get("details").is_none());
    }
}
