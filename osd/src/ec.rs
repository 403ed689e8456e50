//! Erasure coding of whole objects, pure: the stripe layout, encoding an object into `k + m`
//! shards, reading a byte range back from any `k` of them, and rebuilding a lost shard.
//!
//! An object of `size` bytes is cut into stripes of `k * stripe_unit` bytes. Stripe `s`
//! gives each data shard one chunk of `stripe_unit` bytes (the last stripe's chunks are
//! `ceil(rest / k)` bytes, zero-padded, so a one-byte object costs `k + m` bytes, not
//! `k + m` stripe units), and each parity shard one chunk computed with Reed-Solomon over
//! GF(2^8) (`reed-solomon-erasure`, SIMD). Shard `i` is its chunks back to back, so a
//! range of stripes is one contiguous range of every shard: a range read touches only the
//! stripes it needs. Every chunk has its own crc32c ([`ShardMeta::chunk_crcs`]).

pub mod shards;

use std::ops::Range;

use reed_solomon_erasure::galois_8::ReedSolomon;
use serde::{Deserialize, Serialize};

/// The xattr that holds a shard's [`ShardMeta`]. Clients can neither see nor set xattrs
/// under the `_shoal.` prefix.
pub const SHARD_XATTR: &str = "_shoal.ec";

/// Prefix of xattrs reserved for the OSD itself.
pub const RESERVED_XATTR_PREFIX: &str = "_shoal.";

/// Why coding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcError {
    /// The profile cannot be built (k or m out of range, bad stripe unit).
    #[error("invalid erasure profile: {0}")]
    Profile(String),
    /// Fewer than `k` usable shards.
    #[error("only {have} of the {need} shards needed to decode are available")]
    TooFewShards {
        /// Usable shards.
        have: usize,
        /// `k`.
        need: usize,
    },
    /// The parity is wrong and no single bad shard explains it.
    #[error("stripe {stripe}: parity inconsistent and no single bad shard explains it")]
    Inconsistent {
        /// The first inconsistent stripe.
        stripe: u64,
    },
    /// A shard's length does not match the layout.
    #[error("shard {shard} has {have} bytes, expected {want}")]
    ShardLength {
        /// Which.
        shard: usize,
        /// Its length.
        have: usize,
        /// The layout's.
        want: usize,
    },
}

/// Where an object's bytes live in its shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Data shards.
    pub k: usize,
    /// Parity shards.
    pub m: usize,
    /// Bytes per full chunk.
    pub stripe_unit: usize,
}

impl Layout {
    /// Bytes of the object one full stripe holds.
    pub fn stripe_width(&self) -> u64 {
        (self.k * self.stripe_unit) as u64
    }

    /// Stripes of an object of `size` bytes.
    pub fn stripes(&self, size: u64) -> u64 {
        size.div_ceil(self.stripe_width())
    }

    /// Chunk length of stripe `s` (every shard has the same).
    pub fn chunk_len(&self, size: u64, s: u64) -> usize {
        let start = s * self.stripe_width();
        let rest = size.saturating_sub(start).min(self.stripe_width());
        rest.div_ceil(self.k as u64) as usize
    }

    /// Bytes of the object stripe `s` holds.
    fn stripe_bytes(&self, size: u64, s: u64) -> usize {
        let start = s * self.stripe_width();
        size.saturating_sub(start).min(self.stripe_width()) as usize
    }

    /// Length of every shard of an object of `size` bytes.
    pub fn shard_len(&self, size: u64) -> u64 {
        self.shard_range(size, 0..self.stripes(size)).end
    }

    /// Where stripes `stripes` sit inside each shard (only the last stripe can be short,
    /// so every earlier one starts at `s * stripe_unit`).
    pub fn shard_range(&self, size: u64, stripes: Range<u64>) -> Range<u64> {
        let unit = self.stripe_unit as u64;
        if stripes.is_empty() {
            return stripes.start * unit..stripes.start * unit;
        }
        let last = stripes.end - 1;
        stripes.start * unit..last * unit + self.chunk_len(size, last) as u64
    }

    /// The stripes holding bytes `off .. off + len` of an object of `size` bytes (clamped).
    pub fn stripes_for(&self, size: u64, off: u64, len: u64) -> Range<u64> {
        let end = off.saturating_add(len).min(size);
        if off >= end {
            return 0..0;
        }
        off / self.stripe_width()..end.div_ceil(self.stripe_width())
    }
}

/// What a shard carries besides its chunks, stored as the [`SHARD_XATTR`] xattr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// Which shard this is (its position in the PG when it was written).
    pub shard: u8,
    /// The object's size.
    pub size: u64,
    /// crc32c of the whole object.
    pub crc: u32,
    /// crc32c of each chunk of this shard, by stripe.
    pub chunk_crcs: Vec<u32>,
}

impl ShardMeta {
    /// The shard meta of a stored object (`None`: not a shard, or unreadable).
    pub fn of(meta: &crate::store::ObjectMeta) -> Option<ShardMeta> {
        ShardMeta::decode(meta.xattrs.get(SHARD_XATTR)?)
    }

    /// Decodes the xattr value.
    pub fn decode(bytes: &[u8]) -> Option<ShardMeta> {
        rmp_serde::from_slice(bytes).ok()
    }

    /// Encodes the xattr value.
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("shard meta encodes")
    }

    /// Checks the chunks of `data`, the shard's bytes for `stripes`; the first bad stripe.
    pub fn check(&self, layout: &Layout, stripes: Range<u64>, data: &[u8]) -> Result<(), u64> {
        let base = layout.shard_range(self.size, stripes.clone()).start;
        for s in stripes {
            let r = layout.shard_range(self.size, s..s + 1);
            let (a, b) = ((r.start - base) as usize, (r.end - base) as usize);
            let ok = data
                .get(a..b)
                .zip(self.chunk_crcs.get(s as usize))
                .is_some_and(|(chunk, crc)| crc32c::crc32c(chunk) == *crc);
            if !ok {
                return Err(s);
            }
        }
        Ok(())
    }
}

/// A Reed-Solomon codec for one layout.
pub struct Codec {
    layout: Layout,
    rs: ReedSolomon,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("layout", &self.layout)
            .finish()
    }
}

impl Codec {
    /// A codec for `layout`.
    pub fn new(layout: Layout) -> Result<Codec, EcError> {
        if layout.stripe_unit == 0 {
            return Err(EcError::Profile("stripe unit is 0".into()));
        }
        let rs =
            ReedSolomon::new(layout.k, layout.m).map_err(|e| EcError::Profile(format!("{e:?}")))?;
        Ok(Codec { layout, rs })
    }

    /// Its layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Cuts `data` into `k + m` shards and the meta of each.
    pub fn encode(&self, data: &[u8]) -> (Vec<Vec<u8>>, Vec<ShardMeta>) {
        let l = &self.layout;
        let size = data.len() as u64;
        let n = l.k + l.m;
        let len = l.shard_len(size) as usize;
        // One allocation per shard (cloning a Vec would not keep its capacity).
        let mut shards: Vec<Vec<u8>> = (0..n).map(|_| Vec::with_capacity(len)).collect();
        let stripes = l.stripes(size) as usize;
        let mut crcs: Vec<Vec<u32>> = (0..n).map(|_| Vec::with_capacity(stripes)).collect();
        for s in 0..l.stripes(size) {
            let chunk = l.chunk_len(size, s);
            let start = (s * l.stripe_width()) as usize;
            let bytes = &data[start..start + l.stripe_bytes(size, s)];
            for (i, shard) in shards.iter_mut().enumerate() {
                let from = (i * chunk).min(bytes.len());
                let to = ((i + 1) * chunk).min(bytes.len());
                let at = shard.len();
                if i < l.k {
                    shard.extend_from_slice(&bytes[from..to]);
                }
                shard.resize(at + chunk, 0);
            }
            let at = shards[0].len() - chunk;
            let (data_shards, parity) = shards.split_at_mut(l.k);
            let ins: Vec<&[u8]> = data_shards.iter().map(|d| &d[at..]).collect();
            let mut outs: Vec<&mut [u8]> = parity.iter_mut().map(|p| &mut p[at..]).collect();
            self.rs
                .encode_sep(&ins, &mut outs)
                .expect("equal chunk lengths by construction");
            for (i, shard) in shards.iter().enumerate() {
                crcs[i].push(crc32c::crc32c(&shard[at..]));
            }
        }
        let crc = crc32c::crc32c(data);
        let metas = crcs
            .into_iter()
            .enumerate()
            .map(|(i, chunk_crcs)| ShardMeta {
                shard: i as u8,
                size,
                crc,
                chunk_crcs,
            })
            .collect();
        (shards, metas)
    }

    /// The object's bytes in `stripes`, from `shards[i]` = shard i's bytes for those stripes
    /// (`None`: unavailable). Decodes only when a data shard is missing.
    pub fn decode(
        &self,
        size: u64,
        stripes: Range<u64>,
        shards: &[Option<&[u8]>],
    ) -> Result<Vec<u8>, EcError> {
        let l = &self.layout;
        let want = l.shard_range(size, stripes.clone());
        self.check_lengths(shards, (want.end - want.start) as usize)?;
        let mut out =
            Vec::with_capacity((stripes.end - stripes.start) as usize * l.k * l.stripe_unit);
        for s in stripes {
            let r = l.shard_range(size, s..s + 1);
            let (a, b) = (
                (r.start - want.start) as usize,
                (r.end - want.start) as usize,
            );
            let before = out.len();
            if shards[..l.k].iter().all(Option::is_some) {
                // Every data chunk is here: no decoding, no copy but into the output.
                for sh in &shards[..l.k] {
                    out.extend_from_slice(&sh.expect("present")[a..b]);
                }
            } else {
                let mut chunks: Vec<Option<Vec<u8>>> = shards
                    .iter()
                    .map(|sh| sh.map(|d| d[a..b].to_vec()))
                    .collect();
                self.rs
                    .reconstruct_data(&mut chunks)
                    .map_err(|_| self.too_few(shards))?;
                for c in &chunks[..l.k] {
                    out.extend_from_slice(c.as_deref().expect("data chunk rebuilt"));
                }
            }
            out.truncate(before + l.stripe_bytes(size, s));
        }
        Ok(out)
    }

    /// Rebuilds every missing whole shard in place from the present ones.
    pub fn rebuild(&self, size: u64, shards: &mut [Option<Vec<u8>>]) -> Result<(), EcError> {
        let l = &self.layout;
        let len = l.shard_len(size) as usize;
        let view: Vec<Option<&[u8]>> = shards.iter().map(|s| s.as_deref()).collect();
        self.check_lengths(&view, len)?;
        if shards.iter().all(Option::is_some) {
            return Ok(());
        }
        let missing: Vec<usize> = (0..shards.len()).filter(|i| shards[*i].is_none()).collect();
        for i in &missing {
            shards[*i] = Some(Vec::with_capacity(len));
        }
        for s in 0..l.stripes(size) {
            let r = l.shard_range(size, s..s + 1);
            let (a, b) = (r.start as usize, r.end as usize);
            let mut chunks: Vec<Option<Vec<u8>>> = shards
                .iter()
                .enumerate()
                .map(|(i, sh)| {
                    (!missing.contains(&i)).then(|| sh.as_ref().expect("present")[a..b].to_vec())
                })
                .collect();
            self.rs
                .reconstruct(&mut chunks)
                .map_err(|_| EcError::TooFewShards {
                    have: shards.len() - missing.len(),
                    need: l.k,
                })?;
            for i in &missing {
                let chunk = chunks[*i].as_ref().expect("rebuilt");
                shards[*i]
                    .as_mut()
                    .expect("allocated")
                    .extend_from_slice(chunk);
            }
        }
        Ok(())
    }

    /// Whether every stripe's parity matches its data; the first stripe that does not.
    pub fn verify(&self, size: u64, shards: &[Vec<u8>]) -> Result<Option<u64>, EcError> {
        let l = &self.layout;
        let view: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
        self.check_lengths(&view, l.shard_len(size) as usize)?;
        for s in 0..l.stripes(size) {
            let r = l.shard_range(size, s..s + 1);
            let chunks: Vec<&[u8]> = shards
                .iter()
                .map(|d| &d[r.start as usize..r.end as usize])
                .collect();
            if !self
                .rs
                .verify(&chunks)
                .map_err(|e| EcError::Profile(format!("{e:?}")))?
            {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// With every shard present and each chunk clean on its own: the shard whose stripes
    /// disagree with the others' parity, and the first such stripe (`None`: the parity
    /// holds). Found by rebuilding each shard in turn from the others: only the bad one,
    /// rebuilt, makes the parity consistent again.
    pub fn find_bad_shard(
        &self,
        size: u64,
        shards: &[Vec<u8>],
    ) -> Result<Option<(usize, u64)>, EcError> {
        let Some(stripe) = self.verify(size, shards)? else {
            return Ok(None);
        };
        // With one parity shard any single shard rebuilt restores consistency: ambiguous.
        let mut culprits = Vec::new();
        for i in 0..shards.len() {
            let mut trial: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
            trial[i] = None;
            self.rebuild(size, &mut trial)?;
            let trial: Vec<Vec<u8>> = trial.into_iter().map(Option::unwrap_or_default).collect();
            if self.verify(size, &trial)?.is_none() {
                culprits.push(i);
            }
        }
        match culprits[..] {
            [i] => Ok(Some((i, stripe))),
            _ => Err(EcError::Inconsistent { stripe }),
        }
    }

    fn check_lengths(&self, shards: &[Option<&[u8]>], want: usize) -> Result<(), EcError> {
        let n = self.layout.k + self.layout.m;
        if shards.len() != n {
            return Err(EcError::Profile(format!(
                "{} shards given, need {n}",
                shards.len()
            )));
        }
        for (i, s) in shards.iter().enumerate() {
            if let Some(s) = s
                && s.len() != want
            {
                return Err(EcError::ShardLength {
                    shard: i,
                    have: s.len(),
                    want,
                });
            }
        }
        let have = shards.iter().filter(|s| s.is_some()).count();
        if have < self.layout.k {
            return Err(self.too_few(shards));
        }
        Ok(())
    }

    fn too_few(&self, shards: &[Option<&[u8]>]) -> EcError {
        EcError::TooFewShards {
            have: shards.iter().filter(|s| s.is_some()).count(),
            need: self.layout.k,
        }
    }
}

#[cfg(test)]
mod tests;
