//! Between the PG machine and the shell, for erasure-coded PGs, pure: the machine replicates
//! "an object"; these make each member's copy its own shard. The OSD's shell
//! (`daemon/pg_task.rs`, `daemon/ec.rs`) and the seeded simulation (`tests/pg_sim`) both
//! call them, so the simulation runs the daemon's shard logic; only how shards are fetched
//! (over the network, or from the simulated disks) differs.
//!
//! - a client write is encoded once by the primary ([`EncodedWrite`]); each sub-write then
//!   carries its receiver's shard ([`sub_write_for`]);
//! - a gather asks the data positions, then parity, then old holders, then everyone for
//!   second copies ([`gather_rounds`]), and takes shards of its version until it has `k`
//!   ([`Gather`]: the shells only fetch what it asks for);
//! - a holder serves a version from its current copy or its roll-back copy
//!   ([`served_copy`]);
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
    /// Ask for the holders' roll-back copies alone (see [`served_copy`]).
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

/// A gather of one object version's shards, pure: it says whom to ask, round by round
/// ([`gather_rounds`]), takes their replies, and stops once it has `k` distinct shards. The
/// daemon (`daemon/ec.rs::gather`, over the messenger) and the simulation (from its disks)
/// both drive it, so only how a shard is fetched differs between them. `D` is how a holder
/// describes its shard (what a rebuild copies the meta from).
#[derive(Debug)]
pub struct Gather<D> {
    k: usize,
    version: Version,
    rounds: std::array::IntoIter<Round, 4>,
    /// Whether the round being answered asks for second copies (its misses say nothing).
    second_copies: bool,
    shards: Vec<Option<Bytes>>,
    described: Option<D>,
    problems: Vec<String>,
}

/// A holder's answer to one gather request.
#[derive(Debug)]
pub enum Reply<D> {
    /// It served a copy: the version it is, the shard it names itself, its chunks.
    Shard {
        /// The version of the copy served.
        version: Version,
        /// The shard index the copy's meta names.
        shard: u8,
        /// The chunks read.
        data: Bytes,
        /// The holder's description of the copy.
        described: D,
    },
    /// It holds no copy to serve.
    Absent,
    /// It could not be asked, or failed to read.
    Failed(String),
}

/// What a finished gather has: at least `k` shards by index, and one holder's description.
#[derive(Debug)]
pub struct Gathered<D> {
    /// Shards by index.
    pub shards: Vec<Option<Bytes>>,
    /// The first taken shard's description.
    pub described: D,
    /// Why some holders gave nothing (a degraded gather).
    pub problems: Vec<String>,
}

/// A gather that ran out of holders before it had `k` shards.
#[derive(Debug, thiserror::Error)]
#[error("only {have} of {k} shards of version {version} readable ({})", problems.join("; "))]
pub struct TooFewShards {
    /// Distinct shards gathered.
    pub have: usize,
    /// Shards needed.
    pub k: usize,
    /// The version gathered.
    pub version: Version,
    /// Why holders gave nothing.
    pub problems: Vec<String>,
}

impl<D> Gather<D> {
    /// A gather of `version` from `ec`'s holders and `elsewhere`, never asking `skip`.
    pub fn new(ec: &EcMapping, version: Version, skip: Option<OsdId>, elsewhere: &[OsdId]) -> Self {
        let l = ec.layout;
        Gather {
            k: l.k,
            version,
            rounds: gather_rounds(ec, skip, elsewhere).into_iter(),
            second_copies: false,
            shards: vec![None; l.k + l.m],
            described: None,
            problems: Vec::new(),
        }
    }

    fn have(&self) -> usize {
        self.shards.iter().flatten().count()
    }

    /// The next round to ask (every holder in it, then [`Gather::on_reply`] for each);
    /// `None`: it has `k` shards, or nobody is left to ask.
    pub fn next_round(&mut self) -> Option<Round> {
        if self.have() >= self.k {
            return None;
        }
        let round = self.rounds.next()?;
        self.second_copies = round.second_copies;
        Some(round)
    }

    /// `holder`'s reply to the current round. A shard of another version, or one already
    /// gathered, is not taken.
    pub fn on_reply(&mut self, holder: OsdId, reply: Reply<D>) {
        match reply {
            Reply::Shard {
                version,
                shard,
                data,
                described,
            } if version == self.version => {
                let i = usize::from(shard);
                if i < self.shards.len() && self.shards[i].is_none() {
                    self.shards[i] = Some(data);
                    self.described.get_or_insert(described);
                }
            }
            // The last round asks everyone for a copy few keep: its misses say nothing.
            _ if self.second_copies => {}
            Reply::Shard { version, .. } => self
                .problems
                .push(format!("{holder} has version {version}")),
            Reply::Absent => self.problems.push(format!("{holder} has no shard")),
            Reply::Failed(e) => self.problems.push(format!("{holder}: {e}")),
        }
    }

    /// The shards gathered, if `k` or more.
    pub fn finish(self) -> Result<Gathered<D>, TooFewShards> {
        let have = self.have();
        match self.described {
            Some(described) if have >= self.k => Ok(Gathered {
                shards: self.shards,
                described,
                problems: self.problems,
            }),
            _ => Err(TooFewShards {
                have,
                k: self.k,
                version: self.version,
                problems: self.problems,
            }),
        }
    }
}

/// Which copy a holder serves when asked for `want` (`None`: whatever is current), given
/// the versions of its current and roll-back copies; `second_copies`: only a second copy
/// (a roll-back copy of the same version as the current one). `None`: nothing to serve.
pub fn served_copy(
    want: Option<Version>,
    second_copies: bool,
    current: Option<Version>,
    rollback: Option<Version>,
) -> Option<Serve> {
    if second_copies {
        let v = want?;
        return second_copy(v, current, rollback).then_some(Serve::RollBack);
    }
    match copy_of_version(want, current, rollback) {
        Serve::RollBack => Some(Serve::RollBack),
        Serve::Current => current.map(|_| Serve::Current),
    }
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
fn copy_of_version(
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
fn second_copy(want: Version, current: Option<Version>, rollback: Option<Version>) -> bool {
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
    use crate::testing::v;

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
    fn a_holder_serves_the_copy_of_the_version_asked_or_nothing() {
        let (now, old) = (Some(v(2)), Some(v(1)));
        assert_eq!(served_copy(None, false, now, old), Some(Serve::Current));
        assert_eq!(
            served_copy(Some(v(1)), false, now, old),
            Some(Serve::RollBack)
        );
        assert_eq!(served_copy(Some(v(1)), false, None, None), None);
        // Second copies: only a roll-back copy of the same version as the current one.
        assert_eq!(served_copy(Some(v(2)), true, now, old), None);
        assert_eq!(
            served_copy(Some(v(2)), true, now, now),
            Some(Serve::RollBack)
        );
        assert_eq!(served_copy(None, true, now, now), None);
    }

    fn ec_2_1(shards: Vec<Option<OsdId>>) -> EcMapping {
        EcMapping {
            layout: Layout {
                k: 2,
                m: 1,
                stripe_unit: 8,
            },
            up: shards.clone(),
            shards,
        }
    }

    fn shard(version: Version, shard: u8) -> Reply<u8> {
        Reply::Shard {
            version,
            shard,
            data: Bytes::from(vec![shard]),
            described: shard,
        }
    }

    #[test]
    fn a_gather_stops_at_k_distinct_shards_of_its_version() {
        let o = OsdId;
        let ec = ec_2_1(vec![Some(o(1)), Some(o(2)), Some(o(3))]);
        let mut g: Gather<u8> = Gather::new(&ec, v(5), None, &[]);
        let first = g.next_round().expect("data positions first");
        assert_eq!(first.holders, vec![o(1), o(2)]);
        // o(1) moved: it holds shard 1 too, and o(2) has an older version.
        g.on_reply(o(1), shard(v(5), 1));
        g.on_reply(o(2), shard(v(4), 1));
        let parity = g.next_round().expect("one shard is not enough");
        assert_eq!(parity.holders, vec![o(3)]);
        g.on_reply(o(3), shard(v(5), 2));
        assert!(g.next_round().is_none(), "k = 2 distinct shards gathered");
        let got = g.finish().expect("enough");
        assert_eq!(got.shards.iter().flatten().count(), 2);
        assert_eq!(got.described, 1, "the first shard taken describes it");
        assert_eq!(got.problems, vec![format!("{} has version {}", o(2), v(4))]);
    }

    #[test]
    fn a_gather_that_runs_out_of_holders_says_why() {
        let o = OsdId;
        let ec = ec_2_1(vec![Some(o(1)), None, Some(o(3))]);
        let mut g: Gather<u8> = Gather::new(&ec, v(5), None, &[]);
        let mut asked = 0;
        while let Some(round) = g.next_round() {
            for h in round.holders {
                asked += 1;
                let reply = if h == o(1) {
                    shard(v(5), 0)
                } else {
                    Reply::Absent
                };
                g.on_reply(h, reply);
            }
        }
        assert_eq!(asked, 4, "o1, o3, then both again for second copies");
        let short = g.finish().expect_err("one shard of two");
        assert_eq!((short.have, short.k), (1, 2));
        // Only the first-copy round's miss is a problem.
        assert_eq!(short.problems, vec![format!("{} has no shard", o(3))]);
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
