//! Seeded simulation of one PG on a few OSDs: random kills (also between a write hitting the
//! disk and its acknowledgement going out, and between the sub-writes of one write), pauses
//! (SIGSTOP: a frozen OSD handles nothing while the others move on, and serves what it was
//! sent when it resumes, reads first), restarts, map changes that reach each OSD after its
//! own delay (peers talk to it from epochs it does not know yet), dropped, duplicated and
//! reordered messages, and a client that retries with the same reqid. Time is simulated:
//! every OSD has its own clock (offset, and a rate within 2% of the others'), leases run out
//! on it. Reads go to any OSD that believes it is the primary, frozen ones included, and a
//! read that returns a version older than a write acknowledged before the read was sent
//! fails the schedule. After the faults stop and every OSD is back, the PG must reach
//! active+clean with every acknowledged write present and all members agreeing. Three
//! profiles (`profile.rs`): replicated (size 3, min_size 2, five OSDs), erasure-coded 2+2
//! (min_size 3, six OSDs) and 4+2 (min_size 5, eight OSDs), where members hold real
//! Reed-Solomon shards, writes give each member its own shard, and recovery rebuilds a shard
//! from k others as the OSD does (`shards.rs`): a PG that chose an authority it cannot
//! decode would never become clean. Each OSD's disk and the view its machine reads of it
//! are in `disk.rs`; what a schedule must show, in `checks.rs`.
//!
//! Replay one schedule: `SHOAL_SIM_SEED=1234 cargo nextest run -p osd --test pg_sim`
//! (every profile runs it).
//! Run more: `SHOAL_SIM_SEEDS=20000` (from `SHOAL_SIM_FIRST`, default 0).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use osd::ec::shards::EncodedWrite;
use osd::pg::types::EcMapping;
use osd::pg::{
    Effect, Event, LogLimits, Mapping, Mutation, ObjectCopy, PgMachine, PgMsg, ReadRefused,
};
use placement::{Epoch, OsdId, PgId, PoolId};
use rados::proto::osd::{ReqId, Version};

#[path = "pg_sim/checks.rs"]
mod checks;
#[path = "pg_sim/disk.rs"]
mod disk;
#[path = "pg_sim/profile.rs"]
mod profile;
#[path = "pg_sim/shards.rs"]
mod shards;

use disk::{Disk, Obj, View};
use profile::{
    EC_2_2, EC_2_2_REMAPS, EC_4_2, EC_4_2_REMAPS, Profile, REPLICATED, REPLICATED_REMAPS, Rng,
};

const LIMITS: LogLimits = LogLimits {
    entries: 6,
    dups: 500,
};
const NAMES: usize = 6;
const PG: PgId = PgId {
    pool: PoolId(1),
    seed: 0,
};

struct Node {
    disk: Disk,
    /// `None` while the process is dead.
    pg: Option<PgMachine>,
    /// Paused (SIGSTOP): events wait in `inbox`, reads in `reads`, until it resumes.
    frozen: bool,
    /// When a pause ends (simulated time).
    frozen_until: Duration,
    inbox: Vec<Event>,
    /// Maps published that it has not received yet (its subscription lags), oldest first:
    /// peers may reach it from an epoch it does not know.
    behind: VecDeque<Mapping>,
    /// Reads sent to it while frozen: the object and when the client sent it.
    reads: Vec<(String, Duration)>,
    /// Its clock: `offset + time * (1000 + rate) / 1000`.
    offset: Duration,
    rate: i64,
}

/// One client op on an object, in the order the client issued them (one at a time).
#[derive(Clone, Debug)]
struct Issued {
    tid: u64,
    delete: bool,
    /// When the client heard it succeeded, and the version it got.
    acked: Option<(Duration, Version)>,
}

#[derive(Clone, Debug)]
struct Op {
    reqid: ReqId,
    data: Option<Bytes>,
}

struct Sim {
    profile: Profile,
    rng: Rng,
    nodes: Vec<Node>,
    /// Preference order (what CRUSH would compute for this PG).
    order: Vec<OsdId>,
    up: BTreeSet<OsdId>,
    /// Boots per OSD, and the epoch each last booted in as the monitor recorded it.
    boots: Vec<u64>,
    booted: Vec<(u64, Epoch)>,
    maps: Vec<Mapping>,
    net: Vec<(OsdId, OsdId, PgMsg)>,
    drop_percent: u64,
    /// Last acknowledged state per object (`None`: deleted).
    acked: BTreeMap<String, Option<Bytes>>,
    inflight: BTreeMap<String, Op>,
    tid: u64,
    acks: u64,
    trace: bool,
    /// Erasure-coded writes in flight: each shard's mutations, by request.
    encoded: BTreeMap<(OsdId, ReqId), EncodedWrite>,
    /// Simulated real time.
    time: Duration,
    /// Every op the client issued, per object, in order.
    issued: BTreeMap<String, Vec<Issued>>,
    /// Reads served.
    reads: u64,
    /// Stray copies deleted.
    strays_removed: u64,
    seed: u64,
}

fn brief(msg: &PgMsg) -> String {
    match msg {
        PgMsg::Notify { info, .. } => format!("Notify i{} {:?}", msg.interval().0, info),
        PgMsg::Activate { log, .. } => format!(
            "Activate i{} head {:?}",
            msg.interval().0,
            log.last().map(|e| e.version)
        ),
        PgMsg::SubWrite { entry, prior, .. } => format!(
            "SubWrite i{} {} {} after {}",
            msg.interval().0,
            entry.object,
            entry.version,
            prior
        ),
        PgMsg::Push { name, copy, .. } => format!(
            "Push i{} {name} {:?}",
            msg.interval().0,
            copy.as_ref().map(|c| c.version)
        ),
        other => format!("{other:?}"),
    }
}

impl Sim {
    fn new(seed: u64, profile: Profile) -> Sim {
        let mut rng = Rng(seed);
        let osds = profile.osds;
        let mut order: Vec<OsdId> = (0..osds).map(OsdId).collect();
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let nodes = (0..osds)
            .map(|i| {
                let offset = Duration::from_millis(rng.below(100_000));
                let rate = rng.below(41) as i64 - 20;
                Node {
                    disk: Disk::default(),
                    pg: Some(Disk::default().load(OsdId(i), offset)),
                    frozen: false,
                    frozen_until: Duration::ZERO,
                    inbox: Vec::new(),
                    behind: VecDeque::new(),
                    reads: Vec::new(),
                    offset,
                    rate,
                }
            })
            .collect();
        let mut sim = Sim {
            profile,
            rng,
            nodes,
            order,
            up: (0..osds).map(OsdId).collect(),
            boots: vec![0; osds as usize],
            booted: vec![(0, Epoch(1)); osds as usize],
            maps: Vec::new(),
            net: Vec::new(),
            drop_percent: 5,
            acked: BTreeMap::new(),
            inflight: BTreeMap::new(),
            tid: 0,
            acks: 0,
            trace: std::env::var("SHOAL_SIM_TRACE").is_ok(),
            encoded: BTreeMap::new(),
            time: Duration::ZERO,
            issued: BTreeMap::new(),
            reads: 0,
            strays_removed: 0,
            seed,
        };
        sim.new_epoch();
        sim
    }

    fn mapping(&self) -> &Mapping {
        self.maps.last().expect("a map")
    }

    /// The monitor publishes a new epoch from the current up set.
    fn new_epoch(&mut self) {
        let p = self.profile;
        // Replicated: the first `size` up OSDs. Erasure-coded: fixed positions, a down OSD
        // leaves a hole (as `indep` placement does).
        let shards: Vec<Option<OsdId>> = match p.ec {
            Some(_) => self.order[..p.size]
                .iter()
                .map(|o| self.up.contains(o).then_some(*o))
                .collect(),
            None => self
                .order
                .iter()
                .copied()
                .filter(|o| self.up.contains(o))
                .take(p.size)
                .map(Some)
                .collect(),
        };
        let acting: Vec<OsdId> = shards.iter().flatten().copied().collect();
        let epoch = Epoch(self.maps.len() as u64 + 1);
        for osd in &self.up {
            let i = osd.0 as usize;
            if self.booted[i].0 != self.boots[i] {
                self.booted[i] = (self.boots[i], epoch);
            }
        }
        let m = Mapping {
            epoch,
            up_from: acting.iter().map(|o| self.booted[o.0 as usize].1).collect(),
            up: acting.clone(),
            acting,
            size: p.size,
            min_size: p.min_size,
            up_osds: self.up.clone(),
            ec: p.ec.map(|layout| EcMapping {
                layout,
                up: shards.clone(),
                shards,
            }),
        };
        self.maps.push(m.clone());
        for i in 0..p.osds {
            let lags = self.rng.chance(30);
            let node = &mut self.nodes[i as usize];
            if lags || !node.behind.is_empty() {
                node.behind.push_back(m.clone());
            } else {
                self.deliver(OsdId(i), Event::Map(m.clone()));
            }
        }
    }

    /// CRUSH moves the PG, with no pg_temp to keep the old holders serving (as when one the
    /// monitors generated is refused, or the holder is dead): a member gives its place to a
    /// spare, which starts empty, or two members swap positions, each then holding the
    /// wrong shard of everything (erasure-coded). The old holders keep their copies, as
    /// strays, until the PG is clean.
    fn remap(&mut self) {
        let size = self.profile.size;
        let j = self.rng.below(size as u64) as usize;
        let other = if self.profile.ec.is_some() && self.rng.chance(50) {
            self.rng.below(size as u64) as usize
        } else {
            size + self.rng.below((self.order.len() - size) as u64) as usize
        };
        if self.trace {
            eprintln!("[{:?}] remap: positions {j} and {other} swap", self.time);
        }
        self.order.swap(j, other);
        self.new_epoch();
    }

    /// `osd` receives the oldest map it lags behind by, if any.
    fn deliver_lagging_map(&mut self, osd: OsdId) {
        if let Some(m) = self.nodes[osd.0 as usize].behind.pop_front() {
            self.deliver(osd, Event::Map(m));
        }
    }

    /// `osd` fetches every map it lacks, as the shell does before serving a client whose
    /// map is newer.
    fn catch_up(&mut self, osd: OsdId) {
        while !self.nodes[osd.0 as usize].behind.is_empty() {
            self.deliver_lagging_map(osd);
        }
    }

    fn deliver(&mut self, to: OsdId, event: Event) {
        if self.trace && self.nodes[to.0 as usize].pg.is_some() {
            let e = match &event {
                Event::Msg { from, msg } => format!("{from} -> {to}: {}", brief(msg)),
                Event::Write { reqid, name, .. } => {
                    format!("client -> {to}: write {name} tid {}", reqid.tid)
                }
                Event::Map(m) => match &m.ec {
                    Some(ec) => format!("{to}: map e{} shards {:?}", m.epoch.0, ec.shards),
                    None => format!("{to}: map e{} acting {:?}", m.epoch.0, m.acting),
                },
                Event::Tick => return self.deliver_quiet(to, event),
                Event::WantLease => format!("{to}: want lease"),
                Event::Backfill { from, name, .. } => format!("{from} -> {to}: backfill {name}"),
            };
            eprintln!("{e}");
        }
        self.deliver_quiet(to, event);
    }

    /// `osd`'s clock now.
    fn now(&self, osd: OsdId) -> Duration {
        let n = &self.nodes[osd.0 as usize];
        let t = self.time.as_micros() as i64;
        n.offset + Duration::from_micros((t * (1000 + n.rate) / 1000) as u64)
    }

    fn deliver_quiet(&mut self, to: OsdId, event: Event) {
        let now = self.now(to);
        let node = &mut self.nodes[to.0 as usize];
        let Some(pg) = node.pg.as_mut() else {
            return;
        };
        if node.frozen {
            if !matches!(event, Event::Tick) {
                node.inbox.push(event);
            }
            return;
        }
        let mapping = match &event {
            Event::Map(m) => Some(m),
            _ => pg.mapping(),
        };
        let shard = mapping.and_then(|m| m.view_shard(to));
        let view = View {
            disk: &node.disk,
            shard,
        };
        let effects = pg.handle(event, now, &view);
        self.carry_out(to, effects);
    }

    fn carry_out(&mut self, me: OsdId, effects: Vec<Effect>) {
        for effect in effects {
            // Crash between effects: what was persisted stays, the rest never happens.
            if self.drop_percent > 0 && self.rng.chance(1) && self.rng.chance(20) {
                self.kill(me);
                return;
            }
            let node = &mut self.nodes[me.0 as usize];
            match effect {
                Effect::Persist(txn) => node.disk.apply(txn.ops),
                // As the shell does: the copy goes, the machine forgets it.
                Effect::RemoveStray(txn) => {
                    node.disk.apply(txn.ops);
                    if let Some(pg) = node.pg.as_mut() {
                        pg.forget_copy();
                    }
                    self.strays_removed += 1;
                }
                Effect::Send { to, msg } => {
                    // As the shell does: the member's shard by the sender's own map.
                    let sender = node.pg.as_ref().and_then(|p| p.mapping());
                    if let Some(msg) = shards::for_member(sender, me, to, msg, &self.encoded) {
                        self.net.push((me, to, msg));
                    }
                }
                Effect::Push {
                    to,
                    name,
                    interval,
                    rollback,
                    also_from,
                } => {
                    let copy = match self.profile.ec {
                        Some(_) => match shards::rebuild(self, me, to, &name, rollback, &also_from)
                        {
                            Some(copy) => copy,
                            None => continue, // fewer than k shards now; resent later
                        },
                        None => node.disk.objects.get(&name).map(|o| ObjectCopy {
                            version: o.version,
                            data: o.data.clone(),
                            xattrs: BTreeMap::new(),
                            omap: Vec::new(),
                        }),
                    };
                    self.net.push((
                        me,
                        to,
                        PgMsg::Push {
                            interval,
                            name,
                            copy,
                        },
                    ));
                }
                Effect::Reply { reqid, result } => {
                    self.encoded.remove(&(me, reqid));
                    let Ok(version) = result else { continue };
                    let time = self.time;
                    for op in self.issued.values_mut().flatten() {
                        if op.tid == reqid.tid && op.acked.is_none() {
                            op.acked = Some((time, version));
                        }
                    }
                    let done = self
                        .inflight
                        .iter()
                        .find(|(_, op)| op.reqid == reqid)
                        .map(|(n, _)| n.clone());
                    if let Some(name) = done {
                        let op = self.inflight.remove(&name).expect("present");
                        if self.trace {
                            eprintln!("ACK {name} tid {}", reqid.tid);
                        }
                        self.acked.insert(name, op.data);
                        self.acks += 1;
                    }
                }
                // The simulation maps no pg_temp, so nothing is backfilled.
                Effect::Backfilled { name } => panic!("unexpected backfill of {name}"),
            }
        }
    }

    fn kill(&mut self, osd: OsdId) {
        if self.trace {
            eprintln!("KILL {osd}");
        }
        let node = &mut self.nodes[osd.0 as usize];
        node.pg = None;
        node.frozen = false;
        node.inbox.clear();
        node.behind.clear();
        node.reads.clear();
        self.net.retain(|(from, to, _)| *from != osd && *to != osd);
    }

    /// Pauses `osd` for up to 6 s: often longer than a lease, long enough for the others
    /// to mark it down, peer without it and acknowledge writes it never saw.
    fn freeze(&mut self, osd: OsdId) {
        let pause = Duration::from_millis(self.rng.below(6000));
        if self.trace {
            eprintln!("FREEZE {osd} for {pause:?}");
        }
        let node = &mut self.nodes[osd.0 as usize];
        node.frozen = true;
        node.frozen_until = self.time + pause;
    }

    /// SIGCONT: first the reads that waited (the worst case for staleness), then every
    /// event in arrival order; an OSD the map calls down boots again (keeping its memory).
    fn resume(&mut self, osd: OsdId) {
        if self.trace {
            eprintln!("RESUME {osd}");
        }
        let node = &mut self.nodes[osd.0 as usize];
        node.frozen = false;
        let reads = std::mem::take(&mut node.reads);
        let inbox = std::mem::take(&mut node.inbox);
        for (name, sent) in reads {
            self.serve_read(osd, &name, sent);
        }
        for event in inbox {
            self.deliver(osd, event);
        }
        if !self.up.contains(&osd) {
            self.boots[osd.0 as usize] += 1;
        }
    }

    /// A client read of `name`, sent now, to an OSD that believes it is the primary.
    fn read(&mut self, name: &str) {
        let believers: Vec<OsdId> = (0..self.profile.osds)
            .map(OsdId)
            .filter(|o| {
                let pg = self.nodes[o.0 as usize].pg.as_ref();
                pg.is_some_and(|pg| pg.is_primary())
            })
            .collect();
        if believers.is_empty() {
            return;
        }
        let osd = believers[self.rng.below(believers.len() as u64) as usize];
        let sent = self.time;
        let node = &mut self.nodes[osd.0 as usize];
        if node.frozen {
            node.reads.push((name.to_string(), sent));
        } else {
            self.serve_read(osd, name, sent);
        }
    }

    /// Serves a read as the OSD's shell does: only through the PG's read gate, and never
    /// while a write to the object is in flight (the shell waits; here the read is
    /// dropped); then checks it against what the client was told before it sent it.
    fn serve_read(&mut self, osd: OsdId, name: &str, sent: Duration) {
        let now = self.now(osd);
        let node = &self.nodes[osd.0 as usize];
        let Some(pg) = node.pg.as_ref() else { return };
        match pg.read_gate().check(now) {
            Ok(()) => {}
            Err(ReadRefused::NoLease) => return self.deliver(osd, Event::WantLease),
            Err(ReadRefused::NotServing) => return,
        }
        if pg.writing(name) {
            return;
        }
        let got = node.disk.objects.get(name).map(|o| o.version);
        self.reads += 1;
        if self.trace {
            eprintln!("READ {name} at {osd}: {got:?} (sent {sent:?})");
        }
        let ops = self.issued.get(name).map(Vec::as_slice).unwrap_or_default();
        checks::assert_fresh(self.seed, ops, name, osd, got, sent);
    }

    fn restart(&mut self, osd: OsdId) {
        self.boots[osd.0 as usize] += 1;
        let now = self.now(osd);
        let node = &mut self.nodes[osd.0 as usize];
        node.behind.clear();
        let (current, history) = self.maps.split_last().expect("a map");
        let mut pg = node.disk.load(osd, now).restarted_after(current.epoch);
        for m in history {
            pg.observe_history(m);
        }
        node.pg = Some(pg);
        self.deliver(osd, Event::Map(current.clone()));
    }

    /// Running and not paused: what the monitor and peers can tell.
    fn alive(&self, osd: OsdId) -> bool {
        let node = &self.nodes[osd.0 as usize];
        node.pg.is_some() && !node.frozen
    }

    fn send_op(&mut self, name: String) {
        let Some(primary) = self.mapping().primary() else {
            return;
        };
        if self.rng.chance(self.drop_percent) {
            return;
        }
        let op = self.inflight[&name].clone();
        if self.nodes[primary.0 as usize].frozen {
            return; // lost in a paused process's socket; the client resends
        }
        self.catch_up(primary);
        let node = &self.nodes[primary.0 as usize];
        // As the shell does: the primary encodes by its own map when the write arrives.
        let its_map = node.pg.as_ref().and_then(|p| p.mapping());
        let mutations = match (&op.data, self.profile.ec) {
            (Some(data), Some(layout)) => {
                let Some(mine) = shards::position(its_map, primary) else {
                    return;
                };
                let mutations = [Mutation::WriteFull(data.clone())];
                let enc = EncodedWrite::encode(layout, &mutations).expect("valid layout");
                let ours = enc.shard_mutations(&mutations, mine);
                self.encoded.insert((primary, op.reqid), enc);
                ours
            }
            (Some(data), None) => vec![Mutation::WriteFull(data.clone())],
            (None, _) => vec![Mutation::Remove],
        };
        self.deliver(
            primary,
            Event::Write {
                reqid: op.reqid,
                name,
                mutations,
            },
        );
    }

    fn step(&mut self, faults: bool) {
        self.time += Duration::from_millis(1 + self.rng.below(15));
        let r = self.rng.below(100);
        let osds = self.profile.osds;
        let dead: Vec<OsdId> = (0..osds)
            .map(OsdId)
            .filter(|o| self.nodes[o.0 as usize].pg.is_none())
            .collect();
        let thawed: Vec<OsdId> = (0..osds)
            .map(OsdId)
            .filter(|o| {
                let n = &self.nodes[o.0 as usize];
                n.frozen && n.frozen_until <= self.time
            })
            .collect();
        for osd in thawed {
            self.resume(osd);
        }
        match r {
            0..=1 if faults => {
                let victim = OsdId(self.rng.below(osds as u64) as u32);
                self.kill(victim);
            }
            2..=4 if !dead.is_empty() => {
                let osd = dead[self.rng.below(dead.len() as u64) as usize];
                self.restart(osd);
            }
            5..=7 => {
                // The monitor notices deaths and boots.
                let alive: BTreeSet<OsdId> =
                    (0..osds).map(OsdId).filter(|o| self.alive(*o)).collect();
                let rebooted = alive
                    .iter()
                    .any(|o| self.booted[o.0 as usize].0 != self.boots[o.0 as usize]);
                if alive != self.up || rebooted {
                    self.up = alive;
                    self.new_epoch();
                } else if self.rng.chance(10) {
                    self.new_epoch(); // an unrelated map change
                }
            }
            // While healing the client only finishes what it started.
            8..=14 if faults => {
                let name = format!("obj{}", self.rng.below(NAMES as u64));
                if !self.inflight.contains_key(&name) {
                    self.tid += 1;
                    let data = (!self.rng.chance(10))
                        .then(|| Bytes::from(format!("{name}-{}-{}", self.tid, self.rng.next())));
                    self.issued.entry(name.clone()).or_default().push(Issued {
                        tid: self.tid,
                        delete: data.is_none(),
                        acked: None,
                    });
                    let reqid = ReqId {
                        client: 7,
                        tid: self.tid,
                    };
                    self.inflight.insert(name.clone(), Op { reqid, data });
                }
                self.send_op(name);
            }
            15..=17 => {
                for osd in 0..osds {
                    self.deliver(OsdId(osd), Event::Tick);
                }
            }
            18..=19 => {
                // Client resends whatever is unanswered (same reqid).
                let names: Vec<String> = self.inflight.keys().cloned().collect();
                for name in names {
                    self.send_op(name);
                }
            }
            20 if faults => {
                let victim = OsdId(self.rng.below(osds as u64) as u32);
                if self.alive(victim) {
                    self.freeze(victim);
                }
            }
            21..=27 => {
                let name = format!("obj{}", self.rng.below(NAMES as u64));
                self.read(&name);
            }
            28..=33 => {
                let lagging: Vec<OsdId> = (0..osds)
                    .map(OsdId)
                    .filter(|o| !self.nodes[o.0 as usize].behind.is_empty())
                    .collect();
                if !lagging.is_empty() {
                    let osd = lagging[self.rng.below(lagging.len() as u64) as usize];
                    self.deliver_lagging_map(osd);
                }
            }
            34 if faults && self.profile.remaps && self.rng.chance(20) => self.remap(),
            _ if !self.net.is_empty() => {
                let i = self.rng.below(self.net.len() as u64) as usize;
                let (from, to, msg) = if self.rng.chance(3) {
                    self.net[i].clone() // duplicate: deliver and keep
                } else {
                    self.net.swap_remove(i)
                };
                if !(faults && self.rng.chance(self.drop_percent)) {
                    self.deliver(to, Event::Msg { from, msg });
                }
            }
            _ => {}
        }
    }

    fn settled(&self) -> bool {
        let m = self.mapping();
        let Some(primary) = m.primary() else {
            return false;
        };
        self.inflight.is_empty()
            && self.nodes.iter().all(|n| n.behind.is_empty())
            && m.acting.len() == self.profile.size
            && m.acting.iter().all(|o| self.alive(*o))
            && self.nodes[primary.0 as usize]
                .pg
                .as_ref()
                .is_some_and(|pg| pg.is_clean() && pg.writes_in_flight() == 0)
    }
}

/// What one schedule exercised.
struct Ran {
    reads: u64,
    strays_removed: u64,
}

/// Runs one schedule; returns how many reads were served and stray copies deleted.
fn run(seed: u64, steps: usize, profile: Profile) -> Ran {
    let mut sim = Sim::new(seed, profile);
    for _ in 0..steps {
        sim.step(true);
    }
    // Heal: everyone back, no drops; keep driving until clean or give up.
    sim.drop_percent = 0;
    for osd in 0..profile.osds {
        if sim.nodes[osd as usize].frozen {
            sim.resume(OsdId(osd));
        }
        if sim.nodes[osd as usize].pg.is_none() {
            sim.restart(OsdId(osd));
        }
    }
    let mut budget = 200_000;
    while !sim.settled() {
        budget -= 1;
        if budget == 1 && std::env::var("SHOAL_SIM_DUMP").is_ok() {
            checks::dump_disks(&sim);
        }
        assert!(
            budget > 0,
            "seed {seed}: not active+clean after healing: {:?}\n{:#?}\nmap {:?}",
            sim.nodes
                .iter()
                .map(|n| n.pg.as_ref().map(|p| (p.state(), p.interval())))
                .collect::<Vec<_>>(),
            sim.nodes
                .iter()
                .find(|n| n.pg.as_ref().is_some_and(|p| p.is_primary()))
                .map(|n| n.pg.as_ref()),
            sim.mapping(),
        );
        sim.step(false);
    }
    if profile.ec.is_some() {
        shards::check_settled(&sim, seed);
        return Ran {
            reads: sim.reads,
            strays_removed: sim.strays_removed,
        };
    }
    checks::replicated_settled(&sim, seed);
    assert!(
        sim.acks > 0 || steps < 100,
        "seed {seed}: no write got through"
    );
    Ran {
        reads: sim.reads,
        strays_removed: sim.strays_removed,
    }
}

#[test]
fn acknowledged_writes_survive_every_schedule() {
    schedules(REPLICATED, 2000);
}

#[test]
fn erasure_coded_writes_survive_every_schedule() {
    schedules(EC_2_2, 1000);
}

#[test]
fn erasure_coded_4_2_writes_survive_every_schedule() {
    schedules(EC_4_2, 1000);
}

/// CRUSH moves the PG with no pg_temp (`Sim::remap`): a replaced member starts empty.
#[test]
fn acknowledged_writes_survive_remaps() {
    schedules(REPLICATED_REMAPS, 1000);
}

/// CRUSH moves the erasure-coded PG with no pg_temp: members swap positions (each then
/// holds the wrong shard of everything) or hand theirs to a spare; the old holders keep
/// their shards as strays until the PG is clean. Seeds 28 (a stale read: an acknowledged
/// create rolled back on the word of a member whose log never reached it) and 132 (a moved
/// member that answered from its older map passed its wrong shards for right ones) are
/// in range, and so are 443 (an authority whose history kept a write the others had undone
/// object by object, so nobody could rebuild it) and 847 (an authority holding another
/// position's shard, which it then never replaced), and 1,984 (a stale read: an
/// acknowledged write rolled back because its shards on moved members counted for nothing;
/// peering now counts shards by identity). Beyond it, by hand: 4,352 (the same), 33,413 (a
/// stale read: a peering that heard one holder of an erasure-coded interval rolled its
/// acknowledged write back; now k must be up), 43,810 (a moved member took an older
/// activation for its new position: moving is a new interval now), and 4+2 seeds 5,946
/// and 7,711 (stuck in `recovering`: pushes destroyed the shards a later peering needed;
/// now a push keeps what it replaces, strays are asked, and a gather takes second copies).
/// Those run in CI too.
#[test]
fn erasure_coded_writes_survive_remaps() {
    schedules_and(EC_2_2_REMAPS, 2000, &[4352, 33413, 43810]);
    schedules_and(EC_4_2_REMAPS, 2000, &[5946, 7711]);
}

fn schedules(profile: Profile, default_seeds: u64) {
    schedules_and(profile, default_seeds, &[]);
}

/// `default_seeds` schedules from seed 0 (or as `SHOAL_SIM_FIRST` / `SHOAL_SIM_SEEDS` say),
/// then the `pinned` ones (seeds that once failed).
fn schedules_and(profile: Profile, default_seeds: u64, pinned: &[u64]) {
    if let Ok(seed) = std::env::var("SHOAL_SIM_SEED") {
        run(
            seed.parse().expect("SHOAL_SIM_SEED is a number"),
            3000,
            profile,
        );
        return;
    }
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (first, seeds) = (
        var("SHOAL_SIM_FIRST", 0),
        var("SHOAL_SIM_SEEDS", default_seeds),
    );
    let (mut reads, mut strays) = (0, 0);
    for seed in (first..first + seeds).chain(pinned.iter().copied()) {
        let ran = run(seed, 3000, profile);
        reads += ran.reads;
        strays += ran.strays_removed;
    }
    // The stale-read check means something only if reads get through, and the check that
    // no acknowledged write is lost covers stray deletion only if strays were deleted.
    assert!(
        reads >= seeds,
        "only {reads} reads served in {seeds} schedules"
    );
    assert!(
        strays > 0 || seeds < 20,
        "no stray copy was deleted in {seeds} schedules"
    );
    eprintln!("{seeds} schedules: {reads} reads served, {strays} stray copies deleted");
}
