//! The erasure-coded side of the simulation. Encoding a write, giving each member its shard
//! and rebuilding a shard for recovery are the OSD's own pure functions
//! (`osd::ec::shards`); this file only fetches shards from the simulated disks for them, as
//! `daemon/ec.rs::gather` does over the network, and checks a settled PG by decoding every
//! acknowledged object from its members.

use std::collections::BTreeMap;

use bytes::Bytes;
use osd::ec::shards::{EncodedWrite, Gather, Reply, Serve, rebuilt_copy, served_copy};
use osd::ec::{Codec, SHARD_XATTR, ShardMeta};
use osd::pg::{Mapping, ObjectCopy, PgMsg};
use placement::OsdId;
use rados::proto::osd::{ReqId, Version};

use super::{Obj, Sim};

/// The shard a stored object is, per its shard meta.
pub fn index(o: &Obj) -> Option<u8> {
    ShardMeta::decode(o.xattrs.get(SHARD_XATTR)?).map(|m| m.shard)
}

/// `osd`'s shard position in `m`, for an erasure-coded mapping.
pub fn position(m: Option<&Mapping>, osd: OsdId) -> Option<usize> {
    m?.ec.as_ref()?.position(osd)
}

/// A message as the shell sends it: a sub-write carries the receiving member's shard by the
/// sender's map (`osd::ec::shards::sub_write_for`; `None`: nothing is sent). Each OSD keeps
/// its own encodings.
pub fn for_member(
    m: Option<&Mapping>,
    me: OsdId,
    to: OsdId,
    msg: PgMsg,
    encoded: &BTreeMap<(OsdId, ReqId), EncodedWrite>,
) -> Option<PgMsg> {
    osd::ec::shards::sub_write_for(m, to, msg, |r| encoded.get(&(me, r)))
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
    // As `daemon/ec.rs::gather` drives it, fetching from the disks instead.
    let mut gather = Gather::new(ec, version, Some(to), also_from);
    while let Some(round) = gather.next_round() {
        for holder in round.holders {
            if sim.alive(holder) {
                let reply = serve(sim, holder, name, version, round.second_copies);
                gather.on_reply(holder, reply);
            }
        }
    }
    let gathered = gather.finish().ok()?;
    let shards = gathered
        .shards
        .into_iter()
        .map(|s| s.map(|b| b.to_vec()))
        .collect();
    let copy = rebuilt_copy(
        ec.layout,
        target,
        version,
        shards,
        gathered.described,
        BTreeMap::new(),
    )
    .ok()?;
    Some(Some(copy))
}

/// `holder`'s answer to a gather of `name` at `version`, as `daemon/ec.rs::read_local`
/// serves it: its current copy, or its roll-back copy.
fn serve(sim: &Sim, holder: OsdId, name: &str, version: Version, second: bool) -> Reply<ShardMeta> {
    let disk = &sim.nodes[holder.0 as usize].disk;
    let (current, stash) = (disk.objects.get(name), disk.stash.get(name));
    let (now, old) = (current.map(|o| o.version), stash.map(|o| o.version));
    let o = match served_copy(Some(version), second, now, old) {
        None => return Reply::Absent,
        Some(Serve::Current) => current,
        Some(Serve::RollBack) => stash,
    };
    let Some(o) = o else {
        return Reply::Absent;
    };
    let Some(sm) = o.xattrs.get(SHARD_XATTR).and_then(|v| ShardMeta::decode(v)) else {
        return Reply::Failed("shard without its erasure meta".into());
    };
    Reply::Shard {
        version: o.version,
        shard: sm.shard,
        data: o.data.clone(),
        described: sm,
    }
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
