//! What a schedule must show: reads never older than an acknowledged write, and, once
//! healed, a replicated PG whose members agree with every acknowledged write present (the
//! erasure-coded check is `shards::check_settled`). Also the disk dump for a stuck PG.

use std::time::Duration;

use placement::OsdId;
use rados::proto::osd::Version;

use super::{Issued, Sim, shards};

/// A read of `name` at `osd`, sent at `sent`, returned `got`: it must not be older than a
/// write the client was told succeeded before it sent the read (`ops`: the client's ops on
/// the object, in order).
pub fn assert_fresh(
    seed: u64,
    ops: &[Issued],
    name: &str,
    osd: OsdId,
    got: Option<Version>,
    sent: Duration,
) {
    let before = ops
        .iter()
        .rev()
        .find(|op| op.acked.is_some_and(|(at, _)| at < sent));
    let Some(last) = before else { return };
    let (_, version) = last.acked.expect("acked");
    let stale = match got {
        // Versions only grow: anything older than the acknowledged one is stale.
        Some(v) => v < version,
        // Absent is right after a delete that was acknowledged or may have landed.
        None => !last.delete && !ops.iter().any(|op| op.tid > last.tid && op.delete),
    };
    assert!(
        !stale,
        "seed {}: stale read of {name} at {osd}: got {got:?}, but {} (tid {}) was \
             acknowledged at {:?} before the read was sent at {sent:?}",
        seed,
        version,
        last.tid,
        last.acked.map(|(at, _)| at),
    );
}

/// Every node's objects (version, shard index) and log, for a schedule that never settles
/// (`SHOAL_SIM_DUMP`).
pub fn dump_disks(sim: &Sim) {
    for (i, n) in sim.nodes.iter().enumerate() {
        let objs: Vec<_> = n
            .disk
            .objects
            .iter()
            .map(|(k, o)| (k.clone(), o.version, shards::index(o)))
            .collect();
        let info = n.pg.as_ref().map(|p| {
            let log: Vec<_> = p
                .log()
                .entries()
                .map(|e| (e.version.seq, e.object.clone()))
                .collect();
            (p.info().clone(), log)
        });
        eprintln!("node {i}: {info:?}\n   {objs:?}");
    }
}

/// A healed replicated PG: every member holds the primary's objects and log head, and
/// every acknowledged write is there.
pub fn replicated_settled(sim: &Sim, seed: u64) {
    let m = sim.mapping().clone();
    let primary = &sim.nodes[m.acting[0].0 as usize];
    for member in &m.acting[1..] {
        let node = &sim.nodes[member.0 as usize];
        assert_eq!(
            node.disk.objects,
            primary.disk.objects,
            "seed {seed}: {member} differs from the primary: {:?} {:?} / {:?} {:?}",
            node.pg
                .as_ref()
                .map(|p| (p.state(), p.interval(), p.info().clone())),
            node.pg.as_ref().map(|p| p
                .log()
                .entries()
                .map(|e| (e.version, e.object.clone()))
                .collect::<Vec<_>>()),
            primary
                .pg
                .as_ref()
                .map(|p| (p.state(), p.interval(), p.info().clone())),
            primary.pg.as_ref().map(|p| p
                .log()
                .entries()
                .map(|e| (e.version, e.object.clone()))
                .collect::<Vec<_>>()),
        );
        assert_eq!(
            node.pg.as_ref().map(|p| p.log().head()),
            primary.pg.as_ref().map(|p| p.log().head()),
            "seed {seed}: logs differ: {member} {:?} {:?} / primary {:?} {:?}",
            node.pg
                .as_ref()
                .map(|p| (p.state(), p.interval(), p.info().clone())),
            node.pg
                .as_ref()
                .map(|p| p.log().entries().map(|e| e.version).collect::<Vec<_>>()),
            primary
                .pg
                .as_ref()
                .map(|p| (p.state(), p.interval(), p.info().clone())),
            primary
                .pg
                .as_ref()
                .map(|p| p.log().entries().map(|e| e.version).collect::<Vec<_>>()),
        );
    }
    for (name, want) in &sim.acked {
        let have = primary.disk.objects.get(name).map(|o| o.data.clone());
        assert_eq!(
            &have,
            want,
            "seed {seed}: acknowledged write to {name} lost or replaced: {:?}",
            primary.pg.as_ref().map(|p| p
                .log()
                .entries()
                .map(|e| (e.version, e.object.clone(), e.reqid))
                .collect::<Vec<_>>()),
        );
    }
}
