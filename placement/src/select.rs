//! Straw2 selection: which OSDs a PG's positions go to. Pure functions over a [`Candidates`]
//! table that [`Placement`](crate::Placement) builds once per epoch.
//!
//! Every candidate OSD draws `log2(u) / weight` with `u` a uniform 32-bit hash of
//! `(PG, OSD, r)`; the highest draw wins. This is straw2's exponential race: the winner is
//! chosen with probability proportional to weight, and changing one OSD's weight only changes
//! the races that OSD wins or would win. Draws are integer-only (see [`crate::ln`]).
//!
//! **Replicated (`firstn`)**: one race per PG over all placeable OSDs; the chosen set is the
//! best OSD of each of the `n` best failure domains, ordered by draw. Equivalent in
//! distribution to descending the hierarchy with straw2 at each level (the best of a bucket's
//! exponentials is an exponential with the bucket's total weight), but an OSD joining moves
//! only the slots it wins, where Ceph's `firstn` retries move about twice that. Cost: one
//! draw per OSD per PG.
//!
//! **Erasure (`indep`)**: position `p` runs its own race (`r = p`) over every weighted OSD,
//! *including out ones*, so that an OSD going out changes no other position's race. The
//! winner's failure domain is the position's domain; its leaf is the best *in* OSD of that
//! domain in the same race. A position whose domain is already taken, or has no in OSD, then
//! takes the best free live domain of its race. Unfillable positions stay holes. Cost: `n`
//! draws per OSD per PG.
//!
//! When there are fewer live failure domains than a replicated PG needs, the remaining slots
//! go to the best remaining OSDs (distinct OSDs, shared domains): a one-host cluster still
//! keeps three copies. Erasure PGs keep holes instead, and the monitor refuses pools wider than
//! the domains available.

use crate::crush::DomainType;
use crate::hash::{draw_hash, race_seed};
use crate::ids::OsdId;
use crate::ln::{FRAC_BITS, log2_fixed};

/// One OSD as the races see it.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub id: OsdId,
    /// Per-OSD hash key.
    pub key: u64,
    /// `u64::MAX / weight`, so that a draw is a multiply, not a divide.
    pub recip: u64,
    /// In, so it may hold data (out OSDs still run in indep races, see module doc).
    pub is_in: bool,
}

/// Failure domains at one level: which domain each candidate is in.
#[derive(Clone, Debug)]
pub(crate) struct Domains {
    /// Domain index of each candidate.
    pub of: Vec<u32>,
    /// Candidates of each domain, ascending.
    pub members: Vec<Vec<u32>>,
    /// Whether each domain has at least one in candidate.
    pub live: Vec<bool>,
}

/// Every OSD with non-zero weight, sorted by id, and their domains at each level.
#[derive(Clone, Debug)]
pub(crate) struct Candidates {
    pub osds: Vec<Candidate>,
    pub osd: Domains,
    pub host: Domains,
    pub zone: Domains,
}

impl Candidates {
    pub fn domains(&self, level: DomainType) -> &Domains {
        match level {
            DomainType::Osd => &self.osd,
            DomainType::Host => &self.host,
            DomainType::Zone => &self.zone,
        }
    }
}

/// A draw: larger wins. Exact integer math, ties broken by lower OSD id (callers iterate in
/// id order and replace only on a strictly larger draw).
#[inline]
fn draw(race: u64, c: &Candidate) -> i128 {
    let u = draw_hash(race, c.key);
    let log = log2_fixed(u64::from(u) + 1) as i64 - (32i64 << FRAC_BITS); // in [-32, 0]
    i128::from(log) * i128::from(c.recip)
}

/// Best draw of each domain in one race, over candidates passing `eligible`.
fn best_per_domain(
    cands: &Candidates,
    domains: &Domains,
    race: u64,
    eligible: impl Fn(&Candidate) -> bool,
) -> Vec<Option<(i128, u32)>> {
    let mut best: Vec<Option<(i128, u32)>> = vec![None; domains.members.len()];
    for (i, c) in cands.osds.iter().enumerate() {
        if !eligible(c) {
            continue;
        }
        let d = draw(race, c);
        let slot = &mut best[domains.of[i] as usize];
        if slot.is_none_or(|(bd, _)| d > bd) {
            *slot = Some((d, i as u32));
        }
    }
    best
}

/// Orders `(draw, candidate)` pairs best first; ties go to the lower OSD id.
fn rank(entries: &mut [(i128, u32)]) {
    entries.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// Replicated selection of `n` OSDs; see the module doc.
pub(crate) fn firstn(cands: &Candidates, level: DomainType, input: u64, n: usize) -> Vec<OsdId> {
    let domains = cands.domains(level);
    let race = race_seed(input, 0);
    let mut heads: Vec<(i128, u32)> = best_per_domain(cands, domains, race, |c| c.is_in)
        .into_iter()
        .flatten()
        .collect();
    rank(&mut heads);
    let mut chosen: Vec<u32> = heads.iter().take(n).map(|&(_, i)| i).collect();
    if chosen.len() < n {
        // Too few domains: fill from the best remaining OSDs, sharing domains.
        let mut rest: Vec<(i128, u32)> = cands
            .osds
            .iter()
            .enumerate()
            .filter(|(i, c)| c.is_in && !chosen.contains(&(*i as u32)))
            .map(|(i, c)| (draw(race, c), i as u32))
            .collect();
        rank(&mut rest);
        chosen.extend(rest.iter().take(n - chosen.len()).map(|&(_, i)| i));
    }
    chosen
        .into_iter()
        .map(|i| cands.osds[i as usize].id)
        .collect()
}

/// Erasure selection of `n` positions; see the module doc.
pub(crate) fn indep(
    cands: &Candidates,
    level: DomainType,
    input: u64,
    n: usize,
) -> Vec<Option<OsdId>> {
    let domains = cands.domains(level);
    let mut out: Vec<Option<u32>> = vec![None; n];
    let mut taken: Vec<u32> = Vec::with_capacity(n);
    // Round one: each position takes its race's winner unless that domain is dead or taken.
    for (p, slot) in out.iter_mut().enumerate() {
        let race = race_seed(input, p as u32);
        let mut winner: Option<(i128, u32)> = None;
        for (i, c) in cands.osds.iter().enumerate() {
            let d = draw(race, c);
            if winner.is_none_or(|(bd, _)| d > bd) {
                winner = Some((d, i as u32));
            }
        }
        let Some((_, w)) = winner else { break };
        let dom = domains.of[w as usize];
        if domains.live[dom as usize] && !taken.contains(&dom) {
            taken.push(dom);
            *slot = Some(best_in_member(cands, domains, dom, race));
        }
    }
    // Round two: the rest walk their own race's ranking of domains.
    for (p, slot) in out.iter_mut().enumerate() {
        if slot.is_some() {
            continue;
        }
        let race = race_seed(input, p as u32);
        let mut heads: Vec<(i128, u32)> = best_per_domain(cands, domains, race, |_| true)
            .into_iter()
            .enumerate()
            .filter_map(|(dom, best)| best.map(|(d, _)| (d, dom as u32)))
            .filter(|&(_, dom)| domains.live[dom as usize] && !taken.contains(&dom))
            .collect();
        rank(&mut heads);
        if let Some(&(_, dom)) = heads.first() {
            taken.push(dom);
            *slot = Some(best_in_member(cands, domains, dom, race));
        }
    }
    out.into_iter()
        .map(|slot| slot.map(|i| cands.osds[i as usize].id))
        .collect()
}

/// The in member of a live domain with the best draw in `race`.
fn best_in_member(cands: &Candidates, domains: &Domains, dom: u32, race: u64) -> u32 {
    let mut best: Option<(i128, u32)> = None;
    for &i in &domains.members[dom as usize] {
        let c = &cands.osds[i as usize];
        if !c.is_in {
            continue;
        }
        let d = draw(race, c);
        if best.is_none_or(|(bd, _)| d > bd) {
            best = Some((d, i));
        }
    }
    best.expect("a live domain has an in member").1
}
