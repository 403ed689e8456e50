//! Durability torture test: a child process (this same test binary, re-executed into
//! `crash_writer_child`) writes in a loop and is killed with SIGKILL at random points, over and
//! over, on one store file. After every kill the store is opened here and checked: every
//! acknowledged op is present, and no object is torn (data, checksums, xattrs, omap and log all
//! from the same txn).
//!
//! Each writer task owns a disjoint set of names and runs one txn at a time, so at most one op
//! per name is in flight at the kill: an object's valid states are its last acknowledged one and
//! the one its in-flight op would produce.
//!
//! Knobs: `SHOAL_CRASH_SEED` (replay a run), `SHOAL_CRASH_ROUNDS` (default 200).

// Test-only: the seed comes from the clock unless given, and the child bounds its own life
// so that it can never outlive a vanished parent.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use osd::store::{ObjectKey, Store, StoreConfig, TxOp, Txn};
use placement::{Epoch, PgId, PoolId};
use rados::proto::osd::Version;
use serde_bytes::ByteBuf;

const DIR_ENV: &str = "SHOAL_CRASH_WRITER_DIR";
const SEED_ENV: &str = "SHOAL_CRASH_WRITER_SEED";
const ROUND_ENV: &str = "SHOAL_CRASH_WRITER_ROUND";
const TASKS: u32 = 4;
const NAMES_PER_TASK: u32 = 6;
/// The default block size: a block is then written as one 128 KiB allocation, which goes to
/// disk with `O_DIRECT` (`store/direct.rs`), so a crash lands amid direct writes too.
const BS: usize = osd::store::DEFAULT_BLOCK_SIZE as usize;
const MAX_SIZE: usize = 3 * BS + 1000;

fn config() -> StoreConfig {
    StoreConfig {
        cache_bytes: 4 << 20,
        block_size: BS as u32,
        max_batch: 64,
        queue: 64,
    }
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("osd.redb")
}

/// Seeded xorshift64*: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn task_pg(task: u32) -> PgId {
    PgId {
        pool: PoolId(1),
        seed: task,
    }
}

fn version(seq: u64) -> Version {
    Version {
        epoch: Epoch(1),
        seq,
    }
}

/// The data an op with `seq` writes: a function of `seq` and `size` only.
fn data_for(seq: u64, size: usize) -> Bytes {
    let mut rng = Rng::new(seq);
    let mut v = Vec::with_capacity(size + 8);
    while v.len() < size {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(size);
    v.into()
}

/// Object sizes: mostly small, some spanning many blocks, some exact block multiples.
fn pick_size(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0 => 0,
        1 => (1 + rng.below(3) as usize) * BS,
        2..=5 => rng.below(16 << 10) as usize,
        6..=8 => rng.below(BS as u64) as usize,
        _ => rng.below(MAX_SIZE as u64 + 1) as usize,
    }
}

// ---------------------------------------------------------------------------------------------
// The child.

/// Writes forever (until killed) when `SHOAL_CRASH_WRITER_DIR` is set; a no-op otherwise.
/// Protocol on stdout, one line each: `START <name> <seq> <W|P|R> <size> <crc> <trim>` before
/// a txn is submitted, `ACK <name> <seq>` after its commit resolved.
#[test]
#[ignore = "child process of kill9_never_loses_an_acknowledged_write"]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let seed: u64 = env_num(SEED_ENV);
    let round: u64 = env_num(ROUND_ENV);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = Store::open(&db_path(Path::new(&dir)), config()).expect("open store");
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..TASKS {
            let store = store.clone();
            let rng = Rng::new(seed ^ (round << 8) ^ u64::from(task));
            tasks.spawn(writer_task(store, task, round, rng));
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("writer task");
        }
    });
    // Only reached if the parent vanished or the time limit passed.
    std::process::exit(0);
}

fn env_num(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not set"))
}

/// Prints one protocol line; exits the process when the parent is gone (broken pipe).
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

async fn writer_task(store: Store, task: u32, round: u64, mut rng: Rng) {
    // A backstop: the parent kills us long before this.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pg = task_pg(task);
    let mut seq = round * 10_000_000 + 1;
    while Instant::now() < deadline {
        seq += 1;
        let name = format!("t{task}-{}", rng.below(u64::from(NAMES_PER_TASK)));
        let obj = ObjectKey {
            pg,
            name: name.clone(),
        };
        let trim = if rng.below(16) == 0 {
            seq.saturating_sub(32)
        } else {
            0
        };
        let mut ops = Vec::new();
        let (kind, size, crc) = match rng.below(10) {
            0 | 1 => {
                ops.push(TxOp::Remove { obj });
                ('R', 0, 0)
            }
            2..=4 => {
                let size = pick_size(&mut rng);
                let data = data_for(seq, size);
                let crc = crc32c::crc32c(&data);
                let mut omap = vec![(b"seq".to_vec(), seq.to_string().into_bytes())];
                for i in 0..rng.below(4) {
                    omap.push((format!("k{i}").into_bytes(), vec![i as u8; 100]));
                }
                ops.push(TxOp::PutObject {
                    obj,
                    version: version(seq),
                    data,
                    xattrs: BTreeMap::from([(
                        "seq".to_owned(),
                        ByteBuf::from(seq.to_string().into_bytes()),
                    )]),
                    omap,
                });
                ('P', size, crc)
            }
            _ => {
                let size = pick_size(&mut rng);
                let data = data_for(seq, size);
                let crc = crc32c::crc32c(&data);
                ops.push(TxOp::WriteFull {
                    obj: obj.clone(),
                    data,
                    version: version(seq),
                });
                ops.push(TxOp::SetXattr {
                    obj: obj.clone(),
                    name: "seq".into(),
                    value: seq.to_string().into_bytes(),
                    version: version(seq),
                });
                ops.push(TxOp::OmapSet {
                    obj,
                    entries: vec![(b"seq".to_vec(), seq.to_string().into_bytes())],
                    version: version(seq),
                });
                ('W', size, crc)
            }
        };
        ops.push(TxOp::AppendLog {
            pg,
            version: version(seq),
            entry: name.clone().into_bytes(),
        });
        if trim > 0 {
            ops.push(TxOp::TrimLog {
                pg,
                through: version(trim),
            });
        }
        say(format_args!(
            "START {name} {seq} {kind} {size} {crc} {trim}"
        ));
        store.commit(Txn { ops }).await.expect("commit");
        say(format_args!("ACK {name} {seq}"));
    }
}

// ---------------------------------------------------------------------------------------------
// The parent.

/// What an object looks like after an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ObjState {
    Absent,
    Present { seq: u64, size: u64, crc: u32 },
}

/// An op the child started.
#[derive(Clone, Copy, Debug)]
struct Started {
    seq: u64,
    state: ObjState,
}

/// One name's ops in one round.
#[derive(Default)]
struct NameLog {
    /// State after the last acknowledged op.
    acked: Option<ObjState>,
    /// An op started and not (yet) acknowledged.
    pending: Option<Started>,
}

/// What one round's child reported.
#[derive(Default)]
struct RoundLog {
    names: HashMap<String, NameLog>,
    /// Acknowledged ops of this round: (task, seq, name).
    acked: Vec<(u32, u64, String)>,
    /// Per task, the highest trim point started (acknowledged or not).
    trims: HashMap<u32, u64>,
    acks: usize,
}

impl RoundLog {
    /// Takes one stdout line; true if it was an ACK.
    fn line(&mut self, line: &str) -> bool {
        // libtest may print `test crash_writer_child ... ` ahead of the first line.
        let at = ["START ", "ACK "]
            .iter()
            .filter_map(|tag| line.find(tag))
            .min()
            .unwrap_or(0);
        let f: Vec<&str> = line[at..].split_whitespace().collect();
        match f.as_slice() {
            ["START", name, seq, kind, size, crc, trim] => {
                let (Ok(seq), Ok(size), Ok(crc), Ok(trim)) = (
                    seq.parse(),
                    size.parse(),
                    crc.parse::<u32>(),
                    trim.parse::<u64>(),
                ) else {
                    return false;
                };
                let state = if *kind == "R" {
                    ObjState::Absent
                } else {
                    ObjState::Present { seq, size, crc }
                };
                if trim > 0 {
                    let t = self.trims.entry(task_of(name)).or_default();
                    *t = (*t).max(trim);
                }
                let n = self.names.entry((*name).to_owned()).or_default();
                assert!(n.pending.is_none(), "{name}: two ops in flight");
                n.pending = Some(Started { seq, state });
                false
            }
            ["ACK", name, seq] => {
                let Ok(seq) = seq.parse::<u64>() else {
                    return false;
                };
                let n = self
                    .names
                    .get_mut(*name)
                    .unwrap_or_else(|| panic!("ACK without START: {line:?}"));
                let op = n.pending.take().expect("ACK without START");
                assert_eq!(op.seq, seq, "ACK for {name} out of order");
                n.acked = Some(op.state);
                self.acked.push((task_of(name), seq, (*name).to_owned()));
                self.acks += 1;
                true
            }
            // libtest chatter, or a line torn by the kill
            _ => false,
        }
    }
}

fn task_of(name: &str) -> u32 {
    name[1..name.find('-').expect("name")]
        .parse()
        .expect("task")
}

/// Kills the child if the test panics, so that no writer outlives it.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The object as stored, checked to be whole: block checksums (by `read`), whole-data crc,
/// and data, version, xattr and omap all from the same op.
fn observe(store: &Store, obj: &ObjectKey) -> Result<ObjState, String> {
    let Some((meta, data)) = store.read(obj, 0, None).map_err(|e| e.to_string())? else {
        return Ok(ObjState::Absent);
    };
    let seq = meta.version.seq;
    let xattr = meta.xattrs.get("seq").map(|v| v.to_vec());
    let omap = store
        .omap_get(obj, &[b"seq".to_vec()])
        .map_err(|e| e.to_string())?;
    let want = seq.to_string().into_bytes();
    if data.len() as u64 != meta.size
        || crc32c::crc32c(&data) != meta.crc
        || xattr.as_ref() != Some(&want)
        || omap != vec![(b"seq".to_vec(), want)]
        || data != data_for(seq, data.len())
    {
        return Err(format!(
            "torn object {obj}: meta {meta:?}, data len {}, crc {:#x}, xattr {xattr:?}, omap {omap:?}",
            data.len(),
            crc32c::crc32c(&data)
        ));
    }
    Ok(ObjState::Present {
        seq,
        size: meta.size,
        crc: meta.crc,
    })
}

struct Timing {
    spawn_to_ack: Duration,
    open: Duration,
    verify: Duration,
    acks: usize,
    /// Ops in flight at a kill, by whether they turned out applied.
    in_flight_applied: usize,
    in_flight_lost: usize,
    objects: u64,
    bytes: u64,
}

/// Runs one child until it is killed; returns what it reported.
fn run_child(dir: &Path, seed: u64, round: u64, rng: &mut Rng, t: &mut Timing) -> RoundLog {
    let exe = std::env::current_exe().expect("current exe");
    let spawned = Instant::now();
    let mut child = ChildGuard(
        Command::new(exe)
            .args(["--exact", "crash_writer_child", "--ignored", "--nocapture"])
            .env(DIR_ENV, dir)
            .env(SEED_ENV, seed.to_string())
            .env(ROUND_ENV, round.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn writer child"),
    );
    let stdout = child.0.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut log = RoundLog::default();
    // One round in eight kills blind, possibly while the child is still opening (and
    // recovering) the store; the others wait for the first acknowledgement.
    let blind = rng.below(8) == 0;
    if blind {
        std::thread::sleep(Duration::from_millis(rng.below(40)));
    } else {
        let deadline = spawned + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if log.line(&line) {
                        break;
                    }
                }
                Err(e) => panic!("round {round} (seed {seed}): no ACK from the writer: {e}"),
            }
        }
        t.spawn_to_ack += spawned.elapsed();
        let delay = match rng.below(8) {
            0 => 0,
            _ => 5 + rng.below(56),
        };
        std::thread::sleep(Duration::from_millis(delay));
    }
    // SIGKILL.
    child.0.kill().expect("kill child");
    child.0.wait().expect("wait child");
    // The pipe reaches EOF now that the child is dead; bound the drain anyway.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.line(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("round {round} (seed {seed}): child stdout never closed")
            }
        }
    }
    reader.join().expect("reader thread");
    t.acks += log.acks;
    log
}

#[test]
fn kill9_never_loses_an_acknowledged_write() {
    let seed = std::env::var("SHOAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos() as u64
        });
    let rounds: u64 = std::env::var("SHOAL_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("kill9 torture: seed {seed} (SHOAL_CRASH_SEED={seed} to replay), {rounds} rounds");
    let dir = TempDir(
        std::env::temp_dir().join(format!("shoal-store-crash-{}-{seed}", std::process::id())),
    );
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).expect("create dir");

    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut model: HashMap<String, ObjState> = HashMap::new();
    let mut t = Timing {
        spawn_to_ack: Duration::ZERO,
        open: Duration::ZERO,
        verify: Duration::ZERO,
        acks: 0,
        in_flight_applied: 0,
        in_flight_lost: 0,
        objects: 0,
        bytes: 0,
    };
    let all_names: Vec<String> = (0..TASKS)
        .flat_map(|task| (0..NAMES_PER_TASK).map(move |k| format!("t{task}-{k}")))
        .collect();

    for round in 0..rounds {
        let log = run_child(&dir.0, seed, round, &mut rng, &mut t);

        let opened = Instant::now();
        let store = Store::open(&db_path(&dir.0), config())
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): reopen failed: {e}"));
        t.open += opened.elapsed();
        let verifying = Instant::now();

        // Every name: the stored state is the last acknowledged one or the in-flight one.
        for name in &all_names {
            let obj = ObjectKey {
                pg: task_pg(task_of(name)),
                name: name.clone(),
            };
            let actual = observe(&store, &obj)
                .unwrap_or_else(|e| panic!("round {round} (seed {seed}): {e}"));
            let mut valid = vec![model.get(name).copied().unwrap_or(ObjState::Absent)];
            if let Some(n) = log.names.get(name) {
                if let Some(acked) = n.acked {
                    valid[0] = acked;
                }
                if let Some(op) = n.pending {
                    valid.push(op.state);
                }
            }
            assert!(
                valid.contains(&actual),
                "round {round} (seed {seed}): {name} is {actual:?}, expected one of {valid:?}"
            );
            if valid.len() == 2 && valid[0] != valid[1] {
                if actual == valid[1] {
                    t.in_flight_applied += 1;
                } else {
                    t.in_flight_lost += 1;
                }
            }
            model.insert(name.clone(), actual);
        }

        // Nothing else exists, and usage matches what is there.
        let (mut objects, mut bytes) = (0u64, 0u64);
        for pg in store.pgs().expect("pgs") {
            for (name, meta) in store.list(pg, None, usize::MAX).expect("list") {
                assert!(
                    all_names.contains(&name) && pg == task_pg(task_of(&name)),
                    "round {round} (seed {seed}): unexpected object {pg}/{name}"
                );
                objects += 1;
                bytes += meta.size;
            }
        }
        let usage = store.usage();
        assert_eq!(
            (usage.objects, usage.bytes),
            (objects, bytes),
            "round {round} (seed {seed}): usage after crash"
        );
        t.objects = objects;
        t.bytes = bytes;

        // Every acknowledged log entry above the trim horizon is there.
        for task in 0..TASKS {
            let entries: HashMap<u64, Vec<u8>> = store
                .log(task_pg(task))
                .expect("log")
                .into_iter()
                .map(|(v, e)| (v.seq, e))
                .collect();
            let horizon = log.trims.get(&task).copied().unwrap_or(0);
            for (_, seq, name) in log
                .acked
                .iter()
                .filter(|(t, s, _)| *t == task && *s > horizon)
            {
                assert_eq!(
                    entries.get(seq),
                    Some(&name.clone().into_bytes()),
                    "round {round} (seed {seed}): log entry {seq} of task {task}"
                );
            }
        }
        t.verify += verifying.elapsed();
        drop(store);
    }
    let n = rounds.max(1) as u32;
    println!(
        "kill9 torture: {rounds} rounds in {:.1?}; {} acknowledged txns; ops in flight at a kill: {} applied, {} not; per round: spawn->first ACK {:.1?}, reopen {:.1?}, verify {:.1?}; final store {} objects, {} bytes",
        started.elapsed(),
        t.acks,
        t.in_flight_applied,
        t.in_flight_lost,
        t.spawn_to_ack / n,
        t.open / n,
        t.verify / n,
        t.objects,
        t.bytes,
    );
}
