//! Messages between OSDs: PG traffic (peering, recovery, replication) and liveness pings.

use placement::PgId;
use rados::Rpc;
use serde::{Deserialize, Serialize};

use crate::pg::PgMsg;

/// A PG message from another OSD. Object data (a replicated write's or a recovery copy's)
/// travels as the frame payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PgPeer {
    /// The PG.
    pub pg: PgId,
    /// The message.
    pub msg: PgMsg,
}

impl Rpc for PgPeer {
    const METHOD: u16 = 210;
    /// Receipt only: answers travel as messages of their own.
    type Reply = ();
}
