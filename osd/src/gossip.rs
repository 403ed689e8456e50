//! The failure detector's pure parts: who a gossip member is, how its packets are encoded,
//! how fast it decides, and which failures are worth reporting. SWIM itself is foca's state
//! machine; the UDP shell that drives it is `daemon::gossip`.
//!
//! Gossip only *suspects*: a member foca declares down becomes a failure report to the
//! monitors, which mark OSDs down. The map stays the truth. Packets are signed with the
//! cluster key ([`seal`]), so only members can make an OSD suspect another.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

pub mod seal;

use bytes::{Buf, BufMut};
use foca::{Codec, Config, Header, Identity, Member};
use placement::{ClusterMap, Epoch, OsdId};
use serde::{Deserialize, Serialize};

/// One OSD instance in the gossip cluster.
///
/// `boot` (the epoch the OSD last booted in, its `up_from`) tells instances apart: a
/// restarted OSD wins over its dead predecessor, and a report about a dead instance is not
/// held against its successor. `renewal` lets foca rejoin on its own after being declared
/// down by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GossipId {
    /// The OSD.
    pub osd: OsdId,
    /// Its gossip UDP address.
    pub addr: SocketAddr,
    /// The epoch it booted in.
    pub boot: Epoch,
    /// Bumped each time foca renews the identity.
    pub renewal: u32,
}

impl GossipId {
    /// Precedence between two instances of one OSD: newer boot, then newer renewal.
    fn rank(&self) -> (Epoch, u32) {
        (self.boot, self.renewal)
    }
}

impl Identity for GossipId {
    type Addr = OsdId;

    fn renew(&self) -> Option<Self> {
        Some(GossipId {
            renewal: self.renewal.wrapping_add(1),
            ..*self
        })
    }

    fn addr(&self) -> OsdId {
        self.osd
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.rank() > adversary.rank()
    }
}

/// How fast the detector decides. A member is probed every `probe` by some peer; an
/// unanswered probe (direct and indirect within `rtt`) makes it suspect; a suspect that
/// does not refute within `suspect` is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipTiming {
    /// Probe period.
    pub probe: Duration,
    /// Probe round-trip allowance.
    pub rtt: Duration,
    /// Suspect -> down.
    pub suspect: Duration,
}

impl Default for GossipTiming {
    /// Tuned so a killed OSD is reported within about 2 s on a LAN (a fault's stall is
    /// mostly this: see README), while a member starved for a second (a busy machine, a GC
    /// pause) still refutes its suspicion in time.
    fn default() -> Self {
        GossipTiming {
            probe: Duration::from_millis(500),
            rtt: Duration::from_millis(200),
            suspect: Duration::from_millis(1000),
        }
    }
}

/// foca's configuration for `members` OSDs with `timing`.
pub fn config(members: usize, timing: GossipTiming) -> Config {
    let size = NonZeroU32::new(u32::try_from(members.max(1)).unwrap_or(u32::MAX))
        .expect("at least one member");
    let mut config = Config::new_lan(size);
    config.probe_period = timing.probe;
    config.probe_rtt = timing.rtt;
    config.suspect_to_down_after = timing.suspect;
    config.num_indirect_probes = NonZeroUsize::new(2).expect("non-zero");
    config
}

/// Whether a member foca calls down should be reported: the map still has that very
/// instance up (a restarted OSD, or one already marked down, is left alone).
pub fn worth_reporting(map: &ClusterMap, dead: &GossipId) -> bool {
    map.osds
        .get(&dead.osd)
        .is_some_and(|o| o.up && o.up_from == dead.boot && o.gossip == Some(dead.addr))
}

/// The instances the map says are up, with a gossip address, other than `me`: whom to
/// announce ourselves to.
pub fn up_members(map: &ClusterMap, me: OsdId) -> Vec<GossipId> {
    map.osds
        .values()
        .filter(|o| o.up && o.id != me)
        .filter_map(|o| {
            Some(GossipId {
                osd: o.id,
                addr: o.gossip?,
                boot: o.up_from,
                renewal: 0,
            })
        })
        .collect()
}

/// Gossip packets in MessagePack, the cluster's wire encoding.
#[derive(Clone, Copy, Debug, Default)]
pub struct MsgPackCodec;

/// A gossip packet that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed.
    #[error("gossip encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Decoding failed.
    #[error("gossip decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

impl Codec<GossipId> for MsgPackCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<GossipId>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        Ok(rmp_serde::encode::write(&mut buf.writer(), header)?)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<GossipId>, CodecError> {
        Ok(rmp_serde::decode::from_read(buf.reader())?)
    }

    fn encode_member(
        &mut self,
        member: &Member<GossipId>,
        buf: impl BufMut,
    ) -> Result<(), CodecError> {
        Ok(rmp_serde::encode::write(&mut buf.writer(), member)?)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<GossipId>, CodecError> {
        Ok(rmp_serde::decode::from_read(buf.reader())?)
    }
}

#[cfg(test)]
mod tests;
