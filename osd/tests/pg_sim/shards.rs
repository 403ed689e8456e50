//! The erasure-coded side of the simulation, done as the OSD's shell does it
//! (`daemon/ec.rs`): encode a write once and give each member its shard, rebuild a shard for
//! recovery from k live members' shards of the same version (current or roll-back copy),
//! and check a settled PG by
//! decoding every acknowledged object from its members.

use std::collections::BTreeMap;

use bytes::Bytes;
use osd::ec::{Codec, Layout, SHARD_XATTR, ShardMeta};
use osd::pg::{Mapping, Mutation, ObjectCopy, PgMsg};
use placement::OsdId;
use rados::proto::osd::{ReqId, Version};
use serde_bytes::ByteBuf;

use super::{Obj, Sim};

/// The shard a stored object is, per its shard meta.
pub fn index(o: &Obj) -> Option<u8> {
    ShardMeta::decode(o.xattrs.get(SHARD_XATTR)?).map(|m| m.shard)
}

/// `osd`'s shard position in `m`, for an erasure-coded mapping.
pub fn position(m: Option<&Mapping>, osd: OsdId) -> Option<usize> {
    m?.ec.as_ref()?.position(osd)
}

/// Each shard's mutations for a write of `data`.
pub fn encode(layout: Layout, data: &Bytes) -> Vec<Vec<Mutation>> {
    let codec = Codec::new(layout).expect("valid layout");
    let (shards, metas) = codec.encode(data);
    shards
        .into_iter()
        .zip(metas)
        .map(|(shard, meta)| {
            vec![
                Mutation::WriteFull(Bytes::from(shard)),
                Mutation::SetXattr(SHARD_XATTR.into(), ByteBuf::from(meta.encode())),
            ]
        })
        .collect()
}

/// A sub-write carries the receiving member's shard by the sender's map (`None`: the
/// receiver holds no shard there, or the sender no longer has the write's encoding, and the
/// shell sends nothing), as `pg_task::shard_for`. Each OSD keeps its own encodings.
pub fn for_member(
    m: Option<&Mapping>,
    me: OsdId,
    to: OsdId,
    msg: PgMsg,
    encoded: &BTreeMap<(OsdId, ReqId), Vec<Vec<Mutation>>>,
) -> Option<PgMsg> {
    match msg {
        PgMsg::SubWrite {
            interval,
            prior,
            entry,
            mutations,
        } => {
            let per_shard = entry.reqid.and_then(|r| encoded.get(&(me, r)));
            let mutations = match (m.and_then(|m| m.ec.as_ref()), per_shard) {
                (Some(ec), Some(per_shard)) => per_shard[ec.write_position(to)?].clone(),
                (Some(_), None) if mutations.iter().any(carries_data) => return None,
                _ => mutations,
            };
            Some(PgMsg::SubWrite {
                interval,
                prior,
                mutations,
                entry,
            })
        }
        other => Some(other),
    }
}

/// Whether a mutation carries object data (a shard of it, once encoded).
fn carries_data(m: &Mutation) -> bool {
    matches!(m, Mutation::WriteFull(_))
}

/// The push recovery sends from `me` to `to`: `me`'s version of `name` with `to`'s shard,
/// (or the roll-back state) rebuilt from the live members' shards of that version
/// (`Some(None)`: absent), asking the OSDs outside the acting set the machine names too.
/// `None`: fewer than k shards of that version are reachable now.
pub fn rebuild(
    sim: &Sim,
    me: OsdId,
    to: OsdId,
    name: &str,
    rollback: Option<Option<Version>>,
    also_from: &[OsdId],
) -> Option<Option<ObjectCopy>> {
    let own = sim.nodes[me.0 as usize]
        .disk
        .objects
        .get(name)
        .map(|o| o.version);
    let Some(version) = rollback.unwrap_or(own) else {
        return Some(None);
    };
    let m = sim.mapping();
    let ec = m.ec.as_ref()?;
    let target = ec.position(to)?;
    let l = ec.layout;
    let mut shards: Vec<Option<Vec<u8>>> = vec![None; l.k + l.m];
    let mut meta = None;
    let holders = ec.shards.iter().flatten().chain(also_from);
    for holder in holders.filter(|o| **o != to) {
        if !sim.alive(*holder) {
            continue;
        }
        // The current copy, or the roll-back copy if that is the version wanted.
        let disk = &sim.nodes[holder.0 as usize].disk;
        let current = disk.objects.get(name).filter(|o| o.version == version);
        let Some(o) = current.or_else(|| disk.stash.get(name)) else {
            continue;
        };
        let Some(sm) = o.xattrs.get(SHARD_XATTR).and_then(|v| ShardMeta::decode(v)) else {
            continue;
        };
        if o.version == version && shards[sm.shard as usize].is_none() {
            shards[sm.shard as usize] = Some(o.data.to_vec());
            meta = Some(sm);
        }
    }
    let meta = meta?;
    if shards.iter().flatten().count() < l.k {
        return None;
    }
    let codec = Codec::new(l).expect("valid layout");
    codec.rebuild(meta.size, &mut shards).ok()?;
    let data = shards[target].take().expect("rebuilt");
    let theirs = ShardMeta {
        shard: target as u8,
        chunk_crcs: Vec::new(),
        ..meta
    };
    let xattrs = BTreeMap::from([(SHARD_XATTR.to_string(), ByteBuf::from(theirs.encode()))]);
    Some(Some(ObjectCopy {
        version,
        data: Bytes::from(data),
        xattrs,
        omap: Vec::new(),
    }))
}

/// A settled erasure-coded PG: every member holds its own position's shard of the same
/// versions, and every acknowledged object decodes to what was acknowledged.
pub fn check_settled(sim: &Sim, seed: u64) {
    let m = sim.mapping();
    let ec = m.ec.as_ref().expect("erasure-coded");
    let l = ec.layout;
    let members: Vec<(usize, OsdId)> = ec
        .shards
        .iter()
        .enumerate()
        .map(|(i, o)| (i, o.expect("every position filled after healing")))
        .collect();
    let versions = |osd: OsdId| -> BTreeMap<String, _> {
        let disk = &sim.nodes[osd.0 as usize].disk;
        disk.objects
            .iter()
            .map(|(n, o)| (n.clone(), o.version))
            .collect()
    };
    let first = versions(members[0].1);
    for (i, osd) in &members {
        assert_eq!(
            versions(*osd),
            first,
            "seed {seed}: {osd} (shard {i}) differs"
        );
        for (name, o) in &sim.nodes[osd.0 as usize].disk.objects {
            assert_eq!(
                index(o),
                Some(*i as u8),
                "seed {seed}: {osd} at position {i} holds the wrong shard of {name}"
            );
        }
    }
    let codec = Codec::new(l).expect("valid layout");
    for (name, want) in &sim.acked {
        let shards: Vec<Option<&[u8]>> = members
            .iter()
            .map(|(_, osd)| {
                let disk = &sim.nodes[osd.0 as usize].disk;
                disk.objects.get(name).map(|o| o.data.as_ref())
            })
            .collect();
        let have = match shards[0] {
            None => None,
            Some(_) => {
                let o = &sim.nodes[members[0].1.0 as usize].disk.objects[name];
                let meta = ShardMeta::decode(&o.xattrs[SHARD_XATTR]).expect("shard meta");
                let stripes = 0..l.stripes(meta.size);
                Some(Bytes::from(
                    codec.decode(meta.size, stripes, &shards).expect("decodes"),
                ))
            }
        };
        assert_eq!(
            &have, want,
            "seed {seed}: acknowledged write to {name} lost or replaced"
        );
    }
    assert!(sim.acks > 0, "seed {seed}: no write got through");
}
