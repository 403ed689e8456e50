//! `shoal gateway` (the S3 gateway daemon) and `shoal user` (S3 users and keys, stored in
//! the cluster's metadata pool).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use radosgw::cluster::PoolSettings;
use radosgw::objects::ObjectSettings;
use radosgw::records::{AccessKey, UserRecord};
use radosgw::users::Users;
use radosgw::{GatewayConfig, GwError};
use serde_json::json;

use crate::admin::Connection;
use crate::output::{Format, print_json};

/// `shoal gateway` flags.
#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// Address to serve S3 on.
    #[arg(long, default_value = "127.0.0.1:7480")]
    listen: SocketAddr,
    /// Region the gateway answers for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Base domain for virtual-hosted-style requests (repeatable); path style always works.
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// Copies per object in the pools the gateway creates on first start.
    #[arg(long, default_value_t = 3)]
    pool_size: u8,
    /// Fewest copies that accept writes in those pools (default: a majority of the size).
    #[arg(long)]
    pool_min_size: Option<u8>,
    /// PGs of the data pool (metadata and index pools get a quarter, at least 8).
    #[arg(long, default_value_t = 64)]
    pool_pg_num: u32,
    /// Failure domain of those pools: osd, host or zone.
    #[arg(long, default_value = "host")]
    failure_domain: String,
    /// Index shards of new buckets.
    #[arg(long, default_value_t = 8)]
    index_shards: u32,
    /// Seconds replaced or deleted data stays readable before GC removes it.
    #[arg(long, default_value_t = 300)]
    gc_delay: u64,
    /// Seconds after which a write left pending by a crashed gateway is resolved.
    #[arg(long, default_value_t = 120)]
    janitor_after: u64,
    /// Uploads streaming at once (more wait); bounds memory at about 12 MiB each.
    #[arg(long, default_value_t = 16)]
    max_uploads: usize,
}

fn level(name: &str) -> anyhow::Result<placement::DomainType> {
    crate::admin::parse_level(name)
}

/// Runs the gateway until Ctrl-C.
pub fn run(conn: &Connection, args: &GatewayArgs) -> anyhow::Result<()> {
    let config = GatewayConfig {
        listen: args.listen,
        region: args.region.clone(),
        domains: args.domains.clone(),
        index_shards: args.index_shards.max(1),
        objects: ObjectSettings {
            gc_delay: Duration::from_secs(args.gc_delay),
            janitor_after: Duration::from_secs(args.janitor_after.max(1)),
            max_uploads: args.max_uploads.max(1),
        },
        pools: PoolSettings {
            size: args.pool_size,
            min_size: args
                .pool_min_size
                .unwrap_or(args.pool_size - args.pool_size / 2),
            data_pg_num: args.pool_pg_num,
            failure_domain: level(&args.failure_domain)?,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client = crate::rados_cli::connect(conn).await?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("gateway stopping");
        };
        radosgw::run(client, config, shutdown).await?;
        Ok(())
    })
}

/// `shoal user` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user with a new access key; prints the key and secret.
    Create {
        /// User id.
        #[arg(long)]
        uid: String,
        /// Display name (default: the uid).
        #[arg(long)]
        display_name: Option<String>,
        /// Use this access key instead of a generated one (with --secret-key).
        #[arg(long, requires = "secret_key")]
        access_key: Option<String>,
        /// The secret for --access-key.
        #[arg(long, requires = "access_key")]
        secret_key: Option<String>,
    },
    /// User ids.
    Ls,
    /// One user and their keys.
    Info {
        /// User id.
        #[arg(long)]
        uid: String,
    },
    /// Delete a user and their keys (their buckets must be deleted first).
    Rm {
        /// User id.
        #[arg(long)]
        uid: String,
    },
    /// Access keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

/// `shoal user key` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a new key pair to a user.
    Add {
        /// User id.
        #[arg(long)]
        uid: String,
    },
    /// Remove a key from a user.
    Rm {
        /// User id.
        #[arg(long)]
        uid: String,
        /// The access key id.
        #[arg(long)]
        access_key: String,
    },
}

fn user_json(u: &UserRecord) -> serde_json::Value {
    json!({
        "uid": u.uid,
        "display_name": u.display_name,
        "keys": u.keys.iter().map(|k| json!({"access_key": k.access, "secret_key": k.secret})).collect::<Vec<_>>(),
    })
}

fn print_user(u: &UserRecord, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(&user_json(u)),
        Format::Plain => {
            println!("uid:          {}", u.uid);
            println!("display name: {}", u.display_name);
            for k in &u.keys {
                println!("access key:   {}", k.access);
                println!("secret key:   {}", k.secret);
            }
            Ok(())
        }
    }
}

/// Runs a `shoal user` command.
pub fn user(conn: &Connection, cmd: &UserCommand, format: Format) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crate::rados_cli::connect(conn).await?;
        let meta = client
            .pool(radosgw::layout::META_POOL)
            .await
            .context("the gateway's pools do not exist yet: start `shoal gateway` once first")?;
        let users = Users::new(meta);
        user_command(&users, cmd, format).await
    })
}

/// The uid `shoal up` creates for its users.
const DEFAULT_UID: &str = "shoal";

/// The default user of a `shoal up` cluster: created on first start, its keys written to
/// `env` as shell exports for the aws CLI and SDKs (kept on later starts).
pub fn default_user(
    conn: &Connection,
    env: &std::path::Path,
    endpoint: SocketAddr,
) -> anyhow::Result<UserRecord> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let user = runtime.block_on(async {
        let client = crate::rados_cli::connect(conn).await?;
        let users = Users::new(client.pool(radosgw::layout::META_POOL).await?);
        let user = match users.get(DEFAULT_UID).await? {
            Some(user) => user,
            None => {
                users
                    .create(DEFAULT_UID, "Shoal default user", None)
                    .await?
            }
        };
        anyhow::Ok(user)
    })?;
    let key = user.keys.first().context(
        "the default user has no access key; add one with `shoal user key add --uid shoal`",
    )?;
    let text = format!(
        "export AWS_ENDPOINT_URL=http://{endpoint}\nexport AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_REGION=us-east-1\nexport AWS_DEFAULT_REGION=us-east-1\n",
        key.access, key.secret
    );
    // Owner-only: the file holds a secret key.
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(env)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", env.display()))?;
    Ok(user)
}

async fn user_command(users: &Users, cmd: &UserCommand, format: Format) -> anyhow::Result<()> {
    let plain = |e: GwError| {
        anyhow::anyhow!(
            s3s::S3Error::from(e)
                .message()
                .unwrap_or("failed")
                .to_owned()
        )
    };
    match cmd {
        UserCommand::Create {
            uid,
            display_name,
            access_key,
            secret_key,
        } => {
            let key = access_key
                .clone()
                .zip(secret_key.clone())
                .map(|(access, secret)| AccessKey { access, secret });
            let user = users
                .create(uid, display_name.as_deref().unwrap_or(uid), key)
                .await
                .map_err(plain)?;
            print_user(&user, format)
        }
        UserCommand::Ls => {
            let uids = users.list().await.map_err(plain)?;
            match format {
                Format::Json => print_json(&uids),
                Format::Plain => {
                    for uid in uids {
                        println!("{uid}");
                    }
                    Ok(())
                }
            }
        }
        UserCommand::Info { uid } => print_user(&users.must_get(uid).await.map_err(plain)?, format),
        UserCommand::Rm { uid } => {
            users.remove(uid).await.map_err(plain)?;
            println!("user {uid:?} removed");
            Ok(())
        }
        UserCommand::Key {
            command: KeyCommand::Add { uid },
        } => {
            let key = users.add_key(uid).await.map_err(plain)?;
            match format {
                Format::Json => {
                    print_json(&json!({"access_key": key.access, "secret_key": key.secret}))
                }
                Format::Plain => {
                    println!("access key: {}", key.access);
                    println!("secret key: {}", key.secret);
                    Ok(())
                }
            }
        }
        UserCommand::Key {
            command: KeyCommand::Rm { uid, access_key },
        } => {
            users.remove_key(uid, access_key).await.map_err(plain)?;
            println!("key {access_key} removed from {uid:?}");
            Ok(())
        }
    }
}
