//! `shoal storage-class add|ls|rm`: the S3 storage classes and the pools behind them, as
//! RGW's placement targets. STANDARD is the data pool and STANDARD_IA an erasure-coded pool
//! the gateway creates on first use; an operator adds classes over pools they created
//! (`shoal pool create`), or points STANDARD_IA at one.

use radosgw::classes;
use radosgw::storage_class::{IA_POOL, STANDARD, STANDARD_IA};
use serde_json::json;

use crate::connection::Connection;
use crate::gateway::on_gateway_cluster;
use crate::output::{Format, print_json};

/// `shoal storage-class` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum StorageClassCommand {
    /// Every class and its pool.
    Ls,
    /// Adds class NAME over an existing pool (or points it at another pool; objects already
    /// written keep their data where it is).
    Add {
        /// The class, as S3 requests name it (capitals, digits and '_'; e.g. ONEZONE_IA).
        name: String,
        /// The pool its data goes to.
        #[arg(long)]
        pool: String,
    },
    /// Removes class NAME: new writes and transitions can no longer choose it; objects
    /// already in it stay readable.
    Rm {
        /// The class.
        name: String,
    },
}

/// Runs a `shoal storage-class` command.
pub fn storage_class(
    conn: &Connection,
    cmd: &StorageClassCommand,
    format: Format,
) -> anyhow::Result<()> {
    on_gateway_cluster(conn, |cluster| async move {
        match cmd {
            StorageClassCommand::Ls => {
                let added = classes::list(&cluster).await?;
                let mut rows = vec![json!({
                    "class": STANDARD,
                    "pool": radosgw::layout::DATA_POOL,
                    "origin": "built-in",
                    "pool_exists": true,
                })];
                if !added.contains_key(STANDARD_IA) {
                    rows.push(json!({
                        "class": STANDARD_IA,
                        "pool": IA_POOL,
                        "origin": "built-in (erasure-coded, created on first use)",
                        "pool_exists": cluster.has_pool(IA_POOL),
                    }));
                }
                for (name, record) in &added {
                    rows.push(json!({
                        "class": name,
                        "pool": record.pool,
                        "origin": "added",
                        "pool_exists": cluster.has_pool(&record.pool),
                    }));
                }
                match format {
                    Format::Json => print_json(&rows),
                    Format::Plain => {
                        for r in &rows {
                            let missing = if r["pool_exists"] == true {
                                ""
                            } else {
                                " (pool not created yet)"
                            };
                            println!(
                                "{}\t{}\t{}{missing}",
                                r["class"].as_str().unwrap_or_default(),
                                r["pool"].as_str().unwrap_or_default(),
                                r["origin"].as_str().unwrap_or_default()
                            );
                        }
                        Ok(())
                    }
                }
            }
            StorageClassCommand::Add { name, pool } => {
                classes::add(&cluster, name, pool).await?;
                match format {
                    Format::Json => print_json(&json!({ "class": name, "pool": pool })),
                    Format::Plain => {
                        println!(
                            "storage class {name} -> pool {pool} (gateways use it within {} s)",
                            classes::CLASSES_CACHE_TTL.as_secs()
                        );
                        Ok(())
                    }
                }
            }
            StorageClassCommand::Rm { name } => {
                if !classes::remove(&cluster, name).await? {
                    anyhow::bail!("no storage class {name:?} was added");
                }
                match format {
                    Format::Json => print_json(&json!({ "removed": name })),
                    Format::Plain => {
                        println!("storage class {name} removed; its objects stay readable");
                        Ok(())
                    }
                }
            }
        }
    })
}
