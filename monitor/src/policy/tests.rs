use placement::synth::{self, Shape};
use placement::{Change, ClusterMap};

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// 3 hosts x 2 OSDs: osd.0,1 on host-0; 2,3 on host-1; 4,5 on host-2.
fn map() -> ClusterMap {
    synth::map(Shape {
        zones: 1,
        hosts: 3,
        osds_per_host: 2,
    })
}

fn apply(map: &mut ClusterMap, cmds: &[MonCommand]) {
    for cmd in cmds {
        let changes = match cmd {
            MonCommand::MarkDown(ids) => ids.iter().map(|id| Change::OsdDown(*id)).collect(),
            MonCommand::MarkOut(ids) => ids.iter().map(|id| Change::OsdOut(*id)).collect(),
            other => panic!("unexpected {other:?}"),
        };
        let inc = map.next_incremental(changes);
        map.apply(&inc).unwrap();
    }
}

#[test]
fn two_reporters_on_other_hosts_mark_down() {
    let map = map();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.reset(secs(0), &map);
    let t = OsdId(0);
    assert_eq!(
        p.handle_report(secs(1), &map, t, OsdId(1)),
        None,
        "a host-mate does not count"
    );
    assert_eq!(
        p.handle_report(secs(1), &map, t, OsdId(2)),
        None,
        "one reporter is not enough"
    );
    assert_eq!(
        p.handle_report(secs(2), &map, t, OsdId(2)),
        None,
        "the same reporter twice is one"
    );
    assert_eq!(
        p.handle_report(secs(3), &map, t, OsdId(4)),
        Some(MonCommand::MarkDown(vec![t]))
    );
}

#[test]
fn old_reports_expire_and_beacons_clear_them() {
    let map = map();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.reset(secs(0), &map);
    let t = OsdId(0);
    p.handle_report(secs(0), &map, t, OsdId(2));
    assert_eq!(
        p.handle_report(secs(30), &map, t, OsdId(4)),
        None,
        "the first report expired"
    );
    p.handle_beacon(secs(31), t);
    assert_eq!(
        p.handle_report(secs(32), &map, t, OsdId(2)),
        None,
        "the beacon cleared reports"
    );
}

#[test]
fn silence_marks_down_and_time_down_marks_out_unless_noout() {
    let mut map = map();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.reset(secs(0), &map);
    for t in (0..=20).step_by(5) {
        for id in 0..6 {
            if id != 3 {
                p.handle_beacon(secs(t), OsdId(id));
            }
        }
        assert!(p.tick(secs(t), &map).is_empty(), "within grace at {t}s");
    }
    let cmds = p.tick(secs(21), &map);
    assert_eq!(cmds, [MonCommand::MarkDown(vec![OsdId(3)])]);
    apply(&mut map, &cmds);
    let beat = |p: &mut FailurePolicy, t: u64| {
        for id in [0, 1, 2, 4, 5] {
            p.handle_beacon(secs(t), OsdId(id));
        }
    };
    beat(&mut p, 22);
    assert!(
        p.tick(secs(22), &map).is_empty(),
        "down is noted, not yet out"
    );
    beat(&mut p, 621);
    assert!(
        p.tick(secs(621), &map).is_empty(),
        "599 s down: not yet out"
    );
    beat(&mut p, 622);
    let cmds = p.tick(secs(622), &map);
    assert_eq!(cmds, [MonCommand::MarkOut(vec![OsdId(3)])]);

    // With noout, a down OSD stays in however long it is down.
    let mut map2 = self::map();
    let inc = map2.next_incremental(vec![
        Change::OsdDown(OsdId(1)),
        Change::FlagSet(Flag::Noout),
    ]);
    map2.apply(&inc).unwrap();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.reset(secs(0), &map2);
    for id in [0, 2, 3, 4, 5] {
        p.handle_beacon(secs(5000), OsdId(id));
    }
    assert!(p.tick(secs(5000), &map2).is_empty());
}

#[test]
fn a_new_leader_grants_a_fresh_grace_period() {
    let map = map();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.reset(secs(100), &map); // no beacons seen before becoming leader
    assert!(p.tick(secs(110), &map).is_empty());
    assert_eq!(
        p.tick(secs(121), &map),
        [MonCommand::MarkDown((0..6).map(OsdId).collect())]
    );
}

#[test]
fn nodown_holds_back_every_mark_down() {
    let mut map = map();
    let inc = map.next_incremental(vec![Change::FlagSet(Flag::Nodown)]);
    map.apply(&inc).unwrap();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.reset(secs(0), &map);
    assert!(p.tick(secs(100), &map).is_empty(), "silence under nodown");
    p.handle_report(secs(100), &map, OsdId(0), OsdId(2));
    assert_eq!(p.handle_report(secs(100), &map, OsdId(0), OsdId(4)), None);
}

#[test]
fn a_new_leader_decides_on_reports_heard_during_the_election() {
    let map = map();
    let mut p = FailurePolicy::new(PolicyConfig::default());
    // Heard while another monitor led (or nobody did).
    p.note_report(secs(10), OsdId(0), OsdId(2));
    p.note_report(secs(10), OsdId(0), OsdId(4));
    p.note_report(secs(10), OsdId(1), OsdId(2));
    assert_eq!(
        p.reset(secs(11), &map),
        vec![MonCommand::MarkDown(vec![OsdId(0)])]
    );
    // Old ones are not: the reporters would have repeated them if they still held.
    let mut p = FailurePolicy::new(PolicyConfig::default());
    p.note_report(secs(10), OsdId(0), OsdId(2));
    p.note_report(secs(10), OsdId(0), OsdId(4));
    assert!(p.reset(secs(10) + HEARD_FOR + secs(1), &map).is_empty());
}
