//! Request and reply types of every Shoal service. Each is a wire contract: add fields with
//! `#[serde(default)]`, never reorder or repurpose. Method numbers: monitor 1xx, OSD 2xx, debug 9xx.

pub mod debug;
pub mod mon;
pub mod osd;
