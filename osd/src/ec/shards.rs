//! Between the PG machine and the shell, for erasure-coded PGs, pure: the machine replicates
//! "an object"; these make each member's copy its own shard. The OSD's shell
//! (`daemon/pg_task.rs`, `daemon/ec.rs`) and the seeded simulation (`tests/pg_sim`) both
//! call them, so the simulation runs the daemon's shard logic; only how shards are fetched
//! (over the network, or from the simulated disks) differs.
//!
//! - a client write is encoded once by the primary ([`EncodedWrite`]); each sub-write then
//!   carries its receiver's shard ([`sub_write_for`]);
//! - a gather asks the data positions, then parity, then old holders, then everyone for
//!   second copies ([`gather_rounds`]);
//! - a holder serves a version from its current copy or its roll-back copy
//!   ([`copy_of_version`], [`second_copy`]);
//! - a recovery push is the target position's shard rebuilt from `k` gathered ones
//!   ([`rebuilt_copy`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use placement::OsdId;
use rados::proto::osd::{ReqId, Version};
use serde_bytes::ByteBuf;

use super::{Codec, EcError, Layout, SHARD_XATTR, ShardMeta};
use crate::pg::types::EcMapping;
use crate::pg::{Mapping, Mutation, ObjectCopy, PgMsg};

/// A write encoded once on the primary: every shard and its meta.
#[derive(Debug)]
pub struct EncodedWrite {
    shards: Vec<Bytes>,
    metas: Vec<ShardMeta>,
}

impl EncodedWrite {
    /// Encodes the data of `mutations`' `WriteFull`, if any.
    pub fn encode(layout: Layout, mutations: &[Mutation]) -> Option<EncodedWrite> {
        let data = mutations.iter().rev().find_map(|m| match m {
            Mutation::WriteFull(d) => Some(d),
            _ => None,
        })?;
        let codec = Codec::new(layout).ok()?;
        let (shards, metas) = codec.encode(data);
        Some(EncodedWrite {
            shards: shards.into_iter().map(Bytes::from).collect(),
            metas,
        })
    }

    /// `mutations` as shard `shard` applies them: its chunks instead of the object's data,
    /// and its meta.
    pub fn shard_mutations(&self, mutations: &[Mutation], shard: usize) -> Vec<Mutation> {
        let mut out: Vec<Mutation> = mutations
            .iter()
            .filter(|m| !matches!(m, Mutation::SetXattr(name, _) if name == SHARD_XATTR))
            .map(|m| match m {
                Mutation::WriteFull(_) => Mutation::WriteFull(self.shards[shard].clone()),
                other => other.clone(),
            })
            .collect();
        out.push(Mutation::SetXattr(
            SHARD_XATTR.into(),
            ByteBuf::from(self.metas[shard].encode()),
        ));
        out
    }
}

/// A message as `to` must receive it, by the sender's `mapping`: a sub-write of an
/// erasure-coded object carries `to`'s shard of the write's encoding, which `encoded` finds
/// by request id if the sender still has it. `None`: `to` holds no shard, or the encoding is
/// gone, so the only data at hand is the sender's own shard, which must never reach another
/// position.
pub fn sub_write_for<'a>(
    mapping: Option<&Mapping>,
    to: OsdId,
    msg: PgMsg,
    encoded: impl FnOnce(ReqId) -> Option<&'a EncodedWrite>,
) -> Option<PgMsg> {
    let PgMsg::SubWrite {
        interval,
        prior,
        entry,
        mutations,
        all_applied,
    } = msg
    else {
        return Some(msg);
    };
    let ec = mapping.and_then(|m| m.ec.as_ref());
    let encoded = entry.reqid.and_then(encoded);
    let carries_data = mutations
        .iter()
        .any(|m| matches!(m, Mutation::WriteFull(_)));
    let mutations = match (ec, encoded) {
        (Some(ec), Some(enc)) => enc.shard_mutations(&mutations, ec.write_position(to)?),
        (Some(_), None) if carries_data => return None,
        _ => mutations,
    };
    Some(PgMsg::SubWrite {
        interval,
        prior,
        entry,
        mutations,
        all_applied,
    })
}

/// One round of a gather: whom it asks, and for which copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    /// Whom it asks.
    pub holders: Vec<OsdId>,
    /// Ask for the holders' roll-back copies alone (see [`second_copy`]).
    pub second_copies: bool,
}

/// Whom a gather of an object's shards asks, round by round, until it has `k`: the data
/// positions, then the parity positions, then `elsewhere` (up OSDs outside the acting set
/// that may still keep shards, see `Effect::Push`), never `skip` (the shard being replaced);
/// last, all of them again for their second copies. A read of a healthy object so moves
/// exactly its bytes. Shards name themselves: whatever index a holder's copy says it is, it
/// counts as.
pub fn gather_rounds(ec: &EcMapping, skip: Option<OsdId>, elsewhere: &[OsdId]) -> [Round; 4] {
    let holders = ec
        .shards
        .iter()
        .enumerate()
        .filter_map(|(i, o)| Some((i, (*o)?)));
    let (first, rest): (Vec<_>, Vec<_>) = holders
        .filter(|(_, o)| Some(*o) != skip)
        .partition(|(i, _)| *i < ec.layout.k);
    let outside: Vec<OsdId> = elsewhere
        .iter()
        .copied()
        .filter(|o| Some(*o) != skip && !ec.shards.contains(&Some(*o)))
        .collect();
    let osds = |v: &[(usize, OsdId)]| v.iter().map(|(_, o)| *o).collect::<Vec<_>>();
    let round = |holders, second_copies| Round {
        holders,
        second_copies,
    };
    let everyone = [osds(&first), osds(&rest), outside.clone()].concat();
    [
        round(osds(&first), false),
        round(osds(&rest), false),
        round(outside, false),
        round(everyone, true),
    ]
}

/// Which of a holder's copies of an object serves a read of version `want`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serve {
    /// The current copy (any version, if none was asked for).
    Current,
    /// The roll-back copy: it is the version asked for and the current one is not.
    RollBack,
}

/// The copy a read of `want` (`None`: whatever is current) takes, given the versions of the
/// holder's current copy and roll-back copy.
pub fn copy_of_version(
    want: Option<Version>,
    current: Option<Version>,
    rollback: Option<Version>,
) -> Serve {
    match want {
        Some(v) if current != Some(v) && rollback == Some(v) => Serve::RollBack,
        _ => Serve::Current,
    }
}

/// Whether a holder asked for its second copy of `want` serves its roll-back copy: only
/// when both copies are of that version, so a first read took the current one. They then
/// are two shards: a member that moved position keeps its old position's shard as its
/// roll-back copy once recovery gives it the new one (`PgMachine::on_push`), and a rebuild
/// may need both to find k distinct shards.
pub fn second_copy(want: Version, current: Option<Version>, rollback: Option<Version>) -> bool {
    current == Some(want) && rollback == Some(want)
}

/// The copy a recovery push installs at `position`: its shard of `version`, rebuilt from the
/// gathered `shards` (by index; at least `k`) unless gathered already, with the meta
/// `described` (any gathered shard's) gave, and that holder's `xattrs`.
pub fn rebuilt_copy(
    layout: Layout,
    position: usize,
    version: Version,
    mut shards: Vec<Option<Vec<u8>>>,
    described: ShardMeta,
    mut xattrs: BTreeMap<String, ByteBuf>,
) -> Result<ObjectCopy, EcError> {
    let size = described.size;
    if shards[position].is_none() {
        Codec::new(layout)?.rebuild(size, &mut shards)?;
    }
    let data = shards[position].take().expect("rebuilt");
    let theirs = ShardMeta {
        shard: position as u8,
        chunk_crcs: chunk_crcs(&layout, size, &data),
        ..described
    };
    xattrs.insert(SHARD_XATTR.into(), ByteBuf::from(theirs.encode()));
    Ok(ObjectCopy {
        version,
        data: Bytes::from(data),
        xattrs,
        omap: Vec::new(),
    })
}

/// crc32c of each chunk of one shard.
pub fn chunk_crcs(layout: &Layout, size: u64, shard: &[u8]) -> Vec<u32> {
    (0..layout.stripes(size))
        .map(|s| {
            let r = layout.shard_range(size, s..s + 1);
            crc32c::crc32c(&shard[r.start as usize..r.end as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use placement::Epoch;

    fn v(seq: u64) -> Version {
        Version {
            epoch: Epoch(1),
            seq,
        }
    }

    #[test]
    fn a_version_replaced_since_is_served_from_the_roll_back_copy() {
        assert_eq!(
            copy_of_version(None, Some(v(2)), Some(v(1))),
            Serve::Current
        );
        assert_eq!(
            copy_of_version(Some(v(2)), Some(v(2)), None),
            Serve::Current
        );
        assert_eq!(
            copy_of_version(Some(v(1)), Some(v(2)), Some(v(1))),
            Serve::RollBack
        );
        // Neither copy is it: the current one answers, and its version says it is not.
        assert_eq!(
            copy_of_version(Some(v(3)), Some(v(2)), Some(v(1))),
            Serve::Current
        );
    }

    #[test]
    fn a_second_copy_is_the_roll_back_copy_of_the_same_version() {
        assert!(second_copy(v(2), Some(v(2)), Some(v(2))));
        // A roll-back copy of another version is a first read's (or nobody's) to take.
        assert!(!second_copy(v(2), Some(v(2)), Some(v(1))));
        assert!(!second_copy(v(1), Some(v(2)), Some(v(1))));
        assert!(!second_copy(v(2), None, Some(v(2))));
    }

    #[test]
    fn a_gather_asks_data_then_parity_then_old_holders_then_everyone_again() {
        use crate::pg::types::EcMapping;
        let o = OsdId;
        let ec = EcMapping {
            layout: Layout {
                k: 2,
                m: 1,
                stripe_unit: 8,
            },
            shards: vec![Some(o(4)), None, Some(o(6))],
            up: vec![Some(o(4)), Some(o(5)), Some(o(6))],
        };
        let rounds = gather_rounds(&ec, Some(o(6)), &[o(4), o(9)]);
        let holders: Vec<(Vec<OsdId>, bool)> = rounds
            .into_iter()
            .map(|r| (r.holders, r.second_copies))
            .collect();
        assert_eq!(
            holders,
            [
                (vec![o(4)], false),
                (vec![], false),
                (vec![o(9)], false),
                (vec![o(4), o(9)], true),
            ]
        );
    }

    #[test]
    fn a_rebuilt_shard_is_the_one_the_encoder_made_with_its_own_chunk_crcs() {
        let layout = Layout {
            k: 2,
            m: 2,
            stripe_unit: 8,
        };
        let data = Bytes::from((0..100u8).collect::<Vec<u8>>());
        let enc = EncodedWrite::encode(layout, &[Mutation::WriteFull(data)]).expect("encodes");
        let mut shards: Vec<Option<Vec<u8>>> =
            enc.shards.iter().map(|s| Some(s.to_vec())).collect();
        let want = shards[3].take().expect("shard 3");
        shards[0] = None;
        let copy = rebuilt_copy(
            layout,
            3,
            v(7),
            shards,
            enc.metas[1].clone(),
            BTreeMap::new(),
        )
        .expect("two of four shards decode");
        assert_eq!((copy.version, copy.data.to_vec()), (v(7), want));
        let meta = ShardMeta::decode(&copy.xattrs[SHARD_XATTR]).expect("shard meta");
        assert_eq!(
            meta, enc.metas[3],
            "the encoder's meta, chunk crcs included"
        );
    }
}
