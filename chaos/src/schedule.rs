//! The fault schedule: which daemon suffers which fault when, derived from a seed alone.
//! Pure: the same [`Params`] give the same [`Schedule`], and every fault a schedule starts it
//! also ends, before `duration`, never with more than `max_down` faults in force at once.

use std::fmt;

use crate::rng::Rng;

/// A daemon of the cluster, by its index in `shoal up`'s layout (`osd.N` is the OSD with data
/// directory `DIR/osd.N` on CRUSH host `nodeN`; `mon.N` the monitor with id N; `gw.N` the
/// N-th S3 gateway, `gw.0` being `shoal up`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// An OSD.
    Osd(u32),
    /// A monitor.
    Mon(u32),
    /// An S3 gateway.
    Gateway(u32),
    /// The monitor leading the quorum when the step runs (its restart restarts that one).
    Leader,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Osd(i) => write!(f, "osd.{i}"),
            Target::Mon(i) => write!(f, "mon.{i}"),
            Target::Gateway(i) => write!(f, "gw.{i}"),
            Target::Leader => write!(f, "the leader monitor"),
        }
    }
}

/// One thing the driver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// kill -9 the daemon.
    Kill(Target),
    /// Start a killed daemon again with its command line.
    Restart(Target),
    /// SIGSTOP the daemon.
    Stop(Target),
    /// SIGCONT a stopped daemon.
    Cont(Target),
    /// Drop all of the daemon's messenger traffic (`shoal debug faults T --isolate`).
    Isolate(Target),
    /// Clear the daemon's fault rules.
    Heal(Target),
    /// `shoal osd out` the OSD with this layout index.
    Out(u32),
    /// `shoal osd in` it.
    In(u32),
    /// Start a new OSD with a new data directory (`osd.N`).
    AddOsd(u32),
    /// Wait until HEALTH_OK with every PG active+clean (bounded by the recovery timeout).
    WaitClean,
    /// Corrupt one replica of an acknowledged object on disk, then deep-scrub and repair
    /// its PG; `pick` chooses the object, the replica and the byte.
    Bitrot {
        /// Seeded choice of object, replica and offset.
        pick: u64,
    },
}

impl Action {
    /// The daemon this action takes down (out of service), if it does.
    pub fn starts_fault(&self) -> Option<Target> {
        match *self {
            Action::Kill(t) | Action::Stop(t) | Action::Isolate(t) => Some(t),
            Action::Out(i) => Some(Target::Osd(i)),
            _ => None,
        }
    }

    /// The daemon this action returns to service, if it does.
    pub fn ends_fault(&self) -> Option<Target> {
        match *self {
            Action::Restart(t) | Action::Cont(t) | Action::Heal(t) => Some(t),
            Action::In(i) => Some(Target::Osd(i)),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Kill(t) => write!(f, "kill -9 {t}"),
            Action::Restart(t) => write!(f, "restart {t}"),
            Action::Stop(t) => write!(f, "SIGSTOP {t}"),
            Action::Cont(t) => write!(f, "SIGCONT {t}"),
            Action::Isolate(t) => write!(f, "isolate {t}"),
            Action::Heal(t) => write!(f, "heal {t}"),
            Action::Out(i) => write!(f, "osd out osd.{i}"),
            Action::In(i) => write!(f, "osd in osd.{i}"),
            Action::AddOsd(i) => write!(f, "add osd.{i}"),
            Action::WaitClean => write!(f, "wait for HEALTH_OK, all PGs active+clean"),
            Action::Bitrot { pick } => write!(f, "bitrot (pick {pick:#x})"),
        }
    }
}

/// An action and the earliest time it runs, in milliseconds after the faults begin. Steps
/// run in order; a step after a blocking one (`WaitClean`, `Bitrot`) runs when that ends if
/// its time has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Earliest start, ms after the schedule starts.
    pub at_ms: u64,
    /// What to do.
    pub action: Action,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+{}.{:03}s {}",
            self.at_ms / 1000,
            self.at_ms % 1000,
            self.action
        )
    }
}

/// The scenarios, one per script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// kill -9 random OSDs, restart them after random delays.
    KillOsds,
    /// SIGSTOP / SIGCONT random OSDs.
    HangOsd,
    /// kill -9 / restart monitors (quorum kept unless `--max-down` allows losing it).
    KillMons,
    /// Mark an OSD out, add a new OSD, wait for active+clean, mark the first back in.
    OutAndRebalance,
    /// Messenger partitions: isolate an OSD or a monitor from everyone, then heal.
    Partition,
    /// Flip a byte of one replica on disk; deep scrub finds it and repair fixes it.
    Bitrot,
    /// kill -9 random S3 gateways, restart them after random delays (needs `--s3`).
    KillGateways,
    /// kill -9 the leader monitor and a random OSD together, restart both later.
    KillLeaderAndOsd,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use clap::ValueEnum;
        let name = self.to_possible_value().expect("no scenario is hidden");
        f.write_str(name.get_name())
    }
}

/// What a schedule is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The seed.
    pub seed: u64,
    /// Every fault ends by then (ms).
    pub duration_ms: u64,
    /// OSDs in the cluster (layout indexes `0..osds`).
    pub osds: u32,
    /// Members of one PG of the pool, each on its own OSD: size 3, or k+m.
    pub width: u32,
    /// Monitors in the cluster.
    pub mons: u32,
    /// S3 gateways in front of it (0: none).
    pub gateways: u32,
    /// Most daemons out of service at once.
    pub max_down: u32,
    /// Fixed fault timing instead of random windows: a fault every `.0` ms, each lasting
    /// `.1` ms.
    pub every: Option<(u64, u64)>,
}

/// Why no schedule can be built; nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The pool's PGs (`width` members on distinct hosts) cannot be placed on `osds` OSDs.
    #[error(
        "{osds} OSDs: each PG of the chaos pool puts {width} members (copies or shards) on \
         distinct hosts, so at least {width} are needed"
    )]
    TooFewOsds {
        /// OSDs in the cluster.
        osds: u32,
        /// Members of one PG.
        width: u32,
    },
    /// `max_down` is 0: nothing would ever be injected.
    #[error("--max-down 0 injects no fault")]
    NothingDown,
    /// Killing the leader with an OSD needs a quorum that survives it.
    #[error("kill-leader-and-osd needs 3 or 5 monitors, not {0}")]
    TooFewMons(u32),
    /// A gateway scenario without gateways, or one that would take them all down.
    #[error("kill-gateways needs --s3 with at least 2 gateways (--gateways), one always up")]
    TooFewGateways,
    /// The run is shorter than the first fault's start plus the shortest fault.
    #[error("--duration {0} ms is too short for any fault (at least {1} ms)")]
    TooShort(u64, u64),
}

/// A seeded list of steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The seed it came from.
    pub seed: u64,
    /// The steps, in the order they run.
    pub steps: Vec<Step>,
}

/// What a [`Action::Bitrot`] step corrupts, decoded from its `pick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitrotPick {
    /// Index into the acknowledged object names (sorted).
    pub object: usize,
    /// Index into the object's acting set.
    pub replica: usize,
    /// Byte to flip: past the 8-byte sequence number header, inside the object.
    pub offset: u64,
}

impl BitrotPick {
    /// Decodes `pick` for `objects` names, `replicas` copies and an object of `size` bytes
    /// (all at least 1; sizes of 8 bytes or less get offset 0).
    pub fn new(pick: u64, objects: usize, replicas: usize, size: u64) -> BitrotPick {
        let offset = if size > 8 {
            8 + (pick >> 16) % (size - 8)
        } else {
            0
        };
        BitrotPick {
            object: (pick % objects.max(1) as u64) as usize,
            replica: ((pick >> 8) % replicas.max(1) as u64) as usize,
            offset,
        }
    }
}

/// When the first fault may start: the workload has acknowledged writes by then.
pub const FIRST_FAULT_MS: u64 = 3_000;

/// Timing of a family of on/off faults, in ms.
struct Windows {
    /// Shortest and longest time a daemon stays out.
    down: (u64, u64),
    /// Shortest and longest wait between attempts to start a fault.
    gap: (u64, u64),
}

/// Builds the schedule of `scenario`.
pub fn build(scenario: Scenario, p: &Params) -> Result<Schedule, ScheduleError> {
    if p.osds < p.width {
        return Err(ScheduleError::TooFewOsds {
            osds: p.osds,
            width: p.width,
        });
    }
    if p.max_down == 0 {
        return Err(ScheduleError::NothingDown);
    }
    let mut rng = Rng::new(p.seed);
    let osds: Vec<Target> = (0..p.osds).map(Target::Osd).collect();
    let mons: Vec<Target> = (0..p.mons).map(Target::Mon).collect();
    let gateways: Vec<Target> = (0..p.gateways).map(Target::Gateway).collect();
    // `--fault-every`/`--fault-for` replace the random windows with fixed ones.
    let timing = |w: Windows| match p.every {
        Some((every, down)) => Windows {
            down: (down, down),
            gap: (every, every),
        },
        None => w,
    };
    let steps = match scenario {
        Scenario::KillOsds => on_off(
            &mut rng,
            p,
            &osds,
            Action::Kill,
            Action::Restart,
            timing(KILL),
        )?,
        Scenario::HangOsd => on_off(&mut rng, p, &osds, Action::Stop, Action::Cont, timing(HANG))?,
        Scenario::KillMons => on_off(
            &mut rng,
            p,
            &mons,
            Action::Kill,
            Action::Restart,
            timing(KILL),
        )?,
        Scenario::KillLeaderAndOsd => {
            if p.mons < 3 {
                return Err(ScheduleError::TooFewMons(p.mons));
            }
            // One OSD at a time: the leader can only go down once.
            let one = Params { max_down: 1, ..*p };
            let osd_steps = on_off(
                &mut rng,
                &one,
                &osds,
                Action::Kill,
                Action::Restart,
                timing(KILL),
            )?;
            with_leader(osd_steps)
        }
        Scenario::KillGateways => {
            if p.gateways < 2 || p.max_down >= p.gateways {
                return Err(ScheduleError::TooFewGateways);
            }
            on_off(
                &mut rng,
                p,
                &gateways,
                Action::Kill,
                Action::Restart,
                timing(KILL),
            )?
        }
        Scenario::Partition => {
            let all: Vec<Target> = osds.iter().chain(&mons).copied().collect();
            on_off(
                &mut rng,
                p,
                &all,
                Action::Isolate,
                Action::Heal,
                timing(HANG),
            )?
        }
        Scenario::OutAndRebalance => {
            let out = rng.below(p.osds as usize) as u32;
            let add_at =
                FIRST_FAULT_MS + rng.range(0, p.duration_ms.saturating_sub(FIRST_FAULT_MS) / 3);
            let at = |at_ms, action| Step { at_ms, action };
            vec![
                at(FIRST_FAULT_MS, Action::Out(out)),
                at(add_at, Action::AddOsd(p.osds)),
                at(add_at, Action::WaitClean),
                at(add_at, Action::In(out)),
                at(add_at, Action::WaitClean),
            ]
        }
        Scenario::Bitrot => vec![Step {
            at_ms: FIRST_FAULT_MS.max(p.duration_ms / 3),
            action: Action::Bitrot {
                pick: rng.next_u64(),
            },
        }],
    };
    Ok(Schedule {
        seed: p.seed,
        steps,
    })
}

const KILL: Windows = Windows {
    down: (1_000, 8_000),
    gap: (1_000, 4_000),
};
const HANG: Windows = Windows {
    down: (2_000, 10_000),
    gap: (1_000, 5_000),
};

/// Each OSD kill and restart of `steps` with the leader monitor killed and restarted at
/// the same moment (right after the OSD: finding the leader asks the monitors).
fn with_leader(steps: Vec<Step>) -> Vec<Step> {
    let mut out = Vec::with_capacity(steps.len() * 2);
    for step in steps {
        out.push(step);
        match step.action {
            Action::Kill(_) => out.push(Step {
                at_ms: step.at_ms,
                action: Action::Kill(Target::Leader),
            }),
            Action::Restart(_) => out.push(Step {
                at_ms: step.at_ms,
                action: Action::Restart(Target::Leader),
            }),
            _ => {}
        }
    }
    out
}

/// Random fault windows over `candidates`: at most `max_down` at once, each ending by the
/// duration; every window is a start step and an end step.
fn on_off(
    rng: &mut Rng,
    p: &Params,
    candidates: &[Target],
    start: fn(Target) -> Action,
    end: fn(Target) -> Action,
    w: Windows,
) -> Result<Vec<Step>, ScheduleError> {
    let shortest = FIRST_FAULT_MS + w.down.0;
    if p.duration_ms < shortest {
        return Err(ScheduleError::TooShort(p.duration_ms, shortest));
    }
    let max_down = (p.max_down as usize).min(candidates.len());
    let mut active: Vec<(u64, Target)> = Vec::new();
    let mut steps = Vec::new();
    let mut t = FIRST_FAULT_MS;
    while t + w.down.0 <= p.duration_ms {
        active.retain(|(ends, _)| *ends > t);
        if active.len() < max_down {
            let free: Vec<Target> = candidates
                .iter()
                .filter(|c| !active.iter().any(|(_, a)| a == *c))
                .copied()
                .collect();
            let target = free[rng.below(free.len())];
            let ends = (t + rng.range(w.down.0, w.down.1)).min(p.duration_ms);
            active.push((ends, target));
            steps.push(Step {
                at_ms: t,
                action: start(target),
            });
            steps.push(Step {
                at_ms: ends,
                action: end(target),
            });
        }
        t += rng.range(w.gap.0, w.gap.1);
    }
    // By time; at equal times a daemon returns before another one leaves.
    steps.sort_by_key(|s| (s.at_ms, s.action.starts_fault().is_some()));
    Ok(steps)
}

#[cfg(test)]
mod tests;
