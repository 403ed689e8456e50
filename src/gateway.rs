//! `shoal gateway` (the S3 gateway daemon) and `shoal user` (S3 users and keys, stored in
//! the cluster's metadata pool).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use radosgw::cluster::PoolSettings;
use radosgw::lc_worker::LcSettings;
use radosgw::objects::ObjectSettings;
use radosgw::records::{AccessKey, UserRecord};
use radosgw::users::Users;
use radosgw::{GatewayConfig, GwError};
use serde_json::json;

use crate::config::GatewaySettings;
use crate::connection::Connection;
use crate::output::{Format, print_json};

/// `shoal gateway` flags; each overrides shoal.toml's `[gateway]` table, which overrides
/// the default shown.
#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// Address to serve S3 on [default: 127.0.0.1:7480].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Region the gateway answers for [default: us-east-1].
    #[arg(long)]
    region: Option<String>,
    /// Base domain for virtual-hosted-style requests (repeatable); path style always works.
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// Copies per object in the pools the gateway creates on first start [default: 3].
    #[arg(long)]
    pool_size: Option<u8>,
    /// Fewest copies that accept writes in those pools [default: a majority of the size].
    #[arg(long)]
    pool_min_size: Option<u8>,
    /// PGs of the data pool; metadata and index pools get a quarter, at least 8 [default: 64].
    #[arg(long)]
    pool_pg_num: Option<u32>,
    /// Failure domain of those pools: osd, host or zone [default: host].
    #[arg(long)]
    failure_domain: Option<String>,
    /// Create the data pool erasure-coded with K data and M parity shards (e.g. 4+2;
    /// min_size K+1) instead of replicated; metadata and index pools stay replicated.
    #[arg(long, value_name = "K+M")]
    data_pool_ec: Option<String>,
    /// Index shards of new buckets [default: 8].
    #[arg(long)]
    index_shards: Option<u32>,
    /// Seconds replaced or deleted data stays readable before GC removes it [default: 300].
    #[arg(long)]
    gc_delay: Option<u64>,
    /// Seconds after which a write left pending by a crashed gateway is resolved; keep it
    /// well above the cluster op timeout (30 s) [default: 120].
    #[arg(long)]
    janitor_after: Option<u64>,
    /// Uploads streaming at once (more wait); about 16 MiB of memory each [default: 16].
    #[arg(long)]
    max_uploads: Option<usize>,
    /// Seconds in a lifecycle rule's "day", for tests (like RGW's rgw_lc_debug_interval)
    /// [default: 86400].
    #[arg(long)]
    lc_day_secs: Option<u64>,
    /// Seconds between the lifecycle worker's passes [default: 600].
    #[arg(long)]
    lc_every: Option<u64>,
}

/// The gateway's settings: flags over the `[gateway]` table over the defaults.
fn settings(args: &GatewayArgs, file: &GatewaySettings) -> anyhow::Result<GatewayConfig> {
    let defaults = GatewayConfig::default();
    let objects = ObjectSettings::default();
    let pools = PoolSettings::default();
    let lifecycle = LcSettings::default();
    let size = args.pool_size.or(file.pool_size).unwrap_or(pools.size);
    let failure_domain = match args
        .failure_domain
        .as_ref()
        .or(file.failure_domain.as_ref())
    {
        Some(name) => crate::admin::parse_level(name)?,
        None => pools.failure_domain,
    };
    let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file).map_or(default, Duration::from_secs)
    };
    Ok(GatewayConfig {
        listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
        region: args
            .region
            .clone()
            .or_else(|| file.region.clone())
            .unwrap_or(defaults.region),
        domains: if args.domains.is_empty() {
            file.domains.clone().unwrap_or_default()
        } else {
            args.domains.clone()
        },
        index_shards: args
            .index_shards
            .or(file.index_shards)
            .unwrap_or(defaults.index_shards)
            .max(1),
        objects: ObjectSettings {
            gc_delay: secs(args.gc_delay, file.gc_delay, objects.gc_delay),
            janitor_after: secs(
                args.janitor_after,
                file.janitor_after,
                objects.janitor_after,
            )
            .max(Duration::from_secs(1)),
            max_uploads: args
                .max_uploads
                .or(file.max_uploads)
                .unwrap_or(objects.max_uploads)
                .max(1),
        },
        lifecycle: LcSettings {
            day: secs(args.lc_day_secs, file.lc_day_secs, lifecycle.day)
                .max(Duration::from_secs(1)),
            every: secs(args.lc_every, file.lc_every, lifecycle.every).max(Duration::from_secs(1)),
            page: lifecycle.page,
        },
        pools: PoolSettings {
            size,
            min_size: args
                .pool_min_size
                .or(file.pool_min_size)
                .unwrap_or(size - size / 2),
            data_pg_num: args
                .pool_pg_num
                .or(file.pool_pg_num)
                .unwrap_or(pools.data_pg_num),
            failure_domain,
            data_erasure: args
                .data_pool_ec
                .as_deref()
                .map(|spec| crate::args::parse_ec(spec, placement::DEFAULT_STRIPE_UNIT, None))
                .transpose()?
                .inspect(|kind| {
                    for warning in crate::args::ec_warnings(*kind) {
                        eprintln!("warning: --data-pool-ec: {warning}");
                    }
                }),
        },
    })
}

/// Runs the gateway until Ctrl-C.
pub fn run(conn: &Connection, file: &GatewaySettings, args: &GatewayArgs) -> anyhow::Result<()> {
    let config = settings(args, file)?;
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
    /// The policy a user's keys are confined to (the bucket-policy language, without
    /// Principal; resources anywhere): what it does not allow, the user cannot do.
    Policy {
        #[command(subcommand)]
        command: UserPolicyCommand,
    },
}

/// `shoal user policy` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum UserPolicyCommand {
    /// Confine a user to the policy in FILE (JSON).
    Put {
        /// User id.
        uid: String,
        /// The policy document.
        file: std::path::PathBuf,
    },
    /// Print a user's policy.
    Get {
        /// User id.
        uid: String,
    },
    /// Remove a user's policy (its keys are confined no more).
    Rm {
        /// User id.
        uid: String,
    },
}

/// `shoal bucket` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BucketCommand {
    /// Every bucket: owner, versioning, creation time.
    Ls,
    /// What one bucket holds: objects, versions, delete markers and their bytes.
    Stats {
        /// The bucket's name.
        #[arg(long)]
        bucket: String,
    },
    /// Delayed purge: deleted and overwritten objects stay restorable for DAYS, then go
    /// (versioning on, plus a lifecycle rule removing noncurrent versions and lone delete
    /// markers; the bucket's other rules stay).
    SoftDelete {
        /// The bucket's name.
        #[arg(long)]
        bucket: String,
        /// Days a deleted object stays restorable (in the gateways' lifecycle days).
        #[arg(long, conflicts_with = "off", required_unless_present = "off")]
        days: Option<u32>,
        /// Remove the rule (versioning stays on, as S3 never turns it off).
        #[arg(long)]
        off: bool,
    },
    /// Access-based tiering of the bucket's INTELLIGENT_TIERING objects: those not read
    /// for DAYS move to the cold pool (STANDARD_IA's), and back when read.
    Tiering {
        /// The bucket's name.
        #[arg(long)]
        bucket: String,
        /// Days without a read before an object goes cold (in the gateways' lifecycle
        /// days) [default: 30].
        #[arg(long)]
        idle_days: Option<u32>,
    },
}

/// The gateway's pools, which its first start creates.
pub async fn gateway_cluster(
    client: &std::sync::Arc<rados::RadosClient>,
) -> anyhow::Result<radosgw::cluster::Cluster> {
    radosgw::cluster::Cluster::attach(client.clone(), radosgw::PoolSettings::default())
        .await
        .context("the gateway's pools do not exist yet: start `shoal gateway` once first")
}

/// Runs `work` on a one-thread runtime with the gateway's pools: the admin commands that
/// act on the gateway's records as a gateway would.
pub fn on_gateway_cluster<T, Fut>(
    conn: &Connection,
    work: impl FnOnce(radosgw::cluster::Cluster) -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = anyhow::Result<T>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crate::rados_cli::connect(conn).await?;
        work(gateway_cluster(&client).await?).await
    })
}

/// Runs a `shoal bucket` command.
pub fn bucket(conn: &Connection, cmd: &BucketCommand, format: Format) -> anyhow::Result<()> {
    on_gateway_cluster(conn, |cluster| async move {
        let buckets = radosgw::buckets::Buckets::new(&cluster, 1);
        match cmd {
            BucketCommand::Tiering { bucket, idle_days } => {
                let tiering = radosgw::tiering::Tiering {
                    idle_days: idle_days.unwrap_or(radosgw::tiering::DEFAULT_IDLE_DAYS),
                };
                let record = buckets
                    .get(bucket)
                    .await?
                    .with_context(|| format!("no bucket {bucket:?}"))?;
                let objects = radosgw::objects::Objects::new(cluster.clone(), Default::default());
                radosgw::lc_worker::prepare(&objects, &record).await?;
                buckets.set_tiering(bucket, Some(tiering)).await?;
                match format {
                    Format::Json => {
                        print_json(&json!({ "bucket": bucket, "idle_days": tiering.idle_days }))
                    }
                    Format::Plain => {
                        println!(
                            "{bucket}: INTELLIGENT_TIERING objects not read for {} day(s) move to the cold pool, and back when read",
                            tiering.idle_days
                        );
                        Ok(())
                    }
                }
            }
            BucketCommand::SoftDelete { bucket, days, .. } => {
                let objects = radosgw::objects::Objects::new(cluster.clone(), Default::default());
                radosgw::soft_delete::set(&buckets, &objects, bucket, *days).await?;
                match (format, days) {
                    (Format::Json, _) => print_json(&json!({ "bucket": bucket, "days": days })),
                    (Format::Plain, Some(d)) => {
                        println!(
                            "{bucket}: versioning on; deleted objects stay restorable for {d} day(s), then are purged by the lifecycle worker"
                        );
                        Ok(())
                    }
                    (Format::Plain, None) => {
                        println!("{bucket}: soft delete off (versioning stays on)");
                        Ok(())
                    }
                }
            }
            BucketCommand::Ls => {
                let mut all = Vec::new();
                for name in buckets.all_names().await? {
                    if let Some(b) = buckets.get(&name).await? {
                        all.push(b);
                    }
                }
                match format {
                    Format::Json => print_json(
                        &all.iter()
                            .map(|b| {
                                json!({
                                    "name": b.name,
                                    "owner": b.owner,
                                    "versioning": format!("{:?}", b.versioning),
                                    "created_ms": b.created_ms,
                                    "index_shards": b.shards,
                                })
                            })
                            .collect::<Vec<_>>(),
                    ),
                    Format::Plain => {
                        for b in &all {
                            println!(
                                "{}\towner={}\tversioning={:?}",
                                b.name, b.owner, b.versioning
                            );
                        }
                        Ok(())
                    }
                }
            }
            BucketCommand::Stats { bucket } => {
                let record = buckets
                    .get(bucket)
                    .await?
                    .with_context(|| format!("no bucket {bucket:?}"))?;
                let stats = radosgw::stats::bucket_stats(&cluster.index, &record).await?;
                match format {
                    Format::Json => print_json(&json!({
                        "bucket": record.name,
                        "owner": record.owner,
                        "versioning": format!("{:?}", record.versioning),
                        "stats": stats,
                    })),
                    Format::Plain => {
                        println!(
                            "bucket {} (owner {}, versioning {:?})",
                            record.name, record.owner, record.versioning
                        );
                        println!(
                            "  objects         {} ({} bytes)",
                            stats.objects, stats.bytes
                        );
                        println!(
                            "  versions        {} ({} bytes)",
                            stats.versions, stats.version_bytes
                        );
                        println!("  delete markers  {}", stats.delete_markers);
                        println!("  in flight       {}", stats.pending);
                        Ok(())
                    }
                }
            }
        }
    })
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
    on_gateway_cluster(conn, |cluster| async move {
        user_command(&Users::new(cluster.meta), cmd, format).await
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
        UserCommand::Policy {
            command: UserPolicyCommand::Put { uid, file },
        } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            radosgw::policy::Policy::parse_user(&text)
                .map_err(|e| anyhow::anyhow!("{}: malformed policy: {e}", file.display()))?;
            users.set_policy(uid, Some(text)).await.map_err(plain)?;
            println!(
                "user {uid:?} confined to {} (gateways apply it within {} s)",
                file.display(),
                radosgw::users::KEY_CACHE_TTL.as_secs()
            );
            Ok(())
        }
        UserCommand::Policy {
            command: UserPolicyCommand::Get { uid },
        } => {
            let user = users.must_get(uid).await.map_err(plain)?;
            match (&user.policy, format) {
                (Some(text), Format::Plain) => {
                    println!("{text}");
                    Ok(())
                }
                (Some(text), Format::Json) => {
                    let doc: serde_json::Value =
                        serde_json::from_str(text).context("the stored policy is not JSON")?;
                    print_json(&doc)
                }
                (None, _) => anyhow::bail!("user {uid:?} has no policy"),
            }
        }
        UserCommand::Policy {
            command: UserPolicyCommand::Rm { uid },
        } => {
            users.set_policy(uid, None).await.map_err(plain)?;
            println!("user {uid:?} is confined by no policy");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GatewayArgs,
    }

    fn args(flags: &[&str]) -> GatewayArgs {
        let mut argv = vec!["gateway"];
        argv.extend_from_slice(flags);
        Cli::parse_from(argv).args
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = GatewaySettings {
            region: Some("eu-west-1".into()),
            gc_delay: Some(10),
            pool_size: Some(2),
            ..GatewaySettings::default()
        };
        let c = settings(&args(&["--gc-delay", "20"]), &file).unwrap();
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.objects.gc_delay, Duration::from_secs(20));
        assert_eq!((c.pools.size, c.pools.min_size), (2, 1));
        assert_eq!(c.listen, GatewayConfig::default().listen);
        let d = settings(&args(&[]), &GatewaySettings::default()).unwrap();
        assert_eq!(
            d.objects.janitor_after,
            ObjectSettings::default().janitor_after
        );
        assert!(settings(&args(&["--failure-domain", "rack"]), &file).is_err());
    }
}
