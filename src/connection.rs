//! How the CLI reaches the monitors: one request at a time on a current-thread runtime,
//! failing with the one line an operator reads.

use std::net::SocketAddr;
use std::time::Duration;

use rados::proto::mon::{Admin, AdminCommand, MonError, Status, StatusReport};
use rados::{Keyring, Messenger, MessengerConfig, MonClient, MonClientError};
use serde_json::json;

use crate::output::{Format, print_json};

/// How to reach the monitors.
pub struct Connection {
    /// Monitor addresses.
    pub mons: Vec<SocketAddr>,
    /// The cluster key.
    pub keyring: Keyring,
    /// Per-request timeout.
    pub timeout: Duration,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn client(conn: &Connection) -> anyhow::Result<MonClient> {
    let config = MessengerConfig {
        request_timeout: conn.timeout,
        ..MessengerConfig::default()
    };
    Ok(MonClient::new(
        Messenger::client(&conn.keyring, config)?,
        conn.mons.clone(),
    ))
}

/// Turns a monitor error into the one line an operator reads.
fn explain(e: MonClientError) -> anyhow::Error {
    match e {
        MonClientError::Mon(MonError::NoQuorum) => {
            anyhow::anyhow!("no quorum: a majority of monitors is unreachable, nothing was changed")
        }
        other => anyhow::anyhow!(other),
    }
}

/// Sends one request to the monitors and waits for the answer.
pub(crate) fn call<R, T>(conn: &Connection, req: &R) -> anyhow::Result<T>
where
    R: rados::Rpc<Reply = Result<T, MonError>>,
{
    runtime()?.block_on(async { client(conn)?.call(req).await.map_err(explain) })
}

/// The cluster status, with the current map.
pub(crate) fn status(conn: &Connection) -> anyhow::Result<StatusReport> {
    call(conn, &Status)
}

/// Commits an operator command; its retries carry one request id, so a retry after a lost
/// reply gets the first answer.
pub(crate) fn admin(conn: &Connection, cmd: AdminCommand) -> anyhow::Result<placement::Epoch> {
    // One id for every retry of this command (the client retries on another monitor when
    // one fails mid-call).
    let id = radosgw::ids::random_u64();
    call(conn, &Admin { id, cmd })
}

/// Reports a change the monitors committed (and the epoch it made).
pub(crate) fn changed(what: String, epoch: placement::Epoch, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        print_json(&json!({"result": what, "epoch": epoch.0}))
    } else {
        println!("{what} (epoch {epoch})");
        Ok(())
    }
}
