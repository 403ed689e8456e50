//! The SWIM failure detector's shell: foca driven over a UDP socket by one task. Members it
//! declares down become failure reports to the monitors (again every `REPORT_AGAIN` while
//! the map still has them up); the monitors decide.
//!
//! Packets carry a tag by the cluster key and a counter (`gossip::seal`): forged, altered,
//! replayed and stale ones are dropped and counted (`shoal_osd_gossip_dropped_total`).
//!
//! Sends are awaited (`send_to().await`), so a socket that is not yet writable delays a
//! packet instead of losing it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, State, Timer};
use placement::{Epoch, OsdId};
use rados::proto::mon::OsdFailure;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::shared::Shared;
use crate::gossip::seal::{GossipKey, Opener, Sealer};
use crate::gossip::{self, GossipId, GossipTiming, MsgPackCodec};

/// How often a member still down in gossip and up in the map is reported again.
const REPORT_AGAIN: Duration = Duration::from_millis(250);

/// Largest packet foca sends (its LAN default), with room to spare for receiving.
const MAX_PACKET: usize = 1400;

type Swim = Foca<GossipId, MsgPackCodec, SmallRng, NoCustomBroadcast>;

/// Runs the detector for this OSD until the process ends; packets are signed and checked
/// with `key`.
pub async fn run(
    shared: Arc<Shared>,
    socket: UdpSocket,
    boot: Epoch,
    timing: GossipTiming,
    key: GossipKey,
) {
    let addr = socket.local_addr().expect("a bound socket has an address");
    let me = GossipId {
        osd: shared.id,
        addr,
        boot,
        renewal: 0,
    };
    let members = shared.map().osds.len();
    let rng = SmallRng::seed_from_u64(u64::from(shared.id.0) ^ boot.0.rotate_left(32));
    let sealer = Sealer::new(key.clone(), shared.id, boot.0);
    let mut driver = Driver {
        sealer,
        opener: Opener::new(key),
        shared,
        socket: Arc::new(socket),
        swim: Foca::new(me, gossip::config(members, timing), rng, MsgPackCodec),
        runtime: AccumulatingRuntime::new(),
        timing,
        members,
        reported: BTreeMap::new(),
    };
    // Unbounded, yet bounded in practice: foca keeps a few timers per member.
    let (timer_tx, mut timers) = mpsc::unbounded_channel();
    let mut buf = vec![0u8; MAX_PACKET * 2];
    let mut tick = tokio::time::interval(timing.probe);
    info!(%addr, "gossip started");
    loop {
        tokio::select! {
            got = driver.socket.recv_from(&mut buf) => match got {
                Ok((n, from)) => driver.receive(&buf[..n], from),
                Err(e) => warn!(error = %e, "gossip receive failed"),
            },
            Some(timer) = timers.recv() => {
                if let Err(e) = driver.swim.handle_timer(timer, &mut driver.runtime) {
                    debug!(error = %e, "gossip timer");
                }
            }
            _ = tick.tick() => driver.follow_map(),
        }
        driver.drain(&timer_tx).await;
    }
}

struct Driver {
    /// Signs what we send.
    sealer: Sealer,
    /// Checks what we receive.
    opener: Opener,
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    swim: Swim,
    runtime: AccumulatingRuntime<GossipId>,
    timing: GossipTiming,
    /// The cluster size foca is tuned for (how many times an update is retransmitted).
    members: usize,
    /// When each dead instance was last reported.
    reported: BTreeMap<OsdId, (GossipId, tokio::time::Instant)>,
}

impl Driver {
    /// Hands an authentic, new packet to foca; counts and drops anything else.
    fn receive(&mut self, datagram: &[u8], from: std::net::SocketAddr) {
        let packet = match self.opener.open(datagram, self.shared.clock.unix_ms()) {
            Ok(packet) => packet,
            Err(why) => {
                let counter = &self.shared.counters.gossip_dropped[why.index()];
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                debug!(%from, reason = why.as_str(), "gossip packet dropped");
                return;
            }
        };
        if let Err(e) = self.swim.handle_data(packet, &mut self.runtime) {
            debug!(%from, error = %e, "gossip packet not understood");
        }
    }

    /// Keeps foca in step with the map: our own identity (a re-boot is a new instance),
    /// up OSDs it has not met, the cluster size; and reports members still down.
    fn follow_map(&mut self) {
        let map = self.shared.map();
        let me = *self.swim.identity();
        if let Some(entry) = map.osds.get(&me.osd).filter(|o| o.up)
            && entry.up_from > me.boot
        {
            let renewed = GossipId {
                boot: entry.up_from,
                renewal: 0,
                ..me
            };
            info!(
                boot = entry.up_from.0,
                "gossip identity renewed after a re-boot"
            );
            if let Err(e) = self.swim.change_identity(renewed, &mut self.runtime) {
                warn!(error = %e, "gossip identity change failed");
            }
        }
        let known: BTreeMap<OsdId, GossipId> = self
            .swim
            .iter_membership_state()
            .map(|m| (m.id().osd, *m.id()))
            .collect();
        for peer in gossip::up_members(&map, me.osd) {
            let stale = known.get(&peer.osd).is_none_or(|k| k.boot < peer.boot);
            if stale && let Err(e) = self.swim.announce(peer, &mut self.runtime) {
                debug!(error = %e, "gossip announce");
            }
        }
        if map.osds.len() != self.members {
            self.members = map.osds.len();
            if let Err(e) = self
                .swim
                .set_config(gossip::config(self.members, self.timing))
            {
                warn!(error = %e, "gossip config");
            }
        }
        let down: Vec<GossipId> = self
            .swim
            .iter_membership_state()
            .filter(|m| m.state() == State::Down)
            .map(|m| *m.id())
            .collect();
        for dead in down {
            self.report(dead);
        }
    }

    /// Reports `dead` unless the map has moved on or it was reported a moment ago.
    fn report(&mut self, dead: GossipId) {
        if !gossip::worth_reporting(&self.shared.map(), &dead) {
            return;
        }
        let now = tokio::time::Instant::now();
        if let Some((who, at)) = self.reported.get(&dead.osd)
            && *who == dead
            && now.duration_since(*at) < REPORT_AGAIN
        {
            return;
        }
        self.reported.insert(dead.osd, (dead, now));
        warn!(osd = %dead.osd, boot = dead.boot.0, "gossip: peer is down; reporting it");
        let report = OsdFailure {
            target: dead.osd,
            reporter: self.shared.id,
        };
        let mon = self.shared.mon.clone();
        tokio::spawn(async move {
            // Every monitor, each to the end: whichever is the leader (or becomes it) hears
            // it, and followers relay their copy.
            if let Err(e) = mon.call_all(&report).await {
                warn!(error = %e, "failure report not delivered");
            }
        });
    }

    /// Carries out what foca asked for: packets, timers, notifications.
    async fn drain(&mut self, timers: &mpsc::UnboundedSender<Timer<GossipId>>) {
        while let Some((to, data)) = self.runtime.to_send() {
            let sealed = self.sealer.seal(&data, self.shared.clock.unix_ms());
            if let Err(e) = self.socket.send_to(&sealed, to.addr).await {
                debug!(to = %to.osd, error = %e, "gossip send failed");
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            let tx = timers.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = tx.send(timer);
            });
        }
        while let Some(note) = self.runtime.to_notify() {
            match note {
                OwnedNotification::MemberDown(dead) => self.report(dead),
                OwnedNotification::MemberUp(peer) => {
                    debug!(osd = %peer.osd, "gossip: peer up");
                }
                OwnedNotification::Rejoin(me) => {
                    info!(
                        renewal = me.renewal,
                        "gossip: rejoined after being declared down"
                    );
                }
                _ => {}
            }
        }
    }
}
