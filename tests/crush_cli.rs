//! `shoal crush test` through the real binary: JSON fields, movement figures, clear errors.

use std::process::{Command, Output};

use serde_json::Value;

/// Runs `shoal ARGS` (whitespace-separated).
fn shoal(args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(args.split_whitespace())
        .output()
        .expect("run shoal")
}

/// Runs `shoal crush test --format json ARGS` and parses its output.
fn json(args: &str) -> Value {
    let out = shoal(&format!("crush test --format json {args}"));
    assert!(
        out.status.success(),
        "shoal crush test {args} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn reports_distribution_as_json() {
    let v = json("--hosts 10 --osds-per-host 4 --pg-num 4096");
    let osds = v["osds"].as_array().unwrap();
    assert_eq!(osds.len(), 40);
    let total: u64 = osds.iter().map(|o| o["pgs"].as_u64().unwrap()).sum();
    assert_eq!(total, 4096 * 3);
    let expected: f64 = osds.iter().map(|o| o["expected"].as_f64().unwrap()).sum();
    assert!((expected - 4096.0 * 3.0).abs() < 1e-6);
    assert!(f(&v, "max_deviation_pct") < 20.0);
    assert!(v["moved_fraction"].is_null() && v["ideal_moved_fraction"].is_null());
}

#[test]
fn reports_movement_when_an_osd_is_added() {
    for extra in ["", "--add-to-host host-2"] {
        let v = json(&format!(
            "--hosts 10 --osds-per-host 4 --add-osds 1 {extra}"
        ));
        let (moved, ideal) = (f(&v, "moved_fraction"), f(&v, "ideal_moved_fraction"));
        assert!((ideal - 1.0 / 41.0).abs() < 1e-9);
        assert!(
            moved > 0.0 && moved <= 1.3 * ideal,
            "moved {moved}, ideal {ideal}"
        );
        assert_eq!(f(&v, "moved_to_new_osds_fraction"), 1.0);
        assert_eq!(v["osds"].as_array().unwrap().len(), 41);
    }
}

#[test]
fn reports_movement_when_an_osd_is_marked_out() {
    let v = json("--hosts 6 --osds-per-host 3 --ec 4+2 --pg-num 512 --out 4");
    let (moved, ideal) = (f(&v, "moved_fraction"), f(&v, "ideal_moved_fraction"));
    assert!((ideal - 1.0 / 18.0).abs() < 1e-9);
    assert!(
        moved > 0.0 && moved <= 1.3 * ideal,
        "moved {moved}, ideal {ideal}"
    );
    assert_eq!(v["holes"].as_u64(), Some(0));
    assert!(v["osds"].as_array().unwrap().iter().all(|o| o["id"] != 4));
}

#[test]
fn prints_a_readable_table() {
    let out = shoal("crush test --hosts 3 --osds-per-host 2 --pg-num 64");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("max deviation:"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains("host-")).count(), 6);
}

#[test]
fn bad_input_gets_one_line_and_a_failing_exit() {
    for args in [
        "--hosts 0 --osds-per-host 4",
        "--hosts 4 --osds-per-host 4 --ec 4x2",
        "--hosts 4 --osds-per-host 4 --ec 0+2",
        "--hosts 4 --osds-per-host 4 --out 99",
        "--hosts 4 --osds-per-host 4 --pg-num 0",
        "--hosts 4 --osds-per-host 4 --add-osds 1 --add-to-host nope",
        "--hosts 4 --osds-per-host 4 --size 0",
    ] {
        let out = shoal(&format!("crush test {args}"));
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
}
