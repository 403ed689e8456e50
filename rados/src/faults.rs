//! Fault injection built into the messenger: drop or delay traffic to and from chosen peers,
//! or isolate a daemon entirely. Switchable at run time; used by tests and chaos scripts.
//!
//! A dropped request is never answered, so the caller sees a timeout, just as with a real
//! partition. Peers are named by their listening address (outgoing: the destination;
//! incoming: the `from` the sender announced).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it.
    Pass,
    /// Deliver it after this long.
    Delay(Duration),
    /// Never deliver it.
    Drop,
}

/// The rules in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultRules {
    /// Drop everything, in and out: a full partition of this daemon.
    pub isolated: bool,
    /// Per-peer verdicts (`Drop` partitions this daemon from that peer).
    pub peers: BTreeMap<SocketAddr, PeerFault>,
}

/// A rule for one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PeerFault {
    /// Drop all traffic with the peer.
    Drop,
    /// Delay all traffic with the peer.
    Delay(Duration),
}

/// Shared, switchable fault rules of one messenger.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultRules>>);

impl Faults {
    /// Replaces all rules.
    pub fn set(&self, rules: FaultRules) {
        *self.0.lock().expect("fault rules lock") = rules;
    }

    /// The rules in force.
    pub fn get(&self) -> FaultRules {
        self.0.lock().expect("fault rules lock").clone()
    }

    /// Isolates this daemon from everyone (or ends that).
    pub fn isolate(&self, on: bool) {
        self.0.lock().expect("fault rules lock").isolated = on;
    }

    /// Sets (or with `None` clears) the rule for one peer.
    pub fn peer(&self, peer: SocketAddr, fault: Option<PeerFault>) {
        let mut rules = self.0.lock().expect("fault rules lock");
        match fault {
            Some(f) => rules.peers.insert(peer, f),
            None => rules.peers.remove(&peer),
        };
    }

    /// Clears every rule.
    pub fn clear(&self) {
        self.set(FaultRules::default());
    }

    /// The verdict for a message to or from `peer` (unknown for clients without an address).
    pub fn verdict(&self, peer: Option<SocketAddr>) -> Verdict {
        let rules = self.0.lock().expect("fault rules lock");
        if rules.isolated {
            return Verdict::Drop;
        }
        match peer.and_then(|p| rules.peers.get(&p)) {
            Some(PeerFault::Drop) => Verdict::Drop,
            Some(PeerFault::Delay(d)) => Verdict::Delay(*d),
            None => Verdict::Pass,
        }
    }
}
