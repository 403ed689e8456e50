//! Erasure codec throughput, 4+2 with a 64 KiB stripe unit, on 1 MiB and 16 MiB objects:
//! encode, decode with every data shard present (a copy, no arithmetic), decode with two data
//! shards lost, and rebuild of one lost data shard. Throughput counts object bytes.
//! Run: `cargo bench -p osd --bench ec`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use osd::ec::{Codec, Layout};

const LAYOUT: Layout = Layout {
    k: 4,
    m: 2,
    stripe_unit: 64 << 10,
};

const SIZES: &[(&str, usize)] = &[("1MiB", 1 << 20), ("16MiB", 16 << 20)];

/// Deterministic bytes that do not compress (xorshift).
fn object(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let codec = Codec::new(LAYOUT).unwrap();
    for &(name, len) in SIZES {
        let data = object(len);
        let size = len as u64;
        let stripes = 0..LAYOUT.stripes(size);
        let (shards, _) = codec.encode(&data);

        let mut group = c.benchmark_group(format!("ec_4+2/{name}"));
        group
            .throughput(Throughput::Bytes(size))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));

        group.bench_function("encode", |b| b.iter(|| black_box(codec.encode(&data))));

        let all: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
        assert_eq!(codec.decode(size, stripes.clone(), &all).unwrap(), data);
        group.bench_function("decode_all_data", |b| {
            b.iter(|| black_box(codec.decode(size, stripes.clone(), &all).unwrap()))
        });

        let mut degraded = all.clone();
        degraded[0] = None;
        degraded[1] = None;
        assert_eq!(
            codec.decode(size, stripes.clone(), &degraded).unwrap(),
            data
        );
        group.bench_function("decode_2_data_lost", |b| {
            b.iter(|| black_box(codec.decode(size, stripes.clone(), &degraded).unwrap()))
        });

        group.bench_function("rebuild_1_lost", |b| {
            b.iter_batched(
                || {
                    let mut lost: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
                    lost[0] = None;
                    lost
                },
                |mut lost| {
                    codec.rebuild(size, &mut lost).unwrap();
                    lost
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
