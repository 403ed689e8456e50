//! The OSD service: object operations, replication, peering and recovery messages.
//! Method numbers 2xx.

use placement::Epoch;
use serde::{Deserialize, Serialize};

/// Where an object's state sits in its PG's history: the log entry that last changed it.
/// Ordered by epoch, then by sequence within the PG.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Version {
    /// The map epoch in which the primary ordered the write.
    pub epoch: Epoch,
    /// Sequence within the PG, increasing across epochs.
    pub seq: u64,
}

impl Version {
    /// The version before any write.
    pub const ZERO: Version = Version {
        epoch: Epoch(0),
        seq: 0,
    };
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}'{}", self.epoch.0, self.seq)
    }
}

/// A client request's identity: the same id on a resent request lets the PG answer it from
/// its log instead of applying it twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReqId {
    /// The client instance (random per client).
    pub client: u64,
    /// The client's request counter.
    pub tid: u64,
}

/// One step of a client request on one object. A request is a list of steps run atomically
/// on the primary: guards first (all must hold, else nothing happens), then either writes
/// (applied as one logged transaction on every replica) or reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    // ----- guards -----
    /// The xattr has this value (`None`: the xattr is absent).
    CmpXattr {
        /// The xattr.
        name: String,
        /// Its expected value.
        value: Option<serde_bytes::ByteBuf>,
    },
    /// The object's version is exactly this ([`Version::ZERO`]: the object does not exist).
    AssertVersion(Version),
    /// The object exists.
    AssertExists,
    /// The omap entry `key` has this value (`None`: there is no such entry), on an object
    /// that exists.
    CmpOmap {
        /// The omap key.
        key: serde_bytes::ByteBuf,
        /// Its expected value.
        value: Option<serde_bytes::ByteBuf>,
    },
    // ----- writes -----
    /// Replace the data with the request payload.
    WriteFull,
    /// Delete the object.
    Remove,
    /// Set an xattr.
    SetXattr {
        /// The xattr.
        name: String,
        /// Its value.
        value: serde_bytes::ByteBuf,
    },
    /// Remove an xattr.
    RmXattr(String),
    /// Set omap entries.
    OmapSet(Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>),
    /// Remove omap keys.
    OmapRm(Vec<serde_bytes::ByteBuf>),
    // ----- reads -----
    /// Read `len` bytes (`None`: to the end) from `off`; the data is the reply payload.
    Read {
        /// Offset.
        off: u64,
        /// Length.
        len: Option<u64>,
    },
    /// Size, version, checksum.
    Stat,
    /// One xattr.
    GetXattr(String),
    /// All xattrs.
    GetXattrs,
    /// These omap keys (those present).
    OmapGet(Vec<serde_bytes::ByteBuf>),
    /// Omap entries after `start_after`, at most `limit`.
    OmapList {
        /// Exclusive start.
        start_after: Option<serde_bytes::ByteBuf>,
        /// Page size.
        limit: u32,
    },
}

impl Op {
    /// Whether the step changes the object.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::WriteFull
                | Op::Remove
                | Op::SetXattr { .. }
                | Op::RmXattr(_)
                | Op::OmapSet(_)
                | Op::OmapRm(_)
        )
    }
}

/// What a read step returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// A guard or write step.
    Done,
    /// `Read`: this many bytes of the reply payload.
    Read(u64),
    /// `Stat`.
    Stat(ObjectStat),
    /// `GetXattr`.
    Xattr(Option<serde_bytes::ByteBuf>),
    /// `GetXattrs`.
    Xattrs(Vec<(String, serde_bytes::ByteBuf)>),
    /// `OmapGet` / `OmapList`.
    Omap(Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>),
}

/// An object's size and identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStat {
    /// Bytes.
    pub size: u64,
    /// The write that last changed it.
    pub version: Version,
    /// crc32c of its data.
    pub crc: u32,
}

/// Why an object request failed. `is_retryable` ones are retried by the client with the
/// same reqid after refreshing its map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum OsdError {
    /// The object does not exist.
    #[error("no such object")]
    NoSuchObject,
    /// A guard step did not hold; nothing was changed.
    #[error("guard failed: {0}")]
    GuardFailed(String),
    /// This OSD is not the PG's primary in its map (the client's map is stale, or this
    /// OSD's is).
    #[error("osd is not the primary of pg {pg} at epoch {epoch}")]
    NotPrimary {
        /// The PG.
        pg: String,
        /// The OSD's map epoch.
        epoch: placement::Epoch,
    },
    /// The PG is peering, recovering, below min_size or down; retry later.
    #[error("pg {pg} is {state}")]
    Unavailable {
        /// The PG.
        pg: String,
        /// Its state.
        state: String,
    },
    /// No such pool in the OSD's map.
    #[error("no such pool")]
    NoSuchPool,
    /// The request is malformed (e.g. reads and writes mixed, payload without a write).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A stored copy failed its checksum; it is not served.
    #[error("stored data failed its checksum: {0}")]
    Corrupt(String),
    /// The OSD's store failed.
    #[error("osd storage error: {0}")]
    Io(String),
}

impl OsdError {
    /// Whether the same request may succeed later (after a map refresh).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OsdError::NotPrimary { .. } | OsdError::Unavailable { .. } | OsdError::NoSuchPool
        )
    }
}

/// A client request on one object, sent to the PG's primary. A write's data travels as the
/// frame payload; a read's data comes back as the reply payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRequest {
    /// The object's pool.
    pub pool: placement::PoolId,
    /// The object.
    pub object: String,
    /// The request's identity (kept across retries).
    pub reqid: ReqId,
    /// The steps.
    pub ops: Vec<Op>,
}

/// What an object request returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReply {
    /// For writes, the version written; for reads, the object's version.
    pub version: Version,
    /// One result per step.
    pub results: Vec<OpResult>,
}

impl crate::rpc::Rpc for ObjectRequest {
    const METHOD: u16 = 200;
    type Reply = Result<ObjectReply, OsdError>;
}

/// Lists a PG's objects in name order (the client walks every PG of a pool).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListObjects {
    /// The PG.
    pub pg: placement::PgId,
    /// Exclusive start.
    pub start_after: Option<String>,
    /// Page size.
    pub limit: u32,
}

impl crate::rpc::Rpc for ListObjects {
    const METHOD: u16 = 201;
    type Reply = Result<Vec<(String, ObjectStat)>, OsdError>;
}

/// Liveness probe between OSDs that share PGs (failure reports go to the monitors).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping;

impl crate::rpc::Rpc for Ping {
    const METHOD: u16 = 202;
    type Reply = ();
}

/// Which check a scrub request asks the PG's primary for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScrubKind {
    /// Compare listings, sizes, versions, xattrs and stored checksums across members
    /// (metadata only: cheap, catches lost or stale copies).
    Light,
    /// Also re-read every byte on every member, verify each block's crc32c and recompute
    /// the whole-object crc32c (catches silent corruption).
    Deep,
    /// A deep scrub that rewrites every bad copy from the authoritative one, then a deep
    /// scrub again so the PG's state reflects the outcome.
    Repair,
}

impl std::fmt::Display for ScrubKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScrubKind::Light => "scrub",
            ScrubKind::Deep => "deep-scrub",
            ScrubKind::Repair => "repair",
        })
    }
}

/// Operator -> a PG's primary: scrub (or repair) this PG now. Answered at once with a
/// ticket; the scrub runs in the background and [`ScrubStatus::completed`] reaches the
/// ticket when it is done, so a caller can wait without holding a request open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubRequest {
    /// The PG.
    pub pg: placement::PgId,
    /// What to run.
    pub kind: ScrubKind,
}

impl crate::rpc::Rpc for ScrubRequest {
    const METHOD: u16 = 203;
    /// The ticket: the value [`ScrubStatus::completed`] has once this request is served.
    type Reply = Result<u64, OsdError>;
}

/// Operator -> a PG's primary: the outcome of its last scrub (`shoal pg list-inconsistent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetScrubStatus {
    /// The PG.
    pub pg: placement::PgId,
}

impl crate::rpc::Rpc for GetScrubStatus {
    const METHOD: u16 = 204;
    type Reply = Result<ScrubStatus, OsdError>;
}

/// A PG's scrub state as its primary knows it (kept in memory by the primary).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubStatus {
    /// What runs now, if anything.
    pub running: Option<ScrubKind>,
    /// Requests served so far (compare with a [`ScrubRequest`] ticket).
    pub completed: u64,
    /// The kind of the last finished scrub, if any since the primary started.
    pub last: Option<ScrubKind>,
    /// Why the last scrub stopped early, if it did (interval change, unreachable member).
    pub aborted: Option<String>,
    /// Bad copies found by the last finished scrub (one per object and member).
    pub errors: u64,
    /// The objects with bad copies (capped at [`MAX_REPORTED_OBJECTS`]; `errors` counts all).
    pub inconsistent: Vec<InconsistentObject>,
}

/// Most inconsistent objects a [`ScrubStatus`] lists.
pub const MAX_REPORTED_OBJECTS: usize = 1000;

/// One object with at least one bad copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InconsistentObject {
    /// The object.
    pub name: String,
    /// The member whose copy is authoritative (`None`: no member has a clean copy, so it
    /// cannot be repaired automatically).
    pub authority: Option<placement::OsdId>,
    /// The authoritative version (`None`: the object should not exist, or no authority).
    pub version: Option<Version>,
    /// The bad copies.
    pub bad: Vec<BadCopy>,
}

/// One member's bad copy of an object and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadCopy {
    /// The member.
    pub osd: placement::OsdId,
    /// Every problem found (at least one).
    pub problems: Vec<ScrubProblem>,
}

/// What is wrong with one copy, compared with the authoritative copy or with itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScrubProblem {
    /// The member lacks an object the authority has.
    Missing,
    /// The member has an object the authority does not.
    Unexpected,
    /// Data length differs.
    Size {
        /// This copy's.
        have: u64,
        /// The authority's.
        want: u64,
    },
    /// Object version differs.
    Version {
        /// This copy's.
        have: Version,
        /// The authority's.
        want: Version,
    },
    /// Extended attributes differ.
    Xattrs,
    /// Omap entries differ (deep scrub only).
    Omap,
    /// The stored whole-object crc32c differs from the authority's.
    StoredCrc {
        /// This copy's.
        have: u32,
        /// The authority's.
        want: u32,
    },
    /// The data read back does not match the stored crc32c (deep scrub only).
    DataCrc {
        /// crc32c of the data as read.
        computed: u32,
        /// The stored crc32c.
        stored: u32,
    },
    /// A block failed its own crc32c, or is missing or of the wrong length (deep scrub
    /// only).
    ReadError {
        /// The first bad block.
        block: u64,
    },
    /// Erasure-coded: a chunk of this shard fails its own crc32c (deep scrub only).
    ChunkCrc {
        /// The stripe of the first bad chunk.
        stripe: u64,
    },
    /// Erasure-coded: every chunk passes its crc32c but the shard disagrees with the parity
    /// of the others (it was written wrongly; deep scrub only).
    Parity {
        /// The first inconsistent stripe.
        stripe: u64,
    },
    /// Erasure-coded: the member holds a shard of another position.
    WrongShard {
        /// The shard it holds.
        have: u8,
        /// The shard its position holds.
        want: u8,
    },
}

impl std::fmt::Display for ScrubProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScrubProblem::Missing => f.write_str("missing"),
            ScrubProblem::Unexpected => f.write_str("unexpected (authority has no such object)"),
            ScrubProblem::Size { have, want } => write!(f, "size mismatch ({have} != {want})"),
            ScrubProblem::Version { have, want } => {
                write!(f, "version mismatch ({have} != {want})")
            }
            ScrubProblem::Xattrs => f.write_str("xattr mismatch"),
            ScrubProblem::Omap => f.write_str("omap mismatch"),
            ScrubProblem::StoredCrc { have, want } => {
                write!(f, "stored crc mismatch ({have:#010x} != {want:#010x})")
            }
            ScrubProblem::DataCrc { computed, stored } => write!(
                f,
                "data crc mismatch (read {computed:#010x}, stored {stored:#010x})"
            ),
            ScrubProblem::ReadError { block } => write!(f, "read error (block {block})"),
            ScrubProblem::ChunkCrc { stripe } => write!(f, "chunk crc mismatch (stripe {stripe})"),
            ScrubProblem::Parity { stripe } => {
                write!(
                    f,
                    "parity inconsistent with the other shards (stripe {stripe})"
                )
            }
            ScrubProblem::WrongShard { have, want } => {
                write!(f, "holds shard {have}, its position holds shard {want}")
            }
        }
    }
}
