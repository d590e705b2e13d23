//! The image store: content-addressed blobs, one directory per unpacked layer, image records,
//! and the importers (rootfs directory or tarball, `docker save`/`podman save`, OCI archives, a
//! registry).

pub mod archive;
pub mod digest;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use store::{ImageConfig, ImageRecord, Store};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    #[error("image {0:?} not found")]
    NotFound(String),
    #[error("image {reference:?} is in use by {user}")]
    InUse { reference: String, user: String },
    #[error("unsafe layer entry {path:?}: {reason}")]
    UnsafeEntry { path: String, reason: String },
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("failed to pull image {reference:?}: {message}")]
    Pull { reference: String, message: String },
    #[error("invalid {what} {value:?}: a digest is \"sha256:\" and 64 lowercase hex digits")]
    InvalidDigest { what: String, value: String },
    #[error("corrupt image store: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, ImageError>;

pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| ImageError::Io {
            context: context(),
            source,
        })
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| ImageError::Io {
            context: context(),
            source: e.into(),
        })
    }
}
