//! `shoal lc`: the S3 lifecycle worker seen and driven from the admin CLI. `status` shows
//! each bucket's rules, lease holder and last pass; `run` makes a pass now (taking each
//! bucket's lease as a gateway would, so it never races a gateway's pass).

use std::time::Duration;

use anyhow::Context;
use radosgw::buckets::Buckets;
use radosgw::lc_worker::{self, LcSettings, Lease};
use radosgw::objects::{ObjectSettings, Objects};
use serde_json::json;

use crate::connection::Connection;
use crate::gateway::on_gateway_cluster;
use crate::output::{Format, print_json};

/// `shoal lc` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum LcCommand {
    /// Buckets with lifecycle rules: how many, who holds the lease, what the last pass did.
    Status {
        /// Only this bucket.
        #[arg(long)]
        bucket: Option<String>,
    },
    /// Runs a pass over every bucket with rules now (those whose lease a gateway holds
    /// are left to it).
    Run {
        /// Seconds in a rule's "day" (as the gateway's `--lc-day-secs`) [default: 86400].
        #[arg(long)]
        day_secs: Option<u64>,
    },
}

/// Runs a `shoal lc` command.
pub fn lc(conn: &Connection, cmd: &LcCommand, format: Format) -> anyhow::Result<()> {
    on_gateway_cluster(conn, |cluster| async move {
        let buckets = Buckets::new(&cluster, 1);
        let objects = Objects::new(cluster, ObjectSettings::default());
        match cmd {
            LcCommand::Status { bucket } => {
                let names = match bucket {
                    Some(b) => vec![b.clone()],
                    None => buckets.all_names().await?,
                };
                let mut rows = Vec::new();
                for name in names {
                    let record = buckets
                        .get(&name)
                        .await?
                        .with_context(|| format!("no bucket {name:?}"))?;
                    if record.lifecycle.is_none() && record.tiering.is_none() {
                        continue;
                    }
                    let config = record.lifecycle.clone().unwrap_or_default();
                    let status = lc_worker::status(&objects, &record).await?;
                    let resume = lc_worker::resume_point(&objects, &record).await?;
                    rows.push(json!({
                        "bucket": record.name,
                        "rules": config.rules.len(),
                        "enabled": config.rules.iter().filter(|r| r.enabled).count(),
                        "last_pass": status,
                        "in_progress_after": resume,
                    }));
                }
                match format {
                    Format::Json => print_json(&rows),
                    Format::Plain => {
                        for r in &rows {
                            let last = &r["last_pass"];
                            let mut line = if last.is_null() {
                                "no pass yet".to_owned()
                            } else {
                                format!(
                                    "last pass at {} ms by {}: {} expired, {} moved, {} removed, {} uploads aborted, {} kept by object lock",
                                    last["ended_ms"],
                                    last["holder"],
                                    last["expired"],
                                    last["moved"],
                                    last["removed"],
                                    last["aborted"],
                                    last["locked"]
                                )
                            };
                            // A pass under way (or whose gateway died) shows where it stands.
                            if let Some(at) = r["in_progress_after"].as_str() {
                                line.push_str(&format!("; a pass stands at key {at:?}"));
                            }
                            println!(
                                "{}\t{} rules ({} enabled)\t{line}",
                                r["bucket"].as_str().unwrap_or_default(),
                                r["rules"],
                                r["enabled"]
                            );
                        }
                        Ok(())
                    }
                }
            }
            LcCommand::Run { day_secs } => {
                let settings = LcSettings {
                    day: day_secs.map_or(LcSettings::default().day, Duration::from_secs),
                    ..LcSettings::default()
                };
                let holder = format!("shoal-lc-run-{}", std::process::id());
                let done =
                    lc_worker::run_once(&buckets, &objects, &settings, &holder, Lease::Release)
                        .await?;
                match format {
                    Format::Json => print_json(&json!({ "buckets": done })),
                    Format::Plain => {
                        println!(
                            "lifecycle pass over {done} bucket(s); `shoal lc status` shows what it did"
                        );
                        Ok(())
                    }
                }
            }
        }
    })
}
