//! The vocabulary of the PG state machine: its inputs (events), outputs (effects), the
//! messages PG members exchange, and what a PG persists about itself.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use placement::{Epoch, OsdId};
use rados::proto::osd::{ReqId, Version};
use serde::{Deserialize, Serialize};

use super::intervals::PastIntervals;
use super::lease::LeasesLeft;
use super::log::LogEntry;
use crate::store::Txn;

/// One map epoch as one PG sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The map epoch.
    pub epoch: Epoch,
    /// The OSDs serving the PG (up OSDs only for replicated pools); first is the primary.
    pub acting: Vec<OsdId>,
    /// For each acting member, the epoch it last booted (a restart starts a new interval).
    pub up_from: Vec<Epoch>,
    /// Where CRUSH alone would put it (differs from `acting` under pg_temp).
    pub up: Vec<OsdId>,
    /// The pool's replica count.
    pub size: usize,
    /// Fewest members that may accept writes.
    pub min_size: usize,
    /// Every OSD up in this epoch.
    pub up_osds: BTreeSet<OsdId>,
    /// Erasure-coded pools: the layout and which member holds which shard.
    pub ec: Option<EcMapping>,
}

impl Mapping {
    /// The primary, if any OSD serves the PG.
    pub fn primary(&self) -> Option<OsdId> {
        self.acting.first().copied()
    }

    /// Erasure-coded: each shard position's holder (`None`: a hole); empty for a
    /// replicated PG.
    pub fn positions(&self) -> &[Option<OsdId>] {
        self.ec.as_ref().map_or(&[], |ec| &ec.shards)
    }

    /// How many members of an interval must be up for what it wrote to be readable: one
    /// copy of a replicated PG, k shards of an erasure-coded one.
    pub fn shards_needed(&self) -> usize {
        self.ec.as_ref().map_or(1, |ec| ec.layout.k)
    }

    /// Erasure-coded: the shard `osd`'s copies should be, as its [`ObjectView`] judges
    /// them: its position's (or, backfilled under a pg_temp, the one it takes), else
    /// [`NO_POSITION`] (a stray: every copy it keeps is another position's shard). `None`
    /// for a replicated PG.
    pub fn view_shard(&self, osd: OsdId) -> Option<u8> {
        let ec = self.ec.as_ref()?;
        Some(ec.write_position(osd).map_or(NO_POSITION, |p| p as u8))
    }
}

/// The shard index of no position: what a stray's [`ObjectView`] takes as its own, so it
/// reports every copy it keeps as another position's ([`ObjectView::moved`]).
pub const NO_POSITION: u8 = u8::MAX;

/// An erasure-coded PG in one epoch: shard i lives on the acting OSD at position i.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcMapping {
    /// The pool's stripe layout.
    pub layout: crate::ec::Layout,
    /// Shard i's holder (`None`: a hole, no OSD serves that position now).
    pub shards: Vec<Option<OsdId>>,
    /// Shard i's CRUSH member (differs from `shards` under a pg_temp: it is backfilled
    /// from the holder, see `backfill::Job`).
    pub up: Vec<Option<OsdId>>,
}

impl EcMapping {
    /// The shard `osd` holds in this epoch.
    pub fn position(&self, osd: OsdId) -> Option<usize> {
        self.shards.iter().position(|s| *s == Some(osd))
    }

    /// The shard `osd` is sent writes of: the one it holds, or, being backfilled under a
    /// pg_temp, the one it takes.
    pub fn write_position(&self, osd: OsdId) -> Option<usize> {
        self.position(osd)
            .or_else(|| self.up.iter().position(|s| *s == Some(osd)))
    }

    /// Under a pg_temp: each CRUSH member of a position it does not serve and that holds
    /// no other position (it is backfilled), with the position's holder, if any.
    pub fn backfill_targets(&self) -> impl Iterator<Item = (OsdId, Option<OsdId>)> + '_ {
        self.up
            .iter()
            .zip(&self.shards)
            .filter_map(|(crush, held)| match crush {
                Some(t) if !self.shards.contains(crush) => Some((*t, *held)),
                _ => None,
            })
    }
}

/// A change to one object, as a client write asks for it (the version is the PG's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    /// Replace the data (travels as the message payload, never re-encoded).
    WriteFull(#[serde(skip)] Bytes),
    /// Delete the object.
    Remove,
    /// Set an extended attribute.
    SetXattr(String, serde_bytes::ByteBuf),
    /// Remove an extended attribute.
    RmXattr(String),
    /// Set omap entries.
    OmapSet(Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>),
    /// Remove omap keys.
    OmapRm(Vec<serde_bytes::ByteBuf>),
}

/// A whole object as recovery copies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCopy {
    /// Its version on the source.
    pub version: Version,
    /// Its data (travels as the payload).
    #[serde(skip)]
    pub data: Bytes,
    /// Its xattrs.
    pub xattrs: BTreeMap<String, serde_bytes::ByteBuf>,
    /// Its omap.
    pub omap: Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>,
}

impl ObjectCopy {
    /// The store op that installs `copy` as `obj` (`None`: the object is absent).
    pub fn into_op(copy: Option<ObjectCopy>, obj: crate::store::ObjectKey) -> crate::store::TxOp {
        match copy {
            Some(c) => crate::store::TxOp::PutObject {
                obj,
                version: c.version,
                data: c.data,
                xattrs: c.xattrs,
                omap: c
                    .omap
                    .into_iter()
                    .map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .collect(),
            },
            None => crate::store::TxOp::Remove { obj },
        }
    }
}

/// What one member persists about a PG besides its log and objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgInfo {
    /// The newest write in its log.
    pub last_update: Version,
    /// Its log's trim point.
    pub log_tail: Version,
    /// First epoch of the newest interval in which this member activated (served).
    pub last_epoch_started: Epoch,
    /// First epoch of the newest interval in which the PG was active and clean.
    pub last_epoch_clean: Epoch,
    /// Recovery wrote objects newer than the log says (peering then compares listings).
    pub incomplete: bool,
    /// Erasure-coded PGs: the shard this member's objects are (its position when it last
    /// joined the acting set). A member mapped to another position holds the wrong shard
    /// of everything and is compared by listing, its objects rebuilt.
    #[serde(default)]
    pub shard: Option<u8>,
    /// The newest version this member ever logged, undone ones included: new writes are
    /// numbered above it, so a version is never reused for another write.
    #[serde(default)]
    pub issued: Version,
}

/// What a PG writes under its meta key (rewritten on interval changes and log trims).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgMeta {
    /// Its info.
    pub info: PgInfo,
    /// Its interval history since it was last clean.
    pub intervals: PastIntervals,
    /// Request ids of trimmed log entries.
    #[serde(default)]
    pub dups: Vec<(ReqId, Version)>,
}

/// Messages between members of a PG. Each names the interval (its first epoch) it belongs
/// to; a member in another interval ignores it, so a late message never acts on new state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgMsg {
    /// Primary -> any holder: send your info and log.
    Query {
        /// The primary's interval.
        interval: Epoch,
    },
    /// Answer to `Query`.
    Notify {
        /// Echoed.
        interval: Epoch,
        /// The holder's info.
        info: PgInfo,
        /// Its log entries (oldest first).
        log: Vec<LogEntry>,
        /// Request ids of its trimmed entries.
        dups: Vec<(ReqId, Version)>,
        /// The read leases the holder granted (to anyone but the asker) or holds that may
        /// still be in force, from when it answered (see [`super::lease`]).
        #[serde(default)]
        leases: LeasesLeft,
    },
    /// Primary -> holder: report your object versions (`None`: all of them).
    GetVersions {
        /// The primary's interval.
        interval: Epoch,
        /// Which objects.
        names: Option<Vec<String>>,
    },
    /// Answer to `GetVersions`: versions of the asked objects that exist.
    Versions {
        /// Echoed.
        interval: Epoch,
        /// Name -> version, for objects present.
        versions: Vec<(String, Version)>,
        /// Erasure-coded: the versions of the member's roll-back copies.
        #[serde(default)]
        stashed: Vec<(String, Version)>,
        /// Erasure-coded: its copies of other positions' shards.
        #[serde(default)]
        moved: Vec<MovedShard>,
    },
    /// Primary -> the authoritative holder: push your copy of `name` to `to`.
    PushTo {
        /// The primary's interval.
        interval: Epoch,
        /// The object.
        name: String,
        /// The member that lacks it.
        to: OsdId,
        /// Erasure-coded roll-back: push this state instead of your own (`Some(None)`:
        /// absent), because fewer than k shards hold yours.
        #[serde(default)]
        rollback: Option<Option<Version>>,
    },
    /// A copy of an object (`None`: the object must not exist).
    Push {
        /// The primary's interval.
        interval: Epoch,
        /// The object.
        name: String,
        /// Its state on the source.
        copy: Option<ObjectCopy>,
    },
    /// Member -> primary: the pushed copy is durable.
    PushAck {
        /// Echoed.
        interval: Epoch,
        /// The object.
        name: String,
    },
    /// Primary -> member: everyone is up to date; adopt this log and start serving.
    Activate {
        /// The primary's interval.
        interval: Epoch,
        /// The authoritative log's trim point.
        tail: Version,
        /// The authoritative log.
        log: Vec<LogEntry>,
        /// Request ids of its trimmed entries.
        dups: Vec<(ReqId, Version)>,
        /// Whether the PG is clean in this interval.
        clean: bool,
    },
    /// Member -> primary: activation is durable.
    ActivateAck {
        /// Echoed.
        interval: Epoch,
    },
    /// Primary -> replica: apply this write after `prior`.
    SubWrite {
        /// The primary's interval.
        interval: Epoch,
        /// The version this write follows.
        prior: Version,
        /// The log entry.
        entry: LogEntry,
        /// What it changes.
        mutations: Vec<Mutation>,
        /// Erasure-coded: every member applied the writes through this version, so their
        /// roll-back copies may go (the primary's acknowledgements say so).
        #[serde(default)]
        all_applied: Version,
    },
    /// Replica -> primary: the write is durable.
    SubWriteAck {
        /// Echoed.
        interval: Epoch,
        /// The write.
        version: Version,
    },
    /// Primary -> replica: promise not to help a newer primary start I/O for a lease's
    /// duration from now, so I may serve reads.
    Lease {
        /// The primary's interval.
        interval: Epoch,
        /// When the primary sent it (its clock; echoed, never read by the replica).
        sent_at: Duration,
    },
    /// Replica -> primary: promised.
    LeaseAck {
        /// Echoed.
        interval: Epoch,
        /// Echoed.
        sent_at: Duration,
    },
    /// A holder outside the acting and up sets -> the primary: may I delete my copy?
    StrayCheck {
        /// The interval the holder is in.
        interval: Epoch,
    },
    /// Primary -> that holder: the PG is active+clean without you, in the interval that
    /// began at `interval`, as of the primary's map `epoch`.
    StrayRemove {
        /// The clean interval's first epoch.
        interval: Epoch,
        /// The primary's map epoch.
        epoch: Epoch,
    },
}

impl PgMsg {
    /// The interval the message belongs to.
    pub fn interval(&self) -> Epoch {
        match self {
            PgMsg::Query { interval }
            | PgMsg::Notify { interval, .. }
            | PgMsg::GetVersions { interval, .. }
            | PgMsg::Versions { interval, .. }
            | PgMsg::PushTo { interval, .. }
            | PgMsg::Push { interval, .. }
            | PgMsg::PushAck { interval, .. }
            | PgMsg::Activate { interval, .. }
            | PgMsg::ActivateAck { interval }
            | PgMsg::SubWrite { interval, .. }
            | PgMsg::SubWriteAck { interval, .. }
            | PgMsg::Lease { interval, .. }
            | PgMsg::LeaseAck { interval, .. }
            | PgMsg::StrayCheck { interval }
            | PgMsg::StrayRemove { interval, .. } => *interval,
        }
    }
}

/// Why a write was not acknowledged. Every variant is retryable with the same reqid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum WriteError {
    /// This OSD is not the PG's primary in its map.
    #[error("not the primary")]
    NotPrimary,
    /// The PG is peering or recovering; it serves once its members agree.
    #[error("pg is {0}, not active")]
    NotActive(PgState),
    /// The acting set changed before every member committed; retry.
    #[error("interval changed during the write")]
    IntervalChanged,
}

/// Inputs of a PG.
#[derive(Clone, Debug)]
pub enum Event {
    /// A new map epoch.
    Map(Mapping),
    /// A message from another member.
    Msg {
        /// The sender.
        from: OsdId,
        /// The message.
        msg: PgMsg,
    },
    /// A client write (guards already checked by the caller, who orders writes per object).
    Write {
        /// The request id.
        reqid: ReqId,
        /// The object.
        name: String,
        /// What to change.
        mutations: Vec<Mutation>,
    },
    /// Time passed: resend what has not been answered, renew the read lease if reads want
    /// it.
    Tick,
    /// A read found the read lease missing or running out: get it (re)granted.
    WantLease,
    /// A backfill copy from the primary serving behind a pg_temp (this OSD is a new member
    /// of the up set, not yet acting).
    Backfill {
        /// The sender.
        from: OsdId,
        /// The sender's interval.
        interval: Epoch,
        /// The object.
        name: String,
        /// Its copy.
        copy: ObjectCopy,
    },
}

/// Outputs of a PG, to be carried out in order. A `Persist` must be durable before any
/// later effect runs (that is what makes an acknowledgement mean "on disk").
#[derive(Debug)]
pub enum Effect {
    /// Apply this transaction to the local store.
    Persist(Txn),
    /// Send a message to another member.
    Send {
        /// The member.
        to: OsdId,
        /// The message.
        msg: PgMsg,
    },
    /// Read the local copy of `name` and send it to `to` as a [`PgMsg::Push`].
    Push {
        /// The member.
        to: OsdId,
        /// The object.
        name: String,
        /// The interval to stamp.
        interval: Epoch,
        /// Erasure-coded roll-back: the state to push instead of ours (see
        /// [`PgMsg::PushTo`]).
        rollback: Option<Option<Version>>,
        /// Erasure-coded: OSDs outside the acting set that may still keep shards of the PG
        /// (members of its intervals since it was last clean), asked for shards only when
        /// the acting members give fewer than k.
        also_from: Vec<OsdId>,
    },
    /// A backfill copy was stored (after the `Persist` before it): acknowledge it.
    Backfilled {
        /// The object.
        name: String,
    },
    /// Apply this transaction, which deletes the PG's copy here (a stray the primary
    /// released), then call [`super::PgMachine::forget_copy`]; or skip it (the shell
    /// deletes one PG at a time; the stray asks again later).
    RemoveStray(Txn),
    /// Answer a client write.
    Reply {
        /// The request.
        reqid: ReqId,
        /// Its outcome.
        result: Result<Version, WriteError>,
    },
}

/// Where a PG is, as `shoal pg dump` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgState {
    /// Not mapped here, or no map yet.
    Stray,
    /// Gathering infos and logs from members.
    Peering,
    /// Copying objects to members that lack them.
    Recovering,
    /// Waiting for members to record activation.
    Activating,
    /// Serving I/O.
    Active,
    /// Too few members to accept writes (below min_size).
    Undersized,
    /// Cannot find authoritative data (every member of a write interval is down).
    Down,
    /// Peered and activated, waiting until every read lease an older interval's primary
    /// may hold has run out (Ceph's `wait`).
    Waiting,
    /// A replica in an active interval.
    Replica,
}

impl std::fmt::Display for PgState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            PgState::Stray => "stray",
            PgState::Peering => "peering",
            PgState::Recovering => "recovering",
            PgState::Activating => "activating",
            PgState::Active => "active",
            PgState::Undersized => "undersized",
            PgState::Down => "down",
            PgState::Waiting => "wait",
            PgState::Replica => "replica",
        };
        f.write_str(s)
    }
}

/// The version an [`ObjectView`] reports for an erasure-coded object whose stored shard is
/// not the one this member's position holds: equal to no real version, so peering sees the
/// copy as wrong and rebuilds it.
pub const WRONG_SHARD: Version = Version {
    epoch: Epoch(0),
    seq: u64::MAX,
};

/// An erasure-coded copy of another position's shard, current or roll-back (its holder
/// moved): useless where it is, but a shard of its version all the same, so peering counts
/// it towards decoding that version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MovedShard {
    /// The object.
    pub name: String,
    /// The version the copy is of.
    pub version: Version,
    /// The shard index the copy is.
    pub shard: u8,
    /// A roll-back copy (else the current one).
    pub rollback: bool,
}

/// Read access to the local store that the state machine needs (versions only; data is
/// read by the shell when it carries out an [`Effect::Push`]).
pub trait ObjectView {
    /// The version of `name` in this PG, if it exists.
    fn version(&self, name: &str) -> Option<Version>;
    /// Every object of this PG with its version.
    fn versions(&self) -> Vec<(String, Version)>;
    /// Erasure-coded PGs: every roll-back copy (`TxOp::Stash`) with its version.
    fn stashed(&self) -> Vec<(String, Version)> {
        Vec::new()
    }
    /// Erasure-coded PGs: every copy, current or roll-back, of a shard other than this
    /// member's position holds (those `version` and `stashed` report as [`WRONG_SHARD`]).
    fn moved(&self) -> Vec<MovedShard> {
        Vec::new()
    }
    /// Erasure-coded PGs: the roll-back copy of `name`, as [`ObjectView::stashed`]
    /// reports it.
    fn stash_version(&self, _name: &str) -> Option<Version> {
        None
    }
}
