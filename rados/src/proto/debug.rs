//! Debug requests every daemon's messenger answers itself (before its router and its own
//! fault rules), for chaos scripts and operators: switching fault injection at run time.
//! Method numbers 9xx.

use serde::{Deserialize, Serialize};

use crate::faults::FaultRules;
use crate::rpc::Rpc;

/// Replaces the receiving daemon's fault rules with `rules` (the default clears them).
/// Answered with the rules now in force. Never dropped by the rules themselves, so an
/// isolated daemon can always be healed. Authenticated by the cluster key like every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetFaults {
    /// The rules to put in force.
    pub rules: FaultRules,
}
impl Rpc for SetFaults {
    const METHOD: u16 = 900;
    type Reply = FaultRules;
}
