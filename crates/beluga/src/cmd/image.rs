//! `beluga image import|load|pull|ls|rm`: the daemon's image store.

use crate::client::{encode, Client, Lines};
use anyhow::{bail, Result};
use beluga_api::printer::format_table;
use beluga_api::wire::{PullLine, PullProgress};
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    socket: crate::SocketArg,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Import a root filesystem (a directory, or a tar of one) as a one-layer image, like `docker import`.
    Import {
        path: std::path::PathBuf,
        /// The image reference, e.g. localhost/busybox:1.
        #[arg(long, short = 't')]
        tag: String,
    },
    /// Load images from a `docker save` / `podman save` archive or an OCI image layout archive.
    Load {
        #[arg(short = 'i', long = "input")]
        input: std::path::PathBuf,
        /// Name for an image the archive does not name.
        #[arg(long, short = 't')]
        tag: Option<String>,
    },
    /// Pull an image from a registry (HTTPS; plain HTTP for a registry on a loopback address, such
    /// as 127.0.0.1:5000), with progress on stderr. Credentials come from docker-style config files:
    /// `<daemon root>/config.json`, then `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    Pull { reference: String },
    /// List images.
    #[command(alias = "list")]
    Ls,
    /// Remove an image no pod uses.
    #[command(alias = "remove")]
    Rm { reference: String },
}

fn human_size(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.3}{}", units[i]).replace(".000", "")
    }
}

pub async fn run(a: Args) -> Result<i32> {
    let client = Client::new(&a.socket.socket);
    match a.cmd {
        Cmd::Import { path, tag } => {
            for r in from_file(&client, "import", "Importing", &path, Some(&tag)).await? {
                println!(
                    "{} {}",
                    r["reference"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or("")
                );
            }
        }
        Cmd::Load { input, tag } => {
            for r in from_file(&client, "load", "Loading", &input, tag.as_deref()).await? {
                println!("Loaded image: {}", r["reference"].as_str().unwrap_or(""));
            }
        }
        Cmd::Pull { reference } => return pull(&client, &reference).await,
        Cmd::Ls => {
            let v = client.json(Method::GET, "/beluga/v1/images", None).await?;
            let mut rows = vec![vec![
                "IMAGE".to_string(),
                "TAG".into(),
                "IMAGE ID".into(),
                "SIZE".into(),
            ]];
            for r in v.as_array().cloned().unwrap_or_default() {
                let (repo, tag) =
                    beluga_image::reference::split_repo_tag(r["reference"].as_str().unwrap_or(""));
                let id = r["id"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("sha256:")
                    .chars()
                    .take(13)
                    .collect::<String>();
                rows.push(vec![
                    repo,
                    tag,
                    id,
                    human_size(r["size"].as_u64().unwrap_or(0)),
                ]);
            }
            print!("{}", format_table(&rows));
        }
        Cmd::Rm { reference } => {
            let v = client
                .json(
                    Method::DELETE,
                    &format!("/beluga/v1/images?ref={}", encode(&reference)),
                    None,
                )
                .await?;
            println!("Deleted: {}", v["reference"].as_str().unwrap_or(&reference));
        }
    }
    Ok(0)
}

/// `import` / `load`: the daemon reads `path` itself (so it goes absolute); the stored images.
async fn from_file(
    client: &Client,
    verb: &str,
    doing: &str,
    path: &std::path::Path,
    tag: Option<&str>,
) -> Result<Vec<serde_json::Value>> {
    let path =
        std::fs::canonicalize(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    eprintln!("{doing} {} …", path.display());
    let body = serde_json::to_vec(&serde_json::json!({"path": path, "tag": tag}))?;
    let v = client
        .json(
            Method::POST,
            &format!("/beluga/v1/images/{verb}"),
            Some(body),
        )
        .await?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

/// The daemon pulls; this prints its progress: a line per layer when it is complete or found
/// present, then the image's reference and ID on stdout (as `import` does).
async fn pull(client: &Client, reference: &str) -> Result<i32> {
    eprintln!("Pulling {reference} …");
    let body = client
        .stream_with(
            Method::POST,
            &format!("/beluga/v1/images/pull?ref={}", encode(reference)),
        )
        .await?;
    let mut lines = Lines::new(body);
    while let Some(l) = lines.next().await {
        let Ok(line) = serde_json::from_slice::<PullLine>(&l) else {
            continue;
        };
        let short = |d: &str| {
            d.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        match (line.progress, line.image, line.error) {
            (Some(PullProgress::Manifest { manifest, layers }), ..) => {
                eprintln!("Manifest {manifest} ({layers} layers)")
            }
            (Some(PullProgress::Present { layer, .. }), ..) => {
                eprintln!("Layer {} already present", short(&layer))
            }
            (Some(PullProgress::Layer { layer, done, total }), ..) if done == total => {
                eprintln!("Layer {} done ({})", short(&layer), human_size(total))
            }
            (_, _, Some(e)) => bail!("{e}"),
            (_, Some(r), _) => {
                println!(
                    "{} {}",
                    r["reference"].as_str().unwrap_or(""),
                    r["id"].as_str().unwrap_or("")
                );
                return Ok(0);
            }
            _ => {}
        }
    }
    bail!("the daemon ended the pull of {reference:?} without a result")
}
