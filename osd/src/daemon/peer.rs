//! Messages between OSDs: PG traffic (peering, recovery, replication) and liveness pings.

use std::collections::BTreeMap;

use placement::PgId;
use rados::Rpc;
use rados::proto::osd::Version;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::ec::ShardMeta;
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

/// Primary -> member: one page of a PG's objects for a scrub, read from the member's store
/// together with its PG log head ([`crate::pg::scrub`] pages and compares them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScrubMap {
    /// The PG.
    pub pg: PgId,
    /// Exclusive start.
    pub start_after: Option<String>,
    /// Most objects to report.
    pub limit: u32,
    /// Re-read and re-checksum every byte (deep scrub).
    pub deep: bool,
}

impl Rpc for ScrubMap {
    const METHOD: u16 = 211;
    type Reply = Result<crate::pg::scrub::MemberPage, rados::proto::osd::OsdError>;
}

/// Primary -> member: send your copy of an object (repair and read repair). The data is the
/// reply payload; the member checks it against its stored crc first, so only a clean copy
/// travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchObject {
    /// The PG.
    pub pg: PgId,
    /// The object.
    pub name: String,
}

impl Rpc for FetchObject {
    const METHOD: u16 = 212;
    /// `None`: the member has no such object.
    type Reply = Result<Option<crate::pg::ObjectCopy>, rados::proto::osd::OsdError>;
}

/// Primary -> replica: replace your copy of an object with this one (`None`: remove it),
/// keeping its version. Sent by repair while client writes to the PG are blocked. The data
/// is the request payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepairObject {
    /// The PG.
    pub pg: PgId,
    /// The object.
    pub name: String,
    /// The authoritative copy.
    pub copy: Option<crate::pg::ObjectCopy>,
}

impl Rpc for RepairObject {
    const METHOD: u16 = 213;
    type Reply = Result<(), rados::proto::osd::OsdError>;
}

/// Any OSD -> a shard holder of an erasure-coded PG: your shard of `name` for `stripes`
/// (`None`: all of it), chunks checked against their crc32c first. The bytes are the reply
/// payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRead {
    /// The PG.
    pub pg: PgId,
    /// The object.
    pub name: String,
    /// The version wanted (`None`: the current one); a replaced version is served from the
    /// holder's roll-back copy if it kept that one.
    pub version: Option<rados::proto::osd::Version>,
    /// Which stripes.
    pub stripes: Option<std::ops::Range<u64>>,
    /// Skip the holder's chunk check (deep scrub checks the chunks itself to name the bad
    /// stripe).
    pub unchecked: bool,
    /// The holder's second copy of `version`: its roll-back copy, if both it and the
    /// current one are of that version (`crate::ec::shards::second_copy`).
    #[serde(default)]
    pub second_copy: bool,
}

impl Rpc for ShardRead {
    const METHOD: u16 = 214;
    /// `None`: the holder has no such object.
    type Reply = Result<Option<ShardInfo>, rados::proto::osd::OsdError>;
}

/// What a holder says about its shard of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// The object version the shard belongs to.
    pub version: Version,
    /// The shard's own description.
    pub meta: ShardMeta,
    /// The object's xattrs as this shard stores them (the same on every shard but for
    /// [`crate::ec::SHARD_XATTR`]).
    pub xattrs: BTreeMap<String, ByteBuf>,
}
