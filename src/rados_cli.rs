//! `shoal rados -p POOL ...`: object I/O on one pool through `rados::RadosClient`, like
//! Ceph's `rados` tool. Prints plain text or `--format json` and fails with one line.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rados::client::MAX_OBJECT_SIZE;
use rados::proto::osd::ObjectStat;
use rados::{ClientConfig, IoCtx, MessengerConfig, RadosClient};
use serde_json::json;

use crate::connection::Connection;
use crate::output::{Format, print_json};

/// Objects asked of the cluster per page by `ls` and `listomapvals`.
const PAGE: u32 = 1000;

/// `shoal rados` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The pool to work on.
    #[arg(short = 'p', long = "pool")]
    pool: String,
    #[command(subcommand)]
    command: RadosCommand,
}

/// Object commands under `shoal rados -p POOL`.
#[derive(clap::Subcommand, Debug)]
pub enum RadosCommand {
    /// Store FILE (`-`: stdin) as an object, replacing it if it exists (16 MiB at most).
    Put { object: String, file: PathBuf },
    /// Write an object's data to FILE (`-`: stdout).
    Get { object: String, file: PathBuf },
    /// An object's size, version and checksum.
    Stat { object: String },
    /// Delete an object.
    Rm { object: String },
    /// List the pool's objects.
    Ls,
    /// Set one omap entry of an object.
    Setomapval {
        object: String,
        key: String,
        value: String,
    },
    /// Every omap entry of an object.
    Listomapvals { object: String },
    /// Print an xattr of an object.
    Getxattr { object: String, name: String },
    /// Set an xattr of an object.
    Setxattr {
        object: String,
        name: String,
        value: String,
    },
}

/// Runs one `shoal rados` command.
pub fn run(conn: &Connection, args: &Args, format: Format) -> anyhow::Result<()> {
    // Checked before connecting: a bad input file fails without touching the cluster.
    let input = match &args.command {
        RadosCommand::Put { file, .. } => Some(read_input(file)?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = connect(conn).await?;
        let pool = client.pool(&args.pool).await?;
        command(&pool, &args.command, input, format).await
    })
}

pub(crate) async fn connect(conn: &Connection) -> anyhow::Result<Arc<RadosClient>> {
    let config = ClientConfig {
        op_timeout: conn.timeout,
        messenger: MessengerConfig {
            request_timeout: conn.timeout.min(Duration::from_secs(5)),
            ..MessengerConfig::default()
        },
        ..ClientConfig::default()
    };
    Ok(RadosClient::connect(conn.mons.clone(), &conn.keyring, config).await?)
}

async fn command(
    pool: &IoCtx,
    cmd: &RadosCommand,
    input: Option<Vec<u8>>,
    format: Format,
) -> anyhow::Result<()> {
    match cmd {
        RadosCommand::Put { object, .. } => {
            pool.write_full(object, input.unwrap_or_default()).await?;
        }
        RadosCommand::Get { object, file } => {
            let data = pool.read(object, 0, None).await?;
            write_output(file, &data)?;
        }
        RadosCommand::Stat { object } => {
            let stat = pool.stat(object).await?;
            if format == Format::Json {
                return print_json(&stat_json(object, &stat));
            }
            println!(
                "{}/{object} size {} version {} crc {:#010x}",
                pool.pool_name(),
                stat.size,
                stat.version,
                stat.crc
            );
        }
        RadosCommand::Rm { object } => {
            pool.remove(object).await?;
        }
        RadosCommand::Ls => list(pool, format).await?,
        RadosCommand::Setomapval { object, key, value } => {
            let entry = (key.as_bytes().to_vec(), value.as_bytes().to_vec());
            pool.omap_set(object, vec![entry]).await?;
        }
        RadosCommand::Listomapvals { object } => list_omap(pool, object, format).await?,
        RadosCommand::Getxattr { object, name } => {
            let value = pool.get_xattr(object, name).await?.with_context(|| {
                format!(
                    "no xattr '{name}' on object '{object}' in pool '{}'",
                    pool.pool_name()
                )
            })?;
            let value = String::from_utf8_lossy(&value);
            if format == Format::Json {
                return print_json(&json!({"object": object, "name": name, "value": value}));
            }
            println!("{value}");
        }
        RadosCommand::Setxattr {
            object,
            name,
            value,
        } => {
            pool.set_xattr(object, name, value.as_bytes()).await?;
        }
    }
    Ok(())
}

fn stat_json(object: &str, stat: &ObjectStat) -> serde_json::Value {
    json!({
        "object": object,
        "size": stat.size,
        "version": stat.version.to_string(),
        "crc": stat.crc,
    })
}

/// `ls`: streams page by page, so a large pool is never held in memory (JSON included).
async fn list(pool: &IoCtx, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut cursor = None;
    let mut first = true;
    if format == Format::Json {
        write!(out, "[")?;
    }
    loop {
        let (page, next) = pool.list_objects(cursor, PAGE).await?;
        for (name, stat) in &page {
            if format == Format::Json {
                let sep = if first { "" } else { "," };
                write!(out, "{sep}\n  {}", stat_json(name, stat))?;
                first = false;
            } else {
                writeln!(out, "{name}")?;
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if format == Format::Json {
        writeln!(out, "{}]", if first { "" } else { "\n" })?;
    }
    Ok(())
}

/// `listomapvals`: every entry, page by page.
async fn list_omap(pool: &IoCtx, object: &str, format: Format) -> anyhow::Result<()> {
    let mut all = serde_json::Map::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = pool.omap_list(object, after.as_deref(), PAGE).await?;
        let done = page.len() < PAGE as usize;
        after = page.last().map(|(k, _)| k.clone());
        for (key, value) in page {
            let (key, value) = (
                String::from_utf8_lossy(&key).into_owned(),
                String::from_utf8_lossy(&value).into_owned(),
            );
            if format == Format::Json {
                all.insert(key, value.into());
            } else {
                println!("{key}\t{value}");
            }
        }
        if done {
            break;
        }
    }
    if format == Format::Json {
        print_json(&all)?;
    }
    Ok(())
}

fn too_large(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{what}; an object holds at most {MAX_OBJECT_SIZE} bytes (16 MiB), larger data must be \
         split over several objects"
    )
}

/// Reads `put`'s input, refusing more than one object's worth before reading it all.
fn read_input(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    if file == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_OBJECT_SIZE + 1)
            .read_to_end(&mut data)
            .context("reading stdin")?;
        if data.len() as u64 > MAX_OBJECT_SIZE {
            return Err(too_large(&format!(
                "stdin has more than {MAX_OBJECT_SIZE} bytes"
            )));
        }
        return Ok(data);
    }
    let shown = file.display();
    let f = File::open(file).with_context(|| format!("cannot open {shown}"))?;
    let size = f.metadata().with_context(|| format!("{shown}"))?.len();
    if size > MAX_OBJECT_SIZE {
        return Err(too_large(&format!("{shown} is {size} bytes")));
    }
    // The size is checked again as read: the file may grow meanwhile.
    f.take(MAX_OBJECT_SIZE + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("reading {shown}"))?;
    if data.len() as u64 > MAX_OBJECT_SIZE {
        return Err(too_large(&format!(
            "{shown} grew past {MAX_OBJECT_SIZE} bytes"
        )));
    }
    Ok(data)
}

/// Writes `get`'s output to FILE or stdout.
fn write_output(file: &Path, data: &[u8]) -> anyhow::Result<()> {
    if file == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
        return Ok(());
    }
    std::fs::write(file, data).with_context(|| format!("cannot write {}", file.display()))
}
