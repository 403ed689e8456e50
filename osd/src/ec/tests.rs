use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

fn codec(k: usize, m: usize, unit: usize) -> Codec {
    Codec::new(Layout {
        k,
        m,
        stripe_unit: unit,
    })
    .unwrap()
}

fn object(rng: &mut SmallRng, size: usize) -> Vec<u8> {
    (0..size).map(|_| rng.random()).collect()
}

/// Sizes around every boundary the layout has: empty, sub-chunk, chunk, stripe, many stripes.
const SIZES: &[usize] = &[
    0, 1, 3, 4, 5, 63, 64, 65, 255, 256, 257, 1000, 4096, 4097, 10_000,
];

#[test]
fn every_object_survives_the_loss_of_any_m_shards() {
    let mut rng = SmallRng::seed_from_u64(1);
    let c = codec(4, 2, 64);
    for &size in SIZES {
        let data = object(&mut rng, size);
        let (shards, metas) = c.encode(&data);
        let l = c.layout();
        assert!(
            shards
                .iter()
                .all(|s| s.len() as u64 == l.shard_len(size as u64))
        );
        for (s, meta) in shards.iter().zip(&metas) {
            meta.check(l, 0..l.stripes(size as u64), s).unwrap();
        }
        for a in 0..6 {
            for b in a..6 {
                let view: Vec<Option<&[u8]>> = shards
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i != a && i != b).then_some(s.as_slice()))
                    .collect();
                let all = 0..l.stripes(size as u64);
                assert_eq!(
                    c.decode(size as u64, all, &view).unwrap(),
                    data,
                    "size {size} lost {a},{b}"
                );
            }
        }
    }
}

#[test]
fn range_reads_touch_only_their_stripes() {
    let mut rng = SmallRng::seed_from_u64(2);
    let c = codec(3, 2, 128);
    let l = *c.layout();
    let size = 5000u64;
    let data = object(&mut rng, size as usize);
    let (shards, _) = c.encode(&data);
    for _ in 0..200 {
        let off = rng.random_range(0..size + 10);
        let len = rng.random_range(0..2000);
        let stripes = l.stripes_for(size, off, len);
        let r = l.shard_range(size, stripes.clone());
        let lost = rng.random_range(0..5);
        let view: Vec<Option<&[u8]>> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| (i != lost).then(|| &s[r.start as usize..r.end as usize]))
            .collect();
        let got = c.decode(size, stripes.clone(), &view).unwrap();
        let base = stripes.start * l.stripe_width();
        let (a, b) = (off.min(size), off.saturating_add(len).min(size));
        let want = &data[a as usize..b as usize];
        let slice = &got[(a.max(base) - base) as usize..][..want.len()];
        assert_eq!(slice, want, "off {off} len {len}");
    }
}

#[test]
fn a_lost_shard_is_rebuilt_bit_for_bit() {
    let mut rng = SmallRng::seed_from_u64(3);
    let c = codec(4, 2, 64);
    for &size in SIZES {
        let data = object(&mut rng, size);
        let (shards, _) = c.encode(&data);
        let mut partial: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
        partial[1] = None;
        partial[5] = None;
        c.rebuild(size as u64, &mut partial).unwrap();
        let rebuilt: Vec<Vec<u8>> = partial.into_iter().map(Option::unwrap).collect();
        assert_eq!(rebuilt, shards);
    }
}

#[test]
fn too_few_shards_is_an_error_not_garbage() {
    let c = codec(4, 2, 64);
    let (shards, _) = c.encode(&[7u8; 1000]);
    let view: Vec<Option<&[u8]>> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| (i >= 3).then_some(s.as_slice()))
        .collect();
    let err = c.decode(1000, 0..4, &view).unwrap_err();
    assert_eq!(err, EcError::TooFewShards { have: 3, need: 4 });
}

#[test]
fn parity_verification_and_chunk_crcs_catch_a_flipped_byte() {
    let c = codec(4, 2, 64);
    let l = *c.layout();
    let data: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    let (mut shards, metas) = c.encode(&data);
    assert_eq!(c.verify(2000, &shards).unwrap(), None);
    shards[4][70] ^= 1; // parity shard, stripe 1
    assert_eq!(c.verify(2000, &shards).unwrap(), Some(1));
    assert_eq!(metas[4].check(&l, 0..l.stripes(2000), &shards[4]), Err(1));
    assert_eq!(metas[3].check(&l, 0..l.stripes(2000), &shards[3]), Ok(()));
}

#[test]
fn small_objects_are_not_padded_to_a_stripe() {
    let l = Layout {
        k: 4,
        m: 2,
        stripe_unit: 65536,
    };
    assert_eq!(l.shard_len(1), 1);
    assert_eq!(l.shard_len(4), 1);
    assert_eq!(l.shard_len(5), 2);
    assert_eq!(l.shard_len(0), 0);
    assert_eq!(l.shard_len(4 * 65536 + 8), 65536 + 2);
    assert_eq!(l.stripes_for(100, 100, 5), 0..0);
}

#[test]
fn shard_meta_round_trips() {
    let meta = ShardMeta {
        shard: 3,
        size: 10,
        crc: 9,
        chunk_crcs: vec![1, 2],
    };
    assert_eq!(ShardMeta::decode(&meta.encode()), Some(meta));
    assert_eq!(ShardMeta::decode(b"junk"), None);
}

#[test]
fn the_shard_that_breaks_parity_is_named() {
    let c = codec(4, 2, 64);
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let (shards, _) = c.encode(&data);
    assert_eq!(c.find_bad_shard(3000, &shards).unwrap(), None);
    for bad in 0..6 {
        let mut s = shards.clone();
        s[bad][130] ^= 0x40; // stripe 2
        assert_eq!(
            c.find_bad_shard(3000, &s).unwrap(),
            Some((bad, 2)),
            "shard {bad}"
        );
    }
    let mut s = shards.clone();
    s[0][0] ^= 1;
    s[1][0] ^= 1;
    s[2][0] ^= 1;
    assert!(c.find_bad_shard(3000, &s).is_err());
}

#[test]
fn with_one_parity_shard_the_bad_shard_cannot_be_named() {
    let c = codec(3, 1, 64);
    let (mut shards, _) = c.encode(&[9u8; 500]);
    shards[1][3] ^= 1;
    assert!(c.find_bad_shard(500, &shards).is_err());
}
