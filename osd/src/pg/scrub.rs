//! Scrub, pure: what one member reports about a page of a PG's objects ([`ScrubEntry`]),
//! how the primary pages through a PG ([`page_end`], [`heads_agree`]), how it compares the
//! members' pages into inconsistencies and picks the authoritative copy of each object
//! ([`compare_page`]), and when PGs are due ([`Schedule`]). No I/O, no clock: the shell in
//! `daemon/scrub.rs` reads the stores, talks to members and passes time in.
//!
//! **Concurrency rule.** A page is only compared when every member's answer carries the
//! same PG log head, read in the same store snapshot as the page: equal heads mean every
//! member applied the same writes, so a difference is damage, not a write in flight. The
//! shell blocks client writes to the PG while it gathers one page (as Ceph blocks writes to
//! the chunk being scrubbed), so the heads converge at once; a page is retried otherwise.
//!
//! **Authority rule.** Among the members whose copy is clean (it reads back and matches its
//! own stored crc; an absent copy is clean), the state held by the most members wins; ties
//! go to the primary's state, then to the newest version. Every other copy is bad. If no
//! member has a clean copy, there is no authority and the object cannot be repaired.

use std::collections::BTreeMap;
use std::time::Duration;

use placement::{OsdId, PgId};
use rados::proto::osd::{BadCopy, InconsistentObject, ScrubKind, ScrubProblem, Version};
use serde::{Deserialize, Serialize};

use crate::store::ScrubItem;

/// One object as one member reports it to the primary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrubEntry {
    /// The object.
    pub name: String,
    /// Stored data length.
    pub size: u64,
    /// Stored version.
    pub version: Version,
    /// Stored whole-object crc32c (of the object, for an erasure-coded shard).
    pub crc: u32,
    /// crc32c the store recorded for the bytes it holds (the shard's, for erasure-coded
    /// objects): what a deep read must reproduce.
    #[serde(default)]
    pub stored: u32,
    /// crc32c over the xattrs (names and values, in name order): compares xattrs without
    /// shipping them.
    pub xattrs: u32,
    /// Deep scrub only: what re-reading found.
    pub deep: Option<DeepEntry>,
}

/// What a member's deep read of one object found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeepEntry {
    /// crc32c of the data as read, or the first bad block.
    pub data: Result<u32, u64>,
    /// crc32c over the omap.
    pub omap: u32,
}

impl ScrubEntry {
    /// The entry a member reports for an object its store read.
    pub fn of(item: &ScrubItem) -> ScrubEntry {
        // An erasure-coded shard is compared as the object it belongs to: every shard
        // carries the object's size and crc; its own shard meta differs by design.
        let shard = crate::ec::ShardMeta::of(&item.meta);
        let (size, crc) = shard
            .as_ref()
            .map_or((item.meta.size, item.meta.crc), |s| (s.size, s.crc));
        let mut xattrs = 0u32;
        let user = item
            .meta
            .xattrs
            .iter()
            .filter(|(k, _)| !k.starts_with(crate::ec::RESERVED_XATTR_PREFIX));
        for (k, v) in user {
            xattrs = crc32c::crc32c_append(xattrs, &(k.len() as u64).to_le_bytes());
            xattrs = crc32c::crc32c_append(xattrs, k.as_bytes());
            xattrs = crc32c::crc32c_append(xattrs, &(v.len() as u64).to_le_bytes());
            xattrs = crc32c::crc32c_append(xattrs, v);
        }
        ScrubEntry {
            name: item.name.clone(),
            size,
            version: item.meta.version,
            crc,
            stored: item.meta.crc,
            xattrs,
            deep: item.deep.map(|d| DeepEntry {
                data: d.data,
                omap: d.omap_digest,
            }),
        }
    }

    /// What is wrong with this copy on its own (deep scrub only: a bad block, or data that
    /// does not match the stored crc).
    fn self_problems(&self) -> Vec<ScrubProblem> {
        match self.deep.map(|d| d.data) {
            Some(Err(block)) => vec![ScrubProblem::ReadError { block }],
            Some(Ok(computed)) if computed != self.stored => vec![ScrubProblem::DataCrc {
                computed,
                stored: self.stored,
            }],
            _ => vec![],
        }
    }

    /// The state copies must agree on.
    fn print(&self) -> Print {
        Print {
            size: self.size,
            version: self.version,
            crc: self.crc,
            xattrs: self.xattrs,
            omap: self.deep.map(|d| d.omap),
        }
    }
}

/// The comparable state of a present copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Print {
    size: u64,
    version: Version,
    crc: u32,
    xattrs: u32,
    omap: Option<u32>,
}

/// One member's answer for one page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPage {
    /// The member's PG log head, read with the page.
    pub head: Version,
    /// Objects in name order.
    pub entries: Vec<ScrubEntry>,
    /// The member stopped early; objects after its last entry were not reported.
    pub truncated: bool,
}

/// Whether every member's page was read at the same PG log head (see the concurrency rule).
pub fn heads_agree(pages: &[(OsdId, MemberPage)]) -> bool {
    pages.windows(2).all(|w| w[0].1.head == w[1].1.head)
}

/// The last name the pages cover together: the smallest last name among truncated pages
/// (`None`: no page was truncated, so they cover the rest of the PG). Every member reported
/// every object it has up to there; the next page starts after it.
pub fn page_end(pages: &[(OsdId, MemberPage)]) -> Option<String> {
    pages
        .iter()
        .filter(|(_, p)| p.truncated)
        .filter_map(|(_, p)| p.entries.last().map(|e| e.name.clone()))
        .min()
}

/// An object with bad copies, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What `shoal pg list-inconsistent` shows.
    pub report: InconsistentObject,
    /// The authoritative copy as its member reported it (`None`: the object should not
    /// exist, or there is no authority — see `report.authority`).
    pub auth: Option<ScrubEntry>,
}

impl Finding {
    /// Bad copies of this object.
    pub fn errors(&self) -> u64 {
        self.report.bad.len() as u64
    }
}

/// Compares the members' pages (primary first, as in the acting set) up to `end` (`None`:
/// everything in the pages) and returns the objects with bad copies, in name order.
pub fn compare_page(pages: &[(OsdId, MemberPage)], end: Option<&str>) -> Vec<Finding> {
    let mut names: BTreeMap<&str, Vec<Option<&ScrubEntry>>> = BTreeMap::new();
    for (i, (_, page)) in pages.iter().enumerate() {
        for e in &page.entries {
            if end.is_some_and(|end| e.name.as_str() > end) {
                break;
            }
            names
                .entry(e.name.as_str())
                .or_insert_with(|| vec![None; pages.len()])[i] = Some(e);
        }
    }
    let members: Vec<OsdId> = pages.iter().map(|(o, _)| *o).collect();
    names
        .into_iter()
        .filter_map(|(name, copies)| compare_object(name, &members, &copies))
        .collect()
}

/// One object across members (`copies[i]` is `members[i]`'s; `members[0]` is the primary).
fn compare_object(
    name: &str,
    members: &[OsdId],
    copies: &[Option<&ScrubEntry>],
) -> Option<Finding> {
    // Clean states and who holds them, in member order.
    let mut groups: Vec<(Option<Print>, Vec<usize>)> = Vec::new();
    for (i, c) in copies.iter().enumerate() {
        if c.is_some_and(|e| !e.self_problems().is_empty()) {
            continue;
        }
        let print = c.map(ScrubEntry::print);
        match groups.iter_mut().find(|(p, _)| *p == print) {
            Some((_, who)) => who.push(i),
            None => groups.push((print, vec![i])),
        }
    }
    let auth = groups
        .iter()
        .max_by_key(|(print, who)| (who.len(), who.contains(&0), print.map(|p| p.version)))
        .map(|(print, who)| (*print, who[0]));
    let mut bad = Vec::new();
    for (i, c) in copies.iter().enumerate() {
        let mut problems = c.map(ScrubEntry::self_problems).unwrap_or_default();
        if let Some((want, _)) = auth {
            problems.extend(differences(c.map(ScrubEntry::print), want));
        }
        if !problems.is_empty() {
            bad.push(BadCopy {
                osd: members[i],
                problems,
            });
        }
    }
    if bad.is_empty() {
        return None;
    }
    Some(Finding {
        report: InconsistentObject {
            name: name.to_owned(),
            authority: auth.map(|(_, i)| members[i]),
            version: auth.and_then(|(p, _)| p.map(|p| p.version)),
            bad,
        },
        auth: auth.and_then(|(_, i)| copies[i].cloned()),
    })
}

/// How a copy's state differs from the authority's.
fn differences(have: Option<Print>, want: Option<Print>) -> Vec<ScrubProblem> {
    let (have, want) = match (have, want) {
        (None, None) => return vec![],
        (None, Some(_)) => return vec![ScrubProblem::Missing],
        (Some(_), None) => return vec![ScrubProblem::Unexpected],
        (Some(h), Some(w)) => (h, w),
    };
    let mut out = Vec::new();
    if have.size != want.size {
        out.push(ScrubProblem::Size {
            have: have.size,
            want: want.size,
        });
    }
    if have.version != want.version {
        out.push(ScrubProblem::Version {
            have: have.version,
            want: want.version,
        });
    }
    if have.crc != want.crc {
        out.push(ScrubProblem::StoredCrc {
            have: have.crc,
            want: want.crc,
        });
    }
    if have.xattrs != want.xattrs {
        out.push(ScrubProblem::Xattrs);
    }
    if have.omap.zip(want.omap).is_some_and(|(h, w)| h != w) {
        out.push(ScrubProblem::Omap);
    }
    out
}

/// Scrub timing of an OSD.
#[derive(Clone, Debug)]
pub struct ScrubConfig {
    /// Mean time between light scrubs of a PG.
    pub interval: Duration,
    /// Mean time between deep scrubs of a PG.
    pub deep_interval: Duration,
    /// Repair right after a scrub finds bad copies.
    pub auto_repair: bool,
}

impl Default for ScrubConfig {
    /// Ceph's defaults: light daily, deep weekly, no auto-repair.
    fn default() -> Self {
        ScrubConfig {
            interval: Duration::from_secs(24 * 3600),
            deep_interval: Duration::from_secs(7 * 24 * 3600),
            auto_repair: false,
        }
    }
}

/// When each PG this OSD is primary of is next due, on the OSD's own clock (time since it
/// started, passed in). A PG first seen, or just scrubbed, is due after its interval
/// stretched by a random 0-50% (as Ceph's `osd_scrub_interval_randomize_ratio`), so PGs
/// created together do not all scrub at once.
#[derive(Debug)]
pub struct Schedule {
    config: ScrubConfig,
    rng: u64,
    due: BTreeMap<PgId, Due>,
}

#[derive(Clone, Copy, Debug)]
struct Due {
    light: Duration,
    deep: Duration,
}

impl Schedule {
    /// An empty schedule; `seed` picks the random spread (e.g. the OSD's id).
    pub fn new(config: ScrubConfig, seed: u64) -> Schedule {
        Schedule {
            config,
            rng: seed,
            due: BTreeMap::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &ScrubConfig {
        &self.config
    }

    /// What `pg` is due for at `now`, if anything (a deep scrub also covers a light one).
    /// A PG not seen before is scheduled from `now`. `light_ok`/`deep_ok` are false while
    /// the `noscrub`/`nodeep-scrub` flags are set.
    pub fn due(
        &mut self,
        pg: PgId,
        now: Duration,
        light_ok: bool,
        deep_ok: bool,
    ) -> Option<ScrubKind> {
        let due = match self.due.get(&pg) {
            Some(d) => *d,
            None => {
                let d = Due {
                    light: now + self.spread(self.config.interval),
                    deep: now + self.spread(self.config.deep_interval),
                };
                self.due.insert(pg, d);
                return None;
            }
        };
        if deep_ok && now >= due.deep {
            Some(ScrubKind::Deep)
        } else if light_ok && now >= due.light {
            Some(ScrubKind::Light)
        } else {
            None
        }
    }

    /// Records that `pg` finished a scrub of `kind` at `now` (a deep one or a repair also
    /// counts as a light one).
    pub fn done(&mut self, pg: PgId, kind: ScrubKind, now: Duration) {
        let light = now + self.spread(self.config.interval);
        let deep = now + self.spread(self.config.deep_interval);
        let d = self.due.entry(pg).or_insert(Due { light, deep });
        d.light = light;
        if kind != ScrubKind::Light {
            d.deep = deep;
        }
    }

    /// Forgets PGs for which `keep` is false (no longer primary here).
    pub fn retain(&mut self, keep: impl Fn(PgId) -> bool) {
        self.due.retain(|pg, _| keep(*pg));
    }

    /// `interval` stretched by a random 0-50%.
    fn spread(&mut self, interval: Duration) -> Duration {
        // splitmix64: a tiny seeded generator, so schedules are reproducible in tests.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let frac = (z >> 11) as f64 / (1u64 << 53) as f64;
        interval + interval.mul_f64(0.5 * frac)
    }
}

/// The stronger of a queued kind and a new request (repair > deep > light), so queued
/// requests collapse into one run that serves them all.
pub fn stronger(a: Option<ScrubKind>, b: ScrubKind) -> ScrubKind {
    a.map_or(b, |a| a.max(b))
}

#[cfg(test)]
mod tests;
