//! `shoal debug faults TARGET ...`: switches a running daemon's messenger fault injection
//! (isolate it, drop or delay traffic with chosen peers, or clear every rule). Each call
//! replaces the daemon's rules with exactly the ones given.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use placement::OsdId;
use rados::proto::debug::SetFaults;
use rados::{FaultRules, Messenger, MessengerConfig, PeerFault};
use serde_json::json;

use crate::connection::{self, Connection};
use crate::output::{Format, print_json};

/// Subcommands under `shoal debug`.
#[derive(clap::Subcommand, Debug)]
pub enum DebugCommand {
    /// Replace a daemon's messenger fault rules (the listed ones only; `--clear` for none).
    Faults(FaultArgs),
}

/// Flags of `shoal debug faults`.
#[derive(clap::Args, Debug)]
pub struct FaultArgs {
    /// The daemon: `osd.N`, `mon.N` or its messenger address.
    target: String,
    /// Drop everything to and from the daemon (it can still be healed by this command).
    #[arg(long)]
    isolate: bool,
    /// Drop all traffic with this peer (a messenger address; repeatable).
    #[arg(long, value_name = "ADDR")]
    drop_peer: Vec<SocketAddr>,
    /// Delay all traffic with this peer, as ADDR=MILLIS (repeatable).
    #[arg(long, value_name = "ADDR=MILLIS", value_parser = parse_delay)]
    delay_peer: Vec<(SocketAddr, u64)>,
    /// Clear every rule.
    #[arg(long, conflicts_with_all = ["isolate", "drop_peer", "delay_peer"])]
    clear: bool,
}

fn parse_delay(s: &str) -> Result<(SocketAddr, u64), String> {
    let (addr, ms) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ADDR=MILLIS, got {s:?}"))?;
    Ok((
        addr.parse()
            .map_err(|e| format!("bad address {addr:?}: {e}"))?,
        ms.parse().map_err(|e| format!("bad millis {ms:?}: {e}"))?,
    ))
}

/// The rules the flags ask for.
fn rules(args: &FaultArgs) -> anyhow::Result<FaultRules> {
    if !args.clear && !args.isolate && args.drop_peer.is_empty() && args.delay_peer.is_empty() {
        bail!("say what to do: --isolate, --drop-peer ADDR, --delay-peer ADDR=MILLIS or --clear");
    }
    let mut rules = FaultRules {
        isolated: args.isolate,
        ..FaultRules::default()
    };
    for addr in &args.drop_peer {
        rules.peers.insert(*addr, PeerFault::Drop);
    }
    for (addr, ms) in &args.delay_peer {
        rules
            .peers
            .insert(*addr, PeerFault::Delay(Duration::from_millis(*ms)));
    }
    Ok(rules)
}

/// Where `target` listens: an OSD's address from the map, a monitor's from the connection.
fn resolve(conn: &Connection, target: &str) -> anyhow::Result<SocketAddr> {
    if let Some(id) = target.strip_prefix("osd.") {
        let id = OsdId(
            id.parse()
                .with_context(|| format!("bad OSD id in {target:?}"))?,
        );
        let report = connection::status(conn)?;
        let osd = report
            .map
            .osds
            .get(&id)
            .with_context(|| format!("{target} is not in the map"))?;
        return osd
            .addr
            .with_context(|| format!("{target} has no address yet (never booted)"));
    }
    if let Some(id) = target.strip_prefix("mon.") {
        let id: usize = id
            .parse()
            .with_context(|| format!("bad monitor id in {target:?}"))?;
        return conn.mons.get(id).copied().with_context(|| {
            format!(
                "{target}: the configuration lists {} monitors",
                conn.mons.len()
            )
        });
    }
    target
        .parse()
        .with_context(|| format!("{target:?} is neither osd.N, mon.N nor an address"))
}

/// `shoal debug ...`.
pub fn run(conn: &Connection, cmd: &DebugCommand, format: Format) -> anyhow::Result<()> {
    let DebugCommand::Faults(args) = cmd;
    let rules = rules(args)?;
    let addr = resolve(conn, &args.target)?;
    let config = MessengerConfig {
        request_timeout: conn.timeout,
        ..MessengerConfig::default()
    };
    let now = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let messenger = Messenger::client(&conn.keyring, config)?;
            messenger
                .call(addr, &SetFaults { rules })
                .await
                .with_context(|| format!("{} ({addr}) did not answer", args.target))
        })?;
    let peers: Vec<_> = now
        .peers
        .iter()
        .map(|(addr, f)| match f {
            PeerFault::Drop => json!({"peer": addr, "fault": "drop"}),
            PeerFault::Delay(d) => {
                json!({"peer": addr, "fault": "delay", "millis": d.as_millis() as u64})
            }
        })
        .collect();
    match format {
        Format::Json => print_json(&json!({
            "target": args.target, "addr": addr, "isolated": now.isolated, "peers": peers,
        })),
        Format::Plain => {
            println!(
                "{} ({addr}): isolated={} peers={}",
                args.target,
                now.isolated,
                serde_json::to_string(&peers)?
            );
            Ok(())
        }
    }
}
