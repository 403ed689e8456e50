//! PG -> OSD mapping throughput: 100 OSDs in 10 hosts, replicated size 3 and erasure 4+2.
//! Run: `cargo bench -p placement --bench mapping`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use placement::synth::{self, Shape};
use placement::{DomainType, PgId, Placement, PoolKind};

const SHAPE: Shape = Shape {
    zones: 1,
    hosts: 10,
    osds_per_host: 10,
};

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "replicated_size3",
            PoolKind::Replicated {
                size: 3,
                min_size: 2,
            },
        ),
        ("erasure_4+2", PoolKind::erasure(4, 2)),
    ];
    for (name, kind) in cases {
        let mut map = synth::map(SHAPE);
        let pool = synth::add_pool(&mut map, kind, 4096, DomainType::Host).unwrap();
        let placement = Placement::new(&map);

        let mut group = c.benchmark_group(format!("map_pg/{name}"));
        group.throughput(Throughput::Elements(1));
        let mut seed = 0u32;
        group.bench_function("one_pg", |b| {
            b.iter(|| {
                seed = (seed + 1) % 4096;
                black_box(placement.crush_set(PgId { pool, seed }).unwrap())
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("remap_pool/{name}"));
        group.throughput(Throughput::Elements(4096));
        group.sample_size(20);
        group.bench_function("4096_pgs", |b| {
            b.iter(|| black_box(Placement::new(&map).pool_crush_sets(pool).unwrap()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
