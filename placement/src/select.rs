//! Straw2 selection: which OSDs a PG's positions go to. Pure functions over a [`Candidates`]
//! table that [`Placement`](crate::Placement) builds once per epoch.
//!
//! Every candidate OSD draws `log2(u) / weight` with `u` a uniform 32-bit hash of
//! `(PG, OSD, r)`; the highest draw wins (computed as the lowest cost `-log2(u) / weight`). This is straw2's exponential race: the winner is
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
//! *including out ones*, so that an OSD going out changes no other position's race; the
//! position claims the winner's failure domain. If the winner is in and its domain was free,
//! that is the position's OSD. Otherwise, in a second round, the position takes the cheapest
//! *in* OSD of its race among the free domains (and, if its winner was out, the domain it
//! claimed): an out OSD's shards spread over the cluster by weight instead of piling onto its
//! host-mates, yet a PG with exactly `k + m` hosts still fills from the same host. Positions
//! that collided retry before those whose winner was out, so an OSD going out moves only its
//! own position. Unfillable positions stay holes. Cost: `n` races per PG; most draws skip
//! the logarithm ([`cost_floor`]).
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

/// A candidate's draw, as a cost: `-log2(u) / weight`, an exponential variable of rate
/// `weight`; the smallest cost wins (straw2's largest `ln(u) / weight`, negated so that the
/// product is one unsigned 64x64 multiply). Ties go to the lower OSD id: callers iterate in
/// id order and replace only on a strictly smaller cost.
#[inline]
fn draw(race: u64, c: &Candidate) -> u128 {
    cost(draw_hash(race, c.key), c.recip)
}

#[inline]
fn cost(u: u32, recip: u64) -> u128 {
    let neg_log = (32u64 << FRAC_BITS) - log2_fixed(u64::from(u) + 1); // -log2(u / 2^32)
    u128::from(neg_log) * u128::from(recip)
}

/// A lower bound of [`cost`] without the logarithm, to skip candidates that cannot win:
/// `-log2(y) >= (1 - y) / ln 2`, and every rounding in [`log2_fixed`] is downward (a chord
/// under a concave curve, truncated fractions), which only raises the cost. `2^16 / ln 2` is
/// 94548; 93600 leaves a 1% margin.
#[inline]
fn cost_floor(u: u32, recip: u64) -> u128 {
    u128::from(u64::from(u32::MAX - u) * 93_600) * u128::from(recip)
}

/// The winner of one race: the cheapest candidate. Most candidates are ruled out by
/// [`cost_floor`] without computing a logarithm.
fn race_winner(cands: &Candidates, race: u64) -> Option<u32> {
    let mut best = (u128::MAX, None);
    for (i, c) in cands.osds.iter().enumerate() {
        let u = draw_hash(race, c.key);
        if cost_floor(u, c.recip) >= best.0 {
            continue;
        }
        let d = cost(u, c.recip);
        if d < best.0 {
            best = (d, Some(i as u32));
        }
    }
    best.1
}

/// Every candidate's draw in one race, into `out` (a tight loop with no dependencies
/// between iterations, so the hash and log of many candidates overlap).
fn draw_all(cands: &Candidates, race: u64, out: &mut Vec<u128>) {
    out.clear();
    out.extend(cands.osds.iter().map(|c| draw(race, c)));
}

/// Best draw of each domain, over candidates passing `eligible`.
fn best_per_domain(
    cands: &Candidates,
    domains: &Domains,
    draws: &[u128],
    eligible: impl Fn(&Candidate) -> bool,
) -> Vec<Option<(u128, u32)>> {
    domains
        .members
        .iter()
        .map(|members| {
            let mut best: Option<(u128, u32)> = None;
            for &i in members {
                let d = draws[i as usize];
                if eligible(&cands.osds[i as usize]) && best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, i));
                }
            }
            best
        })
        .collect()
}

/// Replicated selection of `n` OSDs; see the module doc.
pub(crate) fn firstn(cands: &Candidates, level: DomainType, input: u64, n: usize) -> Vec<OsdId> {
    let domains = cands.domains(level);
    let race = race_seed(input, 0);
    let mut draws = Vec::with_capacity(cands.osds.len());
    draw_all(cands, race, &mut draws);
    let mut heads: Vec<(u128, u32)> = best_per_domain(cands, domains, &draws, |c| c.is_in)
        .into_iter()
        .flatten()
        .collect();
    heads.sort_unstable(); // cheapest first; ties go to the lower OSD id
    let mut chosen: Vec<u32> = heads.iter().take(n).map(|&(_, i)| i).collect();
    if chosen.len() < n {
        // Too few domains: fill from the best remaining OSDs, sharing domains.
        let mut rest: Vec<(u128, u32)> = cands
            .osds
            .iter()
            .enumerate()
            .filter(|(i, c)| c.is_in && !chosen.contains(&(*i as u32)))
            .map(|(i, _)| (draws[i], i as u32))
            .collect();
        rest.sort_unstable();
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
    let mut collided = Vec::new();
    let mut deferred: Vec<(usize, u32)> = Vec::new();
    let mut draws = Vec::new();
    // Claims depend only on weights, never on in/out, so an OSD going out moves no claim.
    // A claim whose best member is in is final; the others are resolved last.
    let mut claim = |p: usize, best: u32, taken: &mut Vec<u32>, out: &mut [Option<u32>]| {
        let dom = domains.of[best as usize];
        taken.push(dom);
        if cands.osds[best as usize].is_in {
            out[p] = Some(best);
        } else {
            deferred.push((p, dom));
        }
    };
    // Round one: each position claims its race winner's domain, unless another did first.
    for p in 0..n {
        let Some(winner) = race_winner(cands, race_seed(input, p as u32)) else {
            return vec![None; n]; // no weighted OSD at all
        };
        if taken.contains(&domains.of[winner as usize]) {
            collided.push(p);
        } else {
            claim(p, winner, &mut taken, &mut out);
        }
    }
    // Round two: collided positions claim the best free domain of their own race.
    for p in collided {
        draw_all(cands, race_seed(input, p as u32), &mut draws);
        let best = best_per_domain(cands, domains, &draws, |_| true)
            .into_iter()
            .enumerate()
            .filter(|&(dom, _)| !taken.contains(&(dom as u32)))
            .filter_map(|(_, best)| best)
            .min();
        if let Some((_, i)) = best {
            claim(p, i, &mut taken, &mut out);
        }
    }
    // Last: positions whose claimed member is out take the cheapest in OSD of their race
    // among the free domains and their own claim, so an out OSD's shards spread by weight
    // (and a PG with exactly k+m domains still fills from the same one).
    for (p, own) in deferred {
        draw_all(cands, race_seed(input, p as u32), &mut draws);
        let best = best_per_domain(cands, domains, &draws, |c| c.is_in)
            .into_iter()
            .enumerate()
            .filter(|&(dom, _)| dom as u32 == own || !taken.contains(&(dom as u32)))
            .filter_map(|(_, best)| best)
            .min();
        if let Some((_, i)) = best {
            let dom = domains.of[i as usize];
            if dom != own {
                taken.push(dom);
            }
            out[p] = Some(i);
        }
    }
    out.into_iter()
        .map(|slot| slot.map(|i| cands.osds[i as usize].id))
        .collect()
}

#[cfg(test)]
mod tests;
